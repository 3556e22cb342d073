"""The profile page: name, time zone and password."""
from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import AuditLog
from app.extensions import db
from tests.accounts.conftest import HTMX, flashes, fresh
from tests.conftest import PASSWORD, login, post


def test_profile_shows_the_current_values(client, school):
    login(client, school.students[1])
    html = client.get("/account").get_data(as_text=True)
    assert 'value="Ben Student"' in html
    assert '<option selected value="America/New_York">' in html


def test_name_and_time_zone_update(client, school):
    user = school.students[0]
    login(client, user)
    response = post(client, "/account", {"name": "  Sara Smith ", "timezone": "Asia/Tokyo"})
    assert response.status_code == 302 and response.location == "/account"
    page = client.get("/account").get_data(as_text=True)
    assert ("success", "Your profile was saved.") in flashes(page)
    assert "Times are shown in Asia/Tokyo" in page
    user = fresh(user)
    assert (user.name, user.timezone) == ("Sara Smith", "Asia/Tokyo")
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.profile_updated"))
    assert (entry.actor_id, entry.target_id) == (user.id, user.id)


def test_invalid_time_zone_is_422_and_keeps_what_was_typed(client, school):
    user = school.students[0]
    login(client, user)
    for timezone in ("Mars/Olympus", "", "EST5EDT"):
        response = post(client, "/account", {"name": "Sara Typed", "timezone": timezone})
        html = response.get_data(as_text=True)
        assert response.status_code == 422, timezone
        assert "Pick a time zone from the list." in html
        assert 'value="Sara Typed"' in html
    user = fresh(user)
    assert (user.name, user.timezone) == ("Sara Student", None)


def test_empty_or_long_name_is_422(client, school):
    user = school.students[0]
    login(client, user)
    for name in ("", "   ", "x" * 121):
        response = post(client, "/account", {"name": name, "timezone": "Europe/Paris"})
        assert response.status_code == 422, name
    assert fresh(user).name == "Sara Student"


def test_htmx_profile_error_returns_the_form_fragment(client, school):
    login(client, school.students[0])
    response = post(client, "/account", {"name": "Sara <b>Typed</b>", "timezone": "Nowhere"},
                    headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="profile-form"') and "<html" not in html
    assert 'value="Sara &lt;b&gt;Typed&lt;/b&gt;"' in html


def change_password(client, current, new, confirm, **kwargs):
    return post(client, "/account/password", {"current_password": current, "new_password": new,
                                              "confirm_password": confirm}, **kwargs)


def test_password_change_validation(client, school):
    user = school.students[0]
    login(client, user)
    cases = [
        (("wrong password!", "a good new password", "a good new password"),
         "Your current password is not correct."),
        ((PASSWORD, "short", "short"), "Use at least 10 characters."),
        ((PASSWORD, "a good new password", "a different one!!"), "The two passwords differ."),
        ((PASSWORD, "", ""), "This field is required."),
    ]
    for (current, new, confirm), message in cases:
        response = change_password(client, current, new, confirm)
        assert response.status_code == 422, message
        assert message in response.get_data(as_text=True)
    assert fresh(user).check_password(PASSWORD)
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.action == "user.password_changed")) is None


def test_htmx_password_error_returns_the_password_fragment(client, school):
    login(client, school.students[0])
    response = change_password(client, "wrong password!", "short", "short", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith('<form id="password-form"') and "<html" not in html
    assert "Your current password is not correct." in html
    assert "Use at least 10 characters." in html
    assert "wrong password!" not in html  # passwords are never echoed back


def test_password_change_success(client, school):
    user = school.students[0]
    login(client, user)
    response = change_password(client, PASSWORD, "a brand new password", "a brand new password")
    assert response.status_code == 302 and response.location == "/account"
    user = fresh(user)
    assert user.check_password("a brand new password") and not user.check_password(PASSWORD)
    entry = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.password_changed"))
    assert entry.actor_id == user.id
