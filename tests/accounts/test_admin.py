"""Center admin: people, courses, enrollments, and the audit log they leave."""
from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import func, select

from app.accounts.models import AuditLog, Course, CourseRole, Enrollment, Role, User
from app.extensions import db
from tests.accounts.conftest import HTMX, flashes, fresh, table_rows
from tests.conftest import login, post


def audit(action: str) -> list[AuditLog]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog).where(AuditLog.action == action)
                                   .order_by(AuditLog.id)))


def user_by_email(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def enrolled(course) -> dict[int, CourseRole]:
    db.session.expire_all()
    return dict(db.session.execute(select(Enrollment.user_id, Enrollment.role)
                                   .where(Enrollment.course_id == course.id)).all())


def new_user_form(**overrides):
    data = {"name": "Nina New", "email": "nina@example.org", "role": "STUDENT", "message": ""}
    data.update(overrides)
    return data


# --- people --------------------------------------------------------------------------------------

def test_add_a_person_emails_an_invitation_instead_of_making_a_password(client, school):
    """Issue 14: no password is made or shown; they set their own when they accept (the whole
    way through the email is in tests/invites/test_invitations.py)."""
    from app.invites.models import Invitation, InvitationKind
    from app.mail.models import EmailOutbox

    login(client, school.admin)
    response = post(client, "/admin/users/new", new_user_form(
        email="Nina@Example.ORG", role="TEACHER", message="Welcome aboard"))
    assert response.status_code == 302 and response.location == "/admin/invitations"
    [(category, message)] = flashes(client.get(response.location).get_data(as_text=True))
    assert (category, message) == ("success", "An invitation was emailed to nina@example.org: "
                                              "they choose their name and password when they "
                                              "accept.")
    assert user_by_email("nina@example.org") is None  # no account until they accept
    [invitation] = db.session.scalars(select(Invitation)).all()
    assert (invitation.kind, invitation.email, invitation.role, invitation.name,
            invitation.message, invitation.center_id) == \
        (InvitationKind.CENTER, "nina@example.org", "TEACHER", "Nina New", "Welcome aboard",
         school.center.id)
    [outbox] = db.session.scalars(select(EmailOutbox)).all()
    assert outbox.recipient == "nina@example.org" and "password" not in outbox.subject.lower()
    [entry] = audit("invitation.sent")
    assert (entry.actor_id, entry.details["emails"], entry.details["role"]) == \
        (school.admin.id, ["nina@example.org"], "TEACHER")


@pytest.mark.parametrize("overrides, field_message", [
    # An existing account's address, typed in other case.
    ({"email": "{existing}"}, "Already has an account here (Sara Student)."),
    ({"email": "not-an-email"}, "Invalid email address."),
    ({"email": "ann@exa mple.org"}, "Invalid email address."),
    ({"email": ""}, "This field is required."),
    ({"role": "SUPERUSER"}, "Not a valid choice"),
    ({"role": "ADMIN"}, "Not a valid choice"),
    ({"message": "x" * 2001}, "Field cannot be longer than 2000 characters."),
])
def test_add_a_person_bad_input_is_422_and_invites_nobody(client, school, overrides,
                                                          field_message):
    from app.invites.models import Invitation

    if overrides.get("email") == "{existing}":
        overrides = {"email": school.students[0].email.upper()}
    count = db.session.scalar(select(func.count()).select_from(User))
    login(client, school.admin)
    response = post(client, "/admin/users/new", new_user_form(**overrides))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_message in unescape(html)
    assert 'value="Nina New"' in html  # what was typed is kept
    assert db.session.scalar(select(func.count()).select_from(User)) == count
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0
    assert audit("invitation.sent") == []


def test_add_a_person_error_over_htmx_returns_the_form_fragment(client, school):
    login(client, school.admin)
    response = post(client, "/admin/users/new",
                    new_user_form(email=school.teacher.email), headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="user-form"') and "<html" not in html
    assert "Already has an account here (Terry Teacher)." in html


def test_deactivate_and_reactivate(client, school):
    student = school.students[0]
    login(client, school.admin)
    response = post(client, f"/admin/users/{student.id}/active", {"active": "0"})
    assert response.status_code == 302
    assert not fresh(student).is_active_flag
    page = client.get("/admin/users?q=sara").get_data(as_text=True)
    assert ("success", "Sara Student was deactivated.") in flashes(page)
    assert "Deactivated" in table_rows(page)[1][4]

    response = post(client, f"/admin/users/{student.id}/active", {"active": "1"})
    assert response.status_code == 302
    assert fresh(student).is_active_flag
    assert [e.target_id for e in audit("user.deactivated")] == [student.id]
    assert [e.target_id for e in audit("user.activated")] == [student.id]
    # Repeating a state is a no-op, not another audit row.
    post(client, f"/admin/users/{student.id}/active", {"active": "1"})
    assert len(audit("user.activated")) == 1


def test_deactivation_redirects_back_only_within_the_site(client, school):
    login(client, school.admin)
    student = school.students[0]
    response = post(client, f"/admin/users/{student.id}/active", {"active": "0"},
                    headers={"Referer": "http://localhost/admin/users?q=sara"})
    assert response.location == "http://localhost/admin/users?q=sara"
    response = post(client, f"/admin/users/{student.id}/active", {"active": "1"},
                    headers={"Referer": "https://evil.example/phish"})
    assert response.location == "/admin/users"


def test_admin_cannot_deactivate_themselves(client, school):
    login(client, school.admin)
    response = post(client, f"/admin/users/{school.admin.id}/active", {"active": "0"})
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert client.get("/").status_code == 200  # still signed in
    assert ("error", "You cannot deactivate your own account.") in flashes(page)
    assert fresh(school.admin).is_active_flag
    assert audit("user.deactivated") == []


def test_user_list_pages_and_filters(client, school, make):
    for n in range(55):
        make.user(school.center, Role.STUDENT, name=f"Pupil {n:02d}", commit=False)
    db.session.commit()
    login(client, school.admin)
    first = client.get("/admin/users?role=STUDENT").get_data(as_text=True)
    assert "58 people" in first and "Page 1 of 2" in first
    assert len(table_rows(first)) == 1 + 50
    second = client.get("/admin/users?role=STUDENT&page=2").get_data(as_text=True)
    assert len(table_rows(second)) == 1 + 8
    teachers = client.get("/admin/users?role=TEACHER").get_data(as_text=True)
    assert [row[0] for row in table_rows(teachers)[1:]] == ["Terry Teacher"]
    found = client.get("/admin/users?q=PUPIL 0", headers=HTMX).get_data(as_text=True)
    assert found.lstrip().startswith('<div id="user-list"') and "10 people" in found


@pytest.mark.parametrize("query", ["page=abc", "page=-3", "page=0", "page=99999999999999999999",
                                   "page=1e9", "role=WIZARD", "q=" + "%25" * 300,
                                   "q=%5C%27%22", "q=%F0%9F%98%80", "q=_"])
def test_junk_query_strings_never_fail(client, school, query):
    login(client, school.admin)
    assert client.get(f"/admin/users?{query}").status_code == 200
    assert client.get(f"/admin/audit?{query}").status_code == 200


def test_nul_characters_are_refused_before_they_reach_the_database(client, new_client, school):
    # PostgreSQL text cannot hold NUL: without the check these were 500s there.
    message = "The request contains a NUL character"
    login(client, school.admin)
    for path in ("/admin/users?q=a%00b", "/admin/audit?x=%00"):
        response = client.get(path)
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    users = db.session.scalar(select(func.count()).select_from(User))
    for path, data in [("/admin/users/new", new_user_form(name="Nina\x00New")),
                       ("/admin/courses", {"name": "Phys\x00ics"}),
                       ("/account", {"name": "Alice\x00", "timezone": "UTC"})]:
        response = post(client, path, data)
        assert response.status_code == 400, path
        assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == users
    assert db.session.scalar(select(func.count()).select_from(Course)) == 1
    assert fresh(school.admin).name == "Alice Admin"
    teacher = new_client()
    login(teacher, school.teacher)
    assert teacher.get("/students?q=%00").status_code == 400


# --- courses and enrollments ---------------------------------------------------------------------

def test_create_course(client, school):
    login(client, school.admin)
    response = post(client, "/admin/courses", {"name": " Physics ", "description": "Forces"})
    course = db.session.scalar(select(Course).where(Course.name == "Physics"))
    assert course is not None and course.center_id == school.center.id
    assert response.status_code == 302 and response.location == f"/admin/courses/{course.id}"
    page = client.get(response.location).get_data(as_text=True)
    assert "Course Physics was created." in page and "Forces" in page
    [entry] = audit("course.created")
    assert (entry.actor_id, entry.target_id, entry.details) == \
        (school.admin.id, course.id, {"name": "Physics"})


@pytest.mark.parametrize("name, message", [
    ("Algebra", "A course with this name already exists."),
    ("", "This field is required."),
    ("x" * 121, "Field cannot be longer than 120 characters."),
])
def test_create_course_bad_input_is_422(client, school, name, message):
    login(client, school.admin)
    response = post(client, "/admin/courses", {"name": name})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Course)) == 1


