"""Attendance that takes itself (issue 12): computed from the run's segments when the run ends,
overridden by teachers, every change audited, an absence owing a catch-up.

Like every service these add and flush; the request or job that called them (here usually the
one that ended the run, through live's ``run_ended`` signal) commits once. Writes are flat in
the number of people: one query per kind of row read, bulk inserts, one DELETE, one notify()."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import delete, func, select, update

from app.accounts.models import User
from app.accounts.services import PermissionDenied, ValidationError, record_audit, users_by_id
from app.attendance import signals
from app.attendance.catch_ups import catch_up_path
from app.attendance.models import (DEFAULT_LATE_GRACE_MINUTES, DEFAULT_LEFT_EARLY_PERCENT,
                                   AttendanceRecord, AttendanceSettings, CatchUp)
from app.attendance.rules import (AttendanceStatus, RunWindow, auto_status, clipped_union,
                                  expected, left_early, seconds_present)
from app.bulk import insert_rows, one_of, update_rows
from app.db_types import utcnow
from app.extensions import db
from app.live.models import LiveRole, Room, Run, RunParticipant, Segment
from app.notifications.models import NotificationType
from app.notifications.services import Notice, notify_each
from app.scheduling.models import ParticipantRole, SessionParticipant, VideoSession
from app.timezones import when

NOTE_MAX = 500


# --- settings ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    late_grace: timedelta
    left_early_percent: int


def settings_for(center_id: int) -> Settings:
    row = db.session.scalar(select(AttendanceSettings)
                            .where(AttendanceSettings.center_id == center_id))
    grace = row.late_grace_minutes if row is not None else DEFAULT_LATE_GRACE_MINUTES
    share = row.left_early_percent if row is not None else DEFAULT_LEFT_EARLY_PERCENT
    return Settings(timedelta(minutes=grace), share)


def window_of(run: Run, now: datetime | None = None) -> RunWindow:
    """The run as the rules see it; a live run is taken as ending now."""
    return RunWindow(started_at=run.started_at, ended_at=run.ended_at or now or utcnow(),
                     scheduled_start=run.occurrence_start if run.session_id else None)


# --- who may do what ---------------------------------------------------------------------------

def _session(run: Run) -> VideoSession | None:
    return db.session.get(VideoSession, run.session_id) if run.session_id else None


def can_manage(user: User, run: Run) -> bool:
    """Take or change attendance: the center's admins; the session's teacher and co-teachers;
    for an instant call, who started it or instructs in it."""
    if user is None or not user.is_active or user.center_id != run.center_id:
        return False
    if user.is_admin:
        return True
    session = _session(run)
    if session is not None:
        if session.teacher_id == user.id:
            return True
        return any(p.user_id == user.id and p.role == ParticipantRole.INSTRUCTOR
                   for p in session.participants)
    if run.started_by_id == user.id:
        return True
    return db.session.scalar(select(RunParticipant.id).where(
        RunParticipant.run_id == run.id, RunParticipant.user_id == user.id,
        RunParticipant.role == LiveRole.INSTRUCTOR)) is not None


def can_view(user: User, run: Run) -> bool:
    """See the sheet (managers) or one's own record (anyone on its roster)."""
    if user is None or user.center_id != run.center_id:
        return False
    return can_manage(user, run) or user.id in roster_ids(run)


# --- who is on the sheet -----------------------------------------------------------------------

def _expected_learners(run: Run) -> dict[int, datetime]:
    """Learner id -> when they were added to the session (one query)."""
    if run.session_id is None:
        return {}
    return dict(db.session.execute(select(SessionParticipant.user_id,
                                          SessionParticipant.created_at).where(
        SessionParticipant.session_id == run.session_id,
        SessionParticipant.role == ParticipantRole.LEARNER)).all())


def _takers(run: Run) -> set[int]:
    """Who took part in the run other than its instructors (attendance is about learners and
    observers; the teacher's own presence is the run itself)."""
    return set(db.session.scalars(select(RunParticipant.user_id).where(
        RunParticipant.run_id == run.id, RunParticipant.role != LiveRole.INSTRUCTOR)))


def roster_ids(run: Run) -> set[int]:
    """Everyone the sheet lists: the session's learners, whoever else took part (not the
    instructors), and anyone a teacher already marked."""
    marked = set(db.session.scalars(select(AttendanceRecord.user_id)
                                    .where(AttendanceRecord.run_id == run.id)))
    return set(_expected_learners(run)) | _takers(run) | marked


# --- computing ---------------------------------------------------------------------------------

