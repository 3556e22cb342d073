"""Tenant isolation: another center's rows are indistinguishable from rows that do not exist."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.accounts.models import Course, CourseRole, Enrollment, Role, User
from app.extensions import db
from tests.accounts.conftest import HTMX, fresh, table_rows
from tests.conftest import csrf_token, login, post


def enrollment_ids() -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(Enrollment.id)))


def id_range(model) -> range:
    """Every id in use (ids keep growing across tests on PostgreSQL), and a few either side."""
    low, high = db.session.execute(select(func.min(model.id), func.max(model.id))).one()
    return range(max(low - 3, 1), high + 4)


# --- ids of another center -------------------------------------------------------------------

def test_admin_cannot_deactivate_another_centers_user(client, school, other):
    login(client, school.admin)
    for victim in (other.student, other.teacher, other.admin):
        response = post(client, f"/admin/users/{victim.id}/active", {"active": "0"})
        assert response.status_code == 404
        assert fresh(victim).is_active_flag
    # The same request on a user of the admin's own center works.
    assert post(client, f"/admin/users/{school.outsider.id}/active",
                {"active": "0"}).status_code == 302
    assert not fresh(school.outsider).is_active_flag


def test_admin_cannot_see_or_enroll_into_another_centers_course(client, school, other):
    login(client, school.admin)
    response = client.get(f"/admin/courses/{other.course.id}")
    assert response.status_code == 404
    assert "Zed" not in response.get_data(as_text=True)

    before = enrollment_ids()
    response = post(client, f"/admin/courses/{other.course.id}",
                    {"role": "STUDENT", "user_ids": [str(school.outsider.id)]})
    assert response.status_code == 404
    assert enrollment_ids() == before


def test_admin_cannot_delete_another_centers_enrollments(client, school, other, make):
    own_enrollment = next(e for e in school.course.enrollments if e.role == CourseRole.STUDENT)
    second_course = make.course(school.center, "Geometry", students=[school.outsider])
    other_enrollment = other.enrollments[0]
    before = enrollment_ids()
    login(client, school.admin)
    for course_id, enrollment_id in [
        (other.course.id, other_enrollment.id),    # both of center B
        (school.course.id, other_enrollment.id),   # own course, B's enrollment
        (other.course.id, own_enrollment.id),      # B's course, own enrollment
        (second_course.id, own_enrollment.id),     # own, but the enrollment is another course's
    ]:
        response = post(client, f"/admin/courses/{course_id}/enrollments/{enrollment_id}/delete")
        assert response.status_code == 404, (course_id, enrollment_id)
    assert enrollment_ids() == before


def test_guessing_ids_finds_only_own_courses(client, school, other, make):
    own = {school.course.id, make.course(school.center, "Geometry").id}
    make.course(other.center, "Zed Secret")
    login(client, school.admin)
    found = {course_id for course_id in id_range(Course)
             if client.get(f"/admin/courses/{course_id}").status_code == 200}
    assert found == own


def test_guessing_ids_touches_only_own_users(client, school, other, make):
    # A deactivated person in B: reactivating by id guessing would show a leak in the database.
    sleeper = make.user(other.center, Role.STUDENT, name="Zed Sleeper", active=False)
    own = set(db.session.scalars(select(User.id).where(User.center_id == school.center.id)))
    login(client, school.admin)
    token = csrf_token(client, "/account")
    answered = {}
    for user_id in id_range(User):
        answered[user_id] = post(client, f"/admin/users/{user_id}/active",
                                 {"active": "1", "csrf_token": token}).status_code
    assert {uid for uid, status in answered.items() if status == 302} == own
    assert {status for uid, status in answered.items() if uid not in own} == {404}
    assert not fresh(sleeper).is_active_flag


def test_guessing_enrollment_ids_deletes_nothing_of_another_center(client, school, other):
    others = {e.id for e in other.enrollments}
    login(client, school.admin)
    token = {"csrf_token": csrf_token(client, "/account")}
    for enrollment_id in id_range(Enrollment):
        status = post(client, f"/admin/courses/{other.course.id}/enrollments/"
                              f"{enrollment_id}/delete", token).status_code
        assert status == 404
        status = post(client, f"/admin/courses/{school.course.id}/enrollments/"
                              f"{enrollment_id}/delete", token).status_code
        assert status in (302, 404)
    remaining = enrollment_ids()
    assert others <= remaining
    assert not remaining - others  # every enrollment of the admin's own course was removable


@pytest.mark.parametrize("path", [
    "/admin/users/abc/active",
    "/admin/users/1.5/active",
    "/admin/users/-1/active",
    "/admin/users/0/active",
    "/admin/users/99999999999999999999/active",
    "/admin/courses/abc/enrollments/1/delete",
    "/admin/courses/{course}/enrollments/abc/delete",
    "/admin/courses/{course}/enrollments/99999999999999999999/delete",
])
def test_malformed_ids_in_posts_are_404(client, school, path):
    login(client, school.admin)
    response = post(client, path.format(course=school.course.id), {"active": "0"})
    assert response.status_code == 404


@pytest.mark.parametrize("course_id", ["abc", "1.5", "-1", "0", "0x1", "1e3", "%20",
                                       "99999999999999999999"])
def test_malformed_course_ids_are_404(client, school, course_id):
    login(client, school.admin)
    assert client.get(f"/admin/courses/{course_id}").status_code == 404


def test_teacher_gets_the_same_answer_for_own_and_other_centers_ids(client, school, other):
    login(client, school.teacher)
    statuses = {post(client, f"/admin/users/{user.id}/active", {"active": "0"}).status_code
                for user in (school.outsider, other.student)}
    statuses |= {client.get(f"/admin/courses/{course.id}").status_code
                 for course in (school.course, other.course)}
    assert statuses == {403}
    assert fresh(school.outsider).is_active_flag and fresh(other.student).is_active_flag


# --- lists and search --------------------------------------------------------------------------

def people_in(html: str) -> set[str]:
    return {cells[0] for cells in table_rows(html)[1:]}


def test_admin_people_list_and_search_show_only_own_center(client, school, other):
    login(client, school.admin)
    own_names = {school.admin.name, school.teacher.name, school.outsider.name,
                 *(s.name for s in school.students)}
    for query in ("", "?q=example.com", "?q=student", "?role=STUDENT", "?q=c&role=TEACHER"):
        html = client.get(f"/admin/users{query}").get_data(as_text=True)
        assert people_in(html) <= own_names, query
        assert "Zed" not in html and f"@c{other.center.id}." not in html
    assert people_in(client.get("/admin/users").get_data(as_text=True)) == own_names
    html = client.get("/admin/users?q=zed", headers=HTMX).get_data(as_text=True)
    assert "Nobody matches." in html and "Zed" not in html


def test_teacher_student_list_and_search_show_only_own_center(client, school, other, make):
    # Even a (corrupt) enrollment of B's student in A's course must not leak B's person.
    db.session.add(Enrollment(center_id=school.center.id, course_id=school.course.id,
                              user_id=other.student.id, role=CourseRole.STUDENT))
    # And a teacher of A also enrolled (corruptly) in B's course still sees only A's students.
    db.session.add(Enrollment(center_id=other.center.id, course_id=other.course.id,
                              user_id=school.teacher.id, role=CourseRole.TEACHER))
    db.session.commit()
    login(client, school.teacher)
    own_students = {s.name for s in school.students}
    for query in ("", "?q=student", "?q=example.com", "?q=zed"):
        html = client.get(f"/students{query}").get_data(as_text=True)
        assert people_in(html) <= own_students, query
        assert "Zed Student" not in html
    assert people_in(client.get("/students").get_data(as_text=True)) == own_students
    dashboard = client.get("/").get_data(as_text=True)
    assert re.search(r'class="stat">2<', dashboard)
    assert "Zed Course" not in dashboard


def test_course_candidates_courses_dashboard_and_audit_show_only_own_center(
        client, new_client, school, other):
    # Center B's admin does something that lands in B's audit log.
    b_browser = new_client()
    login(b_browser, other.admin)
    assert post(b_browser, "/admin/courses", {"name": "Zed Secret"}).status_code == 302

    login(client, school.admin)
    for path in (f"/admin/courses/{school.course.id}", "/admin/courses", "/admin/audit", "/"):
        html = client.get(path).get_data(as_text=True)
        assert "Zed" not in html, path
    stats = re.findall(r'class="stat">(\d+)<', client.get("/").get_data(as_text=True))
    assert stats == ["1", "1", "3"]  # admins, teachers, students of A only
