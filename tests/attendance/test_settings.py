"""The center's attendance settings: admins only, validated as typed, audited, and used by the
next computation (a join 3 minutes late is LATE with a 2-minute grace, PRESENT with 5)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.accounts.models import AuditLog
from app.attendance import services
from app.attendance.models import AttendanceRecord
from app.attendance.rules import AttendanceStatus as S
from app.extensions import db
from app.live.models import RunParticipant, Segment, LiveRole
from tests.attendance.test_sheet import go_live
from tests.conftest import commit
from tests.live.test_sessions_live import make_session, now_plus

HTMX = {"HX-Request": "true"}


def post(browser, **form):
    return browser.post("/admin/attendance", data={"csrf_token": browser.csrf, **form},
                        headers=HTMX)


def test_only_admins_change_them_and_bad_input_keeps_what_was_typed(school, as_user):
    teacher = as_user(school.teacher)
    assert teacher.get("/admin/attendance").status_code == 403
    assert post(teacher, late_grace_minutes="2", left_early_percent="50").status_code == 403
    admin = as_user(school.admin)
    page = admin.get("/admin/attendance")
    assert page.status_code == 200 and 'value="5"' in page.text and 'value="50"' in page.text
    refused = post(admin, late_grace_minutes="ninety", left_early_percent="150")
    assert refused.status_code == 422
    assert 'value="ninety"' in refused.text and 'value="150"' in refused.text
    assert "from 0 to 60" in refused.text and "from 0 to 100" in refused.text
    assert services.settings_for(school.center.id).late_grace == timedelta(minutes=5)
    no_token = admin.post("/admin/attendance", data={"late_grace_minutes": "2",
                                                     "left_early_percent": "50"})
    assert no_token.status_code == 400
    saved = post(admin, late_grace_minutes="2", left_early_percent="30")
    assert saved.status_code == 200 and "Attendance settings saved." in saved.text
    settings = services.settings_for(school.center.id)
    assert settings.late_grace == timedelta(minutes=2) and settings.left_early_percent == 30
    entry = db.session.scalar(select(AuditLog).where(
        AuditLog.action == "attendance.settings_changed"))
    assert entry.details["late_grace_minutes"] == [5, 2]
    log = admin.get("/admin/audit").text
    assert "changed the attendance settings: late after 2 minutes" in log
    # Saving the same values again records nothing more.
    post(admin, late_grace_minutes="2", left_early_percent="30")
    assert db.session.scalar(select(db.func.count(AuditLog.id)).where(
        AuditLog.action == "attendance.settings_changed")) == 1


def test_the_grace_decides_late_at_the_next_computation(school, as_user):
    student = school.students[0]
    start = now_plus(-30)
    session = make_session(school.center, school.teacher, [student], start=start)
    for participant in session.participants:
        participant.created_at = start - timedelta(days=1)
    run = go_live(session, start, school.teacher)
    run.started_at = start
    participant = RunParticipant(center_id=run.center_id, run_id=run.id, user_id=student.id,
                                 role=LiveRole.LEARNER)
    db.session.add(participant)
    db.session.flush()
    joined = start + timedelta(minutes=3)
    db.session.add(Segment(center_id=run.center_id, run_id=run.id,
                           participant_id=participant.id, user_id=student.id,
                           connection_id="abcdefabcdef", joined_at=joined,
                           last_seen_at=start + timedelta(minutes=25),
                           left_at=start + timedelta(minutes=25)))
    run.ended_at = start + timedelta(minutes=25)
    commit()

    def status():
        services.compute_run_attendance(run)
        return db.session.scalar(select(AttendanceRecord.auto_status).where(
            AttendanceRecord.run_id == run.id, AttendanceRecord.user_id == student.id))

    assert status() == S.PRESENT  # the default grace: 5 minutes
    services.update_settings(school.admin, "2", "50")
    assert status() == S.LATE
