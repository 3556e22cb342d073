"""Roles: admin pages for admins, the student list for teachers, login for everyone else."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from app.accounts.models import AuditLog, Course, Enrollment, User
from app.extensions import db
from tests.accounts.conftest import HTMX, fresh
from tests.conftest import csrf_token, login, post

ADMIN_PAGES = ["/admin/users", "/admin/users/new", "/admin/users/import", "/admin/courses",
               "/admin/courses/{course}", "/admin/audit"]


def admin_posts(school):
    enrollment = school.course.enrollments[0]
    return [
        ("/admin/users/new", {"name": "Mallory", "email": "mallory@example.org",
                              "role": "ADMIN", "timezone": "", "password": ""}),
        (f"/admin/users/{school.outsider.id}/active", {"active": "0"}),
        ("/admin/courses", {"name": "Hijacked"}),
        (f"/admin/courses/{school.course.id}",
         {"role": "STUDENT", "user_ids": [str(school.outsider.id)]}),
        (f"/admin/courses/{school.course.id}/enrollments/{enrollment.id}/delete", {}),
    ]


def database_state():
    db.session.expire_all()
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (User, Course, Enrollment, AuditLog))


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_non_admins_get_403_on_admin_pages(client, school, who):
    user = school.students[0] if who == "student" else school.teacher
    login(client, user)
    for path in ADMIN_PAGES:
        response = client.get(path.format(course=school.course.id))
        assert response.status_code == 403, path
        html = response.get_data(as_text=True)
        assert "Not allowed" in html and 'id="site-menu"' in html  # the error page in the layout


@pytest.mark.parametrize("who", ["student", "teacher"])
def test_non_admins_get_403_on_admin_actions_and_nothing_changes(client, school, who):
    user = school.students[0] if who == "student" else school.teacher
    login(client, user)
    before = database_state()
    for path, data in admin_posts(school):
        assert post(client, path, data).status_code == 403, path
    assert database_state() == before
    assert fresh(school.outsider).is_active_flag


def test_admin_reaches_admin_pages(client, school):
    login(client, school.admin)
    for path in ADMIN_PAGES:
        assert client.get(path.format(course=school.course.id)).status_code == 200, path


def test_students_page_is_for_teachers_only(client, new_client, school):
    login(client, school.students[0])
    assert client.get("/students").status_code == 403
    assert client.get("/students", headers=HTMX).status_code == 403
    admin = new_client()
    login(admin, school.admin)
    assert admin.get("/students").status_code == 403
    teacher = new_client()
    login(teacher, school.teacher)
    assert teacher.get("/students").status_code == 200


def test_teachers_page_is_for_students_only(client, new_client, school):
    login(client, school.teacher)
    assert client.get("/teachers").status_code == 403
    student = new_client()
    login(student, school.students[0])
    assert student.get("/teachers").status_code == 200


PROTECTED = ["/", "/students", "/teachers", "/account", "/admin/users", "/admin/users/new",
             "/admin/users/import", "/admin/courses", "/admin/courses/{course}", "/admin/audit"]


def test_anonymous_is_redirected_to_login_with_next(client, school):
    for path in PROTECTED:
        path = path.format(course=school.course.id)
        response = client.get(path)
        assert response.status_code == 302, path
        target = urlsplit(response.location)
        assert target.path == "/login"
        assert parse_qs(target.query)["next"] == [path]
    response = client.get("/admin/users?q=ann&role=STUDENT")
    next_ = parse_qs(urlsplit(response.location).query)["next"]
    assert next_ == ["/admin/users?q=ann&role=STUDENT"]


def test_anonymous_htmx_request_gets_401_with_hx_redirect(client, school):
    for path in PROTECTED:
        path = path.format(course=school.course.id)
        response = client.get(path, headers=HTMX)
        assert response.status_code == 401, path
        target = urlsplit(response.headers["HX-Redirect"])
        assert target.path == "/login" and parse_qs(target.query)["next"] == [path]
        assert "<html" not in response.get_data(as_text=True)


def test_anonymous_posts_are_sent_to_login_and_change_nothing(client, school):
    token = csrf_token(client, "/login")
    before = database_state()
    for path, data in admin_posts(school) + [("/account", {"name": "X", "timezone": "UTC"}),
                                             ("/logout", {})]:
        response = client.post(path, data=dict(data, csrf_token=token))
        assert response.status_code == 302, path
        assert urlsplit(response.location).path == "/login"
    assert database_state() == before
