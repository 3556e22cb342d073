"""Scheduling rules, tested through the services (the only code that changes sessions)."""
from datetime import date, datetime, time, timedelta, timezone

import pytest
from sqlalchemy import select

from app.accounts.models import AuditLog, Role
from app.accounts.services import PermissionDenied, ValidationError
from app.db_types import utcnow
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import ParticipantRole, SessionStatus, VideoSession
from app.scheduling.recurrence import local_to_utc


def future_monday(weeks_ahead=2) -> date:
    today = utcnow().date()
    return today + timedelta(days=(7 - today.weekday()) + 7 * (weeks_ahead - 1))


def weekly_input(students, **overrides):
    data = services.SessionInput(
        title="Algebra", description="Chapter 3", type="CLASS",
        participant_ids=[s.id for s in students], date=future_monday(), start_time=time(16, 0),
        timezone="Europe/London", duration_minutes=60, frequency="WEEKLY",
        weekdays=["MO", "TH"], ends="count", count=6)
    for key, value in overrides.items():
        setattr(data, key, value)
    return data


def test_teacher_schedules_weekly_series_with_participants(school):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    assert session.ical_uid and session.sequence == 0
    roles = {p.user_id: p.role for p in session.participants}
    assert roles == {school.teacher.id: ParticipantRole.INSTRUCTOR,
                     school.students[0].id: ParticipantRole.LEARNER,
                     school.students[1].id: ParticipantRole.LEARNER}
    occurrences = services.next_occurrences(session, limit=10)
    assert len(occurrences) == 6
    assert [o.start.astimezone(session.tz).strftime("%a %H:%M") for o in occurrences[:2]] == \
        ["Mon 16:00", "Thu 16:00"]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "session.scheduled"))


def test_weekly_series_refuses_a_start_date_on_a_day_not_ticked(school):
    # Picked Monday but ticked only Wednesday: the series used to begin that Wednesday, two
    # days after the date the teacher read back. Now it says so and saves nothing.
    monday = future_monday()
    with pytest.raises(ValidationError) as caught:
        services.schedule_session(school.teacher, weekly_input(school.students,
                                                               date=monday, weekdays=["WE"]))
    message = caught.value.errors["weekdays"]
    assert f"Monday {monday:%-d %b}" in message and "Monday is not ticked" in message
    assert f"the next is Wednesday {monday + timedelta(days=2):%-d %b}" in message
    assert db.session.scalar(select(VideoSession)) is None


def test_weekly_series_first_occurrence_is_the_date_picked(school):
    # Wednesday 3rd picked with Monday and Wednesday ticked: the 3rd is the first, then Monday.
    wednesday = future_monday() + timedelta(days=2)
    session = services.schedule_session(school.teacher, weekly_input(
        school.students, date=wednesday, weekdays=["MO", "WE"], count=3))
    assert session.start_local.date() == wednesday
    starts = [o.start.astimezone(session.tz).date() for o in services.next_occurrences(session)]
    assert starts == [wednesday, wednesday + timedelta(days=5), wednesday + timedelta(days=7)]


def test_first_day_on_weekdays():
    monday = date(2027, 3, 1)
    assert services.first_day_on_weekdays(monday, ["MO"]) == monday
    assert services.first_day_on_weekdays(monday, ["WE", "SU"]) == date(2027, 3, 3)
    assert services.first_day_on_weekdays(monday + timedelta(days=6), ["MO"]) == date(2027, 3, 8)


def test_whole_course_adds_its_students(school):
    data = weekly_input([], course_id=school.course.id, frequency="NONE")
    session = services.schedule_session(school.teacher, data)
    learners = {p.user_id for p in session.participants if p.role == ParticipantRole.LEARNER}
    assert learners == {s.id for s in school.students}


@pytest.mark.parametrize("field,value,error_field", [
    ("title", "  ", "title"),
    ("duration_minutes", 0, "duration_minutes"),
    ("duration_minutes", 10_000, "duration_minutes"),
    ("timezone", "Mars/Olympus", "timezone"),
    ("weekdays", [], "weekdays"),
    ("count", 0, "count"),
    ("date", None, "date"),
    ("type", "INSTANT", "type"),
])
def test_invalid_input_is_refused_per_field(school, field, value, error_field):
    with pytest.raises(ValidationError) as caught:
        services.schedule_session(school.teacher, weekly_input(school.students, **{field: value}))
    assert error_field in caught.value.errors


