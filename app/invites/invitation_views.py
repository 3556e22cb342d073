"""Invitations by email: the inviter's page per session, group and center (invite, resend,
revoke, copy link), and the invitee's page behind the emailed link (accept, decline, sign up,
ask for a new invitation). Thin: the rules are in app.invites.invitations."""
from __future__ import annotations

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from app.accounts.models import Center, User
from app.accounts.permissions import admin_required
from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404
from app.chat.models import Thread, ThreadKind
from app.errors import render_error
from app.extensions import db, limiter
from app.invites import invitations as service
from app.invites.models import Invitation, InvitationKind, InvitationStatus
from app.scheduling.models import VideoSession
from app.web import navigate_to, wants_fragment

bp = Blueprint("invitations", __name__)


# --- the inviter's page ----------------------------------------------------------------------------

def _page_context(target: service.Target, **extra) -> dict:
    rows = service.invitations_for(target)
    return dict(target=target, invitations=rows, role_labels=service.ROLE_LABELS,
                url_for_invitation=service.invitation_url, display_status=service.display_status,
                Status=InvitationStatus, default_days=service.valid_days_default(),
                max_days=service.MAX_VALID_DAYS, max_addresses=service.MAX_ADDRESSES,
                form=extra.pop("form", {}), errors=extra.pop("errors", {}),
                report=extra.pop("report", None), **extra)


def _invite_page(target: service.Target):
    """GET: the list and the form. POST: invite the pasted addresses; answer with the form (and
    its per-address report) and, over htmx, the refreshed list out of band."""
    if not service.can_invite(current_user, target):
        abort(403)
    if request.method == "GET":
        return render_template("invites/invitations.html", **_page_context(target))
    form = {key: request.form.get(key, "") for key in ("addresses", "role", "valid_days",
                                                       "message")}
    report, errors = None, {}
    try:
        report = service.invite(current_user, target, form["addresses"], role=form["role"],
                                valid_days=form["valid_days"], message=form["message"])
    except ValidationError as exc:
        db.session.rollback()
        errors = exc.errors
    except PermissionDenied:
        db.session.rollback()
        abort(403)
    if report is not None:
        # What was sent leaves the box; what failed stays, to be fixed and sent again.
        form["addresses"] = "\n".join(r.typed for r in report.results if r.status == "error")
    status = 422 if errors or (report is not None and not report.invited and
                               report.count("error")) else 200
    context = _page_context(target, form=form, errors=errors, report=report)
    if wants_fragment():
        return render_template("invites/_invite_answer.html", **context), status
    return render_template("invites/invitations.html", **context), status


@bp.route("/sessions/<session_id>/invitations", methods=["GET", "POST"])
@login_required
@limiter.limit("30 per hour", methods=["POST"], key_func=lambda: f"invite:{current_user.id}")
def session_invitations(session_id):
    return _invite_page(service.session_target(get_scoped_or_404(VideoSession, session_id)))


@bp.route("/groups/<thread_id>/invitations", methods=["GET", "POST"])
@login_required
@limiter.limit("30 per hour", methods=["POST"], key_func=lambda: f"invite:{current_user.id}")
def group_invitations(thread_id):
    thread = get_scoped_or_404(Thread, thread_id)
    if thread.kind != ThreadKind.GROUP:
        abort(404)
    return _invite_page(service.group_target(thread))


@bp.route("/admin/invitations", methods=["GET", "POST"])
@admin_required
@limiter.limit("30 per hour", methods=["POST"], key_func=lambda: f"invite:{current_user.id}")
def center_invitations():
    return _invite_page(service.center_target(db.session.get(Center, current_user.center_id)))


def _managed_invitation(invitation_id) -> Invitation:
    invitation = get_scoped_or_404(Invitation, invitation_id)
    try:
        target = service.target_of(invitation)
    except service.LinkProblem:
        abort(404)  # its session or group was deleted
    if not service.can_invite(current_user, target):
        abort(404)  # someone else's invitation: as if it did not exist
    return invitation


def _row_answer(invitation: Invitation, message: str):
    if wants_fragment():
        # The row shows the invitation as the service left it, flushed and not yet committed
        # (the request's edge commits after this): refreshing it here would reload the old
        # row from the database and throw the change away unsaved.
        return render_template("invites/_invitation_row.html", invitation=invitation,
                               **_row_context())
    flash(message, "success")
    return navigate_to(service.target_of(invitation).list_path())


def _row_context() -> dict:
    return dict(role_labels=service.ROLE_LABELS, url_for_invitation=service.invitation_url,
                display_status=service.display_status, Status=InvitationStatus)


