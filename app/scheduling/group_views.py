"""A group's sessions: its Sessions tab, scheduling or proposing a session for it, approving
and declining proposals, and its session rules. Thin: parse, call ``group_services`` (and
``services.schedule_session``, which applies the rules), render.

Who gets in: the group's members and the center's admins (anyone else: 404, as for a thread
they cannot see). What each may do is decided by ``group_rules``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404, parse_id
from app.chat.models import Thread, ThreadKind, ThreadMember
from app.errors import render_error
from app.scheduling import group_rules, group_services, services
from app.scheduling.forms import (TYPE_CHOICES, WEEKDAY_LABELS, ReasonForm, SessionForm,
                                  parse_date, parse_time)
from app.scheduling.group_rules import GroupRole, RulesInput
from app.scheduling.models import SessionParticipant, SessionStatus, VideoSession
from app.scheduling.recurrence import WEEKDAY_CODES
from app.timezones import timezone_choices
from app.web import navigate_to, render_page, wants_fragment

bp = Blueprint("groups", __name__, url_prefix="/groups")


@bp.errorhandler(PermissionDenied)
def permission_denied(error):
    return render_error(403, str(error) or None)


def _group_or_404(group_id) -> tuple[Thread, GroupRole]:
    group = get_scoped_or_404(Thread, group_id,
                              selectinload(Thread.members).joinedload(ThreadMember.user))
    role = group_rules.group_role(current_user, group)
    if group.kind != ThreadKind.GROUP or role == GroupRole.NONE:
        abort(404)
    return group, role


def _group_session_or_404(group: Thread, session_id) -> VideoSession:
    session = get_scoped_or_404(VideoSession, session_id, joinedload(VideoSession.created_by),
                                selectinload(VideoSession.overrides),
                                selectinload(VideoSession.participants)
                                .joinedload(SessionParticipant.user))
    if session.group_id != group.id:
        abort(404)
    return session


def _tabs(group: Thread, role: GroupRole, active: str) -> dict:
    return {"group": group, "role": role, "active_tab": active,
            "can_manage": group_rules.manages(role)}


# --- the Sessions tab ------------------------------------------------------------------------------

def _filters(group: Thread) -> tuple[group_services.SessionFilters, dict]:
    """The tab's filters from the query string; junk is ignored (shown as "any")."""
    args = request.args
    status = None
    try:
        status = SessionStatus(args.get("status", "").upper()) if args.get("status") else None
    except ValueError:
        status = None
    creator_id = parse_id(args.get("creator"))
    if creator_id not in {m.user_id for m in group.members}:
        creator_id = None
    date_from, date_to = parse_date(args.get("from")), parse_date(args.get("to"))
    raw = {"status": status.value if status else "", "creator": str(creator_id or ""),
           "from": date_from.isoformat() if date_from else "",
           "to": date_to.isoformat() if date_to else ""}
    return group_services.SessionFilters(status, date_from, date_to, creator_id), raw


@bp.route("/<group_id>/sessions")
@login_required
def sessions(group_id):
    group, role = _group_or_404(group_id)
    filters, raw = _filters(group)
    rules = group_services.rules_for(group)
    listing = group_services.group_sessions(current_user, group, filters)
    return render_page("groups/sessions.html", "groups/_sessions_list.html",
                       listing=listing, filters=raw, rules=rules,
                       statuses=list(SessionStatus), creators=group_services.group_creators(group),
                       may_create=group_rules.may_create(rules, role),
                       needs_approval=group_rules.needs_approval(rules, role),
                       **_tabs(group, role, "sessions"))


# --- scheduling or proposing -------------------------------------------------------------------------

SHOWN_FIELDS = {"title", "description", "type", "date", "start_time", "duration_minutes",
                "frequency", "weekdays", "ends", "count", "until_date"}


def _session_form_context(group, role, rules, form, *, violation=None, conflicts=None):
    pending = group_rules.needs_approval(rules, role)
    return dict(form=form,
                general_errors=[m for k, m in form.errors.items() if k not in SHOWN_FIELDS], rules=rules, violation=violation, conflicts=conflicts or [],
                type_choices=TYPE_CHOICES, weekday_codes=WEEKDAY_CODES,
                weekday_labels=WEEKDAY_LABELS, pending=pending,
                action=url_for("groups.new_session", group_id=group.id),
                heading="Propose a session" if pending else "Schedule a session",
                submit="Send the proposal" if pending else "Schedule",
                suggestions=violation.suggestions if violation else [],
                **_tabs(group, role, "sessions"))