def test_same_course_name_in_another_center_is_fine(client, school, other):
    login(client, school.admin)
    assert post(client, "/admin/courses", {"name": other.course.name}).status_code == 302


def test_enroll_students_and_teachers(client, school, make):
    second_teacher = make.user(school.center, Role.TEACHER, name="Tina Teacher")
    late = make.user(school.center, Role.STUDENT, name="Lara Late")
    course = school.course
    login(client, school.admin)
    page = client.get(f"/admin/courses/{course.id}").get_data(as_text=True)
    assert "Tina Teacher" in page and "Olga Outside" in page and "Lara Late" in page

    response = post(client, f"/admin/courses/{course.id}",
                    {"role": "STUDENT", "user_ids": [str(school.outsider.id), str(late.id)]})
    assert response.status_code == 302 and response.location == f"/admin/courses/{course.id}"
    assert "2 students enrolled." in client.get(response.location).get_data(as_text=True)
    response = post(client, f"/admin/courses/{course.id}",
                    {"role": "TEACHER", "user_ids": [str(second_teacher.id)]})
    assert response.status_code == 302
    assert "1 teacher enrolled." in client.get(response.location).get_data(as_text=True)

    assert enrolled(course) == {
        school.teacher.id: CourseRole.TEACHER, second_teacher.id: CourseRole.TEACHER,
        school.students[0].id: CourseRole.STUDENT, school.students[1].id: CourseRole.STUDENT,
        school.outsider.id: CourseRole.STUDENT, late.id: CourseRole.STUDENT}
    entries = audit("course.enrolled")
    assert [(e.target_id, e.details) for e in entries] == [
        (course.id, {"role": "STUDENT", "user_ids": sorted([school.outsider.id, late.id])}),
        (course.id, {"role": "TEACHER", "user_ids": [second_teacher.id]})]

    # Enrolling again is harmless: no duplicate rows, nothing new in the audit log.
    response = post(client, f"/admin/courses/{course.id}",
                    {"role": "STUDENT", "user_ids": [str(late.id)]})
    assert response.status_code == 302
    assert len(enrolled(course)) == 6 and len(audit("course.enrolled")) == 2


