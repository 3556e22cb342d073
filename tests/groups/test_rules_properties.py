"""Property tests of the rule engine (app/scheduling/group_rules.py): allowed slots × minimum
notice × time zones with DST × one-time and recurring series.

The engine is checked against a plain oracle that walks every minute of every occurrence (the
series expanded by app/scheduling/recurrence.py, the app's own expansion) on the group's wall
clock: an occurrence fits when every minute of it lies inside one allowed slot of the day it
starts on. Refusals must name the rule they apply, and the suggested "next allowed" starts must
themselves be allowed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.scheduling import group_rules, recurrence
from app.scheduling.group_rules import (RULE_NOTICE, RULE_SLOTS, RuleViolation, Slot,
                                        check_schedule, make_rules, next_allowed_starts)
from app.scheduling.recurrence import WEEKDAY_CODES, Schedule

# Zones with DST changes on different dates and at different local times (and one without).
ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "America/Santiago",
         "Europe/Berlin", "Asia/Tokyo"]
# "now": around the spring and autumn changes of both hemispheres, so series cross them.
NOWS = [datetime(2027, 3, 20, 9, tzinfo=timezone.utc), datetime(2027, 10, 22, 9, tzinfo=timezone.utc),
        datetime(2027, 3, 30, 9, tzinfo=timezone.utc), datetime(2027, 4, 1, 9, tzinfo=timezone.utc)]

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def slot_lists(draw):
    """0-3 slots on a quarter-hour grid, some around the night's DST changes (01:00-04:00)."""
    slots = []
    for _ in range(draw(st.integers(0, 3))):
        start = draw(st.integers(0, 95)) * 15
        length = draw(st.integers(1, 40)) * 15
        slots.append(Slot(start, min(start + length, 1440)))
    return slots


@st.composite
def rule_sets(draw):
    zone = draw(st.sampled_from(ZONES))
    restrict = draw(st.booleans())
    slots = {}
    if restrict:
        for code in WEEKDAY_CODES:
            day = draw(slot_lists())
            if day:
                slots[code] = day
    notice = draw(st.sampled_from([0, 1, 5, 24, 48, 24 * 7]))
    return make_rules(zone, slots, min_notice_hours=notice)


@st.composite
def schedules(draw):
    zone = draw(st.sampled_from(ZONES))
    now = draw(st.sampled_from(NOWS))
    offset_hours = draw(st.integers(-12, 24 * 20))
    start_utc = now + timedelta(hours=offset_hours, minutes=draw(st.sampled_from([0, 15, 30, 45])))
    local_start = start_utc.astimezone(ZoneInfo(zone)).replace(tzinfo=None, second=0)
    duration = draw(st.sampled_from([15, 30, 45, 60, 90, 120, 180]))
    frequency = draw(st.sampled_from(["NONE", "DAILY", "WEEKLY"]))
    weekdays = ()
    if frequency == "WEEKLY":
        weekdays = tuple(sorted(draw(st.sets(st.sampled_from(WEEKDAY_CODES), min_size=1,
                                             max_size=3)) | {WEEKDAY_CODES[local_start.weekday()]},
                                key=WEEKDAY_CODES.index))
    count = draw(st.integers(1, 12)) if frequency != "NONE" else None
    return now, Schedule(timezone=zone, start_local=local_start, duration_minutes=duration,
                         frequency=frequency, weekdays=weekdays, count=count)


def minutes_fit(rules, start: datetime, end: datetime) -> bool:
    """The oracle: every minute [m, m+1) of the occurrence, on the group's wall clock counted
    from midnight of the local day it starts on, lies inside one and the same allowed slot.
    Without slots every time is allowed (midnight included)."""
    if not rules.restricts_times:
        return True
    tz = rules.tz
    day = start.astimezone(tz).date()
    midnight = datetime.combine(day, datetime.min.time())
    slots = rules.slots_on(WEEKDAY_CODES[day.weekday()])
    candidates = set(range(len(slots)))
    minute = start
    while minute < end:
        wall = (minute.astimezone(tz).replace(tzinfo=None) - midnight).total_seconds() / 60
        candidates = {i for i in candidates if slots[i].start <= wall and wall + 1 <= slots[i].end}
        if not candidates:
            return False
        minute += timedelta(minutes=1)
    return True


def oracle_refusal(rules, schedule, now):
    """(rule, occurrence start) of the first occurrence the oracle refuses, or None."""
    first, last_end = recurrence.bounds(schedule, {})
    for occ in recurrence.expand(schedule, {}, max(first, now), last_end + timedelta(seconds=1)):
        if occ.start < now + timedelta(hours=rules.min_notice_hours):
            return RULE_NOTICE, occ.start
        if not minutes_fit(rules, occ.start, occ.end):
            return RULE_SLOTS, occ.start
    return None


@PROPERTY_SETTINGS
@given(rules=rule_sets(), planned=schedules())
def test_every_occurrence_is_judged_like_the_minute_by_minute_oracle(rules, planned):
    now, schedule = planned
    expected = oracle_refusal(rules, schedule, now)
    event(f"refused: {expected[0]}" if expected else "allowed")
    try:
        check_schedule(rules, schedule, now)
    except RuleViolation as refusal:
        assert expected is not None, "refused a schedule whose every occurrence fits"
        rule, occurrence_start = expected
        assert refusal.rule == rule
        message = refusal.errors["date"]
        # The refusal names its rule and what would be allowed instead.
        assert f"“{rule}”" in message
        assert "allowed" in message.lower()
        if schedule.is_recurring:
            assert group_rules.format_start(occurrence_start, rules) in message
        for suggestion in refusal.suggestions:
            assert group_rules.format_start(suggestion, rules) in message
    else:
        assert expected is None, f"accepted, but the oracle refuses it for {expected}"


