"""CSRF: every state-changing request needs the session's token (form field or HTMX header)."""
from __future__ import annotations

from sqlalchemy import func, select

from app.accounts.models import User
from app.extensions import db
from tests.accounts.conftest import HTMX, fresh
from tests.conftest import PASSWORD, csrf_token, login

REFUSED = "form token is missing or expired"


def assert_refused(response):
    assert response.status_code == 400
    assert REFUSED in response.get_data(as_text=True)


def is_logged_in(client) -> bool:
    return client.get("/").status_code == 200


def test_app_under_test_has_csrf_enabled(app):
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


def test_login_without_or_with_a_wrong_token_is_refused(client, school):
    client.get("/login")
    data = {"email": school.teacher.email, "password": PASSWORD}
    assert_refused(client.post("/login", data=data))
    assert_refused(client.post("/login", data=dict(data, csrf_token="not-a-token")))
    assert not is_logged_in(client)


def test_token_of_another_session_is_refused(client, new_client, school):
    someone_else = new_client()
    token = csrf_token(someone_else, "/login")
    client.get("/login")
    response = client.post("/login", data={"email": school.teacher.email, "password": PASSWORD,
                                           "csrf_token": token})
    assert_refused(response)
    assert not is_logged_in(client)


def test_logout_needs_a_token_and_a_post(client, school):
    login(client, school.teacher)
    assert_refused(client.post("/logout"))
    assert client.get("/logout").status_code == 405
    assert is_logged_in(client)
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert not is_logged_in(client)


def test_create_user_without_token_creates_nothing(client, school):
    login(client, school.admin)
    count = db.session.scalar(select(func.count()).select_from(User))
    response = client.post("/admin/users/new", data={
        "name": "Eve", "email": "eve@example.org", "role": "ADMIN", "timezone": "", "password": ""})
    assert_refused(response)
    assert db.session.scalar(select(func.count()).select_from(User)) == count


def test_profile_and_password_without_token_change_nothing(client, school):
    user = school.students[0]
    login(client, user)
    assert_refused(client.post("/account", data={"name": "Hacked", "timezone": "Asia/Tokyo"}))
    assert_refused(client.post("/account/password", data={
        "current_password": PASSWORD, "new_password": "attacker-chosen-pw",
        "confirm_password": "attacker-chosen-pw"}))
    user = fresh(user)
    assert user.name == "Sara Student" and user.timezone is None
    assert user.check_password(PASSWORD)
    assert is_logged_in(client)


def test_htmx_request_with_the_csrf_header_works_and_without_it_fails(client, school):
    user = school.students[0]
    login(client, user)
    data = {"name": "Sara Renamed", "timezone": "Asia/Tokyo"}

    response = client.post("/account", data=data, headers=HTMX)
    assert_refused(response)
    # An HTMX request gets the small error fragment, placed in the flash region.
    assert response.headers["HX-Retarget"] == "#flashes"
    assert "<html" not in response.get_data(as_text=True)
    assert fresh(user).name == "Sara Student"

    headers = dict(HTMX, **{"X-CSRFToken": csrf_token(client, "/account")})
    response = client.post("/account", data=data, headers=headers)
    assert response.status_code == 204 and "HX-Location" in response.headers
    user = fresh(user)
    assert (user.name, user.timezone) == ("Sara Renamed", "Asia/Tokyo")

    wrong = dict(HTMX, **{"X-CSRFToken": "forged"})
    assert_refused(client.post("/account", data={"name": "Forged", "timezone": "UTC"},
                               headers=wrong))
    assert fresh(user).name == "Sara Renamed"

