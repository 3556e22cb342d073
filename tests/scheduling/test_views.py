"""The sessions calendar and scheduling pages over HTTP: permissions, the scheduling dialog's
answers (422 keeps what was typed, conflicts, "anyway"), occurrence actions, the three calendar
views in the viewer's time zone, and a flat query count."""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.models import Role
from app.db_types import utcnow
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import (Frequency, ParticipantRole, SessionOverride,
                                   SessionParticipant, SessionStatus, SessionType, VideoSession)
from tests.conftest import login, post

HTMX = {"HX-Request": "true", "HX-Target": "dialog-body"}


def winter_monday(weeks_ahead: int = 0) -> date:
    """A Monday in next January: always ahead, and London is on GMT, New York on EST."""
    day = date(utcnow().year + 1, 1, 4)
    return day - timedelta(days=day.weekday()) + timedelta(weeks=weeks_ahead)


def make_session(teacher, students, start_local: datetime, *, title="Algebra",
                 tz="Europe/London", minutes=60, weekly_on="", count=None,
                 commit=True) -> VideoSession:
    """A session inserted directly (fast, no conflict checks), bounds kept by the service."""
    session = VideoSession(center_id=teacher.center_id, teacher_id=teacher.id, title=title,
                           description="", type=SessionType.CLASS,
                           status=SessionStatus.SCHEDULED, timezone=tz, start_local=start_local,
                           duration_minutes=minutes,
                           frequency=Frequency.WEEKLY if weekly_on else Frequency.NONE,
                           by_weekday=weekly_on, count=count)
    session.participants = [SessionParticipant(center_id=teacher.center_id, user_id=teacher.id,
                                               role=ParticipantRole.INSTRUCTOR)]
    session.participants += [SessionParticipant(center_id=teacher.center_id, user_id=s.id,
                                                role=ParticipantRole.LEARNER) for s in students]
    services.refresh_bounds(session)
    db.session.add(session)
    if commit:
        db.session.commit()
    return session


def form(school, **overrides) -> dict:
    data = {"title": "Quadratics", "description": "Bring a calculator", "type": "CLASS",
            "participant_ids": [str(s.id) for s in school.students], "course_id": "",
            "date": winter_monday(1).isoformat(), "start_time": "16:00",
            "timezone": "Europe/London", "duration_minutes": "60", "frequency": "NONE",
            "ends": "count", "count": "10", "until_date": ""}
    data.update(overrides)
    return data


def session_count() -> int:
    return db.session.scalar(select(func.count()).select_from(VideoSession))


def html(response) -> str:
    return response.get_data(as_text=True)


def fresh(session: VideoSession) -> VideoSession:
    db.session.expire_all()
    return db.session.get(VideoSession, session.id)


@pytest.fixture
def other_center(make):
    center = make.center("Elsewhere")
    teacher = make.user(center, Role.TEACHER, name="Zed Teacher")
    student = make.user(center, Role.STUDENT, name="Zoe Student")
    make.course(center, "Zed Course", teachers=[teacher], students=[student])
    start = datetime.combine(winter_monday(1), datetime.min.time()).replace(hour=9)
    session = make_session(teacher, [student], start, title="Zed secret session")
    return type("Other", (), dict(center=center, teacher=teacher, student=student,
                                  session=session))


# --- permissions ---------------------------------------------------------------------------------

def test_student_cannot_open_the_form_nor_schedule(client, school):
    login(client, school.students[0])
    assert client.get("/sessions/new").status_code == 403
    response = post(client, "/sessions", form(school))
    assert response.status_code == 403
    assert session_count() == 0


