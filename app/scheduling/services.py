"""Scheduling rules: who may see and change sessions, scheduling, edits, cancellations,
participants, conflicts and calendar windows. The only code that changes sessions."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Course, CourseRole, Enrollment, Role, User
from app.accounts.services import (PermissionDenied, ValidationError, enrolled_students_query,
                                   record_audit)
from app.db_types import utcnow
from app.extensions import db
from app.scheduling import recurrence
from app.scheduling.models import (CalendarFeed, Frequency, ParticipantRole, SessionOverride,
                                   SessionParticipant, SessionStatus, SessionType, VideoSession)
from app.scheduling.recurrence import Change, Occurrence, Schedule
from app.scheduling.permissions import can_manage_session, can_view_session  # noqa: F401
from app.scheduling import signals
from app.timezones import is_valid_timezone
from app.transactions import savepoint

MAX_DURATION_MINUTES = 8 * 60
MAX_COUNT = 500
MAX_SERIES_YEARS = 3
CONFLICT_HORIZON = timedelta(days=366)  # how far ahead conflicts of a series are checked
# Proposals waiting for a group owner (or declined): in no calendar, feed or conflict check.
PROPOSAL_STATUSES = (SessionStatus.PENDING, SessionStatus.DECLINED)


# --- permissions (one place per resource: views, feed, jobs and the websocket hub use these) ---
# can_view_session and can_manage_session live in permissions.py, with the capability flags
# the pages read; they are imported above so every caller keeps using services.

def visible_sessions_filter(user: User):
    """SQL criteria for the sessions ``user`` may see (tenancy included)."""
    criteria = [VideoSession.center_id == user.center_id]
    if user.role == Role.ADMIN:
        return criteria
    is_participant = exists().where(SessionParticipant.session_id == VideoSession.id,
                                    SessionParticipant.user_id == user.id)
    if user.role == Role.TEACHER:
        return criteria + [or_(VideoSession.teacher_id == user.id, is_participant)]
    return criteria + [is_participant]


def participant_ids(session: VideoSession) -> frozenset[int]:
    """Everyone a fact about ``session`` concerns (its domain events' ``user_ids``)."""
    return frozenset(p.user_id for p in session.participants)


def participant_users(session: VideoSession) -> list[User]:
    """The users of the session's participants, loaded in one query (not one each) and
    attached to their participant rows (so later ``.user`` reads cost nothing)."""
    from app.accounts.services import users_by_id

    users = users_by_id(p.user_id for p in session.participants)
    for participant in session.participants:
        set_committed_value(participant, "user", users.get(participant.user_id))
    return [users[p.user_id] for p in session.participants if p.user_id in users]


def _require_manage(user: User, session: VideoSession) -> None:
    if not can_manage_session(user, session):
        raise PermissionDenied("Only the session's teacher or a center admin can change it.")
    if session.status.is_proposal:
        # Edits announce changes (emails, notifications) of a session nobody was told about.
        raise ValidationError({"session": "This session is a proposal: approve or decline it "
                                          "from the group's Sessions tab first."})


# --- schedules of stored sessions ----------------------------------------------------------------

def schedule_of(session: VideoSession) -> Schedule:
    return Schedule(timezone=session.timezone, start_local=session.start_local,
                    duration_minutes=session.duration_minutes, frequency=session.frequency.value,
                    interval=session.interval or 1, weekdays=tuple(session.weekdays),
                    count=session.count, until_local=session.until_local)


def changes_of(session: VideoSession) -> dict[datetime, Change]:
    return {o.original_start_local: Change(o.original_start_local, o.new_start_local,
                                           o.new_duration_minutes, o.cancelled)
            for o in session.overrides}


def refresh_bounds(session: VideoSession) -> None:
    session.first_start_utc, session.last_end_utc = recurrence.bounds(schedule_of(session),
                                                                      changes_of(session))


def session_occurrences(session: VideoSession, window_start: datetime,
                        window_end: datetime) -> list[Occurrence]:
    return recurrence.expand(schedule_of(session), changes_of(session), window_start, window_end,
                             session_id=session.id, session=session,
                             series_cancelled=session.is_cancelled)


def occurrences_between(sessions, window_start: datetime, window_end: datetime) -> list[Occurrence]:
    """Every occurrence of ``sessions`` starting in [window_start, window_end), in time order."""
    found = []
    for session in sessions:
        found.extend(session_occurrences(session, window_start, window_end))
    found.sort(key=lambda occ: (occ.start, occ.session_id))
    return found


def calendar_sessions(user: User, window_start: datetime, window_end: datetime):
    """The sessions visible to ``user`` that may have an occurrence in the window, with what
    a calendar card needs loaded up front (a constant number of queries)."""
    stmt = (select(VideoSession)
            .where(*visible_sessions_filter(user),
                   VideoSession.status.notin_(PROPOSAL_STATUSES),
                   VideoSession.first_start_utc < window_end,
                   or_(VideoSession.last_end_utc.is_(None),
                       VideoSession.last_end_utc > window_start))
            .options(selectinload(VideoSession.overrides),
                     selectinload(VideoSession.participants),
                     joinedload(VideoSession.teacher))
            .order_by(VideoSession.id))
    return list(db.session.scalars(stmt).unique())


def visible_occurrences(user: User, window_start: datetime, window_end: datetime):
    return occurrences_between(calendar_sessions(user, window_start, window_end),
                               window_start, window_end)


def upcoming_occurrences(user: User, days: int = 7, limit: int = 20) -> list[Occurrence]:
    now = utcnow()
    occurrences = visible_occurrences(user, now - timedelta(hours=8), now + timedelta(days=days))
    # Keep the ones not yet over (a session under way is still "upcoming" to its people).
    return [o for o in occurrences if o.end > now][:limit]


def next_occurrences(session: VideoSession, limit: int = 8) -> list[Occurrence]:
    now = utcnow()
    found: list[Occurrence] = []
    window_start, span = now - session.duration, timedelta(days=62)
    horizon = now + timedelta(days=366 * MAX_SERIES_YEARS)
    while len(found) < limit and window_start < horizon:
        if session.last_end_utc is not None and window_start > session.last_end_utc:
            break
        found.extend(o for o in session_occurrences(session, window_start, window_start + span)
                     if o.end > now)
        window_start += span
    return found[:limit]


def find_occurrence(session: VideoSession, original_start_local: datetime) -> Occurrence | None:
    """The occurrence named by its original local start (None if the series has no such one)."""
    if not recurrence.is_original_start(schedule_of(session), original_start_local):
        return None
    change = changes_of(session).get(original_start_local)
    local = change.new_start_local if change and change.new_start_local else original_start_local
    start = recurrence.local_to_utc(local, session.tz)
    for occ in session_occurrences(session, start, start + timedelta(seconds=1)):
        if occ.original_start_local == original_start_local:
            return occ
    return None


def occurrence_by_key(session: VideoSession, raw: str | None) -> Occurrence | None:
    """The occurrence a URL names by its original local start (naive ISO 8601, in the series'
    zone); None for junk and for a time that is not one of the series' starts."""
    if not raw or len(raw) > 32:
        return None
    try:
        original = datetime.fromisoformat(raw)
    except ValueError:
        return None
    # Naive wall-clock time only, and near the series: a far-off year is not an occurrence and
    # would only make the recurrence expansion walk (or overflow) for nothing.
    horizon = max(session.start_local, utcnow().replace(tzinfo=None)) + timedelta(
        days=366 * (MAX_SERIES_YEARS + SCHEDULING_WINDOW_YEARS))
    if original.tzinfo is not None or not session.start_local <= original <= horizon:
        return None
    return find_occurrence(session, original)


def occurrence_reason(occ: Occurrence) -> str:
    """What participants were told about this occurrence's change ("" if nothing): the reason
    the whole series was cancelled, else the one given when this occurrence was moved, given a
    new duration or cancelled. Reads the session's loaded overrides (no query)."""
    session = occ.session
    if session.is_cancelled:
        return session.cancel_reason or ""
    for override in session.overrides:
        if override.original_start_local == occ.original_start_local:
            return override.reason or ""
    return ""


# --- the dates scheduling accepts ----------------------------------------------------------

SCHEDULING_WINDOW_YEARS = 10


def _years_from(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def scheduling_window(today: date | None = None) -> tuple[date, date]:
    """The first and last date anything may be scheduled on, moved to or shown in a calendar:
    ten years either side of today. The one bound every scheduling entry point applies (the
    dialog, edits, splits, moves, calendar navigation): a date beyond it is a typo, and years
    such as 1 or 9999 overflow the datetime arithmetic of recurrence and time zones."""
    today = today or utcnow().date()
    return (_years_from(today, -SCHEDULING_WINDOW_YEARS),
            _years_from(today, SCHEDULING_WINDOW_YEARS))


def date_window_problem(day: date) -> str | None:
    first, last = scheduling_window()
    if first <= day <= last:
        return None
    return f"Pick a date between {first:%-d %b %Y} and {last:%-d %b %Y}."


def dst_gap_problem(local: datetime, timezone_name: str) -> str | None:
    """A wall-clock time that does not exist in the zone (the hour skipped when clocks go
    forward): refused with the time it would become, rather than stored as a time the session
    page would show differently from its occurrences."""
    if not is_valid_timezone(timezone_name) or not recurrence.in_dst_gap(local, ZoneInfo(timezone_name)):
        return None
    shifted = recurrence.utc_to_local(recurrence.local_to_utc(local, ZoneInfo(timezone_name)),
                                      ZoneInfo(timezone_name))
    return (f"{local:%H:%M} does not exist on {local:%A %-d %B %Y} in "
            f"{timezone_name.replace('_', ' ')}: the clocks go forward then. Pick "
            f"{shifted:%H:%M} (the same moment) or another time.")


# --- input ---------------------------------------------------------------------------------

@dataclass
class SessionInput:
    """What the scheduling dialog sends, parsed. Services validate the rules."""

    title: str = ""
    description: str = ""
    type: str = SessionType.CLASS.value
    participant_ids: list[int] = field(default_factory=list)
    course_id: int | None = None  # "whole course": its students join the participants
    group_id: int | None = None  # "whole group": the students of one of the teacher's groups
    date: date | None = None
    start_time: time | None = None
    timezone: str = "UTC"
    duration_minutes: int | None = 60
    frequency: str = Frequency.NONE.value
    weekdays: list[str] = field(default_factory=list)
    ends: str = "count"  # count | until | never
    count: int | None = None
    until_date: date | None = None


def validate_input(teacher: User, data: SessionInput, *, require_future: bool = True,
                   check_participants: bool = True) -> tuple[Schedule, list[User]]:
    """Check a SessionInput; return its Schedule and participants, or raise ValidationError."""
    errors: dict[str, str] = {}
    title = (data.title or "").strip()
    if not title:
        errors["title"] = "Give the session a title."
    elif len(title) > 200:
        errors["title"] = "Use at most 200 characters."
    if len(data.description or "") > 5000:
        errors["description"] = "Use at most 5,000 characters."
    if data.type not in {t.value for t in SessionType if t != SessionType.INSTANT}:
        errors["type"] = "Pick class, one-on-one or group meeting."
    if not is_valid_timezone(data.timezone):
        errors["timezone"] = "Pick a time zone from the list."
    if data.date is None:
        errors["date"] = "Pick a date."
    elif date_window_problem(data.date):
        errors["date"] = date_window_problem(data.date)
    if data.start_time is None:
        errors["start_time"] = "Pick a start time."
    if not data.duration_minutes or not 5 <= data.duration_minutes <= MAX_DURATION_MINUTES:
        errors["duration_minutes"] = f"Between 5 minutes and {MAX_DURATION_MINUTES // 60} hours."
    frequency = data.frequency if data.frequency in {f.value for f in Frequency} else None
    if frequency is None:
        errors["frequency"] = "Pick how it repeats."
    weekdays = tuple(d for d in recurrence.WEEKDAY_CODES if d in set(data.weekdays or []))
    if frequency == "WEEKLY" and not weekdays:
        errors["weekdays"] = "Pick at least one weekday."
    count = until_local = None
    if frequency in ("DAILY", "WEEKLY"):
        if data.ends == "count":
            if not data.count or not 1 <= data.count <= MAX_COUNT:
                errors["count"] = f"Between 1 and {MAX_COUNT} occurrences."
            count = data.count
        elif data.ends == "until":
            if data.until_date is None:
                errors["until_date"] = "Pick the last date."
            elif date_window_problem(data.until_date):
                errors["until_date"] = date_window_problem(data.until_date)
            elif data.date and data.until_date < data.date:
                errors["until_date"] = "The last date is before the first."
            elif data.date and data.until_date > data.date + timedelta(days=366 * MAX_SERIES_YEARS):
                errors["until_date"] = f"At most {MAX_SERIES_YEARS} years ahead."
            else:
                until_local = datetime.combine(data.until_date, time(23, 59, 59))
        elif data.ends != "never":
            errors["ends"] = "Pick when the series ends."

    participants: list[User] = []
    if check_participants:
        participants, participant_error = _resolve_participants(teacher, data)
        if participant_error:
            errors["participant_ids"] = participant_error
        elif data.type == SessionType.ONE_ON_ONE.value and len(participants) != 1:
            errors["participant_ids"] = "A one-on-one has exactly one student."
        elif data.type == SessionType.TUTORING.value and not 1 <= len(participants) <= 5:
            errors["participant_ids"] = ("A tutoring session has one to five students (one "
                                         "tutor watches them all at once).")
    if errors:
        raise ValidationError(errors)

    start_local = datetime.combine(data.date, data.start_time.replace(second=0, microsecond=0))
    if dst_gap_problem(start_local, data.timezone):
        raise ValidationError({"start_time": dst_gap_problem(start_local, data.timezone)})
    if frequency == "WEEKLY" and recurrence.WEEKDAY_CODES[data.date.weekday()] not in weekdays:
        # The date picked is the first occurrence (what the teacher reads back), and DTSTART
        # must be an occurrence (RFC 5545 leaves it undefined otherwise): a start on a day
        # that is not ticked is refused, not quietly moved to the next ticked day.
        raise ValidationError({"weekdays": unticked_start_message(data.date, weekdays)})
    schedule = Schedule(timezone=data.timezone, start_local=start_local,
                        duration_minutes=data.duration_minutes, frequency=frequency,
                        weekdays=weekdays, count=count, until_local=until_local)
    if until_local is not None and not recurrence.original_starts_between(
            schedule, start_local, until_local):
        raise ValidationError({"until_date": "No occurrence falls on or before that date."})
    if require_future and recurrence.local_to_utc(start_local, schedule.tz) < utcnow() - timedelta(minutes=5):
        raise ValidationError({"date": "That time has already passed."})
    return schedule, participants


WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def first_day_on_weekdays(day: date, weekdays) -> date:
    """The first date on or after ``day`` that falls on one of ``weekdays`` (codes "MO"...)."""
    wanted = {recurrence.WEEKDAY_CODES.index(code) for code in weekdays}
    if not wanted:
        return day
    while day.weekday() not in wanted:
        day += timedelta(days=1)
    return day


def unticked_start_message(day: date, weekdays) -> str:
    name = WEEKDAY_NAMES[day.weekday()]
    first = first_day_on_weekdays(day, weekdays)
    return (f"The first session is on the date picked, {name} {day:%-d %b}, but {name} is not "
            f"ticked. Tick {name} too, or pick a date on a ticked day "
            f"(the next is {WEEKDAY_NAMES[first.weekday()]} {first:%-d %b}).")


def _resolve_participants(teacher: User, data: SessionInput) -> tuple[list[User], str | None]:
    """Picked students plus, for "whole course", the course's students. Only the teacher's
    enrolled students (an admin scheduling for a teacher: that teacher's)."""
    allowed = {u.id: u for u in db.session.scalars(enrolled_students_query(teacher))}
    picked = set(data.participant_ids or [])
    if data.course_id is not None:
        course = db.session.get(Course, data.course_id)
        teaches = course is not None and course.center_id == teacher.center_id and any(
            e.user_id == teacher.id and e.role == CourseRole.TEACHER for e in course.enrollments)
        if not teaches:
            return [], "Pick one of your courses."
        picked |= {e.user_id for e in course.enrollments if e.role == CourseRole.STUDENT}
    if data.group_id is not None:
        from app.chat.services import group_member_ids

        members = group_member_ids(teacher, data.group_id)
        if members is None:
            return [], "Pick one of your groups."
        picked |= members & set(allowed)
    unknown = picked - set(allowed)
    if unknown:
        return [], "Pick students enrolled in your courses."
    if not picked:
        return [], "Pick at least one student, a whole course or a whole group."
    return sorted((allowed[i] for i in picked), key=lambda u: u.name.lower()), None


# --- conflicts -----------------------------------------------------------------------------

@dataclass
class Conflict:
    person: User
    occurrence: Occurrence
    session: VideoSession


def find_conflicts(schedule: Schedule, people: list[User], *, center_id: int,
                   exclude_session_id: int | None = None, limit: int = 10) -> list[Conflict]:
    """Occurrences of other sessions that overlap ``schedule`` for any of ``people``."""
    if not people:
        return []
    first, last_end = recurrence.bounds(schedule, {})
    horizon_end = last_end if last_end is not None else first + CONFLICT_HORIZON
    horizon_end = min(horizon_end, first + CONFLICT_HORIZON)
    proposed = recurrence.expand(schedule, {}, first, horizon_end)
    if not proposed:
        return []
    ids = [p.id for p in people]
    people_by_id = {p.id: p for p in people}
    stmt = (select(VideoSession)
            .where(VideoSession.center_id == center_id,
                   VideoSession.status.notin_((SessionStatus.CANCELLED,) + PROPOSAL_STATUSES),
                   VideoSession.first_start_utc < horizon_end,
                   or_(VideoSession.last_end_utc.is_(None), VideoSession.last_end_utc > first),
                   or_(VideoSession.teacher_id.in_(ids),
                       exists().where(SessionParticipant.session_id == VideoSession.id,
                                      SessionParticipant.user_id.in_(ids))))
            .options(selectinload(VideoSession.overrides),
                     selectinload(VideoSession.participants)))
    if exclude_session_id is not None:
        stmt = stmt.where(VideoSession.id != exclude_session_id)
    conflicts: list[Conflict] = []
    for other in db.session.scalars(stmt):
        involved = ({other.teacher_id} | {p.user_id for p in other.participants}) & set(ids)
        longest = timedelta(minutes=max([other.duration_minutes] + [
            o.new_duration_minutes or 0 for o in other.overrides]))
        for occ in session_occurrences(other, first - longest, horizon_end):
            if occ.cancelled:
                continue
            for mine in proposed:
                if mine.start < occ.end and occ.start < mine.end:
                    for person_id in sorted(involved):
                        conflicts.append(Conflict(people_by_id[person_id], occ, other))
                    break
            if len(conflicts) >= limit:
                return conflicts[:limit]
    conflicts.sort(key=lambda c: c.occurrence.start)
    return conflicts[:limit]


class ConflictsFound(Exception):
    def __init__(self, conflicts: list[Conflict]):
        super().__init__(f"{len(conflicts)} conflicts")
        self.conflicts = conflicts


# --- scheduling ----------------------------------------------------------------------------

def _apply_schedule(session: VideoSession, schedule: Schedule) -> None:
    session.timezone = schedule.timezone
    session.start_local = schedule.start_local
    session.duration_minutes = schedule.duration_minutes
    session.frequency = Frequency(schedule.frequency)
    session.interval = schedule.interval
    session.by_weekday = ",".join(schedule.weekdays)
    session.count = schedule.count
    session.until_local = schedule.until_local


def schedule_session(teacher: User, data: SessionInput, *, allow_conflicts: bool = False,
                     actor: User | None = None, allow_past: bool = False) -> VideoSession:
    """Create a session (one-time or a series) for ``teacher`` with its participants.
    ``allow_past``: a series that began before now (the demo's term so far; never from a
    form, where a start in the past is a mistake)."""
    actor = actor or teacher
    # For a group (``data.group_id``: the teacher owns it), the group's rules decide who may
    # schedule, when, and whether the session waits for the owner's approval (group_rules).
    group = None
    if data.group_id is not None and teacher.role == Role.TEACHER:
        from app.scheduling import group_services

        group = group_services.group_for_scheduling(actor, teacher, data.group_id)
    elif teacher.role != Role.TEACHER or not (actor.id == teacher.id or (
            actor.role == Role.ADMIN and actor.center_id == teacher.center_id)):
        raise PermissionDenied("Only teachers schedule sessions.")
    schedule, participants = validate_input(teacher, data, require_future=not allow_past)
    if group is not None:
        group_services.check_new_schedule(group, schedule)
    if not allow_conflicts and (group is None or group.checks_conflicts):
        conflicts = find_conflicts(schedule, [teacher] + participants,
                                   center_id=teacher.center_id)
        if conflicts:
            raise ConflictsFound(conflicts)
    pending = group is not None and group.pending
    session = VideoSession(center_id=teacher.center_id, teacher_id=teacher.id,
                           title=data.title.strip(), description=(data.description or "").strip(),
                           type=SessionType(data.type), course_id=data.course_id,
                           status=SessionStatus.PENDING if pending else SessionStatus.SCHEDULED,
                           group_id=group.group.id if group else None, created_by_id=actor.id)
    _apply_schedule(session, schedule)
    session.participants = [SessionParticipant(center_id=teacher.center_id, user_id=teacher.id,
                                               role=ParticipantRole.INSTRUCTOR)]
    session.participants += [SessionParticipant(center_id=teacher.center_id, user_id=p.id,
                                                role=ParticipantRole.LEARNER)
                             for p in participants]
    if group is not None:
        group_services.co_teacher_participants(session, group.group)
    refresh_bounds(session)
    planned, session.participants = list(session.participants), []
    db.session.add(session)
    db.session.flush()
    insert_participants(session, planned)
    record_audit(actor, "session.proposed" if pending else "session.scheduled", "session",
                 session.id, title=session.title, rrule=recurrence.rrule_string(schedule),
                 participants=len(participants))
    if pending:
        group_services.announce_proposal(session, actor, group.group)
    else:
        signals.session_scheduled.send(session, actor=actor, user_ids=participant_ids(session),
                                       split_from=None)
    return session


def update_series(actor: User, session: VideoSession, data: SessionInput, *,
                  allow_conflicts: bool = False) -> VideoSession:
    """Edit the whole series: details and schedule. Overrides that no longer name an
    occurrence of the new rule are dropped (their occurrence no longer exists)."""
    _require_manage(actor, session)
    if session.is_cancelled:
        raise ValidationError({"session": "A cancelled session cannot be edited."})
    teacher = session.teacher
    schedule, _ = validate_input(teacher, data, require_future=False, check_participants=False)
    old_schedule = schedule_of(session)
    if schedule != old_schedule and session.group_id is not None:
        from app.scheduling import group_services

        group_services.check_changed_schedule(session, schedule, {
            k: c for k, c in changes_of(session).items()
            if recurrence.is_original_start(schedule, k)})
    if not allow_conflicts and schedule != old_schedule:
        people = [teacher] + [u for u in participant_users(session) if u.id != teacher.id]
        conflicts = find_conflicts(schedule, people, center_id=session.center_id,
                                   exclude_session_id=session.id)
        if conflicts:
            raise ConflictsFound(conflicts)
    session.title = data.title.strip()
    session.description = (data.description or "").strip()
    session.type = SessionType(data.type)
    if schedule != old_schedule:
        _apply_schedule(session, schedule)
        dropped = [o for o in session.overrides
                   if not recurrence.is_original_start(schedule, o.original_start_local)]
        for override in dropped:
            session.overrides.remove(override)
        session.sequence += 1
        refresh_bounds(session)
    record_audit(actor, "session.updated", "session", session.id,
                 rrule=recurrence.rrule_string(schedule), schedule_changed=schedule != old_schedule)
    signals.session_updated.send(session, actor=actor, user_ids=participant_ids(session),
                                 schedule_changed=schedule != old_schedule)
    return session


def _get_or_create_override(session: VideoSession, original_start_local: datetime):
    if find_occurrence(session, original_start_local) is None:
        raise ValidationError({"occurrence": "That occurrence is not part of this session."})
    for override in session.overrides:
        if override.original_start_local == original_start_local:
            return override
    override = SessionOverride(center_id=session.center_id,
                               original_start_local=original_start_local, reason="",
                               cancelled=False, sequence=0)
    session.overrides.append(override)
    return override


def move_occurrence(actor: User, session: VideoSession, original_start_local: datetime,
                    new_start_local: datetime, new_duration_minutes: int | None = None,
                    reason: str = "", *, allow_conflicts: bool = False) -> SessionOverride:
    """Give one occurrence of a series its own time and/or duration (RECURRENCE-ID)."""
    _require_manage(actor, session)
    if session.is_cancelled:
        raise ValidationError({"session": "The session is cancelled."})
    errors = {}
    if new_duration_minutes is not None and not 5 <= new_duration_minutes <= MAX_DURATION_MINUTES:
        errors["duration_minutes"] = f"Between 5 minutes and {MAX_DURATION_MINUTES // 60} hours."
    if date_window_problem(new_start_local.date()):
        errors["date"] = date_window_problem(new_start_local.date())
    elif dst_gap_problem(new_start_local, session.timezone):
        errors["start_time"] = dst_gap_problem(new_start_local, session.timezone)
    elif recurrence.local_to_utc(new_start_local, session.tz) < utcnow() - timedelta(minutes=5):
        errors["date"] = "That time has already passed."
    if errors:
        raise ValidationError(errors)
    if not session.is_recurring:
        data = input_from_session(session)
        data.date, data.start_time = new_start_local.date(), new_start_local.time()
        data.duration_minutes = new_duration_minutes or session.duration_minutes
        update_series(actor, session, data, allow_conflicts=allow_conflicts)
        return None
    override = _get_or_create_override(session, original_start_local)
    if override.cancelled:
        raise ValidationError({"occurrence": "That occurrence is cancelled."})
    duration = new_duration_minutes or session.duration_minutes
    if session.group_id is not None:
        from app.scheduling import group_services

        current = find_occurrence(session, original_start_local)
        new_start = recurrence.local_to_utc(new_start_local, session.tz)
        group_services.check_moved_occurrence(session, new_start,
                                              new_start + timedelta(minutes=duration),
                                              current.start if current else None)
    if not allow_conflicts:
        single = Schedule(timezone=session.timezone, start_local=new_start_local,
                          duration_minutes=duration)
        people = participant_users(session)
        conflicts = [c for c in find_conflicts(single, people, center_id=session.center_id,
                                               exclude_session_id=session.id)]
        if conflicts:
            raise ConflictsFound(conflicts)
    override.new_start_local = new_start_local
    override.new_duration_minutes = (new_duration_minutes
                                     if new_duration_minutes != session.duration_minutes else None)
    override.reason = (reason or "").strip()[:500]
    override.sequence += 1
    session.sequence += 1
    refresh_bounds(session)
    db.session.flush()
    record_audit(actor, "session.occurrence_moved", "session", session.id,
                 original=original_start_local.isoformat(), new=new_start_local.isoformat(),
                 duration=duration, reason=override.reason)
    signals.occurrence_moved.send(session, actor=actor, user_ids=participant_ids(session),
                                  override=override)
    return override


def cancel_occurrence(actor: User, session: VideoSession, original_start_local: datetime,
                      reason: str = "") -> SessionOverride:
    _require_manage(actor, session)
    if not session.is_recurring:
        cancel_series(actor, session, reason)
        return None
    override = _get_or_create_override(session, original_start_local)
    if override.cancelled:
        return override
    override.cancelled = True
    override.reason = (reason or "").strip()[:500]
    override.sequence += 1
    session.sequence += 1
    refresh_bounds(session)
    db.session.flush()
    record_audit(actor, "session.occurrence_cancelled", "session", session.id,
                 original=original_start_local.isoformat(), reason=override.reason)
    signals.occurrence_cancelled.send(session, actor=actor, user_ids=participant_ids(session),
                                      override=override)
    return override


def restore_occurrence(actor: User, session: VideoSession, original_start_local: datetime, *,
                       allow_conflicts: bool = False) -> Occurrence:
    """Undo the cancellation of one occurrence: it takes place again at the time it had (its
    own, if it had been moved). Participants get it back (an iTIP REQUEST for that instance)
    and are told. Refused for an occurrence that is not cancelled, already over, or of a
    cancelled series; checked for conflicts like a move, as the time may have been taken since."""
    _require_manage(actor, session)
    if session.is_cancelled:
        raise ValidationError({"session": "The whole series is cancelled: its occurrences "
                                          "cannot come back one by one."})
    override = next((o for o in session.overrides
                     if o.original_start_local == original_start_local), None)
    if (override is None or not override.cancelled
            or find_occurrence(session, original_start_local) is None):
        raise ValidationError({"occurrence": "That occurrence is not cancelled."})
    local = override.new_start_local or original_start_local
    minutes = override.new_duration_minutes or session.duration_minutes
    start = recurrence.local_to_utc(local, session.tz)
    if start + timedelta(minutes=minutes) <= utcnow():
        raise ValidationError({"occurrence": "That occurrence is over: it cannot be restored."})
    if session.group_id is not None:
        from app.scheduling import group_services

        group_services.check_moved_occurrence(session, start, start + timedelta(minutes=minutes),
                                              None)
    if not allow_conflicts:
        single = Schedule(timezone=session.timezone, start_local=local, duration_minutes=minutes)
        conflicts = find_conflicts(single, participant_users(session),
                                   center_id=session.center_id, exclude_session_id=session.id)
        if conflicts:
            raise ConflictsFound(conflicts)
    if override.new_start_local is None and override.new_duration_minutes is None:
        # Nothing else was special about it: the rule alone describes it again (no EXDATE).
        session.overrides.remove(override)
    else:
        override.cancelled = False
        override.reason = ""  # the cancellation's reason no longer applies
        override.sequence += 1
    session.sequence += 1
    refresh_bounds(session)
    db.session.flush()
    record_audit(actor, "session.occurrence_restored", "session", session.id,
                 original=original_start_local.isoformat(), start=local.isoformat())
    signals.occurrence_restored.send(session, actor=actor, user_ids=participant_ids(session),
                                     original_start_local=original_start_local)
    return find_occurrence(session, original_start_local)


def continuations(viewer: User, session: VideoSession) -> list[VideoSession]:
    """The series that "this and following" edits split off ``session`` (it continues as
    them), the ones ``viewer`` may see, in time order. One query."""
    return list(db.session.scalars(
        select(VideoSession).where(*visible_sessions_filter(viewer),
                                   VideoSession.split_from_id == session.id,
                                   VideoSession.status.notin_(PROPOSAL_STATUSES))
        .order_by(VideoSession.first_start_utc, VideoSession.id)))


def continued_from(viewer: User, session: VideoSession) -> VideoSession | None:
    """The series ``session`` was split from, if ``viewer`` may see it."""
    if session.split_from_id is None:
        return None
    return db.session.scalar(select(VideoSession).where(
        *visible_sessions_filter(viewer), VideoSession.id == session.split_from_id))


def cancel_series(actor: User, session: VideoSession, reason: str = "") -> None:
    _require_manage(actor, session)
    if session.status == SessionStatus.COMPLETED:
        raise ValidationError({"session": "A completed session cannot be cancelled."})
    if session.is_cancelled:
        return
    session.status = SessionStatus.CANCELLED
    session.cancel_reason = (reason or "").strip()[:500]
    session.sequence += 1
    record_audit(actor, "session.cancelled", "session", session.id, reason=session.cancel_reason)
    signals.series_cancelled.send(session, actor=actor, user_ids=participant_ids(session))


def split_series(actor: User, session: VideoSession, original_start_local: datetime,
                 data: SessionInput, *, allow_conflicts: bool = False) -> VideoSession:
    """"This and all following": end the series before the occurrence and start a new series
    (new iCal UID) from it with the new details. Participants are copied; overrides of later
    occurrences move to the new series when the new rule still has that occurrence."""
    _require_manage(actor, session)
    if not session.is_recurring or session.is_cancelled:
        raise ValidationError({"occurrence": "Only an active series can be split."})
    if find_occurrence(session, original_start_local) is None:
        raise ValidationError({"occurrence": "That occurrence is not part of this session."})
    if original_start_local == session.start_local:
        return update_series(actor, session, data, allow_conflicts=allow_conflicts)
    teacher = session.teacher
    old = schedule_of(session)
    earlier = recurrence.original_starts_between(old, old.start_local,
                                                 original_start_local - timedelta(seconds=1))
    if data.ends == "count" and not data.count and old.count is not None:
        # "The rest of the series": what the old COUNT had left.
        data = replace(data, count=old.count - len(earlier))
    schedule, _ = validate_input(teacher, data, require_future=False, check_participants=False)
    if session.group_id is not None:
        from app.scheduling import group_services

        group_services.check_changed_schedule(session, schedule)
    if not allow_conflicts:
        people = [teacher] + [u for u in participant_users(session) if u.id != teacher.id]
        conflicts = find_conflicts(schedule, people, center_id=session.center_id,
                                   exclude_session_id=session.id)
        if conflicts:
            raise ConflictsFound(conflicts)

    new = VideoSession(center_id=session.center_id, teacher_id=session.teacher_id,
                       group_id=session.group_id, created_by_id=actor.id,
                       course_id=session.course_id, title=data.title.strip(),
                       description=(data.description or "").strip(), type=SessionType(data.type),
                       status=SessionStatus.SCHEDULED, split_from_id=session.id)
    _apply_schedule(new, schedule)
    new.participants = []  # the old series' people, stored below in one INSERT
    for override in list(session.overrides):
        if override.original_start_local >= original_start_local:
            session.overrides.remove(override)
            if recurrence.is_original_start(schedule, override.original_start_local):
                new.overrides.append(SessionOverride(
                    center_id=override.center_id,
                    original_start_local=override.original_start_local,
                    new_start_local=override.new_start_local,
                    new_duration_minutes=override.new_duration_minutes,
                    cancelled=override.cancelled, reason=override.reason))
    # End the old series just before the split occurrence (UNTIL, or a smaller COUNT).
    if session.count is not None:
        session.count = len(earlier)
    else:
        session.until_local = original_start_local - timedelta(seconds=1)
    session.sequence += 1
    refresh_bounds(session)
    refresh_bounds(new)
    db.session.add(new)
    db.session.flush()
    insert_participants(new, [SessionParticipant(user_id=p.user_id, role=p.role)
                              for p in session.participants])
    record_audit(actor, "session.split", "session", session.id, new_session_id=new.id,
                 at=original_start_local.isoformat())
    signals.series_split.send(session, actor=actor, user_ids=participant_ids(session),
                              new_session=new, at=original_start_local)
    signals.session_scheduled.send(new, actor=actor, user_ids=participant_ids(new),
                                   split_from=session)
    return new


def input_from_session(session: VideoSession) -> SessionInput:
    """The dialog's fields filled from a stored session (edit forms start from this)."""
    ends = "never"
    if session.count is not None:
        ends = "count"
    elif session.until_local is not None:
        ends = "until"
    return SessionInput(
        title=session.title, description=session.description, type=session.type.value,
        participant_ids=[p.user_id for p in session.participants
                         if p.role == ParticipantRole.LEARNER],
        date=session.start_local.date(), start_time=session.start_local.time(),
        timezone=session.timezone, duration_minutes=session.duration_minutes,
        frequency=session.frequency.value, weekdays=session.weekdays, ends=ends,
        count=session.count, until_date=session.until_local.date() if session.until_local else None)


# --- participants ----------------------------------------------------------------------------

def insert_participants(session: VideoSession, planned: list[SessionParticipant]) -> None:
    """Store new participants of a stored (flushed) session in one INSERT, not one per person
    (app/bulk.py), and add them to its loaded participants. ``planned``: unsaved
    SessionParticipants giving user_id and role (and rsvp, rsvp_at where known)."""
    from app.bulk import insert_returning
    from app.scheduling.models import Rsvp

    current = list(session.participants)
    rows = insert_returning(SessionParticipant, [
        dict(center_id=session.center_id, session_id=session.id, user_id=p.user_id,
             role=p.role or ParticipantRole.LEARNER, rsvp=p.rsvp or Rsvp.NEEDS_ACTION,
             rsvp_at=p.rsvp_at) for p in planned]) if planned else []
    order = {p.user_id: n for n, p in enumerate(planned)}
    rows.sort(key=lambda p: order[p.user_id])
    set_committed_value(session, "participants", current + rows)
    for row in rows:
        set_committed_value(row, "session", session)


def add_participants(actor: User, session: VideoSession, user_ids: list[int],
                     role: ParticipantRole = ParticipantRole.LEARNER) -> list[User]:
    _require_manage(actor, session)
    if session.is_cancelled:
        raise ValidationError({"participant_ids": "The session is cancelled."})
    allowed = {u.id: u for u in db.session.scalars(enrolled_students_query(session.teacher))}
    if role == ParticipantRole.OBSERVER:
        # Observers: other staff of the center (a co-teacher, a supervisor).
        allowed.update({u.id: u for u in db.session.scalars(select(User).where(
            User.center_id == session.center_id, User.role.in_([Role.TEACHER, Role.ADMIN]),
            User.is_active_flag.is_(True)))})
    if not user_ids or any(i not in allowed for i in user_ids):
        raise ValidationError({"participant_ids": "Pick students enrolled in your courses."})
    present = {p.user_id for p in session.participants}
    added = [allowed[i] for i in dict.fromkeys(user_ids) if i not in present]
    if added:
        insert_participants(session, [SessionParticipant(user_id=user.id, role=role)
                                      for user in added])
        record_audit(actor, "session.participants_added", "session", session.id,
                     user_ids=[u.id for u in added], role=role.value)
        db.session.flush()
        signals.participants_added.send(session, actor=actor,
                                        user_ids=frozenset(u.id for u in added),
                                        by_invitation=False)
    return added


def remove_participant(actor: User, session: VideoSession, user_id: int) -> User:
    _require_manage(actor, session)
    participant = next((p for p in session.participants if p.user_id == user_id), None)
    if participant is None:
        raise ValidationError({"participant_ids": "That person is not a participant."})
    if participant.user_id == session.teacher_id:
        raise ValidationError({"participant_ids": "The teacher cannot be removed."})
    user = participant.user
    session.participants.remove(participant)
    record_audit(actor, "session.participant_removed", "session", session.id, user_id=user_id)
    db.session.flush()
    signals.participants_removed.send(session, actor=actor, user_ids=frozenset({user_id}))
    return user


# --- status ----------------------------------------------------------------------------------

_ALLOWED_STATUS = {
    SessionStatus.SCHEDULED: {SessionStatus.LIVE, SessionStatus.CANCELLED},
    SessionStatus.LIVE: {SessionStatus.COMPLETED},
    SessionStatus.COMPLETED: set(),
    SessionStatus.CANCELLED: set(),
}


def set_status(actor: User, session: VideoSession, status: SessionStatus) -> None:
    """SCHEDULED → LIVE → COMPLETED; CANCELLED only before completion. (A recurring series goes
    live occurrence by occurrence; the call flow drives this.)"""
    _require_manage(actor, session)
    if status not in _ALLOWED_STATUS[session.status]:
        raise ValidationError({"status": f"A {session.status.label.lower()} session cannot "
                                         f"become {status.label.lower()}."})
    if status == SessionStatus.CANCELLED:
        cancel_series(actor, session)
        return
    session.status = status
    # No domain event: no other domain reacts to a series' status as such (cancelling has its
    # own, above).
    record_audit(actor, "session.status", "session", session.id, status=status.value)


def mark_live(session: VideoSession) -> None:
    """An occurrence went live (app/live starts it): the calendar shows the session live."""
    if session.status == SessionStatus.SCHEDULED:
        session.status = SessionStatus.LIVE


def mark_run_over(session: VideoSession, occurrence_start: datetime) -> None:
    """The live occurrence ended: a series with an occurrence still to come is scheduled again;
    a one-time session, or a series' last occurrence, is completed."""
    if session.status != SessionStatus.LIVE:
        return
    later = session.last_end_utc is None or any(
        not occ.cancelled for occ in session_occurrences(
            session, occurrence_start + timedelta(microseconds=1), session.last_end_utc))
    session.status = SessionStatus.SCHEDULED if later else SessionStatus.COMPLETED


# --- the personal calendar feed -----------------------------------------------------------------

def revoke_feed_address(user: User) -> bool:
    """Give the user's feed a new address, if they have one (their password changed: a feed
    address is a credential too, and whoever had the old password may have copied it). Adds
    and flushes; the caller commits. True when there was a feed to reset."""
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is None:
        return False
    feed.token = secrets.token_urlsafe(32)
    record_audit(user, "calendar.feed_reset", "user", user.id, reason="password_changed")
    db.session.flush()
    return True


def feed_token_for(user: User, *, reset: bool = False) -> str:
    """The user's feed token, made on first use (the calendar page shows it); ``reset`` gives
    a new one, so the old address stops working (audited)."""
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))
    if feed is None:
        feed = CalendarFeed(center_id=user.center_id, user_id=user.id,
                            token=secrets.token_urlsafe(32))
        try:
            with savepoint():
                db.session.add(feed)
        except IntegrityError:
            # Two first visits at once (two tabs): the other one made it; use theirs.
            return db.session.scalar(select(CalendarFeed.token)
                                     .where(CalendarFeed.user_id == user.id))
        if not reset:
            return feed.token
    if reset:
        feed.token = secrets.token_urlsafe(32)
        record_audit(user, "calendar.feed_reset", "user", user.id)
    return feed.token


def user_for_feed_token(token: str) -> User | None:
    # Tokens are URL-safe base64 (secrets.token_urlsafe): anything else names no feed, and is
    # not sent to the database (a NUL in it is an error there, not a miss).
    if not token or len(token) > 64 or token.strip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                                    "qrstuvwxyz0123456789-_"):
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token == token)
                             .options(joinedload(CalendarFeed.user)))
    if feed is None or not feed.user.is_active:
        return None
    return feed.user


def feed_sessions(user: User) -> list[VideoSession]:
    stmt = (select(VideoSession).where(*visible_sessions_filter(user),
                                       VideoSession.status.notin_(PROPOSAL_STATUSES))
            .options(selectinload(VideoSession.overrides),
                     selectinload(VideoSession.participants).joinedload(SessionParticipant.user),
                     joinedload(VideoSession.teacher))
            .order_by(VideoSession.id))
    return list(db.session.scalars(stmt).unique())


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants bounding one local calendar day in ``tz``."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)
    return start, end
