"""Occurrences of sessions: the one place that expands schedules (pure functions, no DB).

Recurrence is computed by python-dateutil's rrule over *local wall-clock* datetimes, then each
occurrence is placed in the session's IANA zone and converted to UTC, so a weekly 16:00 London
lesson is 16:00 London time on both sides of every DST change. A local time that does not exist
(the spring-forward gap) or exists twice (fall-back) is resolved with fold=0, which is what
RFC 5545 prescribes (the offset in force before the transition).

Windows are half-open on the start instant: an occurrence belongs to [start, end) when
start <= occurrence.start < end, so adjacent windows never lose or repeat one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, FR, MO, SA, SU, TH, TU, WE, WEEKLY, rrule

WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_RRULE_WEEKDAYS = {"MO": MO, "TU": TU, "WE": WE, "TH": TH, "FR": FR, "SA": SA, "SU": SU}
MAX_EXPANSION = 5000  # occurrences one series may produce in a single expansion (safety net)


@dataclass(frozen=True)
class Schedule:
    """When a session happens, independent of the database (a proposed or stored schedule)."""

    timezone: str
    start_local: datetime  # naive wall-clock time in ``timezone``
    duration_minutes: int
    frequency: str = "NONE"  # NONE | DAILY | WEEKLY
    interval: int = 1
    weekdays: tuple[str, ...] = ()
    count: int | None = None
    until_local: datetime | None = None  # inclusive, wall-clock

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def is_recurring(self) -> bool:
        return self.frequency != "NONE"

    @property
    def is_finite(self) -> bool:
        return not self.is_recurring or self.count is not None or self.until_local is not None


@dataclass(frozen=True)
class Change:
    """An override of one occurrence, keyed by its original local start."""

    original_start_local: datetime
    new_start_local: datetime | None = None
    new_duration_minutes: int | None = None
    cancelled: bool = False


@dataclass
class Occurrence:
    session_id: int | None
    original_start_local: datetime  # names the occurrence (RECURRENCE-ID), series wall-clock
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC
    cancelled: bool = False
    moved: bool = False
    session: object = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.session_id}:{self.original_start_local.isoformat()}"

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    if local.tzinfo is not None:
        raise ValueError("expected a naive wall-clock datetime")
    return local.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)


def utc_to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def build_rule(schedule: Schedule) -> rrule | None:
    if not schedule.is_recurring:
        return None
    options: dict = {"dtstart": schedule.start_local, "interval": max(1, schedule.interval)}
    if schedule.frequency == "WEEKLY":
        days = schedule.weekdays or (WEEKDAY_CODES[schedule.start_local.weekday()],)
        options["byweekday"] = [_RRULE_WEEKDAYS[d] for d in days]
    elif schedule.frequency != "DAILY":
        raise ValueError(f"unsupported frequency {schedule.frequency!r}")
    if schedule.count is not None:
        options["count"] = schedule.count
    elif schedule.until_local is not None:
        options["until"] = schedule.until_local
    return rrule(DAILY if schedule.frequency == "DAILY" else WEEKLY, **options)


def rrule_string(schedule: Schedule) -> str | None:
    """The RFC 5545 RRULE value. UNTIL is given in UTC, as required when DTSTART has a TZID."""
    if not schedule.is_recurring:
        return None
    parts = [f"FREQ={schedule.frequency}"]
    if schedule.interval and schedule.interval > 1:
        parts.append(f"INTERVAL={schedule.interval}")
    if schedule.frequency == "WEEKLY":
        days = schedule.weekdays or (WEEKDAY_CODES[schedule.start_local.weekday()],)
        parts.append("BYDAY=" + ",".join(sorted(days, key=WEEKDAY_CODES.index)))
    if schedule.count is not None:
        parts.append(f"COUNT={schedule.count}")
    elif schedule.until_local is not None:
        until = local_to_utc(schedule.until_local, schedule.tz)
        parts.append("UNTIL=" + until.strftime("%Y%m%dT%H%M%SZ"))
    return ";".join(parts)


def original_starts_between(schedule: Schedule, lo_local: datetime,
                            hi_local: datetime) -> list[datetime]:
    """The series' own (unmoved) local starts with lo <= start <= hi."""
    rule = build_rule(schedule)
    if rule is None:
        return [schedule.start_local] if lo_local <= schedule.start_local <= hi_local else []
    starts = []
    for start in rule.xafter(lo_local, inc=True):
        if start > hi_local or len(starts) >= MAX_EXPANSION:
            break
        starts.append(start)
    return starts


