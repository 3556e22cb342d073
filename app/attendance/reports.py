"""Attendance over time (issue 12): the grid of a session series and of a course (people x
occurrences, with rates), a student's history, and their CSV/JSON exports.

Read-only. Every page costs the same number of statements whatever its size: the occurrences
come from the schedule (app/scheduling, no query per occurrence), the records of the shown
columns in one query, each person's totals over the whole range in one GROUP BY. Exports stream:
the records come through one server-side cursor (``yield_per``) ordered by occurrence, and
only one occurrence's records are held at a time.

Rates: present or late out of the occurrences marked present, late or absent. An excused
absence is left out of the rate (the student was allowed not to come; counting it against them
is what Moodle's users complain about), and an occurrence nobody marked counts for nothing."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterator
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import exists, false, func, or_, select
from sqlalchemy.orm import selectinload

from app.accounts.models import Course, CourseRole, Enrollment, User
from app.accounts.services import PermissionDenied, can_view_person, users_by_id
from app.attendance.models import AttendanceRecord
from app.attendance.rules import AttendanceStatus
from app.bulk import one_of
from app.db_types import utcnow
from app.extensions import db
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, SessionParticipant, VideoSession

DEFAULT_DAYS = 56  # eight weeks back from today: two months of a weekly lesson
MAX_RANGE_DAYS = 3 * 366  # the longest series the scheduler allows (MAX_SERIES_YEARS)
COLUMNS_PER_PAGE = 20
MIN_YEAR, MAX_YEAR = 1900, 2200  # what a date field may name (UTC conversion stays in range)
STREAM_CHUNK = 1000

_COUNTED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE, AttendanceStatus.ABSENT)
_ATTENDED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE)


# --- who may see what ----------------------------------------------------------------------------

def can_view_series(user: User, session: VideoSession) -> bool:
    """The series grid: the center's admins, the session's teacher and its co-teachers
    (participants with the INSTRUCTOR role); uses the session's loaded participants."""
    if user is None or not user.is_active or user.center_id != session.center_id:
        return False
    if user.is_admin or session.teacher_id == user.id:
        return True
    return any(p.user_id == user.id and p.role == ParticipantRole.INSTRUCTOR
               for p in session.participants)


def can_view_course(user: User, course: Course) -> bool:
    """The course grid: the center's admins and the course's teachers (its loaded enrollments:
    no query, so a list of courses can ask for each)."""
    if user is None or not user.is_active or user.center_id != course.center_id:
        return False
    return user.is_admin or any(e.user_id == user.id and e.role == CourseRole.TEACHER
                                for e in course.enrollments)


def can_view_history(viewer: User, person: User) -> bool:
    """A person's attendance history: their own; a center admin's; a teacher's for someone
    whose page they may open (their courses' students) or who is, or was, in one of the
    sessions they teach. Which sessions a teacher then sees is narrowed in
    ``student_history`` (only the ones they may see themselves)."""
    if viewer is None or not viewer.is_active or viewer.center_id != person.center_id:
        return False
    if viewer.id == person.id or viewer.is_admin:
        return True
    if not viewer.is_teacher:
        return False
    if can_view_person(viewer, person):
        return True
    taught = select(VideoSession.id).where(VideoSession.center_id == viewer.center_id, or_(
        VideoSession.teacher_id == viewer.id,
        VideoSession.id.in_(select(SessionParticipant.session_id).where(
            SessionParticipant.user_id == viewer.id,
            SessionParticipant.role == ParticipantRole.INSTRUCTOR))))
    return db.session.scalar(select(or_(
        exists().where(SessionParticipant.user_id == person.id,
                       SessionParticipant.session_id.in_(taught)),
        exists().where(AttendanceRecord.user_id == person.id,
                       AttendanceRecord.session_id.in_(taught))))) is True


# --- the date range --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DateRange:
    """Whole days in the viewer's zone, both ends included."""

    first_day: date
    last_day: date
    zone: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), self.tz).astimezone(ZoneInfo("UTC"))

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(),
                                self.tz).astimezone(ZoneInfo("UTC"))

    def query_args(self) -> dict:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