def test_past_start_and_until_before_start_are_refused(school):
    with pytest.raises(ValidationError) as caught:
        services.schedule_session(school.teacher, weekly_input(
            school.students, date=utcnow().date() - timedelta(days=3), frequency="NONE"))
    assert "date" in caught.value.errors
    with pytest.raises(ValidationError) as caught:
        services.schedule_session(school.teacher, weekly_input(
            school.students, ends="until", until_date=future_monday() - timedelta(days=1)))
    assert "until_date" in caught.value.errors


def test_participants_must_be_the_teachers_enrolled_students(school, make):
    other_center = make.center()
    foreign = make.user(other_center, Role.STUDENT)
    for bad in ([school.outsider], [foreign], []):
        with pytest.raises(ValidationError) as caught:
            services.schedule_session(school.teacher, weekly_input(bad))
        assert "participant_ids" in caught.value.errors


def test_one_on_one_has_exactly_one_student(school):
    with pytest.raises(ValidationError):
        services.schedule_session(school.teacher, weekly_input(school.students, type="ONE_ON_ONE"))
    session = services.schedule_session(school.teacher, weekly_input(
        school.students[:1], type="ONE_ON_ONE", frequency="NONE"))
    assert len(session.participants) == 2


def test_students_and_admins_cannot_schedule_as_themselves(school):
    with pytest.raises(PermissionDenied):
        services.schedule_session(school.students[0], weekly_input(school.students))
    with pytest.raises(PermissionDenied):
        services.schedule_session(school.admin, weekly_input(school.students))


def test_conflicts_name_the_person_and_the_time(school):
    services.schedule_session(school.teacher, weekly_input(school.students[:1]))
    clash = weekly_input(school.students[:1], title="Extra", frequency="NONE",
                         start_time=time(16, 30), duration_minutes=30)
    with pytest.raises(services.ConflictsFound) as caught:
        services.schedule_session(school.teacher, clash)
    names = {c.person.name for c in caught.value.conflicts}
    assert names == {school.teacher.name, school.students[0].name}
    assert all(c.session.title == "Algebra" for c in caught.value.conflicts)
    # Back to back is not a conflict, and a confirmed clash is scheduled anyway.
    services.schedule_session(school.teacher, weekly_input(
        school.students[:1], title="After", frequency="NONE", start_time=time(17, 0)))
    assert services.schedule_session(school.teacher, clash, allow_conflicts=True).id


def test_cancelled_occurrences_do_not_conflict(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students[:1]))
    first = services.next_occurrences(series, 1)[0]
    services.cancel_occurrence(school.teacher, series, first.original_start_local, "holiday")
    clash = weekly_input(school.students[:1], title="Makeup", frequency="NONE")
    assert services.schedule_session(school.teacher, clash).id


def test_move_one_occurrence(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students))
    second = services.next_occurrences(series, 2)[1]
    new_local = second.original_start_local + timedelta(days=1, hours=1)
    services.move_occurrence(school.teacher, series, second.original_start_local, new_local, 90,
                             "room change")
    occurrences = services.next_occurrences(series, 10)
    moved = [o for o in occurrences if o.moved]
    assert len(occurrences) == 6 and len(moved) == 1
    assert moved[0].start == local_to_utc(new_local, series.tz)
    assert moved[0].duration_minutes == 90
    assert second.start not in {o.start for o in occurrences}
    assert series.sequence == 1


def test_move_rejects_non_occurrences_and_past_times(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students))
    first = services.next_occurrences(series, 1)[0]
    with pytest.raises(ValidationError):
        services.move_occurrence(school.teacher, series, first.original_start_local +
                                 timedelta(hours=1), first.original_start_local)
    with pytest.raises(ValidationError):
        services.move_occurrence(school.teacher, series, first.original_start_local,
                                 datetime(2020, 1, 1, 10, 0))


def test_cancel_one_occurrence_keeps_it_visible_as_cancelled(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students))
    third = services.next_occurrences(series, 3)[2]
    services.cancel_occurrence(school.teacher, series, third.original_start_local, "trip")
    occurrences = services.next_occurrences(series, 10)
    assert [o.cancelled for o in occurrences] == [False, False, True, False, False, False]
    student_view = services.visible_occurrences(school.students[0], third.start,
                                                third.start + timedelta(minutes=1))
    assert len(student_view) == 1 and student_view[0].cancelled


