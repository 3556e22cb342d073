"""Forms that navigate (app/web.py navigate_to): a plain POST gets a 302; an HTMX request gets
204 + HX-Location, never a redirect that htmx would follow and paste into the form."""
import json

from tests.accounts.conftest import HTMX, flashes, fresh, htmx_headers
from tests.conftest import login, post


def _location(response) -> dict:
    assert response.status_code == 204, response.get_data(as_text=True)[:500]
    assert "Location" not in response.headers
    return json.loads(response.headers["HX-Location"])


def test_plain_profile_post_redirects(client, school):
    login(client, school.students[0])
    response = post(client, "/account", {"name": "Sara New", "timezone": "Asia/Tokyo"})
    assert response.status_code == 302 and response.location == "/account"


def test_htmx_profile_post_navigates_and_the_next_page_shows_the_message(client, school):
    user = school.students[0]
    login(client, user)
    response = client.post("/account", data={"name": "Sara New", "timezone": "Asia/Tokyo"},
                           headers=htmx_headers(client))
    location = _location(response)
    assert location["path"] == "/account" and location["target"] == "body"
    assert (fresh(user).name, user.timezone) == ("Sara New", "Asia/Tokyo")
    # htmx loads the path with the headers it was given: the full page, flash included, with
    # the footer in the new zone.
    page = client.get(location["path"], headers=dict(HTMX, **location["headers"]))
    html = page.get_data(as_text=True)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert ("success", "Your profile was saved.") in flashes(html)
    assert "Times are shown in Asia/Tokyo" in html


def test_htmx_password_change_reloads_the_whole_page(client, school):
    login(client, school.students[0])
    response = client.post("/account/password", headers=htmx_headers(client), data={
        "current_password": "correct horse battery", "new_password": "a brand new password",
        "confirm_password": "a brand new password"})
    # A full load: the session was signed in again (its CSRF token and websocket are new).
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/account"
    assert "Your password was changed" in str(flashes(client.get("/account").get_data(as_text=True)))


def test_admin_forms_navigate_over_htmx(client, school):
    login(client, school.admin)
    response = client.post("/admin/courses", data={"name": "Geometry", "description": ""},
                           headers=htmx_headers(client))
    path = _location(response)["path"]
    assert path.startswith("/admin/courses/")
    html = client.get(path).get_data(as_text=True)
    assert "Course Geometry was created" in str(flashes(html))

    response = client.post(path, data={"role": "STUDENT",
                                       "user_ids": [str(school.outsider.id)]},
                           headers=htmx_headers(client))
    assert _location(response)["path"] == path
    assert ("success", "1 student enrolled.") in flashes(client.get(path).get_data(as_text=True))

    response = client.post(f"/admin/users/{school.outsider.id}/active", data={"active": "0"},
                           headers=dict(htmx_headers(client), Referer="http://localhost/admin/users?q=olga"))
    assert _location(response)["path"] == "http://localhost/admin/users?q=olga"
