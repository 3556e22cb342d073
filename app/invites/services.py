"""Invitations for sessions: what each change sends to whom, the outbox, RSVP links.

Called (through the scheduling signal) inside the transaction that changed the session: the
outbox rows commit with the change, and the send jobs are queued after the commit."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.accounts.services import record_audit
from app.db_types import utcnow
from app.extensions import db
from app.invites import itip
from app.invites.mail import sender_address
from app.invites.models import EmailOutbox, OutboxStatus
from app.jobs import enqueue_after_commit
from app.scheduling import recurrence
from app.scheduling.models import Rsvp, SessionParticipant, VideoSession

RSVP_SALT = "classhub-rsvp-v1"
RSVP_MAX_AGE = timedelta(days=120)
_DTSTAMP = re.compile(r"^DTSTAMP:.*\r?\n", re.MULTILINE)


def base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


# --- RSVP links ---------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RSVP_SALT)


def rsvp_token(participant: SessionParticipant, answer: Rsvp,
               occurrence: datetime | None = None) -> str:
    """A signed, single-purpose link token: this participant, this session, this answer (and,
    in the email about one occurrence, that occurrence: a link stops working once it is
    cancelled)."""
    data = {"p": participant.id, "s": participant.session_id, "a": answer.value}
    if occurrence is not None:
        data["o"] = occurrence.isoformat()
    return _serializer().dumps(data)


class RsvpLinkError(Exception):
    def __init__(self, message: str, expired: bool = False, closed: bool = False):
        super().__init__(message)
        self.expired = expired
        self.closed = closed


@dataclass
class RsvpRequest:
    participant: SessionParticipant
    answer: Rsvp
    occurrence: datetime | None = None


def read_rsvp_token(token: str) -> RsvpRequest:
    try:
        data = _serializer().loads(token, max_age=int(RSVP_MAX_AGE.total_seconds()))
    except SignatureExpired:
        raise RsvpLinkError("This link has expired. Open the session in Classhub to answer.",
                            expired=True) from None
    except BadSignature:
        raise RsvpLinkError("This link is not valid. It may have been cut or changed.") from None
    try:
        participant = db.session.get(SessionParticipant, int(data["p"]))
        answer = Rsvp(data["a"])
    except (KeyError, TypeError, ValueError):
        raise RsvpLinkError("This link is not valid.") from None
    if participant is None or participant.session_id != data.get("s") or \
            answer not in (Rsvp.ACCEPTED, Rsvp.DECLINED, Rsvp.TENTATIVE):
        raise RsvpLinkError("This invitation no longer applies to you.")
    occurrence = None
    if data.get("o"):
        try:
            occurrence = datetime.fromisoformat(str(data["o"]))
        except ValueError:
            raise RsvpLinkError("This link is not valid.") from None
    return RsvpRequest(participant, answer, occurrence)


def rsvp_closed_reason(participant: SessionParticipant,
                       occurrence: datetime | None = None) -> str | None:
    """Why there is nothing to answer any more (the session, or the occurrence the link is
    about, was cancelled), or None. The one rule for the email's links and the session page."""
    session = participant.session
    if session.is_cancelled:
        return f"{session.title} was cancelled, so there is nothing to answer."
    if occurrence is not None:
        from app.scheduling.services import find_occurrence

        found = find_occurrence(session, occurrence)
        if found is None or found.cancelled:
            return "That session was cancelled, so there is nothing to answer."
    return None


def record_rsvp(participant: SessionParticipant, answer: Rsvp,
                occurrence: datetime | None = None) -> None:
    reason = rsvp_closed_reason(participant, occurrence)
    if reason:
        raise RsvpLinkError(reason, closed=True)
    participant.rsvp, participant.rsvp_at = answer, utcnow()
    record_audit(participant.user, "session.rsvp", "session", participant.session_id,
                 answer=answer.value)
    db.session.commit()


# --- composing invitations ----------------------------------------------------------------------

def _when(instant: datetime, user) -> str:
    local = instant.astimezone(user.tz)
    return f"{local.strftime('%A %-d %B %Y, %H:%M')} ({user.effective_timezone.replace('_', ' ')}, {local.tzname()})"


def describe_repeat(session: VideoSession) -> str:
    if not session.is_recurring:
        return "Once"
    names = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
             "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}
    text = "Every day" if session.frequency.value == "DAILY" else \
        "Every " + ", ".join(names[d] for d in session.weekdays)
    if session.count:
        text += f", {session.count} times"
    elif session.until_local:
        text += f", until {session.until_local.strftime('%-d %B %Y')}"
    return text


