"""The attendance rules as pure functions: the union of segments clipped to the run (overlaps,
rejoins, joins before the start), and the status rules (late-started runs, moved occurrences,
people added after, instant calls, DST days)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from app.attendance.rules import (AttendanceStatus, RunWindow, auto_status, clipped_union,
                                  expected, left_early, next_in_cycle, seconds_present)

UTC = timezone.utc
T0 = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
GRACE = timedelta(minutes=5)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_overlapping_tabs_and_a_rejoin_count_once():
    two_tabs = [(at(0), at(30)), (at(10), at(20))]
    assert seconds_present(two_tabs, at(0), at(60)) == 30 * 60
    # A rejoin whose new connection opened before the old one closed: one stretch.
    rejoin = [(at(0), at(20)), (at(19), at(40))]
    assert clipped_union(rejoin, at(0), at(60)) == [(at(0), at(40))]
    # Left and came back: two stretches, the gap not counted.
    back = [(at(30), at(50)), (at(0), at(10))]
    assert clipped_union(back, at(0), at(60)) == [(at(0), at(10)), (at(30), at(50))]
    assert seconds_present(back, at(0), at(60)) == 30 * 60


def test_time_before_the_start_and_after_the_end_is_not_counted():
    early = [(at(-10), at(5)), (at(55), at(70))]
    assert seconds_present(early, at(0), at(60)) == 10 * 60
    assert seconds_present([(at(-20), at(-5))], at(0), at(60)) == 0
    assert clipped_union([(at(5), at(5))], at(0), at(60)) == []


def test_late_is_measured_from_the_later_of_the_scheduled_and_the_actual_start():
    on_time = RunWindow(started_at=at(-2), ended_at=at(60), scheduled_start=at(0))
    assert auto_status(at(5), is_expected=True, window=on_time, grace=GRACE) == \
        AttendanceStatus.PRESENT
    assert auto_status(at(5) + timedelta(seconds=1), is_expected=True, window=on_time,
                       grace=GRACE) == AttendanceStatus.LATE
    # The teacher opened the class 10 minutes late: a learner joining at +14 is on time.
    late_start = RunWindow(started_at=at(10), ended_at=at(60), scheduled_start=at(0))
    assert auto_status(at(14), is_expected=True, window=late_start, grace=GRACE) == \
        AttendanceStatus.PRESENT
    assert auto_status(at(16), is_expected=True, window=late_start, grace=GRACE) == \
        AttendanceStatus.LATE
    # Joining before the start (the lobby) is on time.
    assert auto_status(at(-8), is_expected=True, window=on_time, grace=GRACE) == \
        AttendanceStatus.PRESENT


def test_a_moved_occurrence_is_late_after_its_new_start():
    # The occurrence moved from 16:00 to 17:00: the run's scheduled start is the moved one.
    moved = RunWindow(started_at=at(58), ended_at=at(120), scheduled_start=at(60))
    assert auto_status(at(63), is_expected=True, window=moved, grace=GRACE) == \
        AttendanceStatus.PRESENT
    assert auto_status(at(66), is_expected=True, window=moved, grace=GRACE) == \
        AttendanceStatus.LATE


def test_absent_only_for_learners_added_before_the_occurrence_and_never_for_instant_calls():
    window = RunWindow(started_at=at(0), ended_at=at(60), scheduled_start=at(0))
    assert expected(at(-60 * 24), window)
    assert expected(at(0), window)
    assert not expected(at(1), window)  # added once it had started: not missing from it
    assert auto_status(None, is_expected=True, window=window, grace=GRACE) == \
        AttendanceStatus.ABSENT
    assert auto_status(None, is_expected=False, window=window, grace=GRACE) is None
    instant = RunWindow(started_at=at(0), ended_at=at(60), scheduled_start=None)
    assert not expected(at(-60), instant)
    assert auto_status(None, is_expected=True, window=instant, grace=GRACE) is None
    assert auto_status(at(30), is_expected=False, window=instant, grace=GRACE) == \
        AttendanceStatus.PRESENT


def test_late_on_a_dst_day_follows_the_wall_clock_start():
    # A 16:00 New York lesson on the Monday after the clocks went forward starts 20:00 UTC
    # (21:00 UTC the week before): 16:04 local is on time, 16:06 local late.
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 3, 9, 16, 0, tzinfo=ny).astimezone(UTC)
    assert start.hour == 20
    window = RunWindow(started_at=start, ended_at=start + timedelta(hours=1),
                       scheduled_start=start)
    assert auto_status(datetime(2026, 3, 9, 16, 4, tzinfo=ny), is_expected=True, window=window,
                       grace=GRACE) == AttendanceStatus.PRESENT
    assert auto_status(datetime(2026, 3, 9, 16, 6, tzinfo=ny), is_expected=True, window=window,
                       grace=GRACE) == AttendanceStatus.LATE
    # The fall-back day has a 25-hour day: the run's seconds are its real seconds.
    back = datetime(2026, 11, 1, 0, 30, tzinfo=ny).astimezone(UTC)
    assert seconds_present([(back, back + timedelta(hours=3))], back,
                           back + timedelta(hours=3)) == 3 * 3600


def test_left_early_and_the_roll_call_cycle():
    window = RunWindow(started_at=at(0), ended_at=at(60), scheduled_start=at(0))
    assert left_early(29 * 60, window, 50)
    assert not left_early(30 * 60, window, 50)
    assert next_in_cycle(None) == AttendanceStatus.PRESENT
    assert [next_in_cycle(s) for s in AttendanceStatus] == [
        AttendanceStatus.LATE, AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED,
        AttendanceStatus.PRESENT]


# --- properties ----------------------------------------------------------------------------------

minutes = st.integers(min_value=-120, max_value=240)
intervals = st.lists(st.tuples(minutes, st.integers(min_value=0, max_value=180)), max_size=12)


def as_instants(pairs):
    return [(at(a), at(a + length)) for a, length in pairs]


def covered_seconds(pairs, start: int, end: int) -> int:
    """The union counted the slow, obvious way: minute by minute."""
    minutes_in = {m for a, length in pairs for m in range(a, a + length) if start <= m < end}
    return len(minutes_in) * 60


@settings(max_examples=300, deadline=None)
@given(intervals, st.integers(min_value=-30, max_value=60), st.integers(min_value=0, max_value=180))
def test_the_union_equals_counting_each_minute_once(pairs, start, length):
    end = start + length
    assert seconds_present(as_instants(pairs), at(start), at(end)) == \
        covered_seconds(pairs, start, end)


@settings(max_examples=300, deadline=None)
@given(intervals, st.integers(min_value=0, max_value=11))
def test_the_union_is_disjoint_sorted_bounded_and_ignores_order_and_duplicates(pairs, k):
    start, end = at(0), at(120)
    union = clipped_union(as_instants(pairs), start, end)
    assert all(a < b for a, b in union)
    assert all(b1 < a2 for (_, b1), (a2, _) in zip(union, union[1:]))
    assert all(start <= a and b <= end for a, b in union)
    shuffled = as_instants(pairs[k:] + pairs[:k] + pairs[:1])  # rotated, one segment twice
    assert clipped_union(shuffled, start, end) == union
    assert seconds_present(as_instants(pairs), start, end) <= 120 * 60


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-30, max_value=90), st.integers(min_value=-20, max_value=30),
       st.integers(min_value=0, max_value=15))
def test_late_exactly_when_after_the_later_start_plus_grace(join, started, grace):
    window = RunWindow(started_at=at(started), ended_at=at(120), scheduled_start=at(0))
    status = auto_status(at(join), is_expected=True, window=window,
                         grace=timedelta(minutes=grace))
    late = join > max(0, started) + grace
    assert status == (AttendanceStatus.LATE if late else AttendanceStatus.PRESENT)
