"""Every communication event reaches the people it concerns, with the right type and a deep link
that opens what it is about (and nobody else is told)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.accounts.models import CourseRole, Enrollment
from app.accounts.services import ValidationError
from app.chat import services as chat
from app.extensions import db
from app.notifications.models import Notification, NotificationType, Priority
from app.scheduling import services as scheduling
from app.scheduling.services import SessionInput
from tests.notifications.conftest import count_notifications, notifications_of

T = NotificationType


def next_monday(weeks_ahead: int = 1) -> date:
    today = date.today()
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7) + timedelta(weeks=weeks_ahead - 1)


def shown(day: date, at: time, zone: str) -> str:
    """How a London wall-clock time reads in ``zone`` on that day ("11:00 EST")."""
    instant = datetime.combine(day, at, tzinfo=ZoneInfo("Europe/London"))
    return instant.astimezone(ZoneInfo(zone)).strftime("%H:%M %Z")


def weekly(school, students, count=4, **changes) -> SessionInput:
    values = dict(title="Algebra", type="CLASS", participant_ids=[s.id for s in students],
                  date=next_monday(), start_time=time(16, 0), timezone="Europe/London",
                  duration_minutes=60, frequency="WEEKLY", weekdays=["MO"], ends="count",
                  count=count)
    values.update(changes)
    return SessionInput(**values)


def only_after_the_job(user, run_worker) -> bool:
    """A new message's members are told by a job after the POST's commit, not by the POST."""
    assert notifications_of(user, T.NEW_MESSAGE) == []
    run_worker()
    return len(notifications_of(user, T.NEW_MESSAGE)) == 1


def only(user, type_) -> Notification:
    found = notifications_of(user, type_)
    assert len(found) == 1, [(n.type, n.title) for n in notifications_of(user)]
    return found[0]


def assert_opens(as_user, user, notification, link):
    """The recipient's click lands on the deep link, and that page opens for them."""
    assert notification.link == link
    browser = as_user(user)
    response = browser.get(f"/notifications/{notification.id}/open")
    assert response.status_code == 302 and response.headers["Location"] == link
    assert browser.get(link).status_code == 200


@pytest.fixture
def series(school):
    session = scheduling.schedule_session(school.teacher, weekly(school, school.students),
                                          allow_conflicts=True)
    return session


# --- sessions --------------------------------------------------------------------------------------

def test_scheduling_tells_each_participant_in_their_own_zone(school, series, as_user):
    london, new_york = school.students
    for student, zone in ((london, "Europe/London"), (new_york, "America/New_York")):
        notice = only(student, T.SESSION_SCHEDULED)
        assert notice.title == "New session: Algebra"
        assert shown(next_monday(), time(16), zone) in notice.body
        assert "(repeats)" in notice.body and "Terry Teacher" in notice.body
        assert notice.priority == Priority.NORMAL
    # The teacher made it: no notice to themselves; nobody outside the session hears of it.
    assert notifications_of(school.teacher) == []
    assert notifications_of(school.outsider) == []
    assert notifications_of(school.admin) == []
    assert_opens(as_user, london, only(london, T.SESSION_SCHEDULED), f"/sessions/{series.id}")


def test_an_admin_scheduling_for_a_teacher_tells_the_teacher_too(school):
    session = scheduling.schedule_session(school.teacher, weekly(school, school.students[:1]),
                                          allow_conflicts=True, actor=school.admin)
    assert only(school.teacher, T.SESSION_SCHEDULED).link == f"/sessions/{session.id}"
    assert notifications_of(school.admin) == []


