"""Scheduled sessions going live (issue 11): the Join window, the teacher's Start and End, the
lobby, roles from the session's participants, and the auto-end sweep.

A session has one Room (made on first use); each occurrence that goes live is one Run, keyed
by (session, the occurrence's actual start: a moved occurrence uses its moved time), so a
double-clicked Start or two instructors pressing it at once make one run (the unique
constraint decides, on PostgreSQL as on SQLite). The session's thread is the room's chat, so
who may use the room is who is in that thread: the session's participants (DESIGN, "Live").

Like app/live/services.py these functions add and flush; the view or job commits once."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.accounts.services import PermissionDenied, ValidationError, record_audit
from app.db_types import utcnow
from app.extensions import db
from app.transactions import savepoint
from app.live import services, signals
from app.live.models import LiveRole, Room, Run
from app.realtime.events import publish, publish_to_users
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, SessionParticipant, VideoSession
from app.scheduling.recurrence import Occurrence

# The longest an occurrence can last (the session form's own limit is far below it): how far
# back an occurrence under way may have started.
LONGEST_OCCURRENCE = timedelta(hours=24)

ROLE_OF = {ParticipantRole.INSTRUCTOR: LiveRole.INSTRUCTOR,
           ParticipantRole.LEARNER: LiveRole.LEARNER,
           ParticipantRole.OBSERVER: LiveRole.OBSERVER}


def join_early() -> timedelta:
    return timedelta(minutes=current_app.config["LIVE_JOIN_EARLY_MINUTES"])


def end_grace() -> timedelta:
    return timedelta(minutes=current_app.config["LIVE_END_GRACE_MINUTES"])


# --- who and when ----------------------------------------------------------------------------

def session_participant(session: VideoSession, user_id: int) -> SessionParticipant | None:
    return next((p for p in session.participants if p.user_id == user_id), None)


def session_role(session: VideoSession, user: User) -> LiveRole | None:
    """The person's role in the session's calls: their participant role (the teacher and
    co-teachers instruct); None for anyone else (not in the session's thread: no room)."""
    participant = session_participant(session, user.id)
    if participant is None or not user.is_active or user.center_id != session.center_id:
        return None
    if participant.user_id == session.teacher_id:
        return LiveRole.INSTRUCTOR
    return ROLE_OF[participant.role]


def may_start(session: VideoSession, user: User) -> bool:
    return session_role(session, user) == LiveRole.INSTRUCTOR


def join_window(occ: Occurrence) -> tuple[datetime, datetime]:
    """[opens, closes): Join shows from LIVE_JOIN_EARLY_MINUTES before the start to the end."""
    return occ.start - join_early(), occ.end


def current_occurrence(session: VideoSession, now: datetime | None = None) -> Occurrence | None:
    """The occurrence whose Join window holds ``now`` (the earliest if two overlap), None if
    none does. Cancelled occurrences and cancelled or proposed sessions have no Join."""
    now = now or utcnow()
    if session.is_cancelled or session.status.is_proposal:
        return None
    for occ in scheduling.session_occurrences(session, now - LONGEST_OCCURRENCE,
                                              now + join_early() + timedelta(microseconds=1)):
        opens, closes = join_window(occ)
        if not occ.cancelled and opens <= now < closes:
            return occ
    return None


def session_room(session: VideoSession) -> Room | None:
    return db.session.scalar(select(Room).where(Room.session_id == session.id))


def room_for_session(session: VideoSession) -> Room:
    return services.room_where(session.center_id, session_id=session.id)


def recent_runs(session_ids, now: datetime | None = None) -> dict[tuple[int, datetime], Run]:
    """(session id, occurrence start) -> its run, for the runs of ``session_ids`` recent enough
    to be live or to belong to an occurrence whose Join window is open: one query however many
    sessions (the upcoming list)."""
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    now = now or utcnow()
    since = now - LONGEST_OCCURRENCE - end_grace() - join_early()
    return {(run.session_id, run.occurrence_start): run for run in db.session.scalars(
        select(Run).where(Run.session_id.in_(ids), Run.occurrence_start >= since))}


@dataclass(frozen=True)
class CallCard:
    """What the session page's Video call card (and an upcoming card) shows to one viewer.

    ``state``: "cancelled"; "live" (a run is live); "open" (the Join window is open, nobody
    started yet: Join waits in the lobby); "ended" (this occurrence's call took place and
    ended; instructors may start it again while the window is open); "later"."""

    state: str
    occurrence: Occurrence | None = None
    run: Run | None = None
    can_start: bool = False
    can_join: bool = False


def call_card(session: VideoSession, viewer, runs: dict | None = None,
              now: datetime | None = None) -> CallCard:
    """The call card's state for ``viewer`` (a User or the hub's Viewer). ``runs``: from
    ``recent_runs`` when the caller looked them up for many sessions at once."""
    now = now or utcnow()
    if session.is_cancelled:
        return CallCard("cancelled")
    if runs is None:
        runs = recent_runs([session.id], now)
    role = session_role(session, viewer)
    live = next((run for (session_id, _), run in sorted(runs.items(), key=lambda kv: kv[0][1])
                 if session_id == session.id and run.ended_at is None), None)
    if live is not None:
        return CallCard("live", run=live, can_join=role is not None,
                        can_start=role == LiveRole.INSTRUCTOR)
    occ = current_occurrence(session, now)
    if occ is None:
        return CallCard("later")
    ended = runs.get((session.id, occ.start))
    return CallCard("ended" if ended is not None else "open", occurrence=occ, run=ended,
                    can_join=role is not None and ended is None,
                    can_start=role == LiveRole.INSTRUCTOR)


def upcoming_calls(viewer: User, occurrences, runs: dict | None = None,
                   now: datetime | None = None) -> dict[str, CallCard]:
    """Occurrence key -> its call card, for the occurrences of an upcoming list that have one
    now (live, or in their Join window): one query for all of them (none when the caller
    looked up ``runs`` already, as ``recent_runs`` gives them or more)."""
    now = now or utcnow()
    if runs is None:
        runs = recent_runs({o.session_id for o in occurrences}, now)
    cards = {}
    for occ in occurrences:
        if occ.cancelled:
            continue
        card = call_card(occ.session, viewer, runs, now)
        shown = card.run.occurrence_start if card.state == "live" else \
            card.occurrence.start if card.occurrence is not None else None
        if shown == occ.start:
            cards[occ.key] = card
    return cards


# --- going live ------------------------------------------------------------------------------

def start_session_run(user: User, session: VideoSession) -> tuple[Run, bool]:
    """The teacher's Start: the current occurrence goes live, or the run it already has is
    returned (``(run, started)``). An occurrence ended early and started again, still within
    its window, continues its own run (one run per occurrence: attendance stays whole)."""
    if not may_start(session, user):
        raise PermissionDenied("Only the session's teacher or a co-teacher can start it.")
    now = utcnow()
    occ = current_occurrence(session, now)
    if occ is None:
        raise ValidationError({"call": _closed_reason(session, now)})
    room = room_for_session(session)
    live = services.live_run(room)
    if live is not None and live.occurrence_start == occ.start:
        return live, False
    if live is not None:  # the previous occurrence, still in its grace time
        services._end(live, user, now)
    run = db.session.scalar(select(Run).where(Run.session_id == session.id,
                                              Run.occurrence_start == occ.start))
    if run is None:
        try:
            with savepoint():
                run = Run(center_id=session.center_id, room_id=room.id, live_room_id=room.id,
                          session_id=session.id, occurrence_start=occ.start,
                          started_by_id=user.id, started_at=now)
                db.session.add(run)
        except IntegrityError:  # another Start won: theirs is the run
            run = db.session.scalar(select(Run).where(Run.session_id == session.id,
                                                      Run.occurrence_start == occ.start))
            if run is None or run.ended_at is not None:
                raise ValidationError({"call": "The session could not be started; try again."})
            return run, False
    elif run.ended_at is None:
        return run, False
    else:
        run.ended_at, run.ended_by_id, run.live_room_id = None, None, room.id
    db.session.flush()
    scheduling.mark_live(session)
    record_audit(user, "live.session_started", "session", session.id, run_id=run.id,
                 occurrence=occ.start.isoformat())
    people = scheduling.participant_ids(session)
    signals.session_went_live.send(run, session=session, starter=user, occurrence=occ,
                                   user_ids=people)
    others = sorted(people - {user.id})
    # The toast (and the cards turning "Live now") on the participants' open pages; the
    # lobby's pages hear it on the room's topic and turn into the room.
    publish_to_users("user", others, "live.session-live", run_id=run.id, session_id=session.id)
    publish(f"room:{room.id}", "room.started", run_id=run.id)
    services._publish_roster(run)
    return run, True


def _closed_reason(session: VideoSession, now: datetime) -> str:
    if session.is_cancelled:
        return "This session is cancelled: there is no call."
    minutes = current_app.config["LIVE_JOIN_EARLY_MINUTES"]
    return (f"The call opens {minutes} minutes before an occurrence starts and closes when it "
            f"ends; there is none now.")


def enter_session_room(user: User, session: VideoSession) -> Room:
    """Join from the session page or an upcoming card: the room (the lobby until the teacher
    starts), within the Join window or while a run is live."""
    if session_role(session, user) is None:
        raise PermissionDenied("Only the session's participants can join its call.")
    room = session_room(session)
    if room is not None and services.live_run(room) is not None:
        return room
    now = utcnow()
    if current_occurrence(session, now) is None:
        raise ValidationError({"call": _closed_reason(session, now)})
    return room_for_session(session)


def end_session_run(user: User, session: VideoSession) -> Run:
    room = session_room(session)
    if room is None or services.live_run(room) is None:
        raise ValidationError({"call": "The session's call has already ended."})
    if not may_start(session, user):
        raise PermissionDenied("Only the session's teacher or a co-teacher can end the call.")
    return services.end_run(user, room)


def lobby_state(room: Room, user: User) -> dict:
    """What the room page adds for a session's room: the session and whether the person waits
    in the lobby (no run live yet, the Join window open)."""
    if room.session_id is None:
        return {}
    session = db.session.get(VideoSession, room.session_id)
    live = services.live_run(room)
    occ = current_occurrence(session) if live is None else None
    return {"session": session, "lobby": live is None and occ is not None,
            "lobby_occurrence": occ, "can_start_session": may_start(session, user)}


# --- ending by itself ------------------------------------------------------------------------

def on_run_ended(run: Run, **_) -> None:
    """A session's run ended (End, empty, or overdue): the session is no longer live (a
    one-time session, or a series' last occurrence, is completed), and the participants' open
    pages turn their cards back."""
    if run.session_id is None:
        return
    session = db.session.get(VideoSession, run.session_id)
    if session is None:
        return
    scheduling.mark_run_over(session, run.occurrence_start)
    # Flushed here: blinker calls a signal's receivers in no set order (a set of ids), so
    # nothing guarantees that another receiver of run_ended flushes after this one.
    db.session.flush()
    publish_to_users("user", scheduling.participant_ids(session), "live.session-over",
                     run_id=run.id, session_id=session.id)


def end_overdue_session_runs(now: datetime | None = None) -> int:
    """Cron: end session runs still live at their occurrence's end + LIVE_END_GRACE_MINUTES
    (the empty ones end by the segment sweep). Two queries for all live session runs, then
    the occurrence of each is placed in memory. Adds; the sweep commits."""
    now = now or utcnow()
    runs = list(db.session.scalars(select(Run).where(Run.session_id.is_not(None),
                                                     Run.live_room_id.is_not(None))))
    if not runs:
        return 0
    sessions = {s.id: s for s in db.session.scalars(
        select(VideoSession).where(VideoSession.id.in_({r.session_id for r in runs}))
        .options(selectinload(VideoSession.overrides)))}
    ended = 0
    for run in runs:
        session = sessions.get(run.session_id)
        if now >= occurrence_end(session, run) + end_grace():
            services._end(run, None, now)
            ended += 1
    return ended


def occurrence_end(session: VideoSession | None, run: Run) -> datetime:
    """The end of the run's occurrence as the schedule says now; its start plus the session's
    duration when the occurrence no longer starts then (moved or cancelled while live)."""
    start = run.occurrence_start
    if session is None:
        return start
    for occ in scheduling.session_occurrences(session, start, start + timedelta(seconds=1)):
        if occ.start == start:
            return occ.end
    return start + session.duration


def sweep_session_runs() -> int:
    """Cron (with the segment sweep): the overdue session runs end (committed by the job)."""
    return end_overdue_session_runs()
