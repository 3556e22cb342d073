"""Hostile values on the main endpoints never give a 5xx (issue 9, item 11). Runs on SQLite and,
with DATABASE_URL, on PostgreSQL, where a NUL or an out-of-range number fails inside the query
and poisons the transaction. In TESTING mode an unhandled error raises in the test itself, so a
crash shows up as a traceback naming the endpoint, the field and the value.

Also here: NUL in JSON bodies and in a path is refused before the database, and the error
handler rolls a failed transaction back before it renders (it shows the signed-in user, which
is a query)."""
from __future__ import annotations

import json

import pytest
from flask import abort
from sqlalchemy import text

from app.extensions import db
from app.notifications.models import PushSubscription
from app.scheduling import services as scheduling
from tests.conftest import csrf_token

HOSTILE = ["", "\x00", "9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "25:61", "-1",
           "99999999999999999999999", "1e309", "\r\nX-Injected: 1", "<script>x</script>",
           "'; DROP TABLE users; --", "../../etc/passwd", "１２", "\u202e😀", "A" * 20000, "[]"]


def post_all(browser, path, base: dict, *, multi=(), expect_ok=()):
    """POST ``base`` with each field in turn replaced by each hostile value (and once with all
    fields hostile): never a 5xx."""
    token = browser.csrf
    seen = set()
    for field in list(base) + list(multi):
        for value in HOSTILE:
            data = dict(base, csrf_token=token)
            data[field] = [value, value] if field in multi else value
            response = browser.post(path, data=data)
            assert response.status_code < 500, (path, field, value)
            seen.add(response.status_code)
    for value in HOSTILE:
        data = {field: value for field in base}
        data["csrf_token"] = token
        assert browser.post(path, data=data).status_code < 500, (path, "all", value)
    return seen


@pytest.fixture
def teacher(school, as_user):
    return as_user(school.teacher)


def test_scheduling_endpoints(school, series, teacher):
    original = series.first_original.isoformat()
    session_form = {"title": "Quadratics", "description": "x", "type": "CLASS",
                    "participant_ids": str(school.students[0].id), "course_id": "",
                    "group_id": "", "date": series.first_original.date().isoformat(),
                    "start_time": "18:00", "timezone": "Europe/London", "duration_minutes": "60",
                    "frequency": "WEEKLY", "weekdays": "MO", "ends": "count", "count": "3",
                    "until_date": "", "allow_conflicts": "1"}
    post_all(teacher, "/sessions", session_form)
    post_all(teacher, f"/sessions/{series.id}/edit", session_form)
    post_all(teacher, f"/sessions/{series.id}/occurrences/{original}/split", session_form)
    post_all(teacher, f"/sessions/{series.id}/occurrences/{original}/move",
             {"date": series.first_original.date().isoformat(), "start_time": "17:00",
              "duration_minutes": "45", "reason": "x", "allow_conflicts": "1"})
    post_all(teacher, f"/sessions/{series.id}/participants", {}, multi=("user_ids",))
    post_all(teacher, f"/sessions/{series.id}/occurrences/{original}/cancel", {"reason": "x"})
    for value in HOSTILE:
        for path in (f"/sessions/{value}", f"/sessions/{series.id}/occurrences/{value}/move",
                     f"/calendar?date={value}", f"/calendar?view={value}",
                     f"/sessions/new?date={value}&time={value}", f"/students?q={value}&page={value}"):
            assert teacher.get(path).status_code < 500, path


