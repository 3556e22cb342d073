"""My Day's rules in the viewer's zone: what "today" is around midnight and on the days clocks
change, which occurrences still need their attendance confirmed, which catch-ups are overdue.
First the pure rules, then the services on stored sessions at chosen instants."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from flask_login import login_user

from app.accounts.models import Role
from app.attendance.models import AttendanceRecord, CatchUp
from app.attendance.rules import AttendanceStatus
from app.extensions import db
from app.my_day import rules, services
from tests.my_day.helpers import add_session

UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def at(zone, *fields) -> datetime:
    return datetime(*fields, tzinfo=zone).astimezone(UTC)


# --- the day -------------------------------------------------------------------------------------

def test_today_is_the_viewers_local_day_not_the_utc_one():
    # 23:30 in New York on 1 March is 04:30 UTC on 2 March: still 1 March for the viewer.
    day = rules.day_of(at(NEW_YORK, 2026, 3, 1, 23, 30), NEW_YORK)
    assert str(day.date) == "2026-03-01"
    assert day.start == at(NEW_YORK, 2026, 3, 1, 0, 0) and day.end == at(NEW_YORK, 2026, 3, 2, 0, 0)
    # A minute after midnight it is the next day.
    assert str(rules.day_of(at(NEW_YORK, 2026, 3, 2, 0, 1), NEW_YORK).date) == "2026-03-02"


def test_days_when_clocks_change_are_23_and_25_hours_long():
    spring = rules.day_of(at(LONDON, 2026, 3, 29, 12, 0), LONDON)
    autumn = rules.day_of(at(LONDON, 2026, 10, 25, 12, 0), LONDON)
    assert spring.end - spring.start == timedelta(hours=23)
    assert autumn.end - autumn.start == timedelta(hours=25)
    # The autumn day starts at 00:00 BST, 23:00 UTC the evening before.
    assert autumn.start == datetime(2026, 10, 24, 23, 0, tzinfo=UTC)


def test_an_occurrence_across_midnight_belongs_to_both_days():
    day = rules.day_of(at(LONDON, 2026, 2, 10, 0, 10), LONDON)
    across = (at(LONDON, 2026, 2, 9, 23, 30), at(LONDON, 2026, 2, 10, 0, 30))
    before = (at(LONDON, 2026, 2, 9, 22, 0), at(LONDON, 2026, 2, 9, 23, 0))
    ends_at_midnight = (at(LONDON, 2026, 2, 9, 23, 0), at(LONDON, 2026, 2, 10, 0, 0))
    tomorrow = (at(LONDON, 2026, 2, 11, 0, 0), at(LONDON, 2026, 2, 11, 1, 0))
    assert rules.is_today(*across, day)
    assert not rules.is_today(*before, day)
    assert not rules.is_today(*ends_at_midnight, day)
    assert not rules.is_today(*tomorrow, day)


# --- attendance to confirm --------------------------------------------------------------------------

START = datetime(2026, 2, 10, 9, 0, tzinfo=UTC)
END = START + timedelta(hours=1)
LONG_AGO = START - timedelta(days=3)


def confirm(now=END, cancelled=False, live=False, learners=None, statuses=None):
    return rules.attendance_to_confirm(
        start=START, end=END, now=now, cancelled=cancelled, live=live,
        learners_added={1: LONG_AGO, 2: LONG_AGO} if learners is None else learners,
        statuses={} if statuses is None else statuses)


def test_nothing_to_confirm_before_the_end_while_live_when_cancelled_or_without_learners():
    assert confirm(now=END - timedelta(seconds=1)) is None
    assert confirm(live=True) is None
    assert confirm(cancelled=True) is None
    assert confirm(learners={}) is None


def test_an_over_occurrence_without_any_record_is_to_confirm():
    result = confirm()
    assert result == rules.Confirmation(frozenset({1, 2}), recorded=False)


def test_an_expected_learner_without_a_status_is_to_confirm():
    result = confirm(statuses={1: AttendanceStatus.PRESENT, 2: None})
    assert result == rules.Confirmation(frozenset({2}), recorded=True)
    assert confirm(statuses={1: AttendanceStatus.PRESENT}).unmarked == {2}
    # Everyone expected has a status (an absence counts): nothing left.
    assert confirm(statuses={1: AttendanceStatus.PRESENT, 2: AttendanceStatus.ABSENT}) is None


def test_a_learner_added_after_the_start_was_not_expected():
    late = {1: LONG_AGO, 2: START + timedelta(minutes=5)}
    assert confirm(learners=late, statuses={1: AttendanceStatus.LATE}) is None


def test_overdue_means_past_due_and_still_open():
    now = START
    assert rules.is_overdue(now - timedelta(seconds=1), None, now)
    assert not rules.is_overdue(now, None, now)
    assert not rules.is_overdue(now - timedelta(days=1), now - timedelta(hours=1), now)


# --- the services at chosen instants --------------------------------------------------------------

def _teacher(make, zone="Europe/London"):
    center = make.center(timezone=zone)
    teacher = make.user(center, Role.TEACHER, name="Tia Tutor", timezone=zone)
    learners = [make.user(center, Role.STUDENT, name=f"Kid {n}") for n in range(2)]
    return center, teacher, learners


def test_just_after_midnight_the_lesson_still_on_is_today_and_yesterdays_are_gone(make):
    center, teacher, learners = _teacher(make)
    now = at(LONDON, 2026, 2, 10, 0, 10)
    add_session(center, teacher, learners, at(LONDON, 2026, 2, 9, 23, 30), 60, "Late night")
    add_session(center, teacher, learners, at(LONDON, 2026, 2, 9, 21, 0), 60, "Yesterday")
    add_session(center, teacher, learners, at(LONDON, 2026, 2, 10, 9, 0), 60, "Morning")
    db.session.commit()
    plan = services.day_plan(teacher, now)
    assert [i.occurrence.session.title for i in plan.today] == ["Late night", "Morning"]
    # The late lesson is under way: its Join window is open (no call started).
    assert [i.phase for i in plan.today] == ["open", "later"]
    assert plan.today[0].can_start and not plan.today[1].can_start
    with current_app.test_request_context("/my-day"):
        login_user(teacher)
        html = render_template("my_day/_today.html", day=services.MyDay(plan=plan),
                               oob=False)
    assert "Waiting to start" in html and "Starting soon" not in html  # it began at 23:30
    # Nothing over today yet: yesterday's unconfirmed lesson is not today's to-do.
    assert plan.to_confirm == []
    # The next change is the late lesson's end, 00:30.
    assert plan.next_change == at(LONDON, 2026, 2, 10, 0, 30)


def test_late_evening_in_new_york_counts_the_local_day(make):
    center, teacher, learners = _teacher(make, "America/New_York")
    now = at(NEW_YORK, 2026, 3, 1, 23, 50)  # 04:50 UTC on 2 March
    add_session(center, teacher, learners, at(NEW_YORK, 2026, 3, 1, 20, 0), 60, "Evening")
    add_session(center, teacher, learners, at(NEW_YORK, 2026, 3, 2, 1, 0), 60, "Tomorrow")
    db.session.commit()
    plan = services.day_plan(teacher, now)
    assert [i.occurrence.session.title for i in plan.today] == ["Evening"]
    [item] = plan.to_confirm
    assert item.occurrence.session.title == "Evening" and not item.recorded
    assert {u.name for u in item.unmarked} == {"Kid 0", "Kid 1"}


def test_on_the_autumn_clock_change_the_first_hour_is_today(make):
    center, teacher, learners = _teacher(make)
    # 25 October 2026: 00:15 BST is 23:15 UTC on the 24th.
    now = at(LONDON, 2026, 10, 25, 23, 30)
    first = add_session(center, teacher, learners, at(LONDON, 2026, 10, 25, 0, 15), 30,
                        "Just after midnight")
    add_session(center, teacher, learners, at(LONDON, 2026, 10, 24, 23, 0), 30, "Saturday")
    db.session.commit()
    db.session.add(AttendanceRecord(center_id=center.id, session_id=first.id,
                                    occurrence_start=first.first_start_utc,
                                    user_id=learners[0].id,
                                    manual_status=AttendanceStatus.EXCUSED))
    db.session.commit()
    plan = services.day_plan(teacher, now)
    assert plan.day.end - plan.day.start == timedelta(hours=25)
    assert [i.occurrence.session.title for i in plan.today] == ["Just after midnight"]
    [item] = plan.to_confirm
    assert item.recorded and [u.name for u in item.unmarked] == ["Kid 1"]


def test_on_the_spring_clock_change_the_day_ends_at_local_midnight(make):
    center, teacher, learners = _teacher(make)
    now = at(LONDON, 2026, 3, 29, 23, 0)
    add_session(center, teacher, learners, at(LONDON, 2026, 3, 29, 23, 30), 20, "Late")
    db.session.commit()
    plan = services.day_plan(teacher, now)
    assert [i.occurrence.session.title for i in plan.today] == ["Late"]
    # The day ends at 00:00 BST on the 30th, 23:00 UTC on the 29th.
    assert plan.day.end == datetime(2026, 3, 29, 23, 0, tzinfo=UTC)


def test_catch_ups_fall_overdue_at_their_due_instant_whatever_the_day(make):
    center, teacher, learners = _teacher(make)
    session = add_session(center, teacher, learners, at(LONDON, 2026, 2, 1, 9, 0), 60, "Past")
    db.session.commit()
    now = at(LONDON, 2026, 2, 10, 0, 10)
    due_before = now - timedelta(minutes=11)  # 23:59 yesterday
    due_after = now + timedelta(minutes=10)  # 00:20 today
    for learner, due in zip(learners, (due_before, due_after)):
        db.session.add(CatchUp(center_id=center.id, session_id=session.id,
                               occurrence_start=session.first_start_utc, user_id=learner.id,
                               due_at=due))
    db.session.commit()
    overdue = services.overdue_catch_ups(teacher, now)
    assert [c.user.name for c, _ in overdue.items] == ["Kid 0"] and overdue.total == 1
    assert overdue.next_due == due_after
    later = services.overdue_catch_ups(teacher, due_after + timedelta(seconds=1))
    assert later.total == 2 and later.next_due is None
