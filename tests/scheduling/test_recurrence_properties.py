"""Properties of recurrence expansion over random rules, zones, DST-adjacent starts and windows.

Expected occurrences come from a plain day-by-day oracle below (no dateutil), so these tests
check the library-backed expansion against an independent reading of the rules.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.scheduling.recurrence import (WEEKDAY_CODES, Change, Schedule, all_original_starts,
                                       bounds, expand, local_to_utc, rrule_string,
                                       utc_to_local)

UTC = timezone.utc
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


# --- helpers ----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def dst_changes(zone: str) -> tuple[date, ...]:
    """The local dates on which ``zone`` changed its UTC offset, 2025-2028."""
    tz = ZoneInfo(zone)
    found = []
    day = date(2025, 1, 1)
    previous = datetime.combine(day, time(12), tzinfo=tz).utcoffset()
    while day < date(2029, 1, 1):
        day += timedelta(days=1)
        offset = datetime.combine(day, time(12), tzinfo=tz).utcoffset()
        if offset != previous:
            found.append(day)
            previous = offset
    return tuple(found)


def exists(local: datetime, tz: ZoneInfo) -> bool:
    return local.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == local


def oracle(schedule: Schedule, stop_local: datetime) -> list[datetime]:
    """The series' local starts up to ``stop_local``, day by day, straight from RFC 5545:
    DAILY every INTERVAL days; WEEKLY on the BYDAY days (default: DTSTART's weekday) of every
    INTERVAL-th week counted from DTSTART's Monday-based week; COUNT and inclusive UNTIL."""
    start = schedule.start_local
    days = set(schedule.weekdays) or {WEEKDAY_CODES[start.weekday()]}
    first_monday = start.date() - timedelta(days=start.weekday())
    found: list[datetime] = []
    day = start.date()
    while True:
        local = datetime.combine(day, start.time())
        if local > stop_local:
            break
        if schedule.frequency == "DAILY":
            wanted = (day - start.date()).days % schedule.interval == 0
        else:
            week = (day - timedelta(days=day.weekday()) - first_monday).days // 7
            wanted = WEEKDAY_CODES[day.weekday()] in days and week % schedule.interval == 0
        if wanted:
            if schedule.until_local is not None and local > schedule.until_local:
                break
            found.append(local)
            if schedule.count is not None and len(found) == schedule.count:
                break
        day += timedelta(days=1)
    return found


def rows(occurrences) -> list[tuple]:
    return sorted((o.original_start_local, o.start, o.end, o.cancelled, o.moved)
                  for o in occurrences)


# --- strategies -------------------------------------------------------------------------------

@st.composite
def schedules(draw, ends=("count", "until", "never")):
    zone = draw(st.sampled_from(ZONES))
    changes = dst_changes(zone)
    if changes:
        near = draw(st.sampled_from(changes))
        day = near + timedelta(days=draw(st.integers(-24, 24)))
    else:
        day = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 730)))
    # Early hours often: that is where DST gaps and overlaps are (London 01:00, New York 02:00,
    # Sydney 02:00/03:00).
    hour = draw(st.one_of(st.integers(0, 3), st.integers(0, 23)))
    minute = draw(st.sampled_from([0, 15, 30, 45]))
    start_local = datetime.combine(day, time(hour, minute))
    frequency = draw(st.sampled_from(["DAILY", "WEEKLY"]))
    interval = draw(st.sampled_from([1, 1, 1, 2, 3]))
    weekdays: tuple[str, ...] = ()
    if frequency == "WEEKLY":
        picked = draw(st.sets(st.sampled_from(WEEKDAY_CODES), max_size=7))
        weekdays = tuple(d for d in WEEKDAY_CODES if d in picked)
    end = draw(st.sampled_from(ends))
    count = until_local = None
    if end == "count":
        count = draw(st.integers(1, 60))
    elif end == "until":
        last_day = day + timedelta(days=draw(st.integers(0, 150)))
        # As the services write it (end of the last day), exactly at a start (inclusive), or
        # just before one (a split series).
        until_local = draw(st.sampled_from([
            datetime.combine(last_day, time(23, 59, 59)),
            datetime.combine(last_day, start_local.time()),
            datetime.combine(last_day, start_local.time()) - timedelta(seconds=1)]))
        until_local = max(until_local, start_local)  # the services refuse an UNTIL before DTSTART
    return Schedule(timezone=zone, start_local=start_local,
                    duration_minutes=draw(st.sampled_from([15, 45, 60, 90, 240])),
                    frequency=frequency, interval=interval, weekdays=weekdays, count=count,
                    until_local=until_local)