def compute_run_attendance(run: Run, now: datetime | None = None) -> None:
    """Every person's record from the run's segments, in one pass: the automatic part is
    rewritten (a run restarted and ended again is recomputed whole), the manual part kept.
    Changes of the status that counts are audited; absences get their catch-up. New records
    are one INSERT, changed ones one UPDATE (app/bulk.py): flat in the number of people."""
    window = window_of(run, now)
    settings = settings_for(run.center_id)
    added = _expected_learners(run)
    takers = _takers(run)
    segments: dict[int, list[tuple[datetime, datetime]]] = {}
    for user_id, joined, left, seen in db.session.execute(select(
            Segment.user_id, Segment.joined_at, Segment.left_at, Segment.last_seen_at)
            .where(Segment.run_id == run.id)):
        # A segment still open (the run is live) counts to its last heartbeat, never to "now".
        segments.setdefault(user_id, []).append((joined, left or seen))
    existing = {row.user_id: row for row in db.session.execute(select(
        AttendanceRecord.id, AttendanceRecord.user_id, AttendanceRecord.auto_status,
        AttendanceRecord.manual_status).where(AttendanceRecord.run_id == run.id))}
    new_rows, updated_rows, changes = [], [], []
    for user_id in sorted(set(added) | takers | set(existing)):
        intervals = segments.get(user_id, [])
        first = min((a for a, _ in intervals), default=None)
        seconds = seconds_present(intervals, window.started_at, window.ended_at)
        is_expected = user_id in added and expected(added[user_id], window)
        values = dict(
            first_join_at=first,
            last_leave_at=max((b for _, b in intervals), default=None),
            seconds_present=seconds,
            join_count=max(len(clipped_union(intervals, window.started_at, window.ended_at)),
                           1) if intervals else 0,
            left_early=first is not None and left_early(seconds, window,
                                                        settings.left_early_percent),
            auto_status=auto_status(first, is_expected=is_expected, window=window,
                                    grace=settings.late_grace))
        old = existing.get(user_id)
        if old is None:
            new_rows.append(dict(center_id=run.center_id, run_id=run.id, user_id=user_id,
                                 session_id=run.session_id,
                                 occurrence_start=run.occurrence_start,
                                 manual_status=None, note="", **values))
            changes.append(Change(user_id, None, values["auto_status"]))
        else:
            updated_rows.append(dict(id=old.id, **values))
            changes.append(Change(user_id, old.manual_status or old.auto_status,
                                  old.manual_status or values["auto_status"]))
    insert_rows(AttendanceRecord.__table__, new_rows)
    update_rows(AttendanceRecord.__table__, updated_rows)
    _after_changes(run, None, changes, source="auto")


def on_session_went_live(run: Run, **_) -> None:
    """live's ``session_went_live``: marks a teacher made before the occurrence went live
    (their rows have its session and start but no run yet) now belong to its run."""
    if run.session_id is None:
        return
    db.session.execute(update(AttendanceRecord).where(
        AttendanceRecord.session_id == run.session_id,
        AttendanceRecord.occurrence_start == run.occurrence_start,
        AttendanceRecord.run_id.is_(None)).values(run_id=run.id))


def on_run_ended(run: Run, **_) -> None:
    """live's ``run_ended``: the run's attendance, in the transaction that ended it."""
    compute_run_attendance(run)


# --- teachers' marks ---------------------------------------------------------------------------

def set_statuses(actor: User, run: Run, user_ids, status: AttendanceStatus | None,
                 note: str | None = None, *, only_unmarked: bool = False) -> list[int]:
    """A teacher's mark for one person or several, before the run ends (roll call) or after.
    ``status`` None clears the manual mark (the automatic one counts again); ``note`` None
    leaves each note as it is. ``only_unmarked``: "mark all unmarked present" leaves whoever
    already has a status alone. Everyone must be on the sheet. Returns the ids of the people
    whose mark was set."""
    if not can_manage(actor, run):
        raise PermissionDenied("Only the session's teachers can take attendance.")
    wanted = set(user_ids)
    if not wanted:
        raise ValidationError({"people": "Choose at least one person."})
    if note is not None:
        note = note.strip()
        if len(note) > NOTE_MAX:
            raise ValidationError({"note": f"A note is at most {NOTE_MAX} characters."})
    if wanted - roster_ids(run):
        raise ValidationError({"people": "Some of the people chosen are not on this sheet."})
    existing = {row.user_id: row for row in db.session.execute(select(
        AttendanceRecord.id, AttendanceRecord.user_id, AttendanceRecord.auto_status,
        AttendanceRecord.manual_status, AttendanceRecord.note).where(
        AttendanceRecord.run_id == run.id, one_of(AttendanceRecord.user_id, wanted)))}
    now = utcnow()
    new_rows, updated_rows, changes = [], [], []
    for user_id in sorted(wanted):
        old = existing.get(user_id)
        before = (old.manual_status or old.auto_status) if old is not None else None
        if only_unmarked and before is not None:
            continue
        mark = dict(manual_status=status, set_by_id=actor.id, set_at=now)
        if old is None:
            new_rows.append(dict(center_id=run.center_id, run_id=run.id, user_id=user_id,
                                 session_id=run.session_id,
                                 occurrence_start=run.occurrence_start, join_count=0, seconds_present=0, left_early=False,
                                 auto_status=None, note=note or "", **mark))
            changes.append(Change(user_id, None, status))
        else:
            updated_rows.append(dict(id=old.id, note=old.note if note is None else note,
                                     **mark))
            changes.append(Change(user_id, before, status or old.auto_status))
    insert_rows(AttendanceRecord.__table__, new_rows)
    update_rows(AttendanceRecord.__table__, updated_rows)
    _after_changes(run, actor, changes, source="manual", note=note)
    return [c.user_id for c in changes]