def test_session_page_is_404_for_people_outside_it(client, new_client, school):
    monday = winter_monday(1)
    session = make_session(school.teacher, [school.students[0]],
                           datetime.combine(monday, datetime.min.time()).replace(hour=16))
    login(client, school.students[1])  # enrolled with the teacher, but not in this session
    response = client.get(f"/sessions/{session.id}")
    assert response.status_code == 404
    assert "Algebra" not in html(response)
    for path in ("/sessions/999999", "/sessions/abc", "/sessions/99999999999999"):
        assert client.get(path).status_code == 404

    client2 = new_client()
    login(client2, school.students[0])
    page = client2.get(f"/sessions/{session.id}")
    assert page.status_code == 200 and "Algebra" in html(page)
    # A participant who does not manage the session gets 403 on every change.
    original = f"{monday.isoformat()}T16:00:00"
    for path, data in [(f"/sessions/{session.id}/cancel", {}),
                       (f"/sessions/{session.id}/edit", form(school)),
                       (f"/sessions/{session.id}/occurrences/{original}/move",
                        {"date": monday.isoformat(), "start_time": "17:00"}),
                       (f"/sessions/{session.id}/occurrences/{original}/cancel", {}),
                       (f"/sessions/{session.id}/participants",
                        {"user_ids": [str(school.students[1].id)]}),
                       (f"/sessions/{session.id}/participants/{school.teacher.id}/remove", {})]:
        assert post(client2, path, data).status_code == 403, path
    assert client2.get(f"/sessions/{session.id}/edit").status_code == 403
    assert fresh(session).status == SessionStatus.SCHEDULED
    assert not fresh(session).overrides


def test_another_centers_session_is_404_even_for_an_admin(client, school, other_center):
    login(client, school.admin)
    sid = other_center.session.id
    assert client.get(f"/sessions/{sid}").status_code == 404
    assert post(client, f"/sessions/{sid}/cancel", {}).status_code == 404
    assert client.get(f"/sessions/{sid}/edit").status_code == 404
    assert "Zed secret session" not in html(client.get(
        f"/calendar?view=agenda&date={winter_monday(1).isoformat()}"))
    assert fresh(other_center.session).status == SessionStatus.SCHEDULED


def test_junk_occurrence_names_are_404_never_500(client, school):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, datetime.min.time()).replace(hour=16),
                           weekly_on="MO", count=4)
    login(client, school.teacher)
    base = f"/sessions/{session.id}/occurrences"
    for junk in ("garbage", "2026-13-45T99:00:00", f"{monday.isoformat()}T17:00:00",
                 f"{monday.isoformat()}T16:00:00+05:00", "9999-12-31T23:59:00",
                 "0001-01-01T00:00:00", (monday + timedelta(weeks=9)).isoformat() + "T16:00:00",
                 "x" * 200):
        for action in ("move", "cancel", "split"):
            assert client.get(f"{base}/{junk}/{action}").status_code == 404, (junk, action)
            assert post(client, f"{base}/{junk}/{action}", {}).status_code == 404
    assert client.get(f"{base}/{monday.isoformat()}T16:00:00/move").status_code == 200


# --- scheduling ----------------------------------------------------------------------------------

def test_teacher_schedules_a_weekly_session(client, school):
    login(client, school.teacher)
    page = client.get(f"/sessions/new?date={winter_monday(1).isoformat()}&time=16:30")
    assert page.status_code == 200
    assert 'value="16:30"' in html(page) and "Sara Student" in html(page)
    assert "<dialog" not in html(page) or "Schedule a session" in html(page)

    response = post(client, "/sessions", form(school, frequency="WEEKLY",
                                               weekdays=["MO", "TH"], count="6"))
    assert response.status_code == 302
    session = db.session.scalar(select(VideoSession))
    assert response.headers["Location"].endswith(f"/sessions/{session.id}")
    assert (session.title, session.frequency, session.by_weekday, session.count) == \
        ("Quadratics", Frequency.WEEKLY, "MO,TH", 6)
    assert {p.user_id for p in session.participants} == \
        {school.teacher.id} | {s.id for s in school.students}
    page = html(client.get(response.headers["Location"]))
    assert "Quadratics" in page and "was scheduled" in page
    assert "Every week on Monday and Thursday" in page