def is_original_start(schedule: Schedule, local: datetime) -> bool:
    return local in original_starts_between(schedule, local, local)


def all_original_starts(schedule: Schedule) -> list[datetime]:
    """Every original start of a finite schedule."""
    if not schedule.is_finite:
        raise ValueError("an endless series has no last occurrence")
    rule = build_rule(schedule)
    if rule is None:
        return [schedule.start_local]
    starts = []
    for start in rule:
        starts.append(start)
        if len(starts) >= MAX_EXPANSION:
            break
    return starts


def expand(schedule: Schedule, changes: dict[datetime, Change], window_start: datetime,
           window_end: datetime, *, session_id: int | None = None, session=None,
           series_cancelled: bool = False) -> list[Occurrence]:
    """Occurrences whose start lies in [window_start, window_end), overrides applied.

    A moved occurrence appears at its new time (wherever that falls); a cancelled one stays in
    the list, marked cancelled, so calendars can show it as such.
    """
    tz = schedule.tz
    # Local bounds with a day of margin either side: UTC offsets are always under a day.
    lo = utc_to_local(window_start, tz) - timedelta(days=1)
    hi = utc_to_local(window_end, tz) + timedelta(days=1)
    found: list[Occurrence] = []

    def add(original: datetime, change: Change | None):
        local = change.new_start_local if change and change.new_start_local else original
        minutes = (change.new_duration_minutes if change and change.new_duration_minutes
                   else schedule.duration_minutes)
        start = local_to_utc(local, tz)
        if window_start <= start < window_end:
            found.append(Occurrence(
                session_id=session_id, original_start_local=original, start=start,
                end=start + timedelta(minutes=minutes),
                cancelled=series_cancelled or bool(change and change.cancelled),
                moved=bool(change and change.new_start_local and change.new_start_local != original),
                session=session))

    for original in original_starts_between(schedule, lo, hi):
        change = changes.get(original)
        if change is not None and change.new_start_local is not None:
            continue  # placed by the loop below, at its new time
        add(original, change)
    for original, change in changes.items():
        if change.new_start_local is not None and is_original_start(schedule, original):
            add(original, change)
    found.sort(key=lambda occ: (occ.start, occ.session_id or 0))
    return found


def bounds(schedule: Schedule, changes: dict[datetime, Change]) -> tuple[datetime, datetime | None]:
    """(first start, last end) in UTC over every occurrence, a superset used to prefilter
    calendar windows in SQL; the last end is None for an endless series."""
    tz = schedule.tz
    first = local_to_utc(schedule.start_local, tz)
    ends = []
    if schedule.is_finite:
        last = all_original_starts(schedule)[-1]
        last_change = changes.get(last)
        minutes = (last_change.new_duration_minutes if last_change and
                   last_change.new_duration_minutes else schedule.duration_minutes)
        ends.append(local_to_utc(last, tz) + timedelta(minutes=minutes))
    for change in changes.values():
        start = local_to_utc(change.new_start_local or change.original_start_local, tz)
        ends.append(start + timedelta(minutes=change.new_duration_minutes
                                      or schedule.duration_minutes))
        if change.new_start_local is not None:
            first = min(first, start)
    return first, (max(ends) if schedule.is_finite else None)
