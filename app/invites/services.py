"""Invitations for sessions: what each change sends to whom, the outbox, RSVP links.

Called by the receivers of scheduling's events, inside the transaction that changed the
session, once per event for all the people concerned: the outbox rows commit with the change
(one INSERT), and the send jobs are queued after the commit."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select

from app.accounts.services import record_audit
from app.db_types import utcnow
from app.extensions import db
from app.invites import itip
from app.mail.mailer import sender_address
from app.mail.models import EmailOutbox, OutboxStatus
from app.mail.services import queue_outbox_rows
from app.scheduling import recurrence
from app.scheduling.models import Rsvp, SessionParticipant, VideoSession
from app.timezones import when

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


# --- composing invitations ----------------------------------------------------------------------

# An invitation names the reader's zone in full: the letter is read away from the app.
LETTER_TIME = "%A %-d %B %Y, %H:%M ({zone}, {abbr})"


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


@dataclass
class _Letter:
    """One email about a session to one person, before it is rendered."""

    participant: object  # a SessionParticipant (removed people: anything with .user, .user_id)
    subject: str
    headline: str
    detail: str
    when_utc: datetime | None
    ics: str




def _last_sent(session_id: int, user_ids) -> dict[int, tuple[int, str]]:
    """user id -> (id, dedup key) of the last outbox row about this session to that person,
    for all of ``user_ids`` in one query."""
    latest = (select(func.max(EmailOutbox.id))
              .where(EmailOutbox.session_id == session_id,
                     EmailOutbox.recipient_user_id.in_(list(user_ids)))
              .group_by(EmailOutbox.recipient_user_id))
    return {row.recipient_user_id: (row.id, row.dedup_key) for row in db.session.execute(
        select(EmailOutbox.id, EmailOutbox.dedup_key, EmailOutbox.recipient_user_id)
        .where(EmailOutbox.id.in_(latest)))}


def _outbox(session, letters, *, method: str, scope: str, with_rsvp: bool,
            rsvp_occurrence: datetime | None = None) -> None:
    """Write one email per letter to the outbox: one query for what each person got last, one
    bulk INSERT, send jobs after commit. Each email is rendered for its person (their zone,
    their own RSVP links)."""
    letters = list(letters)
    if not letters:
        return
    url = f"{base_url()}/sessions/{session.id}"
    repeat = describe_repeat(session)
    last_sent = _last_sent(session.id, {letter.participant.user_id for letter in letters})
    rows = []
    for letter in letters:
        participant, user = letter.participant, letter.participant.user
        rsvp = None
        if with_rsvp and participant.user_id != session.teacher_id:
            rsvp = {answer: f"{base_url()}/rsvp/{rsvp_token(participant, answer, rsvp_occurrence)}"
                    for answer in (Rsvp.ACCEPTED, Rsvp.DECLINED)}
        content = hashlib.sha1(_DTSTAMP.sub("", letter.ics).encode()).hexdigest()[:12]
        what = f"s{session.id}:u{user.id}:q{session.sequence}:{method}:{scope}:{content}"[:180]
        # A duplicate is a repeat of the *last* message this person got about this session,
        # not of any earlier one: taken off (CANCEL) and put back, or renamed and renamed back
        # (no SEQUENCE bump), the same REQUEST must go out again. The key names the row it
        # follows, so two transactions composing the same message after the same row still
        # collide (and the second one's row is skipped by the INSERT).
        last_id, last_key = last_sent.get(user.id, (0, ""))
        if last_key.rsplit("#", 1)[0] == what:
            continue  # this very invitation went (or is going) out already
        context = dict(session=session, user=user, headline=letter.headline,
                       detail=letter.detail, url=url,
                       when=when(letter.when_utc, user, LETTER_TIME) if letter.when_utc else None,
                       repeat=repeat, duration=session.duration_minutes, rsvp=rsvp,
                       method=method)
        rows.append(dict(center_id=session.center_id, dedup_key=f"{what}#{last_id}",
                         session_id=session.id, recipient_user_id=user.id,
                         recipient=user.email, subject=letter.subject[:300],
                         text_body=render_template("invites/email.txt", **context),
                         html_body=render_template("invites/email.html", **context),
                         ics=letter.ics, method=method, status=OutboxStatus.PENDING,
                         attempts=0))
    if rows:
        queue_outbox_rows(rows)


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
    """The series (a REQUEST) to ``participants``: invited, or (``updated``) told of a change."""
    ics_for = _IcsPerRecipient(session, "REQUEST")
    verb = "Updated invitation" if updated else "Invitation"
    start = _first_start(session)
    headline = (f"{session.teacher.name} changed {session.title}." if updated else
                f"{session.teacher.name} invites you to {session.title}.")
    _outbox(session, [_Letter(participant,
                              f"{verb}: {session.title} · "
                              f"{when(start, participant.user, LETTER_TIME)}",
                              headline, "", start, ics_for(participant))
                      for participant in participants],
            method="REQUEST", scope="series", with_rsvp=True)


def invite_occurrence_moved(session, participants, override) -> None:
    ics_for = _IcsPerRecipient(session, "REQUEST",
                               original_start_local=override.original_start_local)
    old = recurrence.local_to_utc(override.original_start_local, session.tz)
    new = recurrence.local_to_utc(override.new_start_local or override.original_start_local,
                                  session.tz)
    reason = f" {override.reason}" if override.reason else ""
    _outbox(session, [_Letter(participant,
                              f"Moved: {session.title} · "
                              f"{when(new, participant.user, LETTER_TIME)}",
                              f"One {session.title} session has a new time.",
                              f"Was {when(old, participant.user, LETTER_TIME)}.{reason}", new,
                              ics_for(participant))
                      for participant in participants],
            method="REQUEST", scope=f"occ-{override.original_start_local.isoformat()}",
            with_rsvp=True, rsvp_occurrence=override.original_start_local)


def cancel_occurrence(session, participants, override) -> None:
    ics_for = _IcsPerRecipient(session, "CANCEL",
                               original_start_local=override.original_start_local)
    start = recurrence.local_to_utc(override.new_start_local or override.original_start_local,
                                    session.tz)
    detail = override.reason or "The other sessions of the series go ahead."
    _outbox(session, [_Letter(participant,
                              f"Cancelled: {session.title} · "
                              f"{when(start, participant.user, LETTER_TIME)}",
                              f"One {session.title} session is cancelled.", detail, start,
                              ics_for(participant))
                      for participant in participants],
            method="CANCEL", scope=f"occ-{override.original_start_local.isoformat()}",
            with_rsvp=False)


def invite_occurrence_restored(session, participants, original_start_local) -> None:
    """A cancelled occurrence takes place after all: a REQUEST for that instance (calendars
    put it back; a moved one comes back at its own time)."""
    ics_for = _IcsPerRecipient(session, "REQUEST", original_start_local=original_start_local)
    override = next((o for o in session.overrides
                     if o.original_start_local == original_start_local), None)
    start = recurrence.local_to_utc(override.new_start_local if override and
                                    override.new_start_local else original_start_local,
                                    session.tz)
    _outbox(session, [_Letter(participant,
                              f"Back on: {session.title} · "
                              f"{when(start, participant.user, LETTER_TIME)}",
                              f"One {session.title} session is back on.",
                              "It had been cancelled; it takes place after all.", start,
                              ics_for(participant))
                      for participant in participants],
            method="REQUEST", scope=f"occ-{original_start_local.isoformat()}", with_rsvp=True)


def cancel_series(session, participants, *, removed: bool = False) -> None:
    """A cancelled series to its participants; with ``removed``, a CANCEL to people just taken
    off it (``participants`` then holds objects with .user and .user_id)."""
    ics_for = _IcsPerRecipient(session, "CANCEL")
    letters = []
    for participant in participants:
        ics = _ics(session, "CANCEL", attendee_ids=set(), extra_users=[participant.user]) \
            if removed else ics_for(participant)
        letters.append(_Letter(
            participant, f"Removed: {session.title}" if removed else f"Cancelled: {session.title}",
            (f"You are no longer a participant of {session.title}." if removed
             else f"{session.title} is cancelled."),
            session.cancel_reason if not removed else "", None, ics))
    _outbox(session, letters, method="CANCEL", scope="removed" if removed else "series",
            with_rsvp=False)
