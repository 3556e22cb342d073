"""Login and logout against an attacker: revocation of captured cookies, CSRF token rotation,
the per-account rate limit that spellings and new addresses do not escape, the per-address
limit, equal work for unknown addresses, and a ``next`` that cannot inject a header."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from limits import parse as parse_limit

from app.accounts import models as account_models
from app.accounts import services as account_services
from tests.conftest import PASSWORD, csrf_token, login

REMEMBER = "classhub_remember"
SESSION = "classhub_session"


def try_login(client, email, password, *, remember=False, address="127.0.0.1", next_=None):
    data = {"email": email, "password": password, "csrf_token": csrf_token(client, "/login")}
    if remember:
        data["remember"] = "y"
    path = "/login" if next_ is None else f"/login?next={quote(next_, safe='')}"
    return client.post(path, data=data, environ_base={"REMOTE_ADDR": address})


def is_logged_in(client) -> bool:
    response = client.get("/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


@pytest.fixture
def login_limit(app) -> int:
    return parse_limit(app.config["LOGIN_RATE_LIMIT"]).amount


# --- logout revokes on the server ----------------------------------------------------------------

def test_cookies_captured_before_logout_no_longer_work(client, new_client, school):
    user = school.students[0]
    assert try_login(client, user.email, PASSWORD, remember=True).status_code == 302
    captured_session = client.get_cookie(SESSION).value
    captured_remember = client.get_cookie(REMEMBER).value
    assert is_logged_in(client)

    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 302
    assert "You have logged out." in client.get("/login").get_data(as_text=True)

    # Someone who copied the cookies earlier replays them: both are dead.
    with_session = new_client()
    with_session.set_cookie(SESSION, captured_session)
    assert not is_logged_in(with_session)
    with_remember = new_client()
    with_remember.set_cookie(REMEMBER, captured_remember)
    assert not is_logged_in(with_remember)
    # The person logs in again as usual.
    assert try_login(new_client(), user.email, PASSWORD).status_code == 302


# --- CSRF token rotation ---------------------------------------------------------------------------

def test_the_csrf_token_changes_at_login_and_the_old_one_is_refused(client, school):
    before = csrf_token(client, "/login")
    response = client.post("/login", data={"email": school.teacher.email, "password": PASSWORD,
                                           "csrf_token": before})
    assert response.status_code == 302
    after = csrf_token(client, "/account")
    assert after != before
    form = {"name": "Renamed By Attacker", "timezone": "Europe/London"}
    assert client.post("/account", data={**form, "csrf_token": before}).status_code == 400
    assert client.post("/account", data={**form, "csrf_token": after}).status_code in (200, 204,
                                                                                       302)


# --- the per-account limit --------------------------------------------------------------------------

def spellings(email: str) -> list[str]:
    """Ways to type one account's address that all log into it (case, full-width domain,
    spaces around it)."""
    local, domain = email.split("@")
    wide = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in domain)
    return [email, email.upper(), f"{local}@{wide}", f"  {email.title()} ", f"{local}@{domain.upper()}"]


def test_every_spelling_of_an_address_reaches_the_same_account(new_client, school):
    for spelling in spellings(school.teacher.email):
        assert try_login(new_client(), spelling, PASSWORD).status_code == 302, spelling


def test_spelling_variants_share_one_allowance(client, new_client, school, login_limit):
    variants = spellings(school.teacher.email)
    for attempt in range(login_limit):
        response = try_login(client, variants[attempt % len(variants)], "wrong guess")
        assert response.status_code == 422, (attempt, variants[attempt % len(variants)])
    for variant in variants:
        assert try_login(new_client(), variant, "wrong guess").status_code == 429, variant
    # Locked means locked: the right password in any spelling waits too.
    assert try_login(new_client(), variants[2], PASSWORD).status_code == 429
    # Another account is not affected.
    assert try_login(new_client(), school.students[0].email, PASSWORD).status_code == 302


def test_a_new_address_does_not_reset_the_account_limit(new_client, school, login_limit):
    email = school.teacher.email
    for attempt in range(login_limit):
        response = try_login(new_client(), email, "wrong guess", address=f"10.0.0.{attempt + 1}")
        assert response.status_code == 422, attempt
    response = try_login(new_client(), email, "wrong guess", address="192.0.2.77")
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_the_per_address_limit_still_holds(new_client, make, school):
    """60 login attempts a minute from one address, whatever the accounts (successful ones
    count here: the limit is on the address's traffic)."""
    people = [make.user(school.center, commit=False) for _ in range(61)]
    account_models.db.session.commit()
    for n, person in enumerate(people[:60]):
        assert try_login(new_client(), person.email, PASSWORD,
                         address="198.51.100.9").status_code == 302, n
    assert try_login(new_client(), people[60].email, PASSWORD,
                     address="198.51.100.9").status_code == 429
    assert try_login(new_client(), people[60].email, PASSWORD,
                     address="198.51.100.10").status_code == 302


# --- equal work for unknown addresses ------------------------------------------------------------

@pytest.fixture
def hash_checks(monkeypatch):
    """Every password hash the app checks, by its method (the real check still runs)."""
    seen: list[str] = []
    real = account_models.check_password_hash

    def checking(pwhash, password):
        seen.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(account_models, "check_password_hash", checking)
    monkeypatch.setattr(account_services, "check_password_hash", checking)
    return seen


def test_unknown_and_malformed_addresses_cost_one_password_check_like_a_known_one(
        new_client, school, hash_checks):
    from werkzeug.security import generate_password_hash

    user = school.students[0]
    user.set_password("a real password")  # made by the method real accounts get
    account_models.db.session.commit()
    real_method = generate_password_hash("x").split("$", 1)[0]

    answers = {}
    for email in (user.email, "nobody@example.org", "not an email at all"):
        before = len(hash_checks)
        answers[email] = try_login(new_client(), email, "wrong guess").status_code
        assert hash_checks[before:] == [real_method], email
    assert set(answers.values()) == {422}


# --- next with control characters -----------------------------------------------------------------

@pytest.mark.parametrize("target", ["/students\r\nSet-Cookie: evil=1", "/\nx", "/a\x0bb",
                                    "/calendar\u2028x"])
def test_next_with_a_line_break_goes_home_instead_of_failing(client, school, target):
    # Home: the teacher's landing page, My Day.
    response = try_login(client, school.teacher.email, PASSWORD, next_=target)
    assert response.status_code == 302 and response.location == "/my-day"
    response = client.get(f"/login?next={quote(target, safe='')}")
    assert response.status_code == 302 and response.location == "/my-day"
    assert "evil" not in response.headers.get("Set-Cookie", "")


def test_login_page_with_a_line_break_in_next_renders(client, school):
    response = client.get("/login?next=%2Fa%0D%0Ab")
    assert response.status_code == 200
    login(client, school.teacher)