def test_scheduling_from_the_dialog_refreshes_the_calendar(client, school):
    login(client, school.teacher)
    fragment = client.get(f"/sessions/new?date={winter_monday(1).isoformat()}", headers=HTMX)
    assert fragment.status_code == 200
    body = html(fragment)
    assert "<html" not in body and 'hx-post="/sessions"' in body and 'id="dialog-title"' in body

    response = post(client, "/sessions", form(school), headers=HTMX)
    assert response.status_code == 200
    assert json.loads(response.headers["HX-Trigger"]).keys() == {"sessions-changed"}
    assert 'hx-swap-oob="afterbegin:#flashes"' in html(response)
    assert "“Quadratics” was scheduled." in html(response)
    assert session_count() == 1
    # The calendar region listens for that event and reloads itself.
    calendar = html(client.get(f"/calendar?view=week&date={winter_monday(1).isoformat()}"))
    assert 'hx-trigger="sessions-changed from:body"' in calendar
    assert "Quadratics" in calendar


def test_a_weekly_start_on_a_day_not_ticked_is_refused_in_the_dialog(client, school):
    # Monday picked, only Wednesday ticked: a clear 422 by the weekdays (nothing saved), not a
    # series that silently begins two days later.
    login(client, school.teacher)
    monday = winter_monday(1)
    response = post(client, "/sessions", form(school, frequency="WEEKLY", weekdays=["WE"],
                                               date=monday.isoformat()), headers=HTMX)
    assert response.status_code == 422
    page = html(response)
    assert (f"The first session is on the date picked, Monday {monday:%-d %b}, but Monday is "
            "not ticked.") in page
    assert 'id="f-weekdays-error"' in page and re.search(r'value="WE" checked', page)
    assert session_count() == 0
    # The dialog opened on a day ticks that day.
    dialog = html(client.get(f"/sessions/new?date={monday.isoformat()}", headers=HTMX))
    assert re.search(r'value="MO" checked', dialog)
    assert not re.search(r'value="(TU|WE|TH|FR|SA|SU)" checked', dialog)


def test_invalid_input_is_422_and_keeps_everything_typed(client, school):
    login(client, school.teacher)
    data = form(school, title="My typed title", date="", duration_minutes="999",
                frequency="WEEKLY", weekdays=["TU", "FR"], count="0",
                participant_ids=[str(school.students[1].id)], description="Typed notes")
    for headers in ({}, HTMX):
        response = post(client, "/sessions", data, headers=headers)
        assert response.status_code == 422
        page = html(response)
        assert 'value="My typed title"' in page and "Typed notes" in page
        assert "Pick a date." in page
        assert "Between 5 minutes and 8 hours." in page
        assert "Between 1 and 500 occurrences." in page
        assert re.search(rf'value="{school.students[1].id}" checked', page)
        assert not re.search(rf'value="{school.students[0].id}" checked', page)
        assert re.search(r'value="TU" checked', page) and re.search(r'value="FR" checked', page)
        assert not re.search(r'value="MO" checked', page)
        assert re.search(r'value="WEEKLY" checked', page)
        assert 'aria-invalid="true"' in page
    assert session_count() == 0


def test_junk_values_are_a_422_not_a_500(client, school):
    login(client, school.teacher)
    response = post(client, "/sessions", form(
        school, date="not-a-date", start_time="25:99", duration_minutes="lots",
        participant_ids=["abc", "99999999999999"], course_id="zzz", timezone="Mars/Base",
        type="PARTY", frequency="HOURLY"))
    assert response.status_code == 422
    page = html(response)
    for message in ("Pick a date.", "Pick a start time.", "Pick a time zone from the list.",
                    "Pick class, one-on-one or group meeting.", "Pick how it repeats."):
        assert message in page
    assert session_count() == 0


def test_whole_course_adds_its_students(client, school):
    login(client, school.teacher)
    response = post(client, "/sessions", form(school, participant_ids=[],
                                               course_id=str(school.course.id)))
    assert response.status_code == 302
    session = db.session.scalar(select(VideoSession))
    assert {p.user_id for p in session.participants if p.role == ParticipantRole.LEARNER} == \
        {s.id for s in school.students}