def test_moving_an_occurrence_tells_everyone_old_and_new_time(school, series, as_user):
    first = scheduling.next_occurrences(series, 2)[1]
    new_start = first.original_start_local + timedelta(days=1, hours=1)
    scheduling.move_occurrence(school.teacher, series, first.original_start_local, new_start,
                               reason="Bank holiday", allow_conflicts=True)
    london, new_york = school.students
    old_day, new_day = first.original_start_local.date(), new_start.date()
    for student, zone in ((london, "Europe/London"), (new_york, "America/New_York")):
        notice = only(student, T.SESSION_RESCHEDULED)
        assert notice.title == "Algebra was moved"
        old, new = notice.body.split(" · ")[0].split(" → ")
        assert old.endswith(shown(old_day, time(16), zone))
        assert new.endswith(shown(new_day, time(17), zone))
        assert notice.body.endswith(" · Bank holiday")
    assert notifications_of(school.teacher) == []
    assert_opens(as_user, new_york, only(new_york, T.SESSION_RESCHEDULED),
                 f"/sessions/{series.id}")


def test_cancelling_an_occurrence_tells_everyone(school, series, as_user):
    occurrence = scheduling.next_occurrences(series, 3)[2]
    scheduling.cancel_occurrence(school.teacher, series, occurrence.original_start_local,
                                 reason="Teacher training day")
    for student in school.students:
        notice = only(student, T.SESSION_CANCELLED)
        assert notice.title.startswith("Algebra on ") and notice.title.endswith(" is cancelled")
        assert notice.body == "Teacher training day"
    assert shown(occurrence.original_start_local.date(), time(16), "America/New_York") in \
        only(school.students[1], T.SESSION_CANCELLED).title
    assert notifications_of(school.teacher) == []
    assert_opens(as_user, school.students[0], only(school.students[0], T.SESSION_CANCELLED),
                 f"/sessions/{series.id}")


def test_cancelling_the_series_tells_everyone(school, series, as_user):
    scheduling.cancel_series(school.teacher, series, reason="Course closed")
    for student in school.students:
        notice = only(student, T.SESSION_CANCELLED)
        assert (notice.title, notice.body) == ("Algebra is cancelled", "Course closed")
    assert notifications_of(school.teacher) == []
    assert_opens(as_user, school.students[1], only(school.students[1], T.SESSION_CANCELLED),
                 f"/sessions/{series.id}")


def test_a_new_schedule_is_a_reschedule_but_a_new_title_is_not(school, series):
    data = scheduling.input_from_session(series)
    data.title = "Algebra II"
    scheduling.update_series(school.teacher, series, data, allow_conflicts=True)
    assert all(notifications_of(s, T.SESSION_RESCHEDULED) == [] for s in school.students)

    data.start_time = time(17, 30)
    scheduling.update_series(school.teacher, series, data, allow_conflicts=True)
    for student in school.students:
        notice = only(student, T.SESSION_RESCHEDULED)
        assert notice.title == "Algebra II has a new schedule"
        assert notice.body.startswith("Next: ")
    assert shown(next_monday(), time(17, 30), "Europe/London") in \
        only(school.students[0], T.SESSION_RESCHEDULED).body


def test_adding_and_removing_participants_tells_only_them(school, as_user):
    s1, s2 = school.students
    session = scheduling.schedule_session(school.teacher, weekly(school, [s1]),
                                          allow_conflicts=True)
    scheduling.add_participants(school.teacher, session, [s2.id])
    assert len(notifications_of(s1, T.SESSION_SCHEDULED)) == 1  # only from the scheduling
    added = only(s2, T.SESSION_SCHEDULED)
    assert_opens(as_user, s2, added, f"/sessions/{session.id}")

    scheduling.remove_participant(school.teacher, session, s2.id)
    removed = only(s2, T.SESSION_CANCELLED)
    assert removed.title == "You were removed from Algebra" and removed.link == "/calendar"
    assert notifications_of(s1, T.SESSION_CANCELLED) == []


# --- chat ------------------------------------------------------------------------------------------

