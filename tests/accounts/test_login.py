"""Logging in and out, remember-me, the login rate limit, and signing sessions out."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
from limits import parse as parse_limit

from app.extensions import limiter
from tests.accounts.conftest import flashes, fresh
from tests.conftest import PASSWORD, csrf_token, login, post

GENERIC = "That email and password do not match an account."
REMEMBER = "classhub_remember"


def try_login(client, email, password, remember=False, next_=None):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    if remember:
        data["remember"] = "y"
    path = "/login" if next_ is None else f"/login?next={quote(next_, safe='')}"
    return client.post(path, data=data)


def is_logged_in(client) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_login_success_goes_to_the_teachers_my_day(client, school):
    assert fresh(school.teacher).last_login_at is None
    response = try_login(client, school.teacher.email.upper(), PASSWORD)
    assert response.status_code == 302 and response.location == "/my-day"
    assert "My Day" in client.get("/my-day").get_data(as_text=True)
    # The dashboard is still there.
    assert "Algebra" in client.get("/").get_data(as_text=True)
    assert fresh(school.teacher).last_login_at is not None


def test_login_success_goes_to_a_students_dashboard(client, school):
    response = try_login(client, school.students[0].email, PASSWORD)
    assert response.status_code == 302 and response.location == "/"


def test_wrong_password(client, school):
    response = try_login(client, school.teacher.email, "not the password")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert GENERIC in html
    assert school.teacher.email in html  # what was typed is kept
    assert not is_logged_in(client)


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, school):
    for email in ("nobody@example.org", "not an email"):
        response = try_login(client, email, PASSWORD)
        assert response.status_code == 422
        assert GENERIC in response.get_data(as_text=True)
    assert not is_logged_in(client)


def test_empty_fields_are_422(client, school):
    response = client.post("/login", data={"csrf_token": csrf_token(client, "/login")})
    assert response.status_code == 422
    assert not is_logged_in(client)


def test_deactivated_user_is_refused_with_a_clear_message(client, school, make):
    gone = make.user(school.center, name="Gone Student", active=False)
    response = try_login(client, gone.email, PASSWORD)
    assert response.status_code == 422
    assert "This account has been deactivated" in response.get_data(as_text=True)
    assert not is_logged_in(client)
    # Without the right password, the account's state is not revealed.
    response = try_login(client, gone.email, "a wrong password")
    html = response.get_data(as_text=True)
    assert GENERIC in html and "deactivated" not in html


def test_remember_me_sets_a_cookie_that_restores_the_login(client, new_client, school):
    plain = new_client()
    assert try_login(plain, school.teacher.email, PASSWORD).status_code == 302
    assert plain.get_cookie(REMEMBER) is None

    assert try_login(client, school.teacher.email, PASSWORD, remember=True).status_code == 302
    cookie = client.get_cookie(REMEMBER)
    assert cookie is not None and cookie.http_only

    # A browser that kept only the remember cookie (the session cookie expired) is logged in.
    later = new_client()
    later.set_cookie(REMEMBER, cookie.value)
    assert is_logged_in(later)


def test_logout_signs_out_and_clears_remember_me(client, school):
    try_login(client, school.teacher.email, PASSWORD, remember=True)
    response = post(client, "/logout")
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    assert client.get_cookie(REMEMBER) is None
    assert not is_logged_in(client)


# --- the rate limit ----------------------------------------------------------------------------

@pytest.fixture
def login_limit(app) -> int:
    return parse_limit(app.config["LOGIN_RATE_LIMIT"]).amount


def test_failed_logins_are_rate_limited_until_reset(client, new_client, school, login_limit):
    email = school.teacher.email
    for attempt in range(login_limit):
        assert try_login(client, email, "wrong guess").status_code == 422, attempt
    response = try_login(client, email, "wrong guess")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    # Locked out: the right password is refused too.
    assert try_login(client, email, PASSWORD).status_code == 429
    assert not is_logged_in(client)
    # The limit is per account: another person on the same network can still log in.
    assert try_login(client, school.students[0].email, PASSWORD).status_code == 302

    limiter.reset()
    assert try_login(new_client(), email, PASSWORD).status_code == 302


def test_successful_logins_do_not_count(client, new_client, school, login_limit):
    email = school.teacher.email
    for _ in range(login_limit + 2):
        browser = new_client()
        assert try_login(browser, email, PASSWORD).status_code == 302
    for attempt in range(login_limit - 1):
        assert try_login(client, email, "wrong guess").status_code == 422, attempt
    assert try_login(new_client(), email, PASSWORD).status_code == 302
    # Had that success counted, this would be the attempt over the limit.
    assert try_login(client, email, "wrong guess").status_code == 422
    assert try_login(client, email, "wrong guess").status_code == 429


# --- signing sessions out ------------------------------------------------------------------------

def test_deactivation_signs_out_existing_sessions(client, new_client, school):
    student = school.students[0]
    try_login(client, student.email, PASSWORD, remember=True)
    remember = client.get_cookie(REMEMBER).value
    assert is_logged_in(client)

    admin = new_client()
    login(admin, school.admin)
    assert post(admin, f"/admin/users/{student.id}/active", {"active": "0"}).status_code == 302

    response = client.get("/")
    assert response.status_code == 302 and urlsplit(response.location).path == "/login"
    cookie_only = new_client()
    cookie_only.set_cookie(REMEMBER, remember)
    assert not is_logged_in(cookie_only)

    # Reactivated, the person logs in again; the old session stays signed out.
    assert post(admin, f"/admin/users/{student.id}/active", {"active": "1"}).status_code == 302
    assert not is_logged_in(client)
    assert try_login(client, student.email, PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_password_change_signs_out_other_sessions_but_keeps_this_one(client, new_client, school):
    user = school.students[0]
    earlier = new_client()
    try_login(earlier, user.email, PASSWORD, remember=True)
    remember = earlier.get_cookie(REMEMBER).value
    assert is_logged_in(earlier)

    login(client, user)
    response = post(client, "/account/password", {
        "current_password": PASSWORD, "new_password": "a brand new password",
        "confirm_password": "a brand new password"})
    assert response.status_code == 302
    assert ("success", "Your password was changed. Other devices have been signed out.") in \
        flashes(client.get(response.location).get_data(as_text=True))

    assert is_logged_in(client)
    assert not is_logged_in(earlier)
    cookie_only = new_client()
    cookie_only.set_cookie(REMEMBER, remember)
    assert not is_logged_in(cookie_only)
    assert try_login(new_client(), user.email, PASSWORD).status_code == 422
    assert try_login(new_client(), user.email, "a brand new password").status_code == 302


def test_password_change_keeps_remember_me_on_this_device(client, new_client, school):
    user = school.students[0]
    try_login(client, user.email, PASSWORD, remember=True)
    response = post(client, "/account/password", {
        "current_password": PASSWORD, "new_password": "a brand new password",
        "confirm_password": "a brand new password"})
    assert response.status_code == 302
    cookie_only = new_client()
    cookie_only.set_cookie(REMEMBER, client.get_cookie(REMEMBER).value)
    assert is_logged_in(cookie_only)


# --- where login sends you -----------------------------------------------------------------------

OFF_SITE = ["//evil.example", "https://evil.example", "http://evil.example/login",
            "///evil.example", "/\\evil.example", "\\\\evil.example", "/\t/evil.example",
            "javascript:alert(1)", "evil.example", " //evil.example", "https:/evil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_never_leaves_the_site(client, school, target):
    response = try_login(client, school.teacher.email, PASSWORD, next_=target)
    assert response.status_code == 302
    assert response.location == "/my-day"  # the teacher's landing page instead
    # Already logged in, /login?next= redirects too: same rule.
    response = client.get(f"/login?next={quote(target, safe='')}")
    assert response.status_code == 302 and response.location == "/my-day"


def test_next_within_the_site_is_followed(client, school):
    response = client.get("/students?q=sara")
    next_ = dict(p.split("=", 1) for p in urlsplit(response.location).query.split("&"))["next"]
    data = {"email": school.teacher.email, "password": PASSWORD,
            "csrf_token": csrf_token(client, "/login")}
    response = client.post(f"/login?next={next_}", data=data)
    assert response.status_code == 302 and response.location == "/students?q=sara"