def test_cancel_series_marks_every_occurrence(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students))
    services.cancel_series(school.teacher, series, "course ended")
    assert series.status == SessionStatus.CANCELLED and series.cancel_reason == "course ended"
    assert all(o.cancelled for o in services.next_occurrences(series, 10))
    with pytest.raises(ValidationError):
        services.update_series(school.teacher, series, weekly_input(school.students))


def test_update_series_bumps_sequence_and_drops_orphaned_overrides(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students))
    thursday = services.next_occurrences(series, 2)[1]
    services.cancel_occurrence(school.teacher, series, thursday.original_start_local)
    # Now only Mondays at 17:00: the Thursday override names no occurrence any more.
    services.update_series(school.teacher, series, weekly_input(
        school.students, weekdays=["MO"], start_time=time(17, 0), title="Algebra (new time)"))
    assert series.sequence == 2 and series.overrides == []
    occurrences = services.next_occurrences(series, 10)
    assert {o.start.astimezone(series.tz).strftime("%a %H:%M") for o in occurrences} == \
        {"Mon 17:00"}
    # Editing only the title is not a change of time: SEQUENCE stays.
    services.update_series(school.teacher, series, weekly_input(
        school.students, weekdays=["MO"], start_time=time(17, 0), title="Algebra 2"))
    assert series.sequence == 2 and series.title == "Algebra 2"


def test_split_this_and_following(school):
    series = services.schedule_session(school.teacher, weekly_input(school.students, count=8))
    occurrences = services.next_occurrences(series, 8)
    services.cancel_occurrence(school.teacher, series, occurrences[6].original_start_local)
    split_at = occurrences[4]
    new = services.split_series(school.teacher, series, split_at.original_start_local,
                                weekly_input(school.students, title="Algebra, later",
                                             date=split_at.original_start_local.date(),
                                             ends="count", count=None))
    assert new.ical_uid != series.ical_uid and new.split_from_id == series.id
    assert series.count == 4 and new.count == 4 and series.sequence == 2
    assert len(services.next_occurrences(series, 10)) == 4
    new_occurrences = services.next_occurrences(new, 10)
    assert [o.cancelled for o in new_occurrences] == [False, False, True, False]
    assert new_occurrences[0].start == split_at.start
    assert {p.user_id for p in new.participants} == {p.user_id for p in series.participants}


def test_participants_added_and_removed(school, make):
    extra = make.user(school.center, Role.STUDENT, name="Nia New")
    school.course.enrollments  # noqa: B018 (loaded)
    from app.accounts.models import CourseRole, Enrollment
    db.session.add(Enrollment(center_id=school.center.id, course_id=school.course.id,
                              user_id=extra.id, role=CourseRole.STUDENT))
    db.session.commit()
    series = services.schedule_session(school.teacher, weekly_input(school.students[:1]))
    added = services.add_participants(school.teacher, series, [extra.id, school.students[0].id])
    assert [u.id for u in added] == [extra.id]
    with pytest.raises(ValidationError):
        services.add_participants(school.teacher, series, [school.outsider.id])
    services.remove_participant(school.teacher, series, extra.id)
    assert extra.id not in {p.user_id for p in series.participants}
    with pytest.raises(ValidationError):
        services.remove_participant(school.teacher, series, school.teacher.id)
    actions = set(db.session.scalars(select(AuditLog.action)))
    assert {"session.participants_added", "session.participant_removed"} <= actions


def test_only_the_teacher_or_an_admin_manages_a_session(school, make):
    series = services.schedule_session(school.teacher, weekly_input(school.students))
    other_teacher = make.user(school.center, Role.TEACHER)
    first = services.next_occurrences(series, 1)[0]
    for outsider in (other_teacher, school.students[0]):
        with pytest.raises(PermissionDenied):
            services.cancel_occurrence(outsider, series, first.original_start_local)
        with pytest.raises(PermissionDenied):
            services.cancel_series(outsider, series)
    foreign_admin = make.user(make.center(), Role.ADMIN)
    with pytest.raises(PermissionDenied):
        services.cancel_series(foreign_admin, series)
    services.cancel_occurrence(school.admin, series, first.original_start_local)