def test_account_and_admin_endpoints(school, as_user, client):
    student = as_user(school.students[0])
    post_all(student, "/account", {"name": "Sara", "timezone": "Europe/London"})
    post_all(student, "/account/password", {"current_password": "x", "new_password": "y" * 12,
                                            "confirm_password": "z" * 12})
    post_all(student, f"/sessions/{school.course.id}/rsvp", {"answer": "ACCEPTED"})
    post_all(student, "/notifications/settings", {"quiet_enabled": "on", "quiet_start": "22:00",
                                                  "quiet_end": "07:00"})
    admin = as_user(school.admin)
    post_all(admin, "/admin/users/new", {"name": "Nina", "email": "nina@example.org",
                                         "role": "STUDENT", "timezone": "", "password": ""})
    post_all(admin, "/admin/courses", {"name": "Physics", "description": "x"})
    post_all(admin, f"/admin/users/{school.students[1].id}/active", {"active": "0"})
    for value in HOSTILE:
        for path in (f"/admin/users?q={value}&role={value}&page={value}",
                     f"/admin/outbox/{value}", f"/login?next={value}"):
            assert admin.get(path).status_code < 500, path
    # Logged out: the login form and the feed.
    for value in HOSTILE:
        data = {"email": value, "password": value, "csrf_token": csrf_token(client, "/login")}
        assert client.post(f"/login?next={value}", data=data).status_code < 500, value
        assert client.get(f"/calendar/feed/{value}.ics").status_code < 500, value
        assert client.get(f"/rsvp/{value}").status_code < 500, value


def test_push_subscription_json(school, as_user):
    browser = as_user(school.students[0])
    good = {"endpoint": "https://fcm.googleapis.com/fcm/send/device-1",
            "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0LWF1dGgtMTY"}}

    def send(body):
        raw = body if isinstance(body, str) else json.dumps(body)
        return browser.post("/notifications/subscriptions", data=raw, headers={
            "X-CSRFToken": browser.csrf, "Content-Type": "application/json"})

    # NUL anywhere in the JSON (escaped as \u0000): refused before it reaches the database.
    for body in ({**good, "endpoint": good["endpoint"] + "\x00"},
                 {**good, "keys": {"p256dh": "B" + "A" * 85 + "\x00", "auth": good["keys"]["auth"]}},
                 {**good, "extra\x00": 1}, [good, {"x": ["\x00"]}]):
        response = send(body)
        assert response.status_code == 400, body
    assert db.session.query(PushSubscription).count() == 0
    for value in HOSTILE:
        for body in ({**good, "endpoint": value}, {**good, "keys": value},
                     {**good, "keys": {"p256dh": value, "auth": value}}, value,
                     {**good, value: value}):
            assert send(body).status_code < 500, body
    assert send(good).status_code == 201


def test_nul_in_a_path_is_refused_before_the_database(school, series, client, teacher):
    token = scheduling.feed_token_for(school.students[0])
    assert client.get(f"/calendar/feed/{token}.ics").status_code == 200
    for path in (f"/calendar/feed/{token}%00.ics", "/calendar/feed/%00.ics",
                 f"/sessions/{series.id}%00", "/chat/threads/1%00"):
        assert teacher.get(path).status_code in (400, 404), path
    assert client.get("/calendar/feed/" + "x" * 40 + "%20;.ics").status_code == 404


def test_the_error_handler_never_queries_a_failed_transaction(app_config, school):
    """A non-testing app (real error handlers) where a view's statement fails and it then
    refuses the request: the 4xx page (which shows the signed-in user: a query) renders, and an
    unexpected error after a failed statement still gives the 500 page, not a second error."""
    from app import create_app

    app = create_app({**app_config, "TESTING": False})

    @app.get("/_test/failed-then-400")
    def failed_then_400():
        try:
            db.session.execute(text("SELECT * FROM no_such_table_at_all"))
        except Exception:  # noqa: BLE001  (what a careless view might do)
            pass
        abort(400, "Refused after a failed statement.")

    @app.get("/_test/failed-then-crash")
    def failed_then_crash():
        db.session.execute(text("SELECT * FROM no_such_table_at_all"))

    from tests.conftest import IsolatedClient, login

    app.test_client_class = IsolatedClient
    browser = app.test_client()
    with app.app_context():
        login(browser, school.teacher)
        response = browser.get("/_test/failed-then-400")
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert "Refused after a failed statement." in page
        assert school.teacher.name in page  # the page still knows who is signed in
        response = browser.get("/_test/failed-then-crash")
        assert response.status_code == 500
        assert "Something went wrong" in response.get_data(as_text=True)
        assert browser.get("/").status_code == 200
