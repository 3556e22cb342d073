"""Participants answer on the session page too; the teacher sees who comes and who declined."""
from datetime import time, timedelta

from app.db_types import utcnow
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import Rsvp
from tests.conftest import login, post


def _session(school):
    day = utcnow().date() + timedelta(days=10)
    return services.schedule_session(school.teacher, services.SessionInput(
        title="Geometry", participant_ids=[s.id for s in school.students], date=day,
        start_time=time(15, 0), timezone="Europe/London", duration_minutes=45))


def test_answer_on_the_page_and_the_teacher_sees_it(app, school):
    session = _session(school)
    student_client, other_client, teacher_client = (app.test_client() for _ in range(3))
    login(student_client, school.students[0])
    page = student_client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Will you come?" in page and "0 coming" in page
    response = post(student_client, f"/sessions/{session.id}/rsvp", {"answer": "ACCEPTED"})
    assert response.status_code == 302
    login(other_client, school.students[1])
    post(other_client, f"/sessions/{session.id}/rsvp", {"answer": "DECLINED"})
    db.session.expire_all()
    answers = {p.user_id: p.rsvp for p in session.participants}
    assert answers[school.students[0].id] == Rsvp.ACCEPTED
    assert answers[school.students[1].id] == Rsvp.DECLINED

    login(teacher_client, school.teacher)
    page = teacher_client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "1 coming · 1 declined · 0 not answered yet" in page
    assert "Coming" in page and "Declined" in page
    assert "Will you come?" not in page  # the teacher does not answer their own session


def test_only_participants_answer_and_only_yes_or_no(app, school):
    session = _session(school)
    outsider = app.test_client()
    login(outsider, school.outsider)
    assert post(outsider, f"/sessions/{session.id}/rsvp", {"answer": "ACCEPTED"}).status_code == 404
    student = app.test_client()
    login(student, school.students[0])
    assert post(student, f"/sessions/{session.id}/rsvp", {"answer": "MAYBE"}).status_code == 400
    assert post(student, f"/sessions/{session.id}/rsvp", {"answer": "NEEDS_ACTION"}).status_code == 400
    db.session.expire_all()
    assert all(p.rsvp == Rsvp.NEEDS_ACTION for p in session.participants)