def test_conflicts_are_listed_then_scheduled_anyway(client, school, make):
    other_teacher = make.user(school.center, Role.TEACHER, name="Paula Physics")
    make.course(school.center, "Physics", teachers=[other_teacher], students=[school.students[1]])
    monday = winter_monday(1)
    make_session(other_teacher, [school.students[1]],
                 datetime.combine(monday, datetime.min.time()).replace(hour=16, minute=30),
                 title="Physics lab")
    login(client, school.teacher)  # London: sees 16:30 GMT
    response = post(client, "/sessions", form(school), headers=HTMX)
    assert response.status_code == 422
    page = html(response)
    assert "Already booked at that time" in page
    assert "Ben Student" in page and "Physics lab" in page
    assert f"{monday:%a} {monday.day} {monday:%b %Y}, 16:30 GMT" in page
    assert 'name="allow_conflicts" value="1"' in page
    assert 'value="Quadratics"' in page
    assert session_count() == 1

    response = post(client, "/sessions", form(school, allow_conflicts="1"), headers=HTMX)
    assert response.status_code == 200
    assert session_count() == 2


def test_conflict_times_are_in_the_viewers_zone(client, school, make):
    """A teacher in New York sees the other booking at 11:30 EST, not 16:30 GMT."""
    teacher = make.user(school.center, Role.TEACHER, name="Nina NY", timezone="America/New_York")
    make.course(school.center, "NY course", teachers=[teacher], students=[school.students[1]])
    monday = winter_monday(1)
    make_session(school.teacher, [school.students[1]],
                 datetime.combine(monday, datetime.min.time()).replace(hour=16, minute=30),
                 title="London lesson")
    login(client, teacher)
    response = post(client, "/sessions", form(
        school, participant_ids=[str(school.students[1].id)], timezone="America/New_York",
        start_time="11:00"))
    assert response.status_code == 422
    assert f"{monday.day} {monday:%b %Y}, 11:30 EST" in html(response)


# --- occurrence and series actions ---------------------------------------------------------------

def test_move_and_cancel_an_occurrence_then_cancel_the_series(client, school):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, datetime.min.time()).replace(hour=16),
                           weekly_on="MO", count=6)
    login(client, school.teacher)
    first = f"{monday.isoformat()}T16:00:00"
    second = f"{(monday + timedelta(weeks=1)).isoformat()}T16:00:00"

    form_page = client.get(f"/sessions/{session.id}/occurrences/{first}/move", headers=HTMX)
    assert form_page.status_code == 200 and 'value="16:00"' in html(form_page)
    response = post(client, f"/sessions/{session.id}/occurrences/{first}/move",
                    {"date": (monday + timedelta(days=1)).isoformat(), "start_time": "17:30",
                     "duration_minutes": "90", "reason": "Room change"}, headers=HTMX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == f"/sessions/{session.id}"
    override = db.session.scalar(select(SessionOverride))
    assert override.new_start_local == datetime.combine(monday + timedelta(days=1),
                                                        datetime.min.time()).replace(hour=17,
                                                                                     minute=30)
    assert override.new_duration_minutes == 90

    # Bad input on the move form: 422 with what was typed.
    response = post(client, f"/sessions/{session.id}/occurrences/{second}/move",
                    {"date": "", "start_time": "09:15", "duration_minutes": "2",
                     "reason": "typed reason"})
    assert response.status_code == 422
    assert "Pick a date." in html(response) and 'value="09:15"' in html(response)
    assert "typed reason" in html(response)

    response = post(client, f"/sessions/{session.id}/occurrences/{second}/cancel",
                    {"reason": "Bank holiday"})
    assert response.status_code == 302
    cancelled = db.session.scalar(select(SessionOverride).where(
        SessionOverride.original_start_local == datetime.fromisoformat(second)))
    assert cancelled.cancelled and cancelled.reason == "Bank holiday"

    page = html(client.get(f"/sessions/{session.id}"))
    # The reasons given are shown to participants, as the forms promise.
    assert "Moved: Room change" in page and "Cancelled: Bank holiday" in page
    assert f"{monday + timedelta(days=1):%a} {(monday + timedelta(days=1)).day}" in page

    response = post(client, f"/sessions/{session.id}/cancel", {"reason": "Course ended"})
    assert response.status_code == 302
    assert fresh(session).status == SessionStatus.CANCELLED
    assert fresh(session).cancel_reason == "Course ended"
    page = html(client.get(f"/sessions/{session.id}"))
    assert "Course ended" in page and "Move / change duration" not in page


def test_move_conflict_then_move_anyway(client, school):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, datetime.min.time()).replace(hour=16),
                           weekly_on="MO", count=4)
    make_session(school.teacher, [school.students[0]],
                 datetime.combine(monday, datetime.min.time()).replace(hour=10),
                 title="Morning tutorial")
    login(client, school.teacher)
    path = f"/sessions/{session.id}/occurrences/{monday.isoformat()}T16:00:00/move"
    data = {"date": monday.isoformat(), "start_time": "10:00", "duration_minutes": "60"}
    response = post(client, path, data, headers=HTMX)
    assert response.status_code == 422 and "Morning tutorial" in html(response)
    assert not fresh(session).overrides
    response = post(client, path, dict(data, allow_conflicts="1"), headers=HTMX)
    assert response.status_code == 200 and len(fresh(session).overrides) == 1