def test_enrolled_teacher_sees_the_new_student(client, new_client, school):
    login(client, school.admin)
    post(client, f"/admin/courses/{school.course.id}",
         {"role": "STUDENT", "user_ids": [str(school.outsider.id)]})
    teacher = new_client()
    login(teacher, school.teacher)
    assert "Olga Outside" in teacher.get("/students").get_data(as_text=True)


def test_enrolling_the_wrong_people_is_refused(client, school, other, make):
    newcomer = make.user(school.center, Role.STUDENT, name="Nora Newcomer")
    before = enrolled(school.course)
    login(client, school.admin)
    for role, people in [
        ("STUDENT", [other.student]),             # another center's student
        ("TEACHER", [other.teacher]),             # another center's teacher
        ("STUDENT", [school.teacher]),            # a teacher as a student
        ("TEACHER", [newcomer]),                  # a student as a teacher
        ("STUDENT", [school.admin]),              # an admin
        ("STUDENT", [newcomer, other.student]),   # one good, one bad: nothing at all
    ]:
        response = post(client, f"/admin/courses/{school.course.id}",
                        {"role": role, "user_ids": [str(p.id) for p in people]})
        assert response.status_code == 422, (role, people)
        html = response.get_data(as_text=True)
        assert f"Pick {role.lower()}s of your center." in html
    assert enrolled(school.course) == before
    assert audit("course.enrolled") == []