@bp.route("/invitations/<invitation_id>/resend", methods=["POST"])
@login_required
@limiter.limit("60 per hour", key_func=lambda: f"invite-resend:{current_user.id}")
def resend(invitation_id):
    invitation = _managed_invitation(invitation_id)
    try:
        service.resend(current_user, invitation)
    except service.ResendTooSoon as exc:
        db.session.rollback()
        return render_error(429, exc.message)
    except ValidationError as exc:
        db.session.rollback()
        return render_error(422, " ".join(exc.errors.values()))
    return _row_answer(invitation, f"A new invitation was sent to {invitation.email}; the "
                                   f"earlier link no longer works.")


@bp.route("/invitations/<invitation_id>/revoke", methods=["POST"])
@login_required
def revoke(invitation_id):
    invitation = _managed_invitation(invitation_id)
    try:
        service.revoke(current_user, invitation)
    except ValidationError as exc:
        db.session.rollback()
        return render_error(422, " ".join(exc.errors.values()))
    return _row_answer(invitation, f"The invitation to {invitation.email} was revoked.")


# --- the invitee's page ------------------------------------------------------------------------------

def _problem_page(problem: service.LinkProblem, token: str):
    invitation, target = problem.invitation, None
    if invitation is not None:
        try:
            target = service.target_of(invitation)
        except service.LinkProblem:
            invitation = None  # its session or group is gone: say only what the problem says
    return render_template("invites/accept.html", problem=problem, invitation=invitation,
                           target=target, token=token), problem.status


def _accept_context(invitation: Invitation, token: str, **extra) -> dict:
    target = service.target_of(invitation)
    account = service.existing_account(invitation)
    signed_in = current_user.is_authenticated
    return dict(invitation=invitation, target=target, token=token, problem=None,
                inviter=db.session.get(User, invitation.inviter_id),
                role_label=service.ROLE_LABELS.get(invitation.role, invitation.role),
                account=account, signed_in=signed_in,
                other_center=signed_in and current_user.center_id != invitation.center_id,
                Kind=InvitationKind, errors=extra.pop("errors", {}),
                form=extra.pop("form", {}), decline=extra.pop("decline", False), **extra)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def accept(token):
    """GET shows what the link does (mail scanners fetch links: a GET never changes anything);
    POST accepts or declines."""
    try:
        invitation = service.find_by_token(token)
        service.check_usable(invitation)
    except service.LinkProblem as problem:
        return _problem_page(problem, token)
    if request.method == "GET":
        context = _accept_context(invitation, token,
                                  decline=request.args.get("answer") == "decline")
        return render_template("invites/accept.html", **context), \
            (403 if context["other_center"] else 200)
    user = current_user._get_current_object() if current_user.is_authenticated else None
    action = request.form.get("action")
    if action == "decline":
        try:
            service.decline(invitation, user)
        except service.LinkProblem as problem:
            db.session.rollback()
            return _problem_page(problem, token)
        return render_template("invites/accept.html", declined=True,
                               **_accept_context(invitation, token))
    if action != "accept":
        abort(400, "Choose Accept or Decline.")
    form = {"name": request.form.get("name", "")}
    try:
        result = service.accept(invitation, user, name=form["name"],
                                password=request.form.get("password", ""),
                                confirm=request.form.get("confirm", ""))
    except service.LinkProblem as problem:
        db.session.rollback()
        return _problem_page(problem, token)
    except service.WrongCenter:
        db.session.rollback()
        return render_template("invites/accept.html",
                               **_accept_context(invitation, token)), 403
    except ValidationError as exc:
        db.session.rollback()
        return render_template("invites/accept.html",
                               **_accept_context(invitation, token, errors=exc.errors,
                                                 form=form)), 422
    target = service.target_of(invitation)
    if result.created:
        login_user(result.user)
        flash(f"Welcome, {result.user.name}! Your account is ready"
              + (f" and you joined {target.what}." if target.kind != InvitationKind.CENTER
                 else "."), "success")
        # A new session (and CSRF token): load the next page whole.
        return navigate_to(result.landing, reload=True)
    flash(f"You were already in {target.what}." if result.already
          else f"You joined {target.what}.", "success")
    return navigate_to(result.landing)


@bp.route("/invite/<token>/ask-again", methods=["POST"])
@limiter.limit("10 per hour")
def ask_again(token):
    """The one-click "ask for a new invitation" of an expired link."""
    try:
        invitation = service.find_by_token(token)
    except service.LinkProblem as problem:
        return _problem_page(problem, token)
    try:
        asked = service.request_renewal(invitation)
    except service.LinkProblem as problem:
        db.session.rollback()
        return _problem_page(problem, token)
    target = service.target_of(invitation)
    return render_template("invites/accept.html", problem=None, invitation=invitation,
                           target=target, token=token, asked=True, asked_before=not asked,
                           inviter=db.session.get(User, invitation.inviter_id))