def test_edit_series_and_edit_this_and_following(client, school):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, datetime.min.time()).replace(hour=16),
                           weekly_on="MO", count=6)
    login(client, school.teacher)
    edit = client.get(f"/sessions/{session.id}/edit")
    assert edit.status_code == 200
    assert 'value="Algebra"' in html(edit) and re.search(r'value="MO" checked', html(edit))

    data = form(school, title="Algebra II", date=monday.isoformat(), frequency="WEEKLY",
                weekdays=["MO"], count="6", start_time="15:00")
    response = post(client, f"/sessions/{session.id}/edit", data)
    assert response.status_code == 302
    assert fresh(session).title == "Algebra II"
    assert fresh(session).start_local.hour == 15

    third = monday + timedelta(weeks=2)
    split_path = f"/sessions/{session.id}/occurrences/{third.isoformat()}T15:00:00/split"
    page = client.get(split_path)
    assert page.status_code == 200 and f'value="{third.isoformat()}"' in html(page)
    response = post(client, split_path, form(
        school, title="Algebra III", date=third.isoformat(), frequency="WEEKLY",
        weekdays=["MO"], count="", start_time="17:00"))
    assert response.status_code == 302
    new = db.session.scalar(select(VideoSession).where(VideoSession.split_from_id == session.id))
    assert response.headers["Location"].endswith(f"/sessions/{new.id}")
    assert (new.title, new.count, new.start_local.hour) == ("Algebra III", 4, 17)
    assert fresh(session).count == 2


def test_participants_are_added_and_removed(client, school, make):
    extra = make.user(school.center, Role.STUDENT, name="Xavier Extra")
    make.course(school.center, "More", teachers=[school.teacher], students=[extra])
    session = make_session(school.teacher, [school.students[0]],
                           datetime.combine(winter_monday(1), datetime.min.time()).replace(hour=9))
    login(client, school.teacher)
    page = html(client.get(f"/sessions/{session.id}"))
    assert "Xavier Extra" in page and "Olga Outside" not in page  # not enrolled with the teacher
    response = post(client, f"/sessions/{session.id}/participants",
                    {"user_ids": [str(extra.id), str(school.students[1].id)]})
    assert response.status_code == 302
    assert {p.user_id for p in fresh(session).participants} == {
        school.teacher.id, school.students[0].id, school.students[1].id, extra.id}
    response = post(client, f"/sessions/{session.id}/participants",
                    {"user_ids": [str(school.outsider.id)]})
    assert response.status_code == 422
    assert "Pick students enrolled in your courses." in html(response)
    response = post(client, f"/sessions/{session.id}/participants/{extra.id}/remove", {})
    assert response.status_code == 302
    assert extra.id not in {p.user_id for p in fresh(session).participants}
    response = post(client, f"/sessions/{session.id}/participants/{school.teacher.id}/remove", {})
    assert response.status_code == 422 and "The teacher cannot be removed." in html(response)


# --- the calendar --------------------------------------------------------------------------------