def records_for(run: Run) -> dict[int, AttendanceRecord]:
    return {r.user_id: r for r in db.session.scalars(
        select(AttendanceRecord).where(AttendanceRecord.run_id == run.id))}


# --- what follows a change: the audit trail and catch-ups -------------------------------------

class Change(NamedTuple):
    """One person's status that counts, before and after a computation or a mark."""

    user_id: int
    old: AttendanceStatus | None
    new: AttendanceStatus | None


def _after_changes(run: Run, actor: User | None, changes: list[Change], *, source: str,
                   note: str | None = None) -> None:
    """One audit row for the whole computation or mark, listing each status that changed
    (whose, from, to); a catch-up for each new absence, the open catch-up of each absence
    undone removed (a finished one is kept: the work was done)."""
    changed = [c for c in changes if c.new != c.old]
    if not changed:
        return
    record_audit(actor, "attendance.statuses_changed", "run", run.id, center_id=run.center_id,
                 source=source, note=note,
                 changes=[{"user_id": c.user_id, "from": c.old.value if c.old else None,
                           "to": c.new.value if c.new else None} for c in changed])
    absent = {c.user_id for c in changed if c.new == AttendanceStatus.ABSENT}
    undone = {c.user_id for c in changed
              if c.old == AttendanceStatus.ABSENT and c.new != AttendanceStatus.ABSENT}
    if undone:
        db.session.execute(delete(CatchUp).where(
            CatchUp.run_id == run.id, one_of(CatchUp.user_id, undone),
            CatchUp.done_at.is_(None)))
    if absent:
        _create_catch_ups(run, absent)
    people = {c.user_id for c in changed}
    teachers = _instructor_ids(run)
    signals.attendance_changed.send(run, changed_user_ids=frozenset(people),
                                    user_ids=frozenset(people | teachers))
    if absent or undone:
        signals.catch_ups_changed.send(run, student_ids=frozenset(absent | undone),
                                       user_ids=frozenset(absent | undone | teachers))


def _instructor_ids(run: Run) -> set[int]:
    """The session's teacher and co-teachers (none for an instant call): from the session and
    participants the computation or the mark already loaded."""
    session = _session(run)
    if session is None:
        return set()
    return {session.teacher_id} | {p.user_id for p in session.participants
                                   if p.role == ParticipantRole.INSTRUCTOR}


def _create_catch_ups(run: Run, user_ids: set[int]) -> None:
    owed = user_ids - set(db.session.scalars(select(CatchUp.user_id).where(
        CatchUp.run_id == run.id, one_of(CatchUp.user_id, user_ids))))
    if not owed:
        return
    thread_id, summary = _missed(run)
    ended = run.ended_at or utcnow()
    due = ended + timedelta(days=current_app.config.get("ATTENDANCE_CATCH_UP_DAYS", 7))
    table = CatchUp.__table__
    made = insert_rows(table, [
        dict(center_id=run.center_id, run_id=run.id, user_id=user_id, session_id=run.session_id,
             occurrence_start=run.occurrence_start, thread_id=thread_id, missed_summary=summary,
             due_at=due, done_at=None, created_at=utcnow()) for user_id in sorted(owed)],
        (table.c.id, table.c.user_id), skip_duplicates_of=("run_id", "user_id"))
    session = _session(run)
    what = session.title if session is not None else "a call"
    users = users_by_id(owed)
    # Each student's notice opens their own catch-up and gives the due time in their zone.
    notify_each(NotificationType.CATCH_UP_ASSIGNED, [
        Notice(users[row.user_id], f"You missed {what}",
               f"{summary} Catch up by {when(due, users[row.user_id])}.",
               catch_up_path(row.id), f"catch-up-{row.id}")
        for row in sorted(made, key=lambda row: row.user_id) if row.user_id in users])


def _missed(run: Run) -> tuple[int | None, str]:
    """The thread the run's chat lived in, and what was said there during the run."""
    from app.chat.models import Message, MessageKind, Thread

    if run.session_id is not None:
        thread_id = db.session.scalar(select(Thread.id).where(Thread.session_id == run.session_id))
    else:
        thread_id = db.session.scalar(select(Room.thread_id).where(Room.id == run.room_id))
    if thread_id is None:
        return None, "The call had no chat."
    said = db.session.scalar(select(func.count(Message.id)).where(
        Message.thread_id == thread_id, Message.kind == MessageKind.TEXT,
        Message.deleted_at.is_(None), Message.created_at >= run.started_at,
        Message.created_at <= (run.ended_at or utcnow())))
    if not said:
        return thread_id, "Nothing was posted in the chat during the call."
    return thread_id, (f"{said} message{'s' if said != 1 else ''} posted in the chat during "
                       f"the call.")