def held_by(now: datetime) -> datetime:
    """The latest start an occurrence held by ``now`` can have: a teacher may start it from
    when its Join window opens (an occurrence due at 10:05, started at 10:00, is on the sheet
    and in the grids at 10:01)."""
    from app.live.session_runs import join_early

    return now + join_early()


def default_range(viewer: User, now: datetime | None = None) -> DateRange:
    today = (now or utcnow()).astimezone(viewer.tz).date()
    return DateRange(today - timedelta(days=DEFAULT_DAYS - 1), today, viewer.effective_timezone)


def parse_range(viewer: User, raw_from: str | None, raw_to: str | None,
                now: datetime | None = None) -> tuple[DateRange, dict[str, str]]:
    """The range asked for (``from``/``to`` as YYYY-MM-DD, either may be left out: the default
    fills it), and the problems with it by field. With problems the default range comes back
    too; the pages then show the form with its messages and no grid (a 422)."""
    fallback = default_range(viewer, now)
    errors: dict[str, str] = {}
    days = {}
    for name, raw in (("from", raw_from), ("to", raw_to)):
        raw = (raw or "").strip()
        if not raw:
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD."
    if errors:
        return fallback, errors
    for name, day in days.items():
        if not MIN_YEAR <= day.year <= MAX_YEAR:
            errors[name] = f"Choose a date between the years {MIN_YEAR} and {MAX_YEAR}."
    if errors:
        return fallback, errors
    last = days.get("to", fallback.last_day)
    first = days.get("from", last - timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        return fallback, {"from": "The start must be on or before the end."}
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        return fallback, {"from": f"Choose at most {MAX_RANGE_DAYS} days (about three years)."}
    chosen = DateRange(first, last, viewer.effective_timezone)
    return chosen, {}


# --- cells, columns and totals -------------------------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """One person's record at one occurrence (the grid shows no Cell where nobody marked)."""

    status: AttendanceStatus | None
    source: str
    left_early: bool
    seconds_present: int
    join_count: int
    first_join_at: datetime | None
    last_leave_at: datetime | None
    note: str

    @property
    def minutes_present(self) -> int:
        return self.seconds_present // 60


@dataclass
class Column:
    """One occurrence. ``key`` names it as the scheduling pages do (its original local start);
    None for records of an occurrence no longer on the schedule (moved or re-planned after it
    was marked): they are still shown, at the start they were taken for."""

    session_id: int
    session_title: str
    start: datetime
    key: str | None
    cancelled: bool = False
    moved: bool = False
    totals: dict = field(default_factory=dict)

    @property
    def sheet_url(self) -> str | None:
        if self.key is None:
            return None
        return f"/sessions/{self.session_id}/occurrences/{quote(self.key, safe=':')}/attendance"

    @property
    def unscheduled(self) -> bool:
        return self.key is None


@dataclass
class Summary:
    present: int = 0
    late: int = 0
    absent: int = 0
    excused: int = 0
    left_early: int = 0

    def add(self, status: AttendanceStatus | None, left_early: bool = False, n: int = 1):
        if status is None:
            return
        name = status.value.lower()
        setattr(self, name, getattr(self, name) + n)
        if left_early:
            self.left_early += n

    @property
    def counted(self) -> int:
        return self.present + self.late + self.absent

    @property
    def rate(self) -> float | None:
        """Present or late out of present, late or absent (excused left out); None when no
        occurrence was marked any of those."""
        return (self.present + self.late) / self.counted if self.counted else None

    @property
    def rate_text(self) -> str:
        return "–" if self.rate is None else f"{round(self.rate * 100)}%"


def _occurrence_columns(sessions, lo: datetime, hi: datetime) -> list[Column]:
    columns = []
    for occ in scheduling.occurrences_between(sessions, lo, hi):
        columns.append(Column(occ.session_id, occ.session.title, occ.start,
                              occ.original_start_local.isoformat(), occ.cancelled, occ.moved))
    return columns


def _columns_with_unscheduled(sessions, lo: datetime, hi: datetime) -> list[Column]:
    """The sessions' occurrences in [lo, hi), and a column for each start records were taken
    for that the schedule no longer has (one query: the distinct starts)."""
    columns = _occurrence_columns(sessions, lo, hi)
    if not sessions:
        return columns
    titles = {s.id: s.title for s in sessions}
    scheduled = {(c.session_id, c.start) for c in columns}
    for session_id, start in db.session.execute(
            select(AttendanceRecord.session_id, AttendanceRecord.occurrence_start).distinct()
            .where(one_of(AttendanceRecord.session_id, titles),
                   AttendanceRecord.occurrence_start >= lo,
                   AttendanceRecord.occurrence_start < hi)):
        if (session_id, start) not in scheduled:
            columns.append(Column(session_id, titles[session_id], start, None))
    columns.sort(key=lambda c: (c.start, c.session_id))
    return columns


_CELL_COLUMNS = (AttendanceRecord.user_id, AttendanceRecord.session_id,
                 AttendanceRecord.occurrence_start, AttendanceRecord.manual_status,
                 AttendanceRecord.auto_status, AttendanceRecord.left_early,
                 AttendanceRecord.seconds_present, AttendanceRecord.join_count,
                 AttendanceRecord.first_join_at, AttendanceRecord.last_leave_at,
                 AttendanceRecord.note)


def _cell(row) -> Cell:
    return Cell(status=row.manual_status or row.auto_status,
                source="manual" if row.manual_status is not None else "auto",
                left_early=bool(row.left_early), seconds_present=row.seconds_present or 0,
                join_count=row.join_count or 0, first_join_at=row.first_join_at,
                last_leave_at=row.last_leave_at, note=row.note or "")


# --- the grids -----------------------------------------------------------------------------------

@dataclass
class GridRow:
    person: User
    cells: list[Cell | None]
    summary: Summary


@dataclass
class Grid:
    """What a grid page shows: one page of columns (the latest first: page 1 is the most
    recent ``COLUMNS_PER_PAGE`` occurrences of the range), every person's row for them, and
    each person's totals over the whole range."""

    date_range: DateRange
    columns: list[Column]
    rows: list[GridRow]
    page: int
    pages: int
    total_columns: int
    show_session: bool  # a course grid names each column's session

    @property
    def has_earlier(self) -> bool:
        return self.page < self.pages

    @property
    def has_later(self) -> bool:
        return self.page > 1


def _page_of(columns: list[Column], page: int) -> tuple[list[Column], int, int]:
    pages = max(1, -(-len(columns) // COLUMNS_PER_PAGE))
    page = min(max(page, 1), pages)
    end = len(columns) - (page - 1) * COLUMNS_PER_PAGE
    return columns[max(0, end - COLUMNS_PER_PAGE):end], page, pages


def _summaries(session_ids, lo: datetime, hi: datetime,
               user_ids=None) -> dict[int, Summary]:
    """Each person's totals over every record of the sessions in [lo, hi): one GROUP BY."""
    summaries: dict[int, Summary] = {}
    if not session_ids:
        return summaries
    stmt = (select(AttendanceRecord.user_id, AttendanceRecord.manual_status,
                   AttendanceRecord.auto_status, AttendanceRecord.left_early,
                   func.count(AttendanceRecord.id))
            .where(one_of(AttendanceRecord.session_id, session_ids),
                   AttendanceRecord.occurrence_start >= lo,
                   AttendanceRecord.occurrence_start < hi)
            .group_by(AttendanceRecord.user_id, AttendanceRecord.manual_status,
                      AttendanceRecord.auto_status, AttendanceRecord.left_early))
    if user_ids is not None:
        stmt = stmt.where(one_of(AttendanceRecord.user_id, user_ids))
    for user_id, manual, auto, early, n in db.session.execute(stmt):
        summaries.setdefault(user_id, Summary()).add(manual or auto, bool(early), n)
    return summaries


def _grid(sessions, people: list[User], summaries: dict[int, Summary],
          date_range: DateRange, page: int, now: datetime, *, show_session: bool) -> Grid:
    hi = min(date_range.end, held_by(now))
    columns = _columns_with_unscheduled(sessions, date_range.start, hi)
    shown, page, pages = _page_of(columns, page)
    cells: dict[tuple[int, int], Cell] = {}
    if shown and people:
        index = {(c.session_id, c.start): i for i, c in enumerate(shown)}
        wanted = {p.id for p in people}
        for row in db.session.execute(select(*_CELL_COLUMNS).where(
                one_of(AttendanceRecord.session_id, {c.session_id for c in shown}),
                AttendanceRecord.occurrence_start >= shown[0].start,
                AttendanceRecord.occurrence_start <= shown[-1].start)):
            i = index.get((row.session_id, row.occurrence_start))
            if i is not None and row.user_id in wanted:
                cells[(row.user_id, i)] = _cell(row)
    rows = []
    for person in people:
        row_cells = [cells.get((person.id, i)) for i in range(len(shown))]
        rows.append(GridRow(person, row_cells, summaries.get(person.id, Summary())))
    for i, column in enumerate(shown):
        totals = Summary()
        not_taken = 0
        for row in rows:
            cell = row.cells[i]
            if cell is None or cell.status is None:
                not_taken += 1
            else:
                totals.add(cell.status, cell.left_early)
        column.totals = {"summary": totals, "not_taken": not_taken}
    return Grid(date_range, shown, rows, page, pages, len(columns), show_session)


def _by_name(people) -> list[User]:
    return sorted(people, key=lambda u: (u.name.casefold(), u.id))


def _series_people(session: VideoSession, summaries: dict[int, Summary]) -> list[User]:
    """The session's learners and anyone with a record in the range (someone marked and later
    removed from the session still has their history)."""
    learners = {p.user_id for p in session.participants if p.role == ParticipantRole.LEARNER}
    return _by_name(users_by_id(learners | set(summaries)).values())


def load_session(session_id, center_id: int) -> VideoSession | None:
    """The center's session, with what a grid reads loaded up front (None: not one of its)."""
    from app.accounts.tenancy import parse_id

    number = parse_id(session_id)
    if number is None:
        return None
    return db.session.scalar(select(VideoSession).where(
        VideoSession.id == number, VideoSession.center_id == center_id).options(
        selectinload(VideoSession.participants), selectinload(VideoSession.overrides)))


def series_grid(viewer: User, session: VideoSession, date_range: DateRange, page: int = 1,
                now: datetime | None = None) -> Grid:
    if not can_view_series(viewer, session):
        raise PermissionDenied("Only the session's teachers can see its attendance.")
    now = now or utcnow()
    summaries = _summaries([session.id], date_range.start, min(date_range.end, held_by(now)))
    return _grid([session], _series_people(session, summaries), summaries, date_range, page,
                 now, show_session=False)


def course_sessions(course: Course) -> list[VideoSession]:
    """The course's sessions (proposals not yet approved are not lessons of it), with their
    overrides loaded: two queries however many."""
    return list(db.session.scalars(
        select(VideoSession).where(VideoSession.center_id == course.center_id,
                                   VideoSession.course_id == course.id,
                                   VideoSession.status.notin_(scheduling.PROPOSAL_STATUSES))
        .options(selectinload(VideoSession.overrides)).order_by(VideoSession.id)))


def course_students(course: Course) -> list[User]:
    return _by_name(db.session.scalars(
        select(User).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.STUDENT,
               User.center_id == course.center_id)))


def load_course(course_id, center_id: int) -> Course | None:
    from app.accounts.tenancy import parse_id

    number = parse_id(course_id)
    if number is None:
        return None
    return db.session.scalar(select(Course).where(
        Course.id == number, Course.center_id == center_id).options(
        selectinload(Course.enrollments)))


def course_grid(viewer: User, course: Course, date_range: DateRange, page: int = 1,
                now: datetime | None = None) -> Grid:
    """The course's enrolled students x every occurrence of the course's sessions."""
    if not can_view_course(viewer, course):
        raise PermissionDenied("Only the course's teachers can see its attendance.")
    now = now or utcnow()
    sessions = course_sessions(course)
    students = course_students(course)
    summaries = _summaries([s.id for s in sessions], date_range.start,
                           min(date_range.end, held_by(now)), [s.id for s in students])
    return _grid(sessions, students, summaries, date_range, page, now, show_session=True)


# --- a student's history --------------------------------------------------------------------------

@dataclass
class HistoryLine:
    column: Column
    cell: Cell | None


@dataclass
class SessionHistory:
    session: VideoSession
    lines: list[HistoryLine]
    summary: Summary


@dataclass
class History:
    person: User
    date_range: DateRange
    sessions: list[SessionHistory]
    overall: Summary
    show_notes: bool


def _history_sessions(viewer: User, person: User, date_range: DateRange, hi: datetime):
    """The sessions of ``person``'s history and when they became a learner in each: the
    sessions they learn in and the ones they have records of in the range; a teacher sees
    only the sessions they may see themselves (not a colleague's lessons)."""
    learning = dict(db.session.execute(select(
        SessionParticipant.session_id, SessionParticipant.created_at).where(
        SessionParticipant.user_id == person.id,
        SessionParticipant.role == ParticipantRole.LEARNER)).all())
    with_records = select(AttendanceRecord.session_id).where(
        AttendanceRecord.user_id == person.id, AttendanceRecord.session_id.is_not(None),
        AttendanceRecord.occurrence_start >= date_range.start,
        AttendanceRecord.occurrence_start < hi)
    criteria = [VideoSession.center_id == person.center_id,
                VideoSession.status.notin_(scheduling.PROPOSAL_STATUSES),
                or_(one_of(VideoSession.id, learning) if learning else false(),
                    VideoSession.id.in_(with_records))]
    if viewer.id != person.id and not viewer.is_admin:
        criteria += scheduling.visible_sessions_filter(viewer)
    sessions = list(db.session.scalars(
        select(VideoSession).where(*criteria)
        .options(selectinload(VideoSession.overrides)).order_by(VideoSession.id)))
    return sessions, learning


def student_history(viewer: User, person: User, date_range: DateRange,
                    now: datetime | None = None) -> History:
    """Per session and overall: rate, lates, absences and every occurrence with its status.
    An occurrence that took place before the person joined the session is not listed (they
    were never expected at it) unless they have a record of it."""
    if not can_view_history(viewer, person):
        raise PermissionDenied("You can only see your own attendance.")
    now = now or utcnow()
    hi = min(date_range.end, held_by(now))
    sessions, learning = _history_sessions(viewer, person, date_range, hi)
    columns = _columns_with_unscheduled(sessions, date_range.start, hi)
    cells: dict[tuple[int, datetime], Cell] = {}
    if sessions:
        for row in db.session.execute(select(*_CELL_COLUMNS).where(
                AttendanceRecord.user_id == person.id,
                one_of(AttendanceRecord.session_id, [s.id for s in sessions]),
                AttendanceRecord.occurrence_start >= date_range.start,
                AttendanceRecord.occurrence_start < hi)):
            cells[(row.session_id, row.occurrence_start)] = _cell(row)
    by_session: dict[int, SessionHistory] = {
        s.id: SessionHistory(s, [], Summary()) for s in sessions}
    overall = Summary()
    for column in columns:
        cell = cells.get((column.session_id, column.start))
        added = learning.get(column.session_id)
        if cell is None and (added is None or added > column.start):
            continue
        entry = by_session[column.session_id]
        entry.lines.append(HistoryLine(column, cell))
        if cell is not None:
            entry.summary.add(cell.status, cell.left_early)
            overall.add(cell.status, cell.left_early)
    shown = sorted((h for h in by_session.values() if h.lines),
                   key=lambda h: (h.session.title.casefold(), h.session.id))
    return History(person, date_range, shown, overall, show_notes=not viewer.is_student)


# --- exports ---------------------------------------------------------------------------------------

EXPORT_FIELDS = ("person_id", "person", "session_id", "session", "occurrence_start",
                 "time_zone", "occurrence", "status", "left_early", "source",
                 "seconds_present", "join_count", "first_join", "last_leave")


@dataclass(frozen=True)
class ExportPerson:
    id: int
    name: str


@dataclass(frozen=True)
class ExportPlan:
    """Everything an export needs, as plain values and one prepared query: the body is sent
    after the request is over (its transaction committed, its objects expired, its contexts
    gone), so the stream reads only this, on a connection of its own from ``engine``."""

    name: str
    zone: str
    people: tuple[ExportPerson, ...]
    columns: tuple[Column, ...]
    session_ids: tuple[int, ...]
    start: datetime
    end: datetime
    include_notes: bool
    # Only people who appear in the rows (a course's students, one student): None for all.
    only_user_ids: tuple[int, ...] | None = None
    # History only: person id -> {session id: when they became a learner}. An occurrence with
    # no record is listed only from then on, as on the history page.
    skip_before: dict = field(default_factory=dict, compare=False, hash=False)
    records: object = field(default=None, compare=False, hash=False)
    engine: object = field(default=None, compare=False, hash=False)

    @property
    def fields(self) -> tuple[str, ...]:
        return EXPORT_FIELDS + (("note",) if self.include_notes else ())


def _plan(name: str, viewer: User, people, columns, session_ids, date_range: DateRange,
          hi: datetime, only_user_ids=None, skip_before=None) -> ExportPlan:
    """The plan, with the records' query prepared here, inside the request (``one_of`` asks
    the request's session which database it speaks to)."""
    records = None
    if session_ids:
        records = (select(*_CELL_COLUMNS)
                   .where(one_of(AttendanceRecord.session_id, session_ids),
                          AttendanceRecord.occurrence_start >= date_range.start,
                          AttendanceRecord.occurrence_start < hi)
                   .order_by(AttendanceRecord.occurrence_start, AttendanceRecord.session_id)
                   .execution_options(yield_per=STREAM_CHUNK))
        if only_user_ids is not None:
            records = records.where(one_of(AttendanceRecord.user_id, only_user_ids))
    return ExportPlan(name=name, zone=viewer.effective_timezone,
                      people=tuple(ExportPerson(p.id, p.name) for p in people),
                      columns=tuple(columns), session_ids=tuple(session_ids),
                      start=date_range.start, end=hi, include_notes=not viewer.is_student,
                      only_user_ids=None if only_user_ids is None else tuple(only_user_ids),
                      skip_before=skip_before or {}, records=records, engine=db.engine)


def series_export(viewer: User, session: VideoSession, date_range: DateRange,
                  now: datetime | None = None) -> ExportPlan:
    if not can_view_series(viewer, session):
        raise PermissionDenied("Only the session's teachers can export its attendance.")
    now = now or utcnow()
    hi = min(date_range.end, held_by(now))
    summaries = _summaries([session.id], date_range.start, hi)
    columns = _columns_with_unscheduled([session], date_range.start, hi)
    return _plan(f"attendance-session-{session.id}", viewer,
                 _series_people(session, summaries), columns, [session.id], date_range, hi)


def course_export(viewer: User, course: Course, date_range: DateRange,
                  now: datetime | None = None) -> ExportPlan:
    if not can_view_course(viewer, course):
        raise PermissionDenied("Only the course's teachers can export its attendance.")
    now = now or utcnow()
    hi = min(date_range.end, held_by(now))
    sessions = course_sessions(course)
    students = course_students(course)
    columns = _columns_with_unscheduled(sessions, date_range.start, hi)
    return _plan(f"attendance-course-{course.id}", viewer, students, columns,
                 [s.id for s in sessions], date_range, hi, [s.id for s in students])


def history_export(viewer: User, person: User, date_range: DateRange,
                   now: datetime | None = None) -> ExportPlan:
    if not can_view_history(viewer, person):
        raise PermissionDenied("You can only export your own attendance.")
    now = now or utcnow()
    hi = min(date_range.end, held_by(now))
    sessions, learning = _history_sessions(viewer, person, date_range, hi)
    columns = _columns_with_unscheduled(sessions, date_range.start, hi)
    return _plan(f"attendance-{person.id}", viewer, [person], columns,
                 [s.id for s in sessions], date_range, hi, [person.id],
                 {person.id: {sid: added for sid, added in learning.items()}})


def _iso(instant: datetime | None, tz: ZoneInfo) -> str | None:
    return instant.astimezone(tz).isoformat() if instant is not None else None


def export_rows(plan: ExportPlan) -> Iterator[dict]:
    """One dict per person per occurrence, in occurrence order then the people's order (the
    page's). The records come through one server-side cursor (``yield_per``: PostgreSQL sends
    them in chunks) ordered by occurrence, on a connection of the stream's own; one
    occurrence's records are held at a time (merged with the columns, also in that order)."""
    if not plan.columns or not plan.people or plan.records is None:
        return
    with plan.engine.connect() as connection:
        yield from _merged_rows(plan, iter(connection.execute(plan.records)))


def _merged_rows(plan: ExportPlan, records) -> Iterator[dict]:
    tz = ZoneInfo(plan.zone)
    pending = next(records, None)
    for column in plan.columns:
        here: dict[int, Cell] = {}
        place = (column.start, column.session_id)
        # Skip records of occurrences that are not columns (cannot happen for the range the
        # columns were built from, but a record written since must not stall the merge).
        while pending is not None and (pending.occurrence_start, pending.session_id) < place:
            pending = next(records, None)
        while pending is not None and (pending.occurrence_start, pending.session_id) == place:
            here[pending.user_id] = _cell(pending)
            pending = next(records, None)
        for person in plan.people:
            cell = here.get(person.id)
            if cell is None and plan.skip_before:
                added = plan.skip_before.get(person.id, {}).get(column.session_id)
                if added is None or added > column.start:
                    continue  # as the history page: not expected at it, not listed
            yield _export_row(plan, tz, person, column, cell)


def _export_row(plan: ExportPlan, tz: ZoneInfo, person: ExportPerson, column: Column,
                cell: Cell | None) -> dict:
    taken = cell is not None and cell.status is not None
    row = {
        "person_id": person.id, "person": person.name, "session_id": column.session_id,
        "session": column.session_title, "occurrence_start": _iso(column.start, tz),
        "time_zone": plan.zone,
        "occurrence": ("cancelled" if column.cancelled else
                       "no longer scheduled" if column.unscheduled else
                       "moved" if column.moved else "scheduled"),
        "status": cell.status.value if taken else None,
        "left_early": bool(cell and cell.left_early),
        "source": cell.source if taken else None,
        "seconds_present": cell.seconds_present if cell else 0,
        "join_count": cell.join_count if cell else 0,
        "first_join": _iso(cell.first_join_at, tz) if cell else None,
        "last_leave": _iso(cell.last_leave_at, tz) if cell else None,
    }
    if plan.include_notes:
        row["note"] = cell.note if cell else ""
    return row


def csv_chunks(plan: ExportPlan) -> Iterator[str]:
    """UTF-8 CSV, with a byte order mark so a spreadsheet opened by double-click reads the
    names' accents right; empty cells for what has no value (not taken: no status)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=plan.fields, extrasaction="ignore")
    buffer.write("\ufeff")
    writer.writeheader()
    for n, row in enumerate(export_rows(plan), 1):
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
        if n % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        # A name or note starting like a formula must not run as one in a spreadsheet
        # (OWASP "CSV injection"): a leading apostrophe keeps it text. ISO times never start so.
        return "'" + value
    return value


def json_chunks(plan: ExportPlan) -> Iterator[str]:
    head = {"report": plan.name, "time_zone": plan.zone,
            "from": _iso(plan.start, ZoneInfo(plan.zone)),
            "to": _iso(plan.end, ZoneInfo(plan.zone)), "fields": list(plan.fields)}
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "rows": ['
    first = True
    for row in export_rows(plan):
        yield ("" if first else ",\n") + json.dumps(row, ensure_ascii=False)
        first = False
    yield "]}\n"


def person_for_history(person_id, viewer: User) -> User | None:
    from app.accounts.tenancy import parse_id

    number = parse_id(person_id)
    if number is None:
        return None
    return db.session.scalar(select(User).where(User.id == number,
                                                User.center_id == viewer.center_id))