def test_views_show_times_in_the_viewers_zone(client, new_client, school):
    """16:00 in London in January is 11:00 in New York (Ben Student's zone)."""
    monday = winter_monday(1)
    wednesday = monday + timedelta(days=2)
    make_session(school.teacher, school.students,
                 datetime.combine(wednesday, datetime.min.time()).replace(hour=16),
                 title="Geometry")
    login(client, school.students[1])
    for view in ("month", "week", "agenda"):
        response = client.get(f"/calendar?view={view}&date={monday.isoformat()}")
        assert response.status_code == 200, view
        page = html(response)
        assert "Geometry" in page, view
        if view == "agenda":
            assert "11:00–12:00" in page and "16:00–" not in page
        else:
            assert '<span class="ev-time">11:00' in page, view
            assert '<span class="ev-time">16:00' not in page, view
        assert "Times are in <strong>America/New York</strong>" in page, view
    week = html(client.get(f"/calendar?view=week&date={monday.isoformat()}"))
    assert re.search(r"11:00(<[^>]+>)*–12:00", week)
    assert "Terry Teacher" in week and "2 participants" in week
    assert "60 min" in week

    other = new_client()
    login(other, school.teacher)
    page = html(other.get(f"/calendar?view=agenda&date={monday.isoformat()}"))
    assert "16:00–17:00" in page and "Europe/London" in page


def test_views_mark_moved_and_cancelled_occurrences(client, school):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, datetime.min.time()).replace(hour=16),
                           weekly_on="MO", count=3)
    services.move_occurrence(school.teacher, session, session.start_local,
                             session.start_local.replace(hour=18))
    services.cancel_occurrence(school.teacher, session, session.start_local + timedelta(weeks=1))
    login(client, school.students[0])
    page = html(client.get(f"/calendar?view=agenda&date={monday.isoformat()}"))
    assert page.count("<li class=\"ag-item") == 3
    assert "is-moved" in page and "Moved" in page
    assert "is-cancelled" in page and "Cancelled" in page
    assert "18:00–19:00" in page


def test_month_grid_and_more_link(client, school):
    monday = winter_monday(1)
    for hour in (8, 9, 10, 11, 12):
        make_session(school.teacher, [school.students[0]],
                     datetime.combine(monday, datetime.min.time()).replace(hour=hour),
                     title=f"Lesson {hour}")
    login(client, school.teacher)
    page = html(client.get(f"/calendar?view=month&date={monday.isoformat()}"))
    assert page.count('<td class="m-day') == 42
    assert "Lesson 8" in page and "Lesson 10" in page and "Lesson 11" not in page
    assert "+2" in page and f"view=agenda&amp;date={monday.isoformat()}" in page
    assert "Schedule a session on" in page  # teachers can click a day


