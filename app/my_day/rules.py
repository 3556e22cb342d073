"""My Day's rules as pure functions of instants (no database, no clock): which day is "today"
for a viewer, which of its occurrences still need their attendance confirmed, which catch-ups
are overdue. The services feed them what they loaded; the tests check them around midnight and
on the days clocks change.

Every instant is timezone-aware UTC. "Today" is the viewer's local calendar day, so it is 23 or
25 hours long on the day their clocks change."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.attendance.rules import AttendanceStatus, RunWindow, expected
from app.scheduling.services import local_day_bounds


@dataclass(frozen=True)
class Day:
    """The viewer's local day: its date and the UTC instants bounding it, [start, end)."""

    date: date
    start: datetime
    end: datetime
    tz: ZoneInfo


def day_of(now: datetime, tz: ZoneInfo) -> Day:
    today = now.astimezone(tz).date()
    start, end = local_day_bounds(today, tz)
    return Day(today, start, end, tz)


def is_today(start: datetime, end: datetime, day: Day) -> bool:
    """An occurrence belongs to the day when any of it falls within it: one that began before
    midnight and is still on (or ended) after it is part of this day too."""
    return start < day.end and end > day.start


def expected_learners(learners_added: dict[int, datetime], start: datetime,
                      end: datetime) -> set[int]:
    """The learners an occurrence expected: those who were participants before it started
    (attendance's own rule: someone added afterwards was never missing from it)."""
    window = RunWindow(started_at=start, ended_at=end, scheduled_start=start)
    return {user_id for user_id, added in learners_added.items() if expected(added, window)}


@dataclass(frozen=True)
class Confirmation:
    """What is left to confirm of an occurrence: who it expected and has no status for, and
    whether it has any attendance record at all (none: it was held, or not, without one)."""

    unmarked: frozenset[int]
    recorded: bool


def attendance_to_confirm(*, start: datetime, end: datetime, now: datetime, cancelled: bool,
                          live: bool, learners_added: dict[int, datetime],
                          statuses: dict[int, AttendanceStatus | None]) -> Confirmation | None:
    """None when nothing is left to confirm: the occurrence is not over yet (or its call is
    still live past its end: the run's end computes its attendance), it was cancelled, or it
    had no learners; else who it expected without a status, and whether anything was
    recorded. ``statuses``: user id -> the status that counts, for the occurrence's records."""
    if cancelled or live or end > now or not learners_added:
        return None
    unmarked = frozenset(user_id for user_id in expected_learners(learners_added, start, end)
                         if statuses.get(user_id) is None)
    if unmarked or not statuses:
        return Confirmation(unmarked, recorded=bool(statuses))
    return None


def is_overdue(due_at: datetime, done_at: datetime | None, now: datetime) -> bool:
    """A catch-up is overdue once its due instant has passed and it is still open."""
    return done_at is None and due_at < now