@bp.route("/<group_id>/sessions/new", methods=["GET", "POST"])
@login_required
def new_session(group_id):
    group, role = _group_or_404(group_id)
    rules = group_services.rules_for(group)
    group_rules.require_may_create(rules, role)
    owner = group_services.owner_of(group)
    if request.method == "GET":
        day = parse_date(request.args.get("date"))
        start = parse_time(request.args.get("time"))
        form = SessionForm(title=request.args.get("title", "")[:200],
                           type=rules.default_type, date=day.isoformat() if day else "",
                           start_time=start.strftime("%H:%M") if start else "",
                           timezone=rules.timezone,
                           duration_minutes=str(rules.default_duration_minutes),
                           weekdays=[WEEKDAY_CODES[day.weekday()]] if day else [])
        return render_page("groups/session_form_page.html", "groups/_session_form.html",
                           **_session_form_context(group, role, rules, form))
    form = SessionForm.from_formdata(request.form)
    # Everyone in the group: the form has no student picker, and the zone is the group's.
    form.participant_ids, form.course_id, form.group_id = [], "", str(group.id)
    form.timezone = rules.timezone
    data = replace(form.to_input(), group_id=group.id, participant_ids=[], course_id=None)
    try:
        session = services.schedule_session(owner, data, actor=current_user._get_current_object(),
                                            allow_conflicts=form.allow_conflicts)
    except group_rules.RuleViolation as exc:
        form.errors = exc.errors
        return render_page("groups/session_form_page.html", "groups/_session_form.html",
                           status=422, **_session_form_context(group, role, rules, form,
                                                               violation=exc))
    except ValidationError as exc:
        form.errors = exc.errors
        return render_page("groups/session_form_page.html", "groups/_session_form.html",
                           status=422, **_session_form_context(group, role, rules, form))
    except services.ConflictsFound as exc:
        return render_page("groups/session_form_page.html", "groups/_session_form.html",
                           status=422, **_session_form_context(group, role, rules, form,
                                                               conflicts=exc.conflicts))
    if session.status == SessionStatus.PENDING:
        flash(f"“{session.title}” was sent to {owner.name} for approval.", "success")
        return navigate_to(url_for("groups.sessions", group_id=group.id))
    flash(f"“{session.title}” was scheduled.", "success")
    return navigate_to(url_for("scheduling.session_page", session_id=session.id))


# --- answering proposals --------------------------------------------------------------------------

@bp.route("/<group_id>/sessions/<session_id>/approve", methods=["POST"])
@login_required
def approve(group_id, session_id):
    group, role = _group_or_404(group_id)
    session = _group_session_or_404(group, session_id)
    try:
        group_services.approve_proposal(current_user, session)
    except ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
        return navigate_to(url_for("groups.sessions", group_id=group.id))
    flash(f"“{session.title}” is scheduled; its people are invited.", "success")
    return navigate_to(url_for("groups.sessions", group_id=group.id))


@bp.route("/<group_id>/sessions/<session_id>/decline", methods=["GET", "POST"])
@login_required
def decline(group_id, session_id):
    group, role = _group_or_404(group_id)
    session = _group_session_or_404(group, session_id)
    if not group_rules.manages(role):
        abort(403)
    context = dict(session=session, **_tabs(group, role, "sessions"),
                   action=url_for("groups.decline", group_id=group.id, session_id=session.id))
    if request.method == "GET":
        return render_page("groups/decline_page.html", "groups/_decline_form.html",
                           form=ReasonForm(), **context)
    form = ReasonForm.from_formdata(request.form)
    try:
        group_services.decline_proposal(current_user, session, form.reason)
    except ValidationError as exc:
        form.errors = exc.errors
        return render_page("groups/decline_page.html", "groups/_decline_form.html", status=422,
                           form=form, **context)
    flash(f"“{session.title}” was declined; {session.created_by.name if session.created_by else 'the proposer'} "
          f"is told why.", "success")
    return navigate_to(url_for("groups.sessions", group_id=group.id))


# --- the rules ---------------------------------------------------------------------------------------

@dataclass
class RulesFormView:
    """What the rules form shows: the values (as typed after a refusal), their errors."""

    group: Thread
    form: RulesInput
    errors: dict
    saved: bool = False
    creator_choices: tuple = tuple((c.value, c.label) for c in group_rules.GroupCreators)
    type_choices: tuple = tuple(TYPE_CHOICES)
    weekday_codes: tuple = WEEKDAY_CODES
    weekday_labels: dict = field(default_factory=lambda: dict(WEEKDAY_LABELS))

    @property
    def zones(self) -> list[str]:
        return timezone_choices()


def group_rules_form(group: Thread, data: RulesInput | None = None, errors=None,
                     saved: bool = False) -> RulesFormView:
    """The rules form of ``group``, stored values unless given. A template global too: the
    chat's group settings page shows the form as one of its sections."""
    if data is None:
        data = group_rules.input_from_rules(group_services.rules_for(group))
    return RulesFormView(group, data, errors or {}, saved)


bp.add_app_template_global(group_rules_form, "group_rules_form")


def _rules_input_from_form() -> RulesInput:
    form = request.form
    return RulesInput(scheduled_by=form.get("scheduled_by", "")[:20],
                      approval_required=form.get("approval_required") == "1",
                      min_notice_hours=form.get("min_notice_hours", "")[:10],
                      timezone=form.get("timezone", "")[:64],
                      default_duration_minutes=form.get("default_duration_minutes", "")[:10],
                      default_type=form.get("default_type", "")[:20],
                      slots={code: form.get(f"slots_{code}", "")[:300] for code in WEEKDAY_CODES})


@bp.route("/<group_id>/rules", methods=["GET", "POST"])
@login_required
def rules(group_id):
    group, role = _group_or_404(group_id)
    if not group_rules.manages(role):
        abort(403)
    if request.method == "GET":
        return render_page("groups/rules_page.html", "groups/_rules_form.html",
                           rf=group_rules_form(group), **_tabs(group, role, "rules"))
    data = _rules_input_from_form()
    try:
        group_services.save_rules(current_user, group, data)
    except ValidationError as exc:
        return render_page("groups/rules_page.html", "groups/_rules_form.html", status=422,
                           rf=group_rules_form(group, data, exc.errors),
                           **_tabs(group, role, "rules"))
    if wants_fragment():
        return render_template("groups/_rules_form.html", rf=group_rules_form(group, saved=True))
    flash("Session rules saved.", "success")
    return navigate_to(url_for("groups.rules", group_id=group.id))