def _outbox(session, participant, *, method: str, scope: str, subject: str, headline: str,
            detail: str, when_utc: datetime | None, ics: str, with_rsvp: bool,
            rsvp_occurrence: datetime | None = None) -> None:
    user = participant.user
    url = f"{base_url()}/sessions/{session.id}"
    rsvp = None
    if with_rsvp and participant.user_id != session.teacher_id:
        rsvp = {answer: f"{base_url()}/rsvp/{rsvp_token(participant, answer, rsvp_occurrence)}"
                for answer in (Rsvp.ACCEPTED, Rsvp.DECLINED)}
    context = dict(session=session, user=user, headline=headline, detail=detail, url=url,
                   when=_when(when_utc, user) if when_utc else None,
                   repeat=describe_repeat(session), duration=session.duration_minutes,
                   rsvp=rsvp, method=method)
    content = hashlib.sha1(_DTSTAMP.sub("", ics).encode()).hexdigest()[:12]
    what = f"s{session.id}:u{user.id}:q{session.sequence}:{method}:{scope}:{content}"[:180]
    # A duplicate is a repeat of the *last* message this person got about this session, not of
    # any earlier one: taken off (CANCEL) and put back, or renamed and renamed back (no
    # SEQUENCE bump), the same REQUEST must go out again. The key names the row it follows, so
    # two transactions composing the same message after the same row still collide.
    last = db.session.execute(
        select(EmailOutbox.id, EmailOutbox.dedup_key)
        .where(EmailOutbox.session_id == session.id, EmailOutbox.recipient_user_id == user.id)
        .order_by(EmailOutbox.id.desc()).limit(1)).first()
    if last is not None and last.dedup_key.rsplit("#", 1)[0] == what:
        return  # this very invitation went (or is going) out already
    key = f"{what}#{last.id if last is not None else 0}"
    row = EmailOutbox(center_id=session.center_id, dedup_key=key, session_id=session.id,
                      recipient_user_id=user.id, recipient=user.email, subject=subject[:300],
                      text_body=render_template("invites/email.txt", **context),
                      html_body=render_template("invites/email.html", **context),
                      ics=ics, method=method, status=OutboxStatus.PENDING, attempts=0)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        return
    from app.invites import tasks

    enqueue_after_commit(tasks.send_email, row.id, queue="default", center_id=session.center_id)


def _ics(session, method, **kwargs) -> str:
    return itip.build(session, base_url(), sender_address(), method=method, **kwargs).to_ical().decode()


class _IcsPerRecipient:
    """The iTIP document each participant gets. A learner's copy names the organizer and that
    learner only: every ATTENDEE carries an email address, and students must not receive their
    classmates' (the feed leaves attendees out for the same reason). Staff (the instructor,
    observers) get the whole list. Documents are built once per distinct attendee list."""

    def __init__(self, session, method, **kwargs):
        self.session, self.method, self.kwargs = session, method, kwargs
        self._built: dict[frozenset | None, str] = {}

    def __call__(self, participant) -> str:
        ids = itip.visible_attendee_ids(self.session, participant)
        key = None if ids is None else frozenset(ids)
        if key not in self._built:
            self._built[key] = _ics(self.session, self.method, attendee_ids=ids, **self.kwargs)
        return self._built[key]


def _first_start(session: VideoSession) -> datetime:
    from app.scheduling.services import next_occurrences

    upcoming = next_occurrences(session, 1)
    return upcoming[0].start if upcoming else recurrence.local_to_utc(session.start_local, session.tz)


def invite_series(session: VideoSession, participants, *, updated: bool) -> None:
    ics_for = _IcsPerRecipient(session, "REQUEST")
    verb = "Updated invitation" if updated else "Invitation"
    for participant in participants:
        start = _first_start(session)
        _outbox(session, participant, method="REQUEST", scope="series",
                subject=f"{verb}: {session.title} · {_when(start, participant.user)}",
                headline=(f"{session.teacher.name} changed {session.title}." if updated else
                          f"{session.teacher.name} invites you to {session.title}."),
                detail="", when_utc=start, ics=ics_for(participant), with_rsvp=True)


def invite_occurrence_moved(session, override) -> None:
    ics_for = _IcsPerRecipient(session, "REQUEST",
                               original_start_local=override.original_start_local)
    old = recurrence.local_to_utc(override.original_start_local, session.tz)
    new = recurrence.local_to_utc(override.new_start_local or override.original_start_local,
                                  session.tz)
    for participant in session.participants:
        user = participant.user
        _outbox(session, participant, method="REQUEST",
                scope=f"occ-{override.original_start_local.isoformat()}",
                subject=f"Moved: {session.title} · {_when(new, user)}",
                headline=f"One {session.title} session has a new time.",
                detail=f"Was {_when(old, user)}." + (f" {override.reason}" if override.reason else ""),
                when_utc=new, ics=ics_for(participant), with_rsvp=True,
                rsvp_occurrence=override.original_start_local)


