"""Unit tests of app.scheduling.recurrence (pure: no database)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app.scheduling.recurrence import (Change, Schedule, all_original_starts, bounds, expand,
                                       is_original_start, local_to_utc, rrule_string)

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def starts(occurrences, tz=UTC) -> list[datetime]:
    return [o.start.astimezone(tz).replace(tzinfo=None) for o in occurrences]


def everything(schedule: Schedule, changes=None, **kwargs):
    return expand(schedule, changes or {}, utc(2000, 1, 1), utc(2100, 1, 1), **kwargs)


# --- wall-clock time across DST ------------------------------------------------------------------

MONDAYS_16_LONDON = Schedule(timezone="Europe/London", start_local=datetime(2026, 1, 5, 16),
                             duration_minutes=60, frequency="WEEKLY", weekdays=("MO",),
                             until_local=datetime(2027, 12, 31, 23, 59, 59))


def test_weekly_london_lesson_stays_at_16_across_both_years_dst_changes():
    occurrences = expand(MONDAYS_16_LONDON, {}, utc(2026, 1, 1), utc(2028, 1, 1))
    assert len(occurrences) == 104  # every Monday of 2026 and 2027
    assert {o.start.astimezone(LONDON).time() for o in occurrences} == {time(16)}
    assert {o.end - o.start for o in occurrences} == {timedelta(hours=1)}
    # In UTC it moves: 16:00 in winter (GMT), 15:00 in summer (BST).
    assert {o.start.time() for o in occurrences} == {time(16), time(15)}


# London and New York change clocks on different dates, so for a few weeks a year the gap
# between them is 4 hours instead of 5. (UK: last Sunday of March/October; US: second Sunday of
# March, first Sunday of November.)
NEW_YORK_TIME_OF_THE_LONDON_LESSON = {
    date(2026, 3, 2): time(11),    # GMT / EST
    date(2026, 3, 9): time(12),    # GMT / EDT: US changed on 8 March
    date(2026, 3, 16): time(12),
    date(2026, 3, 23): time(12),
    date(2026, 3, 30): time(11),   # BST / EDT: UK changed on 29 March
    date(2026, 10, 19): time(11),  # BST / EDT
    date(2026, 10, 26): time(12),  # GMT / EDT: UK changed on 25 October
    date(2026, 11, 2): time(11),   # GMT / EST: US changed on 1 November
    date(2027, 3, 8): time(11),
    date(2027, 3, 15): time(12),   # US changed on 14 March
    date(2027, 3, 22): time(12),
    date(2027, 3, 29): time(11),   # UK changed on 28 March
    date(2027, 10, 25): time(11),
    date(2027, 11, 1): time(12),   # UK changed on 31 October, US not until 7 November
    date(2027, 11, 8): time(11),
}


def test_new_york_sees_the_london_lesson_move_between_the_two_countries_changes():
    occurrences = expand(MONDAYS_16_LONDON, {}, utc(2026, 1, 1), utc(2028, 1, 1))
    in_new_york = {o.start.astimezone(NEW_YORK).date(): o.start.astimezone(NEW_YORK).time()
                   for o in occurrences}
    for day, expected in NEW_YORK_TIME_OF_THE_LONDON_LESSON.items():
        assert in_new_york[day] == expected, day
    # Exactly the weeks between the two countries' changes are at 12:00 in New York.
    at_noon = sorted(day for day, t in in_new_york.items() if t == time(12))
    assert at_noon == [date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23),
                       date(2026, 10, 26), date(2027, 3, 15), date(2027, 3, 22),
                       date(2027, 11, 1)]


def test_nonexistent_local_time_in_the_spring_gap_is_placed_after_the_gap():
    # 01:30 does not exist in London on 29 March 2026 (01:00 GMT jumps to 02:00 BST).
    schedule = Schedule(timezone="Europe/London", start_local=datetime(2026, 3, 27, 1, 30),
                        duration_minutes=60, frequency="DAILY", count=5)
    occurrences = everything(schedule)
    assert [o.original_start_local for o in occurrences] == [
        datetime(2026, 3, d, 1, 30) for d in range(27, 32)]
    # RFC 5545: read with the offset before the gap, i.e. 01:30 GMT = 02:30 BST.
    assert starts(occurrences) == [datetime(2026, 3, 27, 1, 30), datetime(2026, 3, 28, 1, 30),
                                   datetime(2026, 3, 29, 1, 30), datetime(2026, 3, 30, 0, 30),
                                   datetime(2026, 3, 31, 0, 30)]
    assert occurrences[2].start.astimezone(LONDON).time() == time(2, 30)
    assert [o.start.astimezone(LONDON).time() for o in occurrences[3:]] == [time(1, 30)] * 2
    assert local_to_utc(datetime(2026, 3, 29, 1, 30), LONDON) == utc(2026, 3, 29, 1, 30)
    # A one-time session and the series' bounds there do not fail either.
    single = Schedule(timezone="America/New_York", start_local=datetime(2026, 3, 8, 2, 30),
                      duration_minutes=30)
    [occurrence] = everything(single)
    assert occurrence.start == utc(2026, 3, 8, 7, 30)  # 02:30 EST = 03:30 EDT
    assert bounds(single, {}) == (utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8, 0))


def test_ambiguous_local_time_in_the_autumn_overlap_is_the_first_one():
    # 01:30 happens twice in London on 25 October 2026; RFC 5545 takes the first (BST).
    schedule = Schedule(timezone="Europe/London", start_local=datetime(2026, 10, 24, 1, 30),
                        duration_minutes=60, frequency="DAILY", count=3)
    assert starts(everything(schedule)) == [datetime(2026, 10, 24, 0, 30),
                                            datetime(2026, 10, 25, 0, 30),
                                            datetime(2026, 10, 26, 1, 30)]


def test_window_ending_in_the_repeated_hour_keeps_the_first_pass_occurrence():
    # The window ends at 01:15 GMT (the second 01:15 on the clock); the 01:30 BST occurrence
    # (00:30 UTC) starts inside it although 01:30 is "later" on the wall clock.
    schedule = Schedule(timezone="Europe/London", start_local=datetime(2026, 10, 24, 1, 30),
                        duration_minutes=30, frequency="DAILY", count=3)
    inside = expand(schedule, {}, utc(2026, 10, 25, 0), utc(2026, 10, 25, 1, 15))
    assert [o.start for o in inside] == [utc(2026, 10, 25, 0, 30)]


def test_local_to_utc_refuses_an_aware_datetime():
    with pytest.raises(ValueError):
        local_to_utc(utc(2026, 1, 1), LONDON)


# --- rules ------------------------------------------------------------------------------------

def test_daily_with_count():
    schedule = Schedule(timezone="Asia/Tokyo", start_local=datetime(2026, 12, 30, 8),
                        duration_minutes=45, frequency="DAILY", count=4)
    occurrences = everything(schedule)
    assert starts(occurrences, ZoneInfo("Asia/Tokyo")) == [
        datetime(2026, 12, 30, 8), datetime(2026, 12, 31, 8), datetime(2027, 1, 1, 8),
        datetime(2027, 1, 2, 8)]
    assert starts(occurrences)[0] == datetime(2026, 12, 29, 23)  # the day before in UTC
    assert all(o.end - o.start == timedelta(minutes=45) for o in occurrences)
    assert all_original_starts(schedule)[-1] == datetime(2027, 1, 2, 8)


def test_daily_with_until_includes_the_last_day():
    schedule = Schedule(timezone="America/New_York", start_local=datetime(2026, 2, 26, 9),
                        duration_minutes=30, frequency="DAILY",
                        until_local=datetime(2026, 3, 3, 23, 59, 59))
    assert starts(everything(schedule), NEW_YORK) == [
        datetime(2026, 2, 26, 9), datetime(2026, 2, 27, 9), datetime(2026, 2, 28, 9),
        datetime(2026, 3, 1, 9), datetime(2026, 3, 2, 9), datetime(2026, 3, 3, 9)]


def test_until_is_inclusive_to_the_second():
    base = dict(timezone="Europe/London", start_local=datetime(2026, 6, 1, 16),
                duration_minutes=60, frequency="DAILY")
    at = Schedule(**base, until_local=datetime(2026, 6, 3, 16))
    before = Schedule(**base, until_local=datetime(2026, 6, 3, 15, 59, 59))
    assert [o.original_start_local.day for o in everything(at)] == [1, 2, 3]
    assert [o.original_start_local.day for o in everything(before)] == [1, 2]
    assert is_original_start(at, datetime(2026, 6, 3, 16))
    assert not is_original_start(before, datetime(2026, 6, 3, 16))


def test_weekly_on_several_days():
    schedule = Schedule(timezone="Europe/London", start_local=datetime(2026, 11, 2, 18, 15),
                        duration_minutes=50, frequency="WEEKLY", weekdays=("FR", "MO", "WE"),
                        count=7)
    local = [o.original_start_local for o in everything(schedule)]
    assert local == [datetime(2026, 11, d, 18, 15) for d in (2, 4, 6, 9, 11, 13, 16)]
    assert [d.strftime("%a") for d in local] == ["Mon", "Wed", "Fri"] * 2 + ["Mon"]


def test_weekly_every_other_week():
    schedule = Schedule(timezone="UTC", start_local=datetime(2026, 11, 3, 9), duration_minutes=60,
                        frequency="WEEKLY", interval=2, weekdays=("TU", "TH"), count=4)
    assert [o.original_start_local.day for o in everything(schedule)] == [3, 5, 17, 19]


def test_rrule_strings():
    assert rrule_string(Schedule("Europe/London", datetime(2026, 11, 2, 16), 60)) is None
    weekly = Schedule("Europe/London", datetime(2026, 11, 2, 16), 60, frequency="WEEKLY",
                      weekdays=("TH", "MO"), count=20)
    assert rrule_string(weekly) == "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=20"
    # No weekdays given: the start's own weekday (2 November 2026 is a Monday).
    assert rrule_string(Schedule("UTC", datetime(2026, 11, 2, 16), 60, frequency="WEEKLY",
                                 interval=2)) == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"
    assert rrule_string(Schedule("UTC", datetime(2026, 11, 2, 16), 60,
                                 frequency="DAILY")) == "FREQ=DAILY"
    # UNTIL is UTC with a Z, converted from the session's wall-clock time and zone (RFC 5545
    # requires UTC when DTSTART has a TZID): summer London, winter New York, Tokyo.
    assert rrule_string(Schedule("Europe/London", datetime(2026, 6, 1, 16), 60, frequency="DAILY",
                                 until_local=datetime(2026, 7, 1, 23, 59, 59))) == \
        "FREQ=DAILY;UNTIL=20260701T225959Z"
    assert rrule_string(Schedule("America/New_York", datetime(2026, 12, 1, 9), 60,
                                 frequency="DAILY", until_local=datetime(2026, 12, 24, 23, 59, 59))
                        ) == "FREQ=DAILY;UNTIL=20261225T045959Z"
    assert rrule_string(Schedule("Asia/Tokyo", datetime(2026, 12, 1, 9), 60, frequency="WEEKLY",
                                 weekdays=("TU",), until_local=datetime(2027, 1, 5, 23, 59, 59))
                        ) == "FREQ=WEEKLY;BYDAY=TU;UNTIL=20270105T145959Z"


# --- windows --------------------------------------------------------------------------------------

def test_windows_are_half_open_on_the_start():
    schedule = Schedule("UTC", datetime(2026, 11, 2, 10), 60, frequency="DAILY", count=3)
    assert len(expand(schedule, {}, utc(2026, 11, 2, 10), utc(2026, 11, 3, 10))) == 1
    # An occurrence under way at the window's start (started before) belongs to the window before.
    assert len(expand(schedule, {}, utc(2026, 11, 2, 10, 30), utc(2026, 11, 3, 10, 1))) == 1
    assert expand(schedule, {}, utc(2026, 11, 2, 10, 1), utc(2026, 11, 3, 10)) == []


def test_endless_series_expands_only_the_window():
    schedule = Schedule("Europe/London", datetime(2026, 1, 1, 7), 30, frequency="DAILY")
    occurrences = expand(schedule, {}, utc(2030, 5, 1), utc(2030, 5, 8))
    assert [o.original_start_local.day for o in occurrences] == list(range(1, 8))
    assert bounds(schedule, {})[1] is None


# --- overrides --------------------------------------------------------------------------------

DAILY_10 = Schedule("Europe/London", datetime(2026, 11, 2, 10), 60, frequency="DAILY", count=5)


def test_moved_occurrence_appears_once_at_its_new_time_and_not_at_the_old():
    original = datetime(2026, 11, 4, 10)
    moved_to = datetime(2026, 11, 4, 15, 30)
    changes = {original: Change(original, moved_to, 90)}
    occurrences = everything(DAILY_10, changes)
    assert len(occurrences) == 5
    assert starts(occurrences) == [datetime(2026, 11, d, 10) for d in (2, 3)] + [
        moved_to] + [datetime(2026, 11, d, 10) for d in (5, 6)]
    moved = [o for o in occurrences if o.moved]
    assert len(moved) == 1
    assert moved[0].original_start_local == original
    assert moved[0].end - moved[0].start == timedelta(minutes=90)
    assert not any(o.start == utc(2026, 11, 4, 10) for o in occurrences)


def test_moved_occurrence_belongs_to_the_window_of_its_new_time():
    original = datetime(2026, 11, 3, 10)
    changes = {original: Change(original, datetime(2026, 11, 20, 8))}
    near_original = expand(DAILY_10, changes, utc(2026, 11, 3), utc(2026, 11, 4))
    assert near_original == []
    near_new = expand(DAILY_10, changes, utc(2026, 11, 20), utc(2026, 11, 21))
    assert [o.original_start_local for o in near_new] == [original]
    # Moved earlier than the series' start, too.
    first = datetime(2026, 11, 2, 10)
    earlier = {first: Change(first, datetime(2026, 10, 30, 9))}
    assert [o.start for o in expand(DAILY_10, earlier, utc(2026, 10, 30), utc(2026, 10, 31))] == [
        utc(2026, 10, 30, 9)]


def test_duration_only_change_keeps_the_time():
    original = datetime(2026, 11, 5, 10)
    occurrences = everything(DAILY_10, {original: Change(original, None, 25)})
    changed = [o for o in occurrences if o.original_start_local == original]
    assert len(changed) == 1 and not changed[0].moved
    assert changed[0].start == utc(2026, 11, 5, 10)
    assert changed[0].end - changed[0].start == timedelta(minutes=25)


def test_cancelled_occurrence_stays_listed_as_cancelled():
    original = datetime(2026, 11, 3, 10)
    occurrences = everything(DAILY_10, {original: Change(original, cancelled=True)})
    assert len(occurrences) == 5
    assert [o.cancelled for o in occurrences] == [False, True, False, False, False]
    assert occurrences[1].start == utc(2026, 11, 3, 10)
    # A moved and then cancelled one is listed once, cancelled, at its new time.
    moved = {original: Change(original, datetime(2026, 11, 3, 12), cancelled=True)}
    occurrences = everything(DAILY_10, moved)
    assert [(o.start, o.cancelled) for o in occurrences if o.original_start_local == original] \
        == [(utc(2026, 11, 3, 12), True)]
    # A cancelled series: every occurrence is listed, all cancelled.
    assert all(o.cancelled for o in everything(DAILY_10, series_cancelled=True))


def test_change_of_a_time_that_is_not_an_occurrence_is_ignored():
    stray = datetime(2026, 11, 3, 11)  # the series is at 10:00
    occurrences = everything(DAILY_10, {stray: Change(stray, datetime(2026, 11, 3, 14))})
    assert starts(occurrences) == [datetime(2026, 11, d, 10) for d in range(2, 7)]


def test_bounds_cover_moved_occurrences():
    assert bounds(DAILY_10, {}) == (utc(2026, 11, 2, 10), utc(2026, 11, 6, 11))
    later = datetime(2026, 11, 4, 10)
    earlier = datetime(2026, 11, 2, 10)
    changes = {later: Change(later, datetime(2026, 11, 9, 18), 120),
               earlier: Change(earlier, datetime(2026, 10, 31, 8))}
    first, last_end = bounds(DAILY_10, changes)
    assert first == utc(2026, 10, 31, 8)
    assert last_end == utc(2026, 11, 9, 20)
    every = everything(DAILY_10, changes)
    assert all(first <= o.start and o.end <= last_end for o in every)
    # The last occurrence made longer extends the end too.
    last = datetime(2026, 11, 6, 10)
    assert bounds(DAILY_10, {last: Change(last, None, 180)})[1] == utc(2026, 11, 6, 13)
    # An endless series: an open end, whatever its overrides.
    endless = Schedule("Europe/London", datetime(2026, 11, 2, 10), 60, frequency="DAILY")
    assert bounds(endless, changes) == (utc(2026, 10, 31, 8), None)
