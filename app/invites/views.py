"""RSVP links from invitation emails (no login: the signed token is the authority), and the
answer given on the session page."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from app.accounts.tenancy import get_scoped_or_404
from app.invites import services
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
