"""A person's page (linked from the students, teachers and people lists), and the audit log in
words rather than codes."""
from __future__ import annotations

from datetime import time, timedelta

from app.accounts.audit import describe_rrule
from app.accounts.models import Role
from app.accounts.services import record_audit
from app.db_types import utcnow
from app.extensions import db
from tests.conftest import login


def audit_target(target_type):
    from app.accounts.models import AuditLog
    from sqlalchemy import select

    return db.session.scalar(select(AuditLog.target_id).where(AuditLog.target_type == target_type))


def _page(client, user_id):
    return client.get(f"/people/{user_id}")


def test_lists_link_names_to_the_person_page(as_user, school):
    teacher = as_user(school.teacher)
    student = school.students[0]
    assert f'href="/people/{student.id}"' in teacher.get("/students").get_data(as_text=True)
    pupil = as_user(student)
    assert f'href="/people/{school.teacher.id}"' in pupil.get("/teachers").get_data(as_text=True)
    admin = as_user(school.admin)
    assert f'href="/people/{student.id}"' in admin.get("/admin/users").get_data(as_text=True)


def test_teacher_sees_their_student_with_courses_and_a_message_button(as_user, school):
    teacher = as_user(school.teacher)
    html = _page(teacher, school.students[0].id).get_data(as_text=True)
    assert "<h1>Sara Student</h1>" in html and "Student" in html
    assert "Algebra" in html
    assert f'action="/chat/direct/{school.students[0].id}"' in html and ">Message<" in html


def test_the_page_lists_upcoming_sessions_the_two_share(as_user, school):
    from app.scheduling import services as scheduling

    day = (utcnow() + timedelta(days=2)).date()
    for title, hour, student in (("Shared lesson", 10, school.students[0]),
                                 ("Other lesson", 14, school.students[1])):
        scheduling.schedule_session(school.teacher, scheduling.SessionInput(
            title=title, date=day, start_time=time(hour), timezone="Europe/London",
            duration_minutes=45, participant_ids=[student.id]))
    db.session.commit()
    teacher = as_user(school.teacher)
    html = _page(teacher, school.students[0].id).get_data(as_text=True)
    assert "Shared lesson" in html and "Other lesson" not in html


def test_who_may_open_a_person_page(as_user, school, other):
    student = as_user(school.students[0])
    # A student sees their teacher, and not a classmate, an outsider or another center.
    assert _page(student, school.teacher.id).status_code == 200
    assert _page(student, school.students[1].id).status_code == 404
    assert _page(student, school.outsider.id).status_code == 404
    assert _page(student, other.teacher.id).status_code == 404
    # A teacher does not see students outside their courses; an admin sees everyone here.
    assert _page(as_user(school.teacher), school.outsider.id).status_code == 404
    admin = as_user(school.admin)
    assert _page(admin, school.outsider.id).status_code == 200
    assert _page(admin, other.student.id).status_code == 404
    assert _page(admin, "junk").status_code == 404


def test_no_message_button_where_messaging_is_not_allowed(as_user, school):
    # Students may not message each other here; the admin looking at themself has no button.
    admin = as_user(school.admin)
    assert ">Message<" not in _page(admin, school.admin.id).get_data(as_text=True)


def test_rrule_in_words():
    assert describe_rrule(None) == "once"
    assert describe_rrule("FREQ=WEEKLY;BYDAY=MO,TH") == "weekly on Mon and Thu"
    assert describe_rrule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;COUNT=6") == \
        "every 2 weeks on Tue, 6 times"
    assert describe_rrule("FREQ=DAILY;UNTIL=20270115T170000Z") == "daily until 15 Jan 2027"


