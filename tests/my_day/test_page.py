"""My Day over HTTP: who may see it, what each section shows (today's occurrences with their
Start/Join, who is expected, attendance to confirm, overdue catch-ups, unread chats), that
nothing of another center or of someone else shows, and where logging in lands."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from app.accounts.models import Role
from app.attendance.models import AttendanceRecord, CatchUp
from app.attendance.rules import AttendanceStatus
from app.chat import services as chat
from app.db_types import utcnow
from app.extensions import db
from app.scheduling.models import Rsvp
from tests.conftest import PASSWORD, csrf_token, login
from tests.live.test_sessions_live import make_session, now_plus


@pytest.fixture
def midday():
    """Today's noon in the teacher's zone (Europe/London), the clock still running: "in five
    minutes", "in two hours" and "fifty minutes ago" are all today, whenever the suite runs
    (a page of today's sessions is not the same page at 23:57)."""
    zone = ZoneInfo("Europe/London")
    noon = datetime.combine(datetime.now(zone).date(), time(12), zone)
    with time_machine.travel(noon, tick=True):
        yield noon


def test_students_are_refused_and_anonymous_people_sent_to_log_in(client, school, as_user):
    assert client.get("/my-day").status_code == 302
    student = as_user(school.students[0])
    assert student.get("/my-day").status_code == 403
    assert student.get("/my-day/sections").status_code == 403
    assert "My Day" not in student.get("/").get_data(as_text=True)


def test_a_teacher_sees_today_in_order_with_start_and_who_is_expected(midday, school, as_user):
    teacher, (sara, ben) = school.teacher, school.students
    later = make_session(school.center, teacher, [sara], start=now_plus(120), title="Later lesson")
    soon = make_session(school.center, teacher, [sara, ben], start=now_plus(5), title="Soon lesson")
    soon.participants[1].rsvp = Rsvp.ACCEPTED
    db.session.commit()
    html = as_user(teacher).get("/my-day").get_data(as_text=True)
    assert html.index("Soon lesson") < html.index("Later lesson")
    assert "data-session-start" in html  # the Join window of "Soon lesson" is open: Start
    assert f"/sessions/{soon.id}/control-center" in html
    assert "Sara Student" in html and "Ben Student" in html and "coming" in html
    assert "Times in Europe/London" in html
    assert later.id and "My Day" in html


def test_nothing_of_another_center_or_another_teacher_shows(midday, school, make, as_user):
    other_center = make.center("Elsewhere")
    stranger = make.user(other_center, Role.TEACHER, name="Stranger Teacher")
    pupil = make.user(other_center, Role.STUDENT, name="Pupil Elsewhere")
    make_session(other_center, stranger, [pupil], start=now_plus(5), title="Foreign lesson")
    colleague = make.user(school.center, Role.TEACHER, name="Colleague")
    make_session(school.center, colleague, [school.students[0]], start=now_plus(5),
                 title="Colleague lesson")
    html = as_user(school.teacher).get("/my-day").get_data(as_text=True)
    assert "Foreign lesson" not in html and "Colleague lesson" not in html
    assert "Pupil Elsewhere" not in html


def test_attendance_to_confirm_and_overdue_catch_ups(midday, school, make, as_user):
    teacher, (sara, ben) = school.teacher, school.students
    # Added well before the occurrence: both expected.
    session = make_session(school.center, teacher, [sara, ben], start=now_plus(-50), minutes=30,
                           title="Morning lesson")
    for p in session.participants:
        p.created_at = utcnow() - timedelta(days=2)
    start = session.first_start_utc
    db.session.add(AttendanceRecord(center_id=school.center.id, session_id=session.id,
                                    occurrence_start=start, user_id=sara.id,
                                    manual_status=AttendanceStatus.PRESENT))
    db.session.add(CatchUp(center_id=school.center.id, session_id=session.id,
                           occurrence_start=start - timedelta(days=9), user_id=ben.id,
                           due_at=utcnow() - timedelta(days=1)))
    db.session.add(CatchUp(center_id=school.center.id, session_id=session.id,
                           occurrence_start=start - timedelta(days=8), user_id=sara.id,
                           due_at=utcnow() - timedelta(days=1), done_at=utcnow()))
    db.session.commit()
    html = as_user(teacher).get("/my-day").get_data(as_text=True)
    confirm = html.split('id="my-day-confirm"', 1)[1].split("</section>", 1)[0]
    assert "1 without a status: Ben Student" in confirm
    key = session.start_local.isoformat()
    assert f"/sessions/{session.id}/occurrences/{key}/attendance" in confirm
    overdue = html.split('id="my-day-catch-ups"', 1)[1].split("</section>", 1)[0]
    assert "Ben Student" in overdue and "Sara Student" not in overdue  # done: not overdue
    assert "/catch-ups/" in overdue


def test_unread_chats_show_and_leave_once_read(school, as_user):
    teacher, sara = school.teacher, school.students[0]
    thread = chat.get_or_create_direct(sara, teacher)
    chat.post_message(sara, thread, "Can we move Friday?")
    db.session.commit()
    browser = as_user(teacher)
    chats = browser.get("/my-day/sections?only=chats").get_data(as_text=True)
    assert "Can we move Friday?" in chats and 'hx-swap-oob="true"' in chats
    chat.mark_read(teacher, thread)
    db.session.commit()
    assert "Can we move Friday?" not in browser.get("/my-day/sections?only=chats").get_data(
        as_text=True)


def test_unknown_sections_are_404(school, as_user):
    browser = as_user(school.teacher)
    assert browser.get("/my-day/sections?only=today,nonsense").status_code == 404
    assert browser.get("/my-day/sections?only=today").status_code == 200


def test_a_teacher_lands_on_my_day_and_next_still_wins(client, school, new_client):
    response = login(client, school.teacher)
    assert response.location == "/my-day"
    other = new_client()
    token = csrf_token(other, "/login")
    response = other.post("/login?next=%2Fstudents", data={"email": school.teacher.email,
                                                           "password": PASSWORD,
                                                           "csrf_token": token})
    assert response.location == "/students"
    # Opening the site's address sends to /login?next=/: that is no page asked for.
    third = new_client()
    assert third.get("/").location.endswith("/login?next=/")
    response = third.post("/login?next=%2F", data={"email": school.teacher.email,
                                                   "password": PASSWORD,
                                                   "csrf_token": csrf_token(third, "/login")})
    assert response.location == "/my-day"
    # The dashboard is still there.
    assert "Hello, Terry" in client.get("/").get_data(as_text=True)


def test_students_and_admins_who_do_not_teach_keep_the_dashboard(school, new_client, make):
    assert login(new_client(), school.students[0]).location == "/"
    assert login(new_client(), school.admin).location == "/"
    # An admin who organizes a session teaches: My Day.
    make_session(school.center, school.admin, [school.students[0]], start=now_plus(60))
    assert login(new_client(), school.admin).location == "/my-day"