def cancel_occurrence(session, override) -> None:
    ics_for = _IcsPerRecipient(session, "CANCEL",
                               original_start_local=override.original_start_local)
    start = recurrence.local_to_utc(override.new_start_local or override.original_start_local,
                                    session.tz)
    for participant in session.participants:
        _outbox(session, participant, method="CANCEL",
                scope=f"occ-{override.original_start_local.isoformat()}",
                subject=f"Cancelled: {session.title} · {_when(start, participant.user)}",
                headline=f"One {session.title} session is cancelled.",
                detail=override.reason or "The other sessions of the series go ahead.",
                when_utc=start, ics=ics_for(participant), with_rsvp=False)


def invite_occurrence_restored(session, original_start_local) -> None:
    """A cancelled occurrence takes place after all: a REQUEST for that instance (calendars
    put it back; a moved one comes back at its own time)."""
    ics_for = _IcsPerRecipient(session, "REQUEST", original_start_local=original_start_local)
    override = next((o for o in session.overrides
                     if o.original_start_local == original_start_local), None)
    start = recurrence.local_to_utc(override.new_start_local if override and
                                    override.new_start_local else original_start_local,
                                    session.tz)
    for participant in session.participants:
        _outbox(session, participant, method="REQUEST",
                scope=f"occ-{original_start_local.isoformat()}",
                subject=f"Back on: {session.title} · {_when(start, participant.user)}",
                headline=f"One {session.title} session is back on.",
                detail="It had been cancelled; it takes place after all.",
                when_utc=start, ics=ics_for(participant), with_rsvp=True)


def cancel_series(session, participants, *, removed: bool = False) -> None:
    """A cancelled series to its participants; with ``removed``, a CANCEL to people just taken
    off it (``participants`` then holds objects with .user and .user_id)."""
    ics_for = _IcsPerRecipient(session, "CANCEL")
    for participant in participants:
        ics = _ics(session, "CANCEL", attendee_ids=set(), extra_users=[participant.user]) \
            if removed else ics_for(participant)
        _outbox(session, participant, method="CANCEL", scope="removed" if removed else "series",
                subject=(f"Removed: {session.title}" if removed else f"Cancelled: {session.title}"),
                headline=(f"You are no longer a participant of {session.title}." if removed
                          else f"{session.title} is cancelled."),
                detail=session.cancel_reason if not removed else "",
                when_utc=None, ics=ics, with_rsvp=False)


def outbox_for_center(center_id: int, limit: int = 200):
    return list(db.session.scalars(select(EmailOutbox).where(EmailOutbox.center_id == center_id)
                                   .order_by(EmailOutbox.created_at.desc(), EmailOutbox.id.desc())
                                   .limit(limit)))


def queue_notification_email(notification) -> None:
    """A notification by email (the user chose email for its type): an outbox row in the
    notifying transaction, sent by a job after commit, once (keyed by the notification)."""
    user = notification.user
    link = notification.link if notification.link.startswith("http") else \
        f"{base_url()}{notification.link}"
    context = dict(notification=notification, user=user, link=link,
                   settings_url=f"{base_url()}/notifications/settings")
    row = EmailOutbox(center_id=notification.center_id, dedup_key=f"notification:{notification.id}",
                      recipient_user_id=user.id, recipient=user.email,
                      subject=notification.title[:300],
                      text_body=render_template("invites/notification_email.txt", **context),
                      html_body=render_template("invites/notification_email.html", **context),
                      ics="", method="", status=OutboxStatus.PENDING, attempts=0)
    db.session.add(row)
    db.session.flush()
    from app.invites import tasks

    enqueue_after_commit(tasks.send_email, row.id, queue="default",
                         center_id=notification.center_id)


def queue_account_email(user, *, subject: str, text_body: str, html_body: str,
                        dedup_key: str) -> None:
    """An account email (a password-reset link) through the outbox: a row in the caller's
    transaction, sent once by a job after commit."""
    row = EmailOutbox(center_id=user.center_id, dedup_key=dedup_key[:200],
                      recipient_user_id=user.id, recipient=user.email, subject=subject[:300],
                      text_body=text_body, html_body=html_body, ics="", method="",
                      status=OutboxStatus.PENDING, attempts=0)
    db.session.add(row)
    db.session.flush()
    from app.invites import tasks

    enqueue_after_commit(tasks.send_email, row.id, queue="high", center_id=user.center_id)
