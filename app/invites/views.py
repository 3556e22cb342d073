"""RSVP links from invitation emails (no login: the signed token is the authority), and the
admin's view of the email outbox."""
from __future__ import annotations

from email.errors import MessageError

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user, login_required

from app.accounts.permissions import admin_required
from app.accounts.tenancy import get_scoped_or_404
from app.invites import services
from app.invites.mail import build_message, sender_address
from app.invites.models import EmailOutbox
from app.scheduling.models import Rsvp

bp = Blueprint("invites", __name__)


@bp.route("/rsvp/<token>", methods=["GET", "POST"])
def rsvp(token):
    """GET shows what the link will do; POST records it. (Mail scanners fetch links: a GET must
    never change an answer.)"""
    from flask import request

    try:
        link = services.read_rsvp_token(token)
    except services.RsvpLinkError as exc:
        return render_template("invites/rsvp.html", error=str(exc), expired=exc.expired), \
            (410 if exc.expired else 400)
    participant = link.participant
    session = participant.session
    closed = services.rsvp_closed_reason(participant, link.occurrence)
    if closed:
        return render_template("invites/rsvp.html", error=closed, closed=True,
                               expired=False), 410
    done = False
    if request.method == "POST":
        services.record_rsvp(participant, link.answer, link.occurrence)
        done = True
    return render_template("invites/rsvp.html", participant=participant, session=session,
                           answer=link.answer, done=done, error=None, Rsvp=Rsvp)


@bp.route("/sessions/<session_id>/rsvp", methods=["POST"])
@login_required
def answer_on_page(session_id):
    """A participant answers on the session page (same record as the email's links)."""
    from flask import flash, request, url_for

    from app.web import navigate_to

    from app.scheduling.models import VideoSession

    session = get_scoped_or_404(VideoSession, session_id)
    participant = next((p for p in session.participants if p.user_id == current_user.id), None)
    if participant is None or participant.user_id == session.teacher_id:
        abort(404)
    try:
        answer = Rsvp(request.form.get("answer", ""))
    except ValueError:
        abort(400, "Answer yes or no.")
    if answer not in (Rsvp.ACCEPTED, Rsvp.DECLINED):
        abort(400, "Answer yes or no.")
    try:
        services.record_rsvp(participant, answer)
    except services.RsvpLinkError as exc:
        abort(400, str(exc))
    flash("Thanks, your answer is saved." if answer == Rsvp.ACCEPTED
          else "You declined; your teacher can see it.", "success")
    return navigate_to(url_for("scheduling.session_page", session_id=session.id))


@bp.route("/admin/outbox")
@admin_required
def outbox():
    return render_template("invites/outbox.html",
                           rows=services.outbox_for_center(current_user.center_id))


@bp.route("/admin/outbox/<outbox_id>")
@admin_required
def outbox_message(outbox_id):
    row = get_scoped_or_404(EmailOutbox, outbox_id)
    return render_template("invites/outbox_message.html", row=row)


@bp.route("/admin/outbox/<outbox_id>.eml")
@admin_required
def outbox_eml(outbox_id):
    row = get_scoped_or_404(EmailOutbox, outbox_id)
    try:
        message = build_message(mail_from=sender_address(), to=row.recipient,
                                subject=row.subject, text=row.text_body, html=row.html_body,
                                ics=row.ics, method=row.method,
                                message_id=row.message_id or None)
        content = message.as_bytes()
    except (MessageError, ValueError, TypeError, UnicodeError) as exc:
        abort(422, f"This email cannot be turned into a file: {exc}")
    # no-store: the message holds a person's address, RSVP links and the session; a download
    # must not stay in a shared or disk cache (the html pages are no-store for the same reason).
    return Response(content, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="classhub-{row.id}.eml"',
        "Cache-Control": "no-store"})