@PROPERTY_SETTINGS
@given(rules=rule_sets(), now=st.sampled_from(NOWS),
       duration=st.sampled_from([15, 30, 60, 90, 120]),
       after_hours=st.one_of(st.none(), st.integers(0, 24 * 30)))
def test_suggested_starts_are_allowed_ordered_and_come_first(rules, now, duration, after_hours):
    after = None if after_hours is None else now + timedelta(hours=after_hours)
    suggestions = next_allowed_starts(rules, duration, now, after=after)
    assert suggestions == sorted(suggestions)
    assert len(suggestions) <= (3 if rules.restricts_times else 1)
    for start in suggestions:
        single = Schedule(timezone=rules.timezone,
                          start_local=start.astimezone(rules.tz).replace(tzinfo=None),
                          duration_minutes=duration)
        check_schedule(rules, single, now)  # raises if a suggestion is not allowed
    if suggestions:
        # Nothing on the quarter-hour grid before the first suggestion is allowed.
        earliest = max([now + timedelta(hours=rules.min_notice_hours)] + ([after] if after else []))
        assert suggestions[0] >= earliest
        probe = earliest.replace(minute=earliest.minute // 15 * 15, second=0, microsecond=0)
        steps = 0
        while probe < suggestions[0] and steps < 4 * 24 * 3:
            wall = probe.astimezone(rules.tz).replace(tzinfo=None)
            # Only instants a session can be given: it is stored as a wall time, and the
            # second reading of a time the clocks go back over is not one of them.
            if probe >= earliest and wall.minute % 15 == 0 and \
                    recurrence.local_to_utc(wall, rules.tz) == probe:
                assert not minutes_fit(rules, probe, probe + timedelta(minutes=duration)), probe
            probe += timedelta(minutes=15)
            steps += 1


@PROPERTY_SETTINGS
@given(zone=st.sampled_from(ZONES), now=st.sampled_from(NOWS), weeks=st.integers(2, 30))
def test_a_weekly_lesson_in_the_groups_zone_fits_across_every_dst_change(zone, now, weeks):
    """Mon-Fri 15:00-19:00 in the group's zone; a weekly 16:00 lesson in that zone stays at
    16:00 on the group's clock on both sides of DST, so every occurrence fits."""
    rules = make_rules(zone, {c: [(900, 1140)] for c in WEEKDAY_CODES[:5]}, min_notice_hours=24)
    start = (now + timedelta(days=3)).astimezone(ZoneInfo(zone))
    while start.weekday() != 0:
        start += timedelta(days=1)
    schedule = Schedule(timezone=zone, start_local=start.replace(hour=16, minute=0, second=0,
                                                                 microsecond=0, tzinfo=None),
                        duration_minutes=60, frequency="WEEKLY", weekdays=("MO", "TH"),
                        count=weeks * 2)
    check_schedule(rules, schedule, now)


def test_a_series_set_in_another_zone_is_refused_at_the_first_dst_week_that_leaves_the_slot():
    """A New York 11:00 weekly lesson is 16:00 in London most of the year, but 15:00 in the
    weeks between the two countries' changes: with a 16:00-19:00 slot in London, the first of
    those weeks is refused, by date."""
    rules = make_rules("Europe/London", {c: [(960, 1140)] for c in WEEKDAY_CODES[:5]})
    now = datetime(2027, 2, 20, 9, tzinfo=timezone.utc)
    schedule = Schedule(timezone="America/New_York", start_local=datetime(2027, 3, 1, 11, 0),
                        duration_minutes=60, frequency="WEEKLY", weekdays=("MO",), count=8)
    try:
        check_schedule(rules, schedule, now)
    except RuleViolation as refusal:
        assert refusal.rule == RULE_SLOTS
        # 2027: the US changes on 14 March, the UK on 28 March.
        assert "Mon 15 Mar 15:00" in refusal.errors["date"]
        assert "Mon–Fri 16:00–19:00" in refusal.errors["date"]
    else:
        raise AssertionError("the weeks between the DST changes were let through")


def test_fall_back_night_is_judged_by_the_clock_people_see():
    """01:50 BST for 30 minutes ends at 01:20 GMT: the clock passes 01:00-01:20 a second time,
    outside a 01:40-02:00 slot (an engine that only compared the ends would let it through)."""
    rules = make_rules("Europe/London", {"SU": [(100, 120)]})
    start = datetime(2027, 10, 31, 0, 50, tzinfo=timezone.utc)
    assert not group_rules.fits_slots(rules, start, start + timedelta(minutes=30))
    wide = make_rules("Europe/London", {"SU": [(60, 120)]})
    assert group_rules.fits_slots(wide, start, start + timedelta(minutes=30))


def test_parse_slots_text_says_what_is_wrong():
    assert group_rules.parse_slots_text("15:00-19:00, 9-12")[0] == (Slot(540, 720), Slot(900, 1140))
    assert group_rules.parse_slots_text("15:00-17:00; 17:00-19:00")[0] == (Slot(900, 1140),)
    assert group_rules.parse_slots_text("20:00-24:00")[0] == (Slot(1200, 1440),)
    for text, words in [("19:00-15:00", "ends before it starts"), ("25:00-26:00", "does not exist"),
                        ("soon", "not a time range"), ("10:00-10:02", "shorter than five")]:
        slots, problem = group_rules.parse_slots_text(text)
        assert slots == () and words in problem