def test_visibility_by_role(school, make):
    series = services.schedule_session(school.teacher, weekly_input(school.students[:1]))
    other_teacher = make.user(school.center, Role.TEACHER)
    foreign_admin = make.user(make.center(), Role.ADMIN)
    assert services.can_view_session(school.teacher, series)
    assert services.can_view_session(school.students[0], series)
    assert services.can_view_session(school.admin, series)
    assert not services.can_view_session(school.students[1], series)
    assert not services.can_view_session(other_teacher, series)
    assert not services.can_view_session(foreign_admin, series)
    window = (utcnow(), utcnow() + timedelta(days=60))
    assert len(services.visible_occurrences(school.students[0], *window)) == 6
    assert services.visible_occurrences(school.students[1], *window) == []
    assert services.visible_occurrences(foreign_admin, *window) == []
    assert len(services.visible_occurrences(school.admin, *window)) == 6


def test_status_transitions(school):
    session = services.schedule_session(school.teacher, weekly_input(school.students,
                                                                    frequency="NONE"))
    with pytest.raises(ValidationError):
        services.set_status(school.teacher, session, SessionStatus.COMPLETED)
    services.set_status(school.teacher, session, SessionStatus.LIVE)
    with pytest.raises(ValidationError):
        services.set_status(school.teacher, session, SessionStatus.CANCELLED)
    services.set_status(school.teacher, session, SessionStatus.COMPLETED)
    assert session.status == SessionStatus.COMPLETED


def test_new_york_student_sees_converted_times_across_dst(school):
    # 16:00 London every Monday from mid-October to mid-November 2027 (future, so schedulable):
    # London leaves summer time on Oct 31 2027, New York on Nov 7 2027.
    data = weekly_input(school.students, date=date(2027, 10, 18), weekdays=["MO"], count=4)
    series = services.schedule_session(school.teacher, data)
    ny = school.students[1].tz
    occurrences = services.visible_occurrences(
        school.students[1], datetime(2027, 10, 1, tzinfo=timezone.utc),
        datetime(2027, 12, 1, tzinfo=timezone.utc))
    assert [o.start.astimezone(series.tz).strftime("%d %H:%M") for o in occurrences] == \
        ["18 16:00", "25 16:00", "01 16:00", "08 16:00"]
    assert [o.start.astimezone(ny).strftime("%d %H:%M") for o in occurrences] == \
        ["18 11:00", "25 11:00", "01 12:00", "08 11:00"]


def test_whole_group_adds_its_students(school, make):
    from app.chat import services as chat

    group = chat.create_group(school.teacher, "Exam group", "", [school.students[1].id])
    data = weekly_input([school.students[0]], group_id=group.id, frequency="NONE")
    session = services.schedule_session(school.teacher, data)
    learners = {p.user_id for p in session.participants if p.role == ParticipantRole.LEARNER}
    assert learners == {s.id for s in school.students}

    other_teacher = make.user(school.center, Role.TEACHER)
    foreign_group = chat.create_group(school.teacher, "Not theirs", "", [school.students[0].id])
    with pytest.raises(ValidationError) as caught:
        services.schedule_session(other_teacher, weekly_input([], group_id=foreign_group.id,
                                                              frequency="NONE"))
    assert "participant_ids" in caught.value.errors


def test_a_tutoring_session_has_one_to_five_students(school, make):
    """Tutoring (the Tutor Control Center's star call) is one tutor watching each student at
    once: six are refused with a clear message, the form's choices offer it."""
    from app.accounts.models import Role
    from app.accounts.services import ValidationError
    from app.scheduling.forms import TYPE_CHOICES

    assert ("TUTORING", "Tutoring") in TYPE_CHOICES
    six = [make.user(school.center, Role.STUDENT, name=f"Tutee {n}") for n in range(6)]
    make.course(school.center, "Tutoring group", teachers=[school.teacher], students=six)
    with pytest.raises(ValidationError) as refused:
        services.schedule_session(school.teacher, weekly_input(six, type="TUTORING"))
    assert "one to five students" in refused.value.errors["participant_ids"]
    session = services.schedule_session(school.teacher, weekly_input(six[:5], type="TUTORING"))
    assert session.type.label == "Tutoring"