@pytest.mark.parametrize("data", [
    {"role": "STUDENT", "user_ids": "abc"},
    {"role": "STUDENT", "user_ids": ""},
    {"role": "STUDENT"},
    {"role": "STUDENT", "user_ids": "1.5"},
    {"role": "STUDENT", "user_ids": "-3"},
    {"role": "STUDENT", "user_ids": "99999999999999999999"},
    {"role": "STUDENT", "user_ids": ["{outsider}", "abc"]},
    {"role": "", "user_ids": "abc"},
    {"role": "TEACHER", "user_ids": "0"},
    {"role": "STUDENT", "user_ids": "999999"},
])
def test_malformed_enrollment_forms_are_422_not_500(client, school, data):
    data = {k: ([v.format(outsider=school.outsider.id) for v in val] if isinstance(val, list)
                else val) for k, val in data.items()}
    before = enrolled(school.course)
    login(client, school.admin)
    response = post(client, f"/admin/courses/{school.course.id}", data)
    assert response.status_code == 422
    assert flashes(response.get_data(as_text=True))[0][0] == "error"
    assert enrolled(school.course) == before


def test_unenroll(client, school):
    student = school.students[0]
    enrollment_id = next(e.id for e in school.course.enrollments if e.user_id == student.id)
    login(client, school.admin)
    response = post(client, f"/admin/courses/{school.course.id}/enrollments/"
                            f"{enrollment_id}/delete")
    assert response.status_code == 302 and response.location == f"/admin/courses/{school.course.id}"
    assert "Sara Student was removed from Algebra." in \
        client.get(response.location).get_data(as_text=True)
    assert student.id not in enrolled(school.course)
    [entry] = audit("course.unenrolled")
    assert (entry.target_id, entry.details) == (school.course.id, {"user_id": student.id})
    # Deleting it again: it is gone.
    assert post(client, f"/admin/courses/{school.course.id}/enrollments/"
                        f"{enrollment_id}/delete").status_code == 404


def test_audit_page_lists_the_changes(client, school):
    login(client, school.admin)
    post(client, "/admin/courses", {"name": "Physics"})
    post(client, f"/admin/users/{school.outsider.id}/active", {"active": "0"})
    rows = table_rows(client.get("/admin/audit").get_data(as_text=True))[1:]
    # In words, newest first (tests/accounts/test_people.py covers every kind).
    assert [row[2] for row in rows] == ["deactivated Olga Outside",
                                        "created the course ‘Physics’"]
    assert all(row[1] == "Alice Admin" for row in rows)
    dashboard = client.get("/").get_data(as_text=True)
    assert "deactivated Olga Outside" in dashboard and "created the course ‘Physics’" in dashboard