def test_audit_log_reads_as_sentences(client, school, make, count_queries):
    from app.scheduling import services as scheduling

    monday = utcnow().date() + timedelta(days=7 - utcnow().weekday())
    scheduling.schedule_session(school.teacher, scheduling.SessionInput(
        title="GCSE Maths", date=monday, start_time=time(16), timezone="Europe/London",
        participant_ids=[s.id for s in school.students], frequency="WEEKLY",
        weekdays=["MO", "TH"], ends="count", count=10))
    db.session.commit()
    record_audit(school.admin, "course.enrolled", "course", school.course.id, role="STUDENT",
                 user_ids=[school.students[0].id, school.students[1].id])
    record_audit(school.admin, "user.deactivated", "user", school.outsider.id)
    record_audit(school.admin, "something.new_kind", "widget", 7)
    db.session.commit()
    login(client, school.admin)
    html = client.get("/admin/audit").get_data(as_text=True)
    assert "scheduled ‘GCSE Maths’ weekly on Mon and Thu, 10 times" in html
    assert "Terry Teacher" in html
    assert "enrolled Sara Student and Ben Student in ‘Algebra’ as students" in html
    assert "deactivated Olga Outside" in html
    assert "something new kind (widget 7)" in html
    assert "session.scheduled" not in html and "<code>" not in html
    dashboard = client.get("/").get_data(as_text=True)
    assert "deactivated Olga Outside" in dashboard and "user.deactivated" not in dashboard

    # Names are loaded per kind of thing, not per entry: a full page of 50 entries naming 50
    # different people, courses and sessions costs what a page naming a few does.
    session_id = audit_target("session")

    def add_entries(n):
        for i in range(n):
            record_audit(school.admin, "user.deactivated", "user", school.students[i % 2].id)
            record_audit(school.admin, "session.status", "session", session_id, status="LIVE")
            record_audit(school.admin, "course.enrolled", "course", school.course.id,
                         role="STUDENT", user_ids=[school.outsider.id])
        db.session.commit()

    add_entries(20)
    with count_queries() as few:
        client.get("/admin/audit")
    add_entries(20)
    for n in range(30):
        person = make.user(school.center, Role.STUDENT, commit=False)
        db.session.flush()
        record_audit(school.admin, "user.deactivated", "user", person.id)
        record_audit(school.admin, "session.status", "session", 5000 + n, status="LIVE")
        record_audit(school.admin, "course.enrolled", "course", 7000 + n, role="STUDENT",
                     user_ids=[person.id, school.outsider.id])
    db.session.commit()
    with count_queries() as many:
        client.get("/admin/audit")
    assert many.count == few.count, "\n".join(many.statements)


def test_course_enrollment_uses_checkboxes(as_user, school, make):
    extra = make.user(school.center, Role.STUDENT, name="Nia New")
    admin = as_user(school.admin)
    html = admin.get(f"/admin/courses/{school.course.id}").get_data(as_text=True)
    assert "Hold Ctrl" not in html and "multiple" not in html
    assert f'type="checkbox" name="user_ids" value="{extra.id}"' in html
    assert "data-picker-filter" in html


def test_every_recorded_action_reads_as_words(school):
    """Every action the app records has its own sentence (no fallback to the code's words)."""
    import pathlib
    import re

    from app.accounts import audit
    from app.accounts.models import AuditLog

    root = pathlib.Path(audit.__file__).resolve().parent.parent
    recorded = set()
    for path in root.rglob("*.py"):
        recorded |= set(re.findall(r'record_audit\([^,]+,\s*"([a-z_.]+)"', path.read_text()))
    recorded |= {"user.activated", "user.deactivated", "chat.group_unarchived"}  # conditional
    assert len(recorded) > 30
    entries = [AuditLog(id=n, center_id=school.center.id, actor_id=school.admin.id, action=action,
                        target_type="user", target_id=school.students[0].id, details={})
               for n, action in enumerate(sorted(recorded))]
    for entry in entries:
        entry.actor = school.admin
    words = audit.describe_entries(entries)
    for entry in entries:
        who, what = words[entry.id]
        assert who == "Alice Admin" and what, entry.action
        assert f"(user {entry.target_id})" not in what, (entry.action, what)  # the fallback