def test_creating_a_group_tells_its_members(school, as_user):
    s1, s2 = school.students
    group = chat.create_group(school.teacher, "Exam prep", "Past papers", [s1.id, s2.id])
    for student in school.students:
        notice = only(student, T.GROUP_CHAT_CREATED)
        assert notice.title == "Terry Teacher created the group “Exam prep”"
        assert notice.body == "Past papers"
        assert notice.tag == f"thread-{group.id}"
    assert notifications_of(school.teacher) == []
    assert notifications_of(school.outsider) == []
    assert_opens(as_user, s2, only(s2, T.GROUP_CHAT_CREATED), f"/chat/threads/{group.id}")


def test_adding_a_member_tells_the_new_member_only(school, as_user):
    s1, s2 = school.students
    group = chat.create_group(school.teacher, "Exam prep", "", [s1.id])
    chat.add_group_members(school.teacher, group, [s2.id])
    notice = only(s2, T.ADDED_TO_GROUP)
    assert notice.title == "Terry Teacher added you to “Exam prep”"
    assert notifications_of(s2, T.GROUP_CHAT_CREATED) == []
    assert notifications_of(s1, T.ADDED_TO_GROUP) == []
    assert_opens(as_user, s2, notice, f"/chat/threads/{group.id}")


def test_a_direct_message_tells_the_other_person(school, as_user, run_worker):
    s1 = school.students[0]
    direct = chat.get_or_create_direct(school.teacher, s1)
    message = chat.post_message(school.teacher, direct, "Your essay was **great**")
    assert only_after_the_job(s1, run_worker)
    notice = only(s1, T.NEW_MESSAGE)
    assert notice.title == "Terry Teacher"
    assert notice.body == "Your essay was great"
    assert notice.tag == f"thread-{direct.id}"
    assert notifications_of(school.teacher) == []
    assert_opens(as_user, s1, notice, f"/chat/threads/{direct.id}?at={message.id}")


def test_a_group_message_tells_every_other_member(school, as_user, run_worker):
    s1, s2 = school.students
    group = chat.create_group(school.teacher, "Exam prep", "", [s1.id, s2.id])
    message = chat.post_message(s1, group, "Who has the answers to question 4?")
    assert only_after_the_job(school.teacher, run_worker)
    for person in (school.teacher, s2):
        notice = only(person, T.NEW_MESSAGE)
        assert notice.title == "Sara Student in Exam prep"
        assert notice.link == f"/chat/threads/{group.id}?at={message.id}"
    assert notifications_of(s1, T.NEW_MESSAGE) == []
    assert_opens(as_user, school.teacher, only(school.teacher, T.NEW_MESSAGE),
                 f"/chat/threads/{group.id}?at={message.id}")


def test_an_event_that_rolls_back_leaves_no_notification(school):
    s1 = school.students[0]
    direct = chat.get_or_create_direct(school.teacher, s1)
    before = count_notifications()
    with pytest.raises(ValidationError):
        chat.post_message(school.teacher, direct, "x" * 100_000)
    db.session.rollback()
    assert count_notifications() == before


def test_a_reader_on_the_other_side_of_the_world_sees_their_own_day_and_zone(school, make):
    """09:00 on a London Monday is Monday evening in Sydney: the notice says so, with the
    zone's abbreviation (AEDT or AEST, whichever applies that day)."""
    sydney = make.user(school.center, name="Sid Sydney", timezone="Australia/Sydney")
    db.session.add(Enrollment(center_id=school.center.id, course_id=school.course.id,
                              user_id=sydney.id, role=CourseRole.STUDENT))
    db.session.commit()
    start = datetime.combine(next_monday(), time(9, 0))
    scheduling.schedule_session(school.teacher, weekly(school, [sydney], date=start.date(),
                                                       start_time=start.time()),
                                allow_conflicts=True)
    body = only(sydney, T.SESSION_SCHEDULED).body
    instant = datetime.combine(start.date(), time(9), tzinfo=ZoneInfo("Europe/London"))
    assert instant.astimezone(ZoneInfo("Australia/Sydney")).strftime("%a %d %b, %H:%M %Z") in body
    assert body.startswith("Mon ")