def horizon(schedule: Schedule) -> datetime:
    """A local time past the last occurrence of every finite schedule drawn above (60 weekly
    occurrences every third week span 1,260 days), and far enough for endless ones."""
    return schedule.start_local + timedelta(days=1300)


@st.composite
def changes_for(draw, schedule: Schedule, starts: list[datetime]):
    changes = {}
    if not starts:
        return changes
    for index in draw(st.sets(st.integers(0, len(starts) - 1), max_size=4)):
        original = starts[index]
        kind = draw(st.sampled_from(["move", "cancel", "move+cancel", "duration"]))
        shift = timedelta(minutes=15 * draw(st.integers(-4 * 24 * 3, 4 * 24 * 3)))
        changes[original] = Change(
            original,
            new_start_local=original + shift if "move" in kind else None,
            new_duration_minutes=draw(st.sampled_from([None, 20, 120])) if kind != "cancel"
            else None,
            cancelled="cancel" in kind)
    return changes


# --- (a) windows ------------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(data=st.data(), schedule=schedules())
def test_adjacent_windows_add_up_to_the_whole_range(data, schedule):
    starts = oracle(schedule, horizon(schedule))[:80]
    changes = data.draw(changes_for(schedule, starts))
    first = local_to_utc(schedule.start_local, schedule.tz)
    window_start = first + timedelta(hours=data.draw(st.integers(-72, 24 * 60)))
    window_end = window_start + timedelta(hours=data.draw(st.integers(1, 24 * 150)))
    whole = expand(schedule, changes, window_start, window_end)
    # Cut at random instants and exactly at occurrence starts and ends, where an off-by-one
    # would lose or repeat one.
    edges = [o.start for o in whole] + [o.end for o in whole]
    cuts = set(data.draw(st.lists(st.sampled_from(edges), max_size=5)) if edges else [])
    cuts |= {window_start + timedelta(minutes=m) for m in data.draw(
        st.lists(st.integers(0, int((window_end - window_start).total_seconds() // 60)),
                 max_size=5))}
    points = [window_start] + sorted(c for c in cuts if window_start < c < window_end) + [
        window_end]
    pieces = []
    for lo, hi in zip(points, points[1:]):
        piece = expand(schedule, changes, lo, hi)
        assert all(lo <= o.start < hi for o in piece)
        pieces.extend(piece)
    assert rows(pieces) == rows(whole)
    # Nothing twice: each occurrence is named once by its original start.
    assert not [k for k, n in Counter(o.original_start_local for o in whole).items() if n > 1]
    # And the whole range holds exactly the occurrences that start in it: the unmoved ones by
    # their original start, the moved ones by their new start.
    known = oracle(schedule, utc_to_local(window_end, schedule.tz) + timedelta(days=2))
    unmoved = {s for s in known if (s not in changes or changes[s].new_start_local is None)
               and window_start <= local_to_utc(s, schedule.tz) < window_end}
    moved = {s for s, c in changes.items() if c.new_start_local is not None
             and window_start <= local_to_utc(c.new_start_local, schedule.tz) < window_end}
    assert {o.original_start_local for o in whole} == unmoved | moved


# --- (b) overrides ----------------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(data=st.data(), schedule=schedules())
def test_an_override_replaces_exactly_its_occurrence(data, schedule):
    tz = schedule.tz
    starts = oracle(schedule, horizon(schedule))[:60]
    others = data.draw(changes_for(schedule, starts))
    free = [s for s in starts if s not in others]
    assume(free)
    original = data.draw(st.sampled_from(free))
    shift = timedelta(minutes=15 * data.draw(st.integers(-4 * 24 * 5, 4 * 24 * 5).filter(bool)))
    new_start = original + shift
    minutes = data.draw(st.sampled_from([None, 5, 75]))
    window_start = local_to_utc(schedule.start_local, tz) - timedelta(days=10)
    window_end = local_to_utc(starts[-1], tz) + timedelta(days=10)

    before = expand(schedule, others, window_start, window_end)
    after = expand(schedule, {**others, original: Change(original, new_start, minutes)},
                   window_start, window_end)

    def rest(occurrences):
        return rows(o for o in occurrences if o.original_start_local != original)

    assert rest(after) == rest(before)  # every other occurrence unchanged
    [old] = [o for o in before if o.original_start_local == original]
    mine = [o for o in after if o.original_start_local == original]
    assert len(mine) == 1  # the moved one, once
    new_instant = local_to_utc(new_start, tz)
    assert mine[0].start == new_instant and not mine[0].cancelled
    assert mine[0].end - mine[0].start == timedelta(minutes=minutes or schedule.duration_minutes)
    assert mine[0].moved
    # The starts: the original's is gone, the new one is there, nothing else changed.
    assert Counter(o.start for o in after) == (
        Counter(o.start for o in before) - Counter([old.start]) + Counter([new_instant]))
    assert len(after) == len(before)


# --- (c) COUNT and UNTIL ----------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(schedule=schedules(ends=("count",)))
def test_count_gives_exactly_count_occurrences_over_the_whole_life(schedule):
    first, last_end = bounds(schedule, {})
    occurrences = expand(schedule, {}, first, last_end)
    assert len(occurrences) == schedule.count
    assert [o.original_start_local for o in occurrences] == oracle(schedule, horizon(schedule))
    assert len(all_original_starts(schedule)) == schedule.count
    # Nothing before the first or after the last.
    assert expand(schedule, {}, first - timedelta(days=400), first) == []
    assert expand(schedule, {}, last_end, last_end + timedelta(days=400)) == []


@PROPERTY_SETTINGS
@given(schedule=schedules(ends=("until",)))
def test_until_is_the_inclusive_last_start(schedule):
    tz = schedule.tz
    expected = oracle(schedule, horizon(schedule))
    # A weekly DTSTART off its BYDAY days with UNTIL before the first of them has no occurrence
    # at all; the services never store one (they start a series on its first BYDAY day).
    assume(expected)
    every = all_original_starts(schedule)
    assert every == expected
    assert all(s <= schedule.until_local for s in every)
    # The rule's next start after the last one kept lies beyond UNTIL (so it was rightly left
    # out), and one exactly at UNTIL is kept.
    unlimited = oracle(replace(schedule, until_local=None), horizon(schedule))
    assert unlimited[:len(every)] == every
    assert unlimited[len(every)] > schedule.until_local
    if schedule.until_local in unlimited:
        assert every[-1] == schedule.until_local
    first, last_end = bounds(schedule, {})
    assert [o.original_start_local for o in expand(schedule, {}, first, last_end)] == every
    # What a calendar app reads from the RRULE (UNTIL in UTC, DTSTART with the zone) agrees.
    dtstart = schedule.start_local.replace(tzinfo=tz)
    read_back = rrulestr(rrule_string(schedule), dtstart=dtstart)
    assert [d.replace(tzinfo=None) for d in read_back] == every


# --- (d) wall-clock time ----------------------------------------------------------------------

@PROPERTY_SETTINGS
@given(data=st.data(), schedule=schedules())
def test_wall_clock_time_is_constant_in_the_session_zone(data, schedule):
    tz = schedule.tz
    window_start = local_to_utc(schedule.start_local, tz) - timedelta(days=1)
    window_end = window_start + timedelta(days=data.draw(st.integers(1, 400)))
    occurrences = expand(schedule, {}, window_start, window_end)
    expected = [s for s in oracle(schedule, horizon(schedule))
                if window_start <= local_to_utc(s, tz) < window_end]
    assert [o.original_start_local for o in occurrences] == expected
    for occurrence in occurrences:
        original = occurrence.original_start_local
        assert original.time() == schedule.start_local.time()
        seen = occurrence.start.astimezone(tz).replace(tzinfo=None)
        if exists(original, tz):
            assert seen == original
        else:
            # A time in the spring-forward gap: read with the offset before the change (RFC
            # 5545), so the clock shows it later by the gap.
            gap = (original.replace(tzinfo=tz, fold=1).utcoffset()
                   - original.replace(tzinfo=tz, fold=0).utcoffset())
            assert gap > timedelta(0)
            assert seen == original + gap
        assert occurrence.end - occurrence.start == schedule.duration
