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
    # Its wall-clock start does not exist that day (the hour skipped when clocks go forward):
    # it starts at the same instant RFC 5545 clients give it, later on the clock (see top).
    dst_shifted: bool = False
    session: object = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.session_id}:{self.original_start_local.isoformat()}"

    @property
    def duration_minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


# New dates are bounded (services.scheduling_window); what follows only keeps rows written
# before that bound (an occurrence moved to 9999-12-31) from overflowing when they are shown,
# moved back or cancelled. A wall-clock time whose UTC instant datetime cannot hold is placed a
# couple of days inside the range, which leaves room for the windows and durations around it.
_FIRST_INSTANT = (datetime.min + timedelta(days=2)).replace(tzinfo=timezone.utc)
_LAST_INSTANT = (datetime.max - timedelta(days=2)).replace(tzinfo=timezone.utc)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the ends of the datetime range instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        end = datetime.max if delta > timedelta(0) else datetime.min
        return end.replace(tzinfo=moment.tzinfo)


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    if local.tzinfo is not None:
        raise ValueError("expected a naive wall-clock datetime")
    try:
        return local.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    except OverflowError:  # within a day of year 1 or year 9999
        return _LAST_INSTANT if local.year > 1 else _FIRST_INSTANT


def utc_to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    try:
        return instant.astimezone(tz).replace(tzinfo=None)
    except OverflowError:
        return (datetime.max if instant.year > 1 else datetime.min)


def in_dst_gap(local: datetime, tz: ZoneInfo) -> bool:
    """True for a wall-clock time the zone skips (spring forward: 02:30 when clocks jump from
    02:00 to 03:00). Read with fold=0 it names an instant whose own wall-clock time differs."""
    return utc_to_local(local_to_utc(local, tz), tz) != local


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
    try:
        for start in rule.xafter(lo_local, inc=True):
            if start > hi_local or len(starts) >= MAX_EXPANSION:
                break
            starts.append(start)
    except (ValueError, OverflowError):
        pass  # the rule ran past year 9999: there is nothing after that
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
    try:
        for start in rule:
            starts.append(start)
            if len(starts) >= MAX_EXPANSION:
                break
    except (ValueError, OverflowError):
        pass  # the rule ran past year 9999: there is nothing after that
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
    lo = shifted(utc_to_local(window_start, tz), -timedelta(days=1))
    hi = shifted(utc_to_local(window_end, tz), timedelta(days=1))
    found: list[Occurrence] = []

    def add(original: datetime, change: Change | None):
        local = change.new_start_local if change and change.new_start_local else original
        minutes = (change.new_duration_minutes if change and change.new_duration_minutes
                   else schedule.duration_minutes)
        start = local_to_utc(local, tz)
        if window_start <= start < window_end:
            found.append(Occurrence(
                dst_shifted=utc_to_local(start, tz) != local,
                session_id=session_id, original_start_local=original, start=start,
                end=shifted(start, timedelta(minutes=minutes)),
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
        ends.append(shifted(local_to_utc(last, tz), timedelta(minutes=minutes)))
    for change in changes.values():
        start = local_to_utc(change.new_start_local or change.original_start_local, tz)
        ends.append(shifted(start, timedelta(minutes=change.new_duration_minutes
                                             or schedule.duration_minutes)))
        if change.new_start_local is not None:
            first = min(first, start)
    return first, (max(ends) if schedule.is_finite else None)
