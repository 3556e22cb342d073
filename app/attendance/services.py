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
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Role, User
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
from app.realtime.events import publish
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, VideoSession
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


LATE_GRACE_MAX_MINUTES = 60


def update_settings(actor: User, late_grace: str, left_early: str) -> Settings:
    """A center admin sets how late is late and how short a stay is "left early", as typed
    (whole minutes 0-60, a percentage 0-100). They apply to runs that end from now on; records
    already taken keep what they said. Audited with the values before and after."""
    if actor is None or not actor.is_active or actor.role != Role.ADMIN:
        raise PermissionDenied("Only the center's administrators change attendance settings.")
    errors, values = {}, {}
    for name, raw, low, high, what in (
            ("late_grace_minutes", late_grace, 0, LATE_GRACE_MAX_MINUTES, "minutes"),
            ("left_early_percent", left_early, 0, 100, "percent")):
        text = (raw or "").strip()
        if not text.isdigit() or not low <= int(text) <= high:
            errors[name] = f"Give a whole number of {what} from {low} to {high}."
        else:
            values[name] = int(text)
    if errors:
        raise ValidationError(errors)
    row = db.session.scalar(select(AttendanceSettings)
                            .where(AttendanceSettings.center_id == actor.center_id))
    before = settings_for(actor.center_id)
    if row is None:
        row = AttendanceSettings(center_id=actor.center_id)
        db.session.add(row)
    row.late_grace_minutes = values["late_grace_minutes"]
    row.left_early_percent = values["left_early_percent"]
    db.session.flush()
    after = settings_for(actor.center_id)
    if after != before:
        record_audit(actor, "attendance.settings_changed", "center", actor.center_id,
                     late_grace_minutes=[int(before.late_grace.total_seconds() // 60),
                                         values["late_grace_minutes"]],
                     left_early_percent=[before.left_early_percent,
                                         values["left_early_percent"]])
    return after


def window_of(run: Run, now: datetime | None = None) -> RunWindow:
    """The run as the rules see it; a live run is taken as ending now."""
    return RunWindow(started_at=run.started_at, ended_at=run.ended_at or now or utcnow(),
                     scheduled_start=run.occurrence_start if run.session_id else None)


# --- the sheet: one occurrence's (or one instant call's) attendance -----------------------------

@dataclass
class Sheet:
    """What one attendance sheet is about: a scheduled session's occurrence (its actual start;
    ``run`` is the call it had, None while it has had none: a teacher may mark ahead), or an
    instant call (``session`` None, ``run`` set). Records and catch-ups of an occurrence are
    found by its session and start, so marks made before its run exist are on the sheet."""

    center_id: int
    session: VideoSession | None
    occurrence_start: datetime | None
    run: Run | None
    occurrence_end: datetime | None = None
    # The occurrence's name in URLs (its original local start, ISO 8601), a session's only.
    occurrence_key: str | None = None

    @property
    def session_id(self) -> int | None:
        return self.session.id if self.session is not None else None

    @property
    def is_instant(self) -> bool:
        return self.session is None

    def rows_of(self, model):
        """The criterion selecting this sheet's rows of ``model`` (AttendanceRecord or
        CatchUp)."""
        if self.session is not None:
            return (model.session_id == self.session.id) & \
                (model.occurrence_start == self.occurrence_start)
        return model.run_id == self.run.id

    @property
    def unique_key(self) -> tuple[str, ...]:
        return ("session_id", "occurrence_start", "user_id") if self.session is not None \
            else ("run_id", "user_id")


def occurrence_sheet(session: VideoSession, occurrence) -> Sheet:
    """The sheet of one of ``session``'s occurrences (an app.scheduling Occurrence), with the
    run it had, if any (one query)."""
    run = db.session.scalar(select(Run).where(Run.session_id == session.id,
                                              Run.occurrence_start == occurrence.start))
    return Sheet(session.center_id, session, occurrence.start, run, occurrence.end,
                 occurrence.original_start_local.isoformat())


def run_sheet(run: Run) -> Sheet:
    session = _session(run)
    if session is None:
        return Sheet(run.center_id, None, None, run)
    start = run.occurrence_start
    occurrence = next((o for o in scheduling.session_occurrences(
        session, start, start + timedelta(seconds=1)) if o.start == start), None)
    if occurrence is None:  # moved or cancelled since it was held: named by its start
        return Sheet(run.center_id, session, start, run, start + session.duration,
                     start.astimezone(session.tz).replace(tzinfo=None).isoformat())
    return Sheet(run.center_id, session, start, run, occurrence.end,
                 occurrence.original_start_local.isoformat())


def _sheet_of(target) -> Sheet:
    return target if isinstance(target, Sheet) else run_sheet(target)


# --- who may do what ---------------------------------------------------------------------------

def _session(run: Run) -> VideoSession | None:
    return db.session.get(VideoSession, run.session_id) if run.session_id else None


def can_manage(user, target) -> bool:
    """Take or change attendance (``target``: a Sheet or a Run): the center's admins; the
    session's teacher and co-teachers; for an instant call, who started it or instructs in it.
    ``user`` may be a User or the websocket hub's Viewer (both have id, role, center, active)."""
    sheet = _sheet_of(target)
    if user is None or not user.is_active or user.center_id != sheet.center_id:
        return False
    if user.role == Role.ADMIN:
        return True
    if sheet.session is not None:
        return user.id in _session_instructors(sheet.session)
    run = sheet.run
    if run.started_by_id == user.id:
        return True
    return db.session.scalar(select(RunParticipant.id).where(
        RunParticipant.run_id == run.id, RunParticipant.user_id == user.id,
        RunParticipant.role == LiveRole.INSTRUCTOR)) is not None


def _session_instructors(session: VideoSession) -> set[int]:
    return {session.teacher_id} | {p.user_id for p in session.participants
                                   if p.role == ParticipantRole.INSTRUCTOR}


def can_view(user, target) -> bool:
    """See the sheet (managers) or one's own record (anyone on its roster)."""
    sheet = _sheet_of(target)
    if user is None or user.center_id != sheet.center_id:
        return False
    return can_manage(user, sheet) or user.id in roster_ids(sheet)


# --- who is on the sheet -----------------------------------------------------------------------

def _expected_learners(target) -> dict[int, datetime]:
    """Learner id -> when they were added to the session (from its loaded participants, else
    one query)."""
    sheet = _sheet_of(target)
    if sheet.session is None:
        return {}
    return {p.user_id: p.created_at for p in sheet.session.participants
            if p.role == ParticipantRole.LEARNER}


def _takers(run: Run | None) -> set[int]:
    """Who took part in the run other than its instructors (attendance is about learners and
    observers; the teacher's own presence is the run itself)."""
    if run is None:
        return set()
    return set(db.session.scalars(select(RunParticipant.user_id).where(
        RunParticipant.run_id == run.id, RunParticipant.role != LiveRole.INSTRUCTOR)))


def roster_ids(target) -> set[int]:
    """Everyone the sheet lists: the session's learners, whoever else took part (not the
    instructors), and anyone a teacher already marked."""
    sheet = _sheet_of(target)
    marked = set(db.session.scalars(select(AttendanceRecord.user_id)
                                    .where(sheet.rows_of(AttendanceRecord))))
    return set(_expected_learners(sheet)) | _takers(sheet.run) | marked


# --- computing ---------------------------------------------------------------------------------

def _segments_of(run: Run, user_ids=None) -> dict[int, list[tuple[datetime, datetime, bool]]]:
    """Person -> their segments in the run as (joined, left, still open). A segment still open
    (the run is live) counts to its last heartbeat, never to "now"."""
    found: dict[int, list] = {}
    stmt = select(Segment.user_id, Segment.joined_at, Segment.left_at, Segment.last_seen_at) \
        .where(Segment.run_id == run.id).order_by(Segment.joined_at)
    if user_ids is not None:
        stmt = stmt.where(one_of(Segment.user_id, user_ids))
    for user_id, joined, left, seen in db.session.execute(stmt):
        found.setdefault(user_id, []).append((joined, left or seen, left is None))
    return found


def _derived(intervals, window: RunWindow, settings: Settings, is_expected: bool) -> dict:
    """What the run's segments say about one person (the automatic part of their record)."""
    first = min((a for a, _ in intervals), default=None)
    seconds = seconds_present(intervals, window.started_at, window.ended_at)
    return dict(
        first_join_at=first,
        last_leave_at=max((b for _, b in intervals), default=None),
        seconds_present=seconds,
        join_count=max(len(clipped_union(intervals, window.started_at, window.ended_at)), 1)
        if intervals else 0,
        left_early=first is not None and left_early(seconds, window,
                                                    settings.left_early_percent),
        auto_status=auto_status(first, is_expected=is_expected, window=window,
                                grace=settings.late_grace))


def compute_run_attendance(run: Run, now: datetime | None = None) -> None:
    """Every person's record from the run's segments, in one pass: the automatic part is
    rewritten (a run restarted and ended again is recomputed whole), the manual part kept,
    marks made before the run existed adopted. Changes of the status that counts are audited;
    every absence has its catch-up (a manual ABSENT made before the run included). New records
    are one INSERT, changed ones one UPDATE (app/bulk.py): flat in the number of people."""
    sheet = run_sheet(run)
    window = window_of(run, now)
    settings = settings_for(run.center_id)
    added = _expected_learners(sheet)
    takers = _takers(run)
    segments = {user_id: [(a, b) for a, b, _ in found]
                for user_id, found in _segments_of(run).items()}
    existing = {row.user_id: row for row in db.session.execute(select(
        AttendanceRecord.id, AttendanceRecord.user_id, AttendanceRecord.auto_status,
        AttendanceRecord.manual_status).where(sheet.rows_of(AttendanceRecord)))}
    new_rows, updated_rows, changes, absent = [], [], [], set()
    for user_id in sorted(set(added) | takers | set(existing)):
        is_expected = user_id in added and expected(added[user_id], window)
        values = _derived(segments.get(user_id, []), window, settings, is_expected)
        old = existing.get(user_id)
        if old is None:
            new_rows.append(dict(center_id=run.center_id, run_id=run.id, user_id=user_id,
                                 session_id=run.session_id,
                                 occurrence_start=run.occurrence_start,
                                 manual_status=None, note="", **values))
            changes.append(Change(user_id, None, values["auto_status"]))
        else:
            updated_rows.append(dict(id=old.id, run_id=run.id, **values))
            changes.append(Change(user_id, old.manual_status or old.auto_status,
                                  old.manual_status or values["auto_status"]))
        if changes[-1].new == AttendanceStatus.ABSENT:
            absent.add(user_id)
    insert_rows(AttendanceRecord.__table__, new_rows)
    update_rows(AttendanceRecord.__table__, updated_rows)
    _refresh_open_catch_ups(sheet)
    _after_changes(sheet, None, changes, source="auto", absent=absent)
    publish_rows(sheet, [c.user_id for c in changes])  # an open sheet shows the final marks


def _refresh_open_catch_ups(sheet: Sheet) -> None:
    """Open catch-ups of the occurrence (an absence marked ahead, or during the roll call)
    learn what the whole run was: its chat, and at least a week from its end to catch up (a
    due date never moves earlier). One UPDATE, only when there are any."""
    run = sheet.run
    still_open = (CatchUp.done_at.is_(None), sheet.rows_of(CatchUp))
    if db.session.scalar(select(func.count(CatchUp.id)).where(*still_open)) == 0:
        return
    thread_id, summary = _missed(sheet)
    due = _due(sheet)
    db.session.execute(update(CatchUp).where(*still_open).values(
        run_id=run.id, thread_id=thread_id, missed_summary=summary,
        due_at=case((CatchUp.due_at < due, due), else_=CatchUp.due_at))
        .execution_options(synchronize_session=False))


def on_session_went_live(run: Run, **_) -> None:
    """live's ``session_went_live``: marks a teacher made before the occurrence went live
    (their rows have its session and start but no run yet), and the catch-ups of absences
    marked ahead, now belong to its run."""
    if run.session_id is None:
        return
    for model in (AttendanceRecord, CatchUp):
        db.session.execute(update(model).where(
            model.session_id == run.session_id,
            model.occurrence_start == run.occurrence_start,
            model.run_id.is_(None)).values(run_id=run.id)
            .execution_options(synchronize_session=False))


def on_run_ended(run: Run, **_) -> None:
    """live's ``run_ended``: the run's attendance, in the transaction that ended it."""
    compute_run_attendance(run)


def on_presence_changed(run: Run, user_id: int | None = None, user=None, **_) -> None:
    """live's ``participant_joined`` / ``participant_left``: the person's row on any open
    sheet of the run changes (join count, times, "in the call"): one event on the room's
    topic, after commit (app/attendance/sheet_realtime.py renders it for each viewer)."""
    person = user.id if user is not None else user_id
    if person is not None:
        publish_rows(run_sheet(run), [person])


def publish_rows(sheet: Sheet, user_ids) -> None:
    """Tell the sheets open on the room's topic that these people's rows changed. A sheet
    without a room (an occurrence that never had a call) has no live page to tell."""
    from app.live.session_runs import session_room

    room_id = sheet.run.room_id if sheet.run is not None else \
        getattr(session_room(sheet.session), "id", None)
    people = sorted({int(u) for u in user_ids})
    if room_id is None or not people:
        return
    publish(f"room:{room_id}", ROWS_EVENT, session_id=sheet.session_id,
            occurrence_start=sheet.occurrence_start.isoformat()
            if sheet.occurrence_start else None,
            occurrence_key=sheet.occurrence_key,
            run_id=sheet.run.id if sheet.run is not None else None, people=people)


ROWS_EVENT = "attendance.rows"


# --- what the sheet shows ----------------------------------------------------------------------

@dataclass
class Bar:
    """One stretch of presence on a person's timeline, placed in percent of the run's span."""

    start: datetime
    end: datetime
    left: float
    width: float
    open: bool


@dataclass
class SheetRow:
    user: User
    record: AttendanceRecord | None
    first_join_at: datetime | None
    last_leave_at: datetime | None
    join_count: int
    seconds_present: int
    left_early: bool
    auto_status: AttendanceStatus | None
    in_call: bool
    bars: list[Bar]

    @property
    def manual_status(self) -> AttendanceStatus | None:
        return self.record.manual_status if self.record is not None else None

    @property
    def status(self) -> AttendanceStatus | None:
        return self.manual_status or self.auto_status

    @property
    def source(self) -> str | None:
        if self.manual_status is not None:
            return "manual"
        return "auto" if self.auto_status is not None else None

    @property
    def note(self) -> str:
        return self.record.note if self.record is not None else ""

    @property
    def minutes_present(self) -> int:
        return self.seconds_present // 60


@dataclass
class SheetView:
    sheet: Sheet
    rows: list[SheetRow]
    span: tuple[datetime, datetime] | None  # the run's span (to now while live)
    can_manage: bool

    @property
    def counts(self) -> dict[str, int]:
        counts = {s.value: 0 for s in AttendanceStatus}
        counts["UNMARKED"] = 0
        for row in self.rows:
            counts[row.status.value if row.status else "UNMARKED"] += 1
        return counts


def sheet_rows(sheet: Sheet, user_ids=None, now: datetime | None = None) -> tuple[
        list[SheetRow], tuple[datetime, datetime] | None]:
    """The sheet's rows (all, or ``user_ids``' only) as they stand: an ended run's stored
    records; while the run is live, what its segments say so far (stored at its end); before
    any run, the marks. A fixed number of queries however many people."""
    now = now or utcnow()
    wanted = roster_ids(sheet) if user_ids is None else set(user_ids)
    records = {r.user_id: r for r in db.session.scalars(
        select(AttendanceRecord).where(sheet.rows_of(AttendanceRecord),
                                       one_of(AttendanceRecord.user_id, wanted))
        .execution_options(populate_existing=True))} \
        if wanted else {}
    run = sheet.run
    segments = _segments_of(run, wanted) if run is not None and wanted else {}
    users = users_by_id(wanted | {r.set_by_id for r in records.values() if r.set_by_id})
    for record in records.values():
        set_committed_value(record, "user", users.get(record.user_id))
        set_committed_value(record, "set_by", users.get(record.set_by_id))
    span = None
    live_values = {}
    if run is not None:
        window = window_of(run, now)
        span = (window.started_at, window.ended_at)
        if run.is_live:
            settings = settings_for(sheet.center_id)
            added = _expected_learners(sheet)
            for user_id in wanted:
                is_expected = user_id in added and expected(added[user_id], window)
                values = live_values[user_id] = _derived(
                    [(a, b) for a, b, _ in segments.get(user_id, [])], window, settings,
                    is_expected)
                # Absent and left early are decided when the run ends, not while it is on.
                values["left_early"] = False
                if values["first_join_at"] is None:
                    values["auto_status"] = None
    rows = []
    for user_id in wanted:
        user = users.get(user_id)
        if user is None:
            continue
        record = records.get(user_id)
        values = live_values.get(user_id)
        if values is None:
            values = {name: getattr(record, name) for name in (
                "first_join_at", "last_leave_at", "join_count", "seconds_present",
                "left_early", "auto_status")} if record is not None else dict(
                first_join_at=None, last_leave_at=None, join_count=0, seconds_present=0,
                left_early=False, auto_status=None)
        mine = segments.get(user_id, [])
        rows.append(SheetRow(user=user, record=record, in_call=run is not None and run.is_live
                             and any(is_open for _, _, is_open in mine),
                             bars=_bars(mine, span), **values))
    rows.sort(key=lambda row: (row.user.name.lower(), row.user.id))
    return rows, span


def _bars(segments, span) -> list[Bar]:
    if span is None or not segments:
        return []
    start, end = span
    total = (end - start).total_seconds()
    if total <= 0:
        return []
    # An open segment is drawn up to now (the span's end while live): the person is there;
    # their counted time still stops at the last heartbeat.
    still_open = {(a, end) for a, b, is_open in segments if is_open}
    bars = []
    for a, b in clipped_union([(a, end if is_open else b) for a, b, is_open in segments],
                              start, end):
        left = (a - start).total_seconds() * 100 / total
        width = max((b - a).total_seconds() * 100 / total, 0.5)
        bars.append(Bar(a, b, round(left, 2), round(min(width, 100 - left), 2),
                        any(x <= b and y >= a for x, y in still_open)))
    return bars


def sheet_view(viewer: User, sheet: Sheet, now: datetime | None = None) -> SheetView:
    """What ``viewer`` sees of the sheet: every row for its managers, their own row for
    anyone else on it (none for someone not on it: the view says so)."""
    manages = can_manage(viewer, sheet)
    rows, span = sheet_rows(sheet, None if manages else {viewer.id}, now)
    if not manages:
        rows = [row for row in rows if row.user.id == viewer.id and (
            row.record is not None or row.user.id in roster_ids(sheet))]
    return SheetView(sheet, rows, span, manages)


# --- where people find the sheets ----------------------------------------------------------------

PAST_LISTED = 8
PAST_LOOKBACK = timedelta(days=180)


@dataclass
class SessionAttendance:
    """What a session page shows about attendance: the recent occurrences that took place
    (newest first) and, for someone who does not take attendance, their own status at the
    occurrences they have a record of (occurrence start -> status)."""

    can_manage: bool
    past: list
    mine: dict

    def has_sheet(self, occurrence, now: datetime) -> bool:
        """Whether this occurrence gets an Attendance (or My attendance) link: every one for
        its teachers (an upcoming one too: an absence may be excused ahead), the ones under way
        or past where they have a record for anyone else."""
        if occurrence.cancelled:
            return False
        if self.can_manage:
            return True
        return occurrence.start <= now and occurrence.start in self.mine


def session_attendance(viewer: User, session: VideoSession, shown=(),
                       now: datetime | None = None) -> SessionAttendance:
    """For the session page: its recent past occurrences, and the viewer's own records among
    them and ``shown`` (the occurrences the page lists already): one query at most."""
    now = now or utcnow()
    past = [o for o in scheduling.session_occurrences(session, now - PAST_LOOKBACK, now)
            if not o.cancelled and o.end <= now][-PAST_LISTED:][::-1]
    manages = can_manage(viewer, Sheet(session.center_id, session, None, None))
    mine = {}
    starts = {o.start for o in [*past, *shown] if o.start <= now}
    if not manages and starts:
        mine = {start: manual or auto for start, manual, auto in db.session.execute(
            select(AttendanceRecord.occurrence_start, AttendanceRecord.manual_status,
                   AttendanceRecord.auto_status).where(
                AttendanceRecord.session_id == session.id,
                AttendanceRecord.user_id == viewer.id,
                AttendanceRecord.occurrence_start.in_(sorted(starts))))}
    return SessionAttendance(manages, past, mine)


# --- teachers' marks ---------------------------------------------------------------------------

def set_statuses(actor: User, target, user_ids, status: AttendanceStatus | None,
                 note: str | None = None, *, only_unmarked: bool = False) -> list[int]:
    """A teacher's mark for one person or several on a sheet (``target``: a Sheet, or a Run
    for its own), before its run (an absence excused ahead), during it (roll call) or after.
    ``status`` None clears the manual mark (the automatic one counts again); ``note`` None
    leaves each note as it is. ``only_unmarked``: "mark all unmarked present" leaves whoever
    already has a status alone. Everyone must be on the sheet. Returns the ids of the people
    whose mark was set. Flat: one INSERT and one UPDATE for everyone."""
    sheet = _sheet_of(target)
    if not can_manage(actor, sheet):
        raise PermissionDenied("Only the session's teachers can take attendance.")
    wanted = set(user_ids)
    if not wanted:
        raise ValidationError({"people": "Choose at least one person."})
    note = clean_note(note)
    if wanted - roster_ids(sheet):
        raise ValidationError({"people": "Some of the people chosen are not on this sheet."})
    run = sheet.run
    existing = {row.user_id: row for row in db.session.execute(select(
        AttendanceRecord.id, AttendanceRecord.user_id, AttendanceRecord.auto_status,
        AttendanceRecord.manual_status, AttendanceRecord.note).where(
        sheet.rows_of(AttendanceRecord), one_of(AttendanceRecord.user_id, wanted)))}
    now = utcnow()
    new_rows, updated_rows, changes = [], [], []
    for user_id in sorted(wanted):
        old = existing.get(user_id)
        before = (old.manual_status or old.auto_status) if old is not None else None
        if only_unmarked and before is not None:
            continue
        mark = dict(manual_status=status, set_by_id=actor.id, set_at=now)
        if old is None:
            new_rows.append(dict(center_id=sheet.center_id,
                                 run_id=run.id if run is not None else None, user_id=user_id,
                                 session_id=sheet.session_id,
                                 occurrence_start=sheet.occurrence_start, join_count=0,
                                 seconds_present=0, left_early=False, auto_status=None,
                                 note=note or "", **mark))
            changes.append(Change(user_id, None, status))
        else:
            updated_rows.append(dict(id=old.id, note=old.note if note is None else note,
                                     **mark))
            changes.append(Change(user_id, before, status or old.auto_status))
    insert_rows(AttendanceRecord.__table__, new_rows)
    update_rows(AttendanceRecord.__table__, updated_rows)
    _after_changes(sheet, actor, changes, source="manual", note=note)
    marked = [c.user_id for c in changes]
    publish_rows(sheet, marked)
    return marked


def clean_note(note: str | None) -> str | None:
    if note is None:
        return None
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise ValidationError({"note": f"A note is at most {NOTE_MAX} characters."})
    return note


def cycle_status(actor: User, sheet: Sheet, user_id: int) -> AttendanceStatus:
    """One tap on the roll call: the person's status that counts moves on to the next in the
    cycle (rules.CYCLE; an unmarked person becomes PRESENT), as a manual mark."""
    from app.attendance.rules import next_in_cycle

    current = db.session.execute(select(AttendanceRecord.manual_status,
                                        AttendanceRecord.auto_status).where(
        sheet.rows_of(AttendanceRecord), AttendanceRecord.user_id == user_id)).first()
    status = next_in_cycle((current[0] or current[1]) if current is not None else None)
    set_statuses(actor, sheet, [user_id], status)
    return status


def set_note(actor: User, sheet: Sheet, user_id: int, note: str) -> None:
    """A note on someone's record without changing their status (audited like a mark)."""
    if not can_manage(actor, sheet):
        raise PermissionDenied("Only the session's teachers can take attendance.")
    note = clean_note(note or "")
    if user_id not in roster_ids(sheet):
        raise ValidationError({"people": "This person is not on this sheet."})
    record = db.session.scalar(select(AttendanceRecord).where(
        sheet.rows_of(AttendanceRecord), AttendanceRecord.user_id == user_id))
    if record is None:
        run = sheet.run
        record = AttendanceRecord(center_id=sheet.center_id, user_id=user_id,
                                  run_id=run.id if run is not None else None,
                                  session_id=sheet.session_id,
                                  occurrence_start=sheet.occurrence_start, join_count=0,
                                  seconds_present=0, left_early=False, note="")
        db.session.add(record)
    if record.note == note:
        return
    record_audit(actor, "attendance.note_changed", *_audit_target(sheet),
                 center_id=sheet.center_id, user_id=user_id, note=note)
    record.note = note
    db.session.flush()
    publish_rows(sheet, [user_id])


def records_for(run: Run) -> dict[int, AttendanceRecord]:
    return {r.user_id: r for r in db.session.scalars(
        select(AttendanceRecord).where(AttendanceRecord.run_id == run.id))}


# --- what follows a change: the audit trail and catch-ups -------------------------------------

class Change(NamedTuple):
    """One person's status that counts, before and after a computation or a mark."""

    user_id: int
    old: AttendanceStatus | None
    new: AttendanceStatus | None


def _audit_target(sheet: Sheet) -> tuple[str, int]:
    if sheet.run is not None:
        return "run", sheet.run.id
    return "session", sheet.session_id


def _after_changes(sheet: Sheet, actor: User | None, changes: list[Change], *, source: str,
                   note: str | None = None, absent: set[int] | None = None) -> None:
    """One audit row for the whole computation or mark, listing each status that changed
    (whose, from, to); a catch-up for each new absence (and for each of ``absent`` still
    without one: an absence marked before the run), the open catch-up of each absence undone
    removed (a finished one is kept: the work was done)."""
    changed = [c for c in changes if c.new != c.old]
    if changed:
        details = {} if sheet.run is not None else {
            "occurrence": sheet.occurrence_start.isoformat()}
        record_audit(actor, "attendance.statuses_changed", *_audit_target(sheet),
                     center_id=sheet.center_id, source=source, note=note,
                     changes=[{"user_id": c.user_id, "from": c.old.value if c.old else None,
                               "to": c.new.value if c.new else None} for c in changed],
                     **details)
    owed = {c.user_id for c in changed if c.new == AttendanceStatus.ABSENT} | (absent or set())
    undone = {c.user_id for c in changed
              if c.old == AttendanceStatus.ABSENT and c.new != AttendanceStatus.ABSENT}
    if undone:
        db.session.execute(delete(CatchUp).where(
            sheet.rows_of(CatchUp), one_of(CatchUp.user_id, undone),
            CatchUp.done_at.is_(None)).execution_options(synchronize_session=False))
    made = _create_catch_ups(sheet, owed) if owed else set()
    people = {c.user_id for c in changed}
    teachers = _instructor_ids(sheet)
    if people:
        signals.attendance_changed.send(sheet, changed_user_ids=frozenset(people),
                                        user_ids=frozenset(people | teachers))
    if made or undone:
        signals.catch_ups_changed.send(sheet, student_ids=frozenset(made | undone),
                                       user_ids=frozenset(made | undone | teachers))


def _instructor_ids(sheet: Sheet) -> set[int]:
    """The session's teacher and co-teachers (none for an instant call): from the session and
    participants the computation or the mark already loaded."""
    session = sheet.session
    if session is None:
        return set()
    return {session.teacher_id} | {p.user_id for p in session.participants
                                   if p.role == ParticipantRole.INSTRUCTOR}


def _due(sheet: Sheet) -> datetime:
    run = sheet.run
    ended = run.ended_at if run is not None and run.ended_at is not None else None
    if ended is None:
        ended = max(utcnow(), sheet.occurrence_end or utcnow())
    return ended + timedelta(days=current_app.config.get("ATTENDANCE_CATCH_UP_DAYS", 7))


def _create_catch_ups(sheet: Sheet, user_ids: set[int]) -> set[int]:
    """A catch-up for each of ``user_ids`` still without one on this sheet; returns whose were
    made."""
    owed = user_ids - set(db.session.scalars(select(CatchUp.user_id).where(
        sheet.rows_of(CatchUp), one_of(CatchUp.user_id, user_ids))))
    if not owed:
        return set()
    thread_id, summary = _missed(sheet)
    due = _due(sheet)
    run = sheet.run
    table = CatchUp.__table__
    made = insert_rows(table, [
        dict(center_id=sheet.center_id, run_id=run.id if run is not None else None,
             user_id=user_id, session_id=sheet.session_id,
             occurrence_start=sheet.occurrence_start, thread_id=thread_id,
             missed_summary=summary, due_at=due, done_at=None, created_at=utcnow())
        for user_id in sorted(owed)], (table.c.id, table.c.user_id),
        skip_duplicates_of=sheet.unique_key)
    session = sheet.session
    what = session.title if session is not None else "a call"
    users = users_by_id(owed)
    # Each student's notice opens their own catch-up and gives the due time in their zone.
    notify_each(NotificationType.CATCH_UP_ASSIGNED, [
        Notice(users[row.user_id], f"You missed {what}",
               f"{summary} Catch up by {when(due, users[row.user_id])}.",
               catch_up_path(row.id), f"catch-up-{row.id}")
        for row in sorted(made, key=lambda row: row.user_id) if row.user_id in users])
    return {row.user_id for row in made}


def _missed(sheet: Sheet) -> tuple[int | None, str]:
    """The thread the run's chat lived in, and what was said there during the run."""
    from app.chat.models import Message, MessageKind, Thread

    run = sheet.run
    if sheet.session is not None:
        thread_id = db.session.scalar(select(Thread.id).where(
            Thread.session_id == sheet.session_id))
    else:
        thread_id = db.session.scalar(select(Room.thread_id).where(Room.id == run.room_id))
    if run is None:
        return thread_id, "You were marked absent before the session took place."
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