def test_navigation_is_htmx_with_pushed_urls_and_full_pages_for_direct_gets(client, school):
    login(client, school.students[0])
    monday = winter_monday(1)
    full = html(client.get(f"/calendar?view=week&date={monday.isoformat()}"))
    assert "<html" in full and 'id="calendar"' in full
    assert "Schedule session" not in full and "wk-slot" not in full  # students do not schedule
    nxt = (monday + timedelta(days=7)).isoformat()
    assert f'hx-get="/calendar?view=week&amp;date={nxt}"' in full
    assert 'hx-push-url="true"' in full
    fragment = client.get(f"/calendar?view=week&date={nxt}",
                          headers={"HX-Request": "true", "HX-Target": "calendar"})
    assert fragment.status_code == 200
    body = html(fragment)
    assert "<html" not in body and body.lstrip().startswith('<section id="calendar"')
    # Back button: htmx asks for the full page of the URL it restores.
    restore = client.get(f"/calendar?view=week&date={monday.isoformat()}",
                         headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in html(restore)


def test_bad_calendar_input(client, school):
    login(client, school.teacher)
    assert client.get("/calendar?date=nonsense").status_code == 400
    assert client.get("/calendar?date=9999-01-01").status_code == 400
    assert client.get("/calendar?view=bogus").status_code == 200  # falls back to the month
    assert client.get("/sessions/new?date=junk&time=99:99").status_code == 200


def test_dashboard_lists_upcoming_sessions(client, school):
    start = (utcnow() + timedelta(days=2)).astimezone(school.students[1].tz)
    make_session(school.teacher, school.students,
                 start.astimezone(school.center.tz).replace(tzinfo=None, second=0,
                                                             microsecond=0),
                 title="Soon session")
    login(client, school.students[1])
    page = html(client.get("/"))
    assert "Upcoming sessions" in page and "Soon session" in page
    assert f"{start:%H:%M} E" in page  # EST/EDT: the student's zone


def test_month_query_count_is_flat(client, school, count_queries):
    monday = winter_monday(1)
    first = monday.replace(day=1) if monday.day > 7 else monday
    teacher, student = school.teacher, school.students[0]

    def add_sessions(n: int, offset: int):
        for i in range(n):
            day = first + timedelta(days=(offset + i) % 28)
            start = datetime.combine(day, datetime.min.time()).replace(hour=7 + (i % 12))
            weekly = (offset + i) % 3 == 0
            make_session(teacher, [student], start, title=f"S{offset + i}",
                         weekly_on="MO,WE" if weekly else "", count=8 if weekly else None,
                         commit=False)
        db.session.commit()

    add_sessions(3, 0)
    login(client, student)
    url = f"/calendar?view=month&date={first.isoformat()}"

    def measure() -> tuple[int, str]:
        with count_queries() as counter:
            response = client.get(url)
        assert response.status_code == 200
        return counter.count, html(response)

    client.get(url)  # the first visit makes the personal feed's token (once, not per row)
    few, _ = measure()
    add_sessions(297, 3)
    assert db.session.scalar(select(func.count()).select_from(VideoSession).where(
        VideoSession.frequency == Frequency.WEEKLY)) == 100
    many, page = measure()
    assert "more" in page and "Terry Teacher" in page
    assert many == few, (few, many)
    assert many <= 8


def test_overlapping_sessions_share_the_week_day_side_by_side(client, school):
    monday = winter_monday(1)
    at = datetime.combine(monday, datetime.min.time())
    make_session(school.teacher, [school.students[0]], at.replace(hour=10), title="First")
    make_session(school.teacher, [school.students[1]], at.replace(hour=10, minute=30),
                 title="Second")
    make_session(school.teacher, [school.students[1]], at.replace(hour=14), title="Alone")
    login(client, school.teacher)
    page = html(client.get(f"/calendar?view=week&date={monday.isoformat()}"))
    assert 'class="wk-grid lanes-2"' in page
    # 10:00 from a 07:00 grid is quarter-hour row 13; 10:30 is row 15; an hour spans 4 rows.
    assert re.search(r'ev-block rs-13 span-4 lane-1" href="[^"]+"[^>]*>\s*<span class="ev-time">10:00',
                     page)
    assert re.search(r'ev-block rs-15 span-4 lane-2" href="[^"]+"[^>]*>\s*<span class="ev-time">10:30',
                     page)
    assert re.search(r'ev-block rs-29 span-4 lane-0" href="[^"]+"[^>]*>\s*<span class="ev-time">14:00',
                     page)


def test_admin_sees_the_centers_sessions_and_may_manage_but_not_schedule(client, school, make):
    other_teacher = make.user(school.center, Role.TEACHER, name="Paula Physics")
    monday = winter_monday(1)
    session = make_session(other_teacher, [],
                           datetime.combine(monday, datetime.min.time()).replace(hour=12),
                           title="Staff meeting")
    login(client, school.admin)
    assert "Staff meeting" in html(client.get(f"/calendar?view=agenda&date={monday.isoformat()}"))
    assert client.get("/sessions/new").status_code == 403
    page = html(client.get(f"/sessions/{session.id}"))
    assert "Cancel session" in page
    assert post(client, f"/sessions/{session.id}/cancel", {}).status_code == 302
    assert fresh(session).status == SessionStatus.CANCELLED


def test_dashboard_query_count_is_flat(client, school, count_queries):
    start = (utcnow() + timedelta(days=1)).astimezone(school.center.tz).replace(
        tzinfo=None, minute=0, second=0, microsecond=0)
    login(client, school.students[0])

    def measure() -> int:
        with count_queries() as counter:
            assert client.get("/").status_code == 200
        return counter.count

    make_session(school.teacher, school.students, start, title="One")
    few = measure()
    for i in range(30):
        make_session(school.teacher, school.students, start + timedelta(hours=i % 48),
                     title=f"More {i}", weekly_on="MO,TU,WE,TH,FR" if i % 2 else "",
                     count=20 if i % 2 else None, commit=False)
    db.session.commit()
    assert measure() == few
