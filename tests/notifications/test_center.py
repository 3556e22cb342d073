"""The notification center over HTTP: the bell's count on every page, the list (newest first,
paged, flat query count), opening a notification (marks it read, goes to its deep link), mark
all read; devices (the subscription endpoint, the settings page, logout forgetting this device);
the service worker and manifest at the site root."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification, NotificationType, Priority, PushSubscription
from tests.notifications.conftest import CHROME_ANDROID, FIREFOX_WINDOWS

HTMX = {"HX-Request": "true"}


def bulk_notifications(user, count: int, start=None) -> list[Notification]:
    """``count`` notifications, one a minute, oldest first (inserted directly: fast)."""
    start = start or utcnow() - timedelta(minutes=count)
    # Session notifications: new chat messages are counted by the Chats badge, not the bell.
    made = [Notification(center_id=user.center_id, user_id=user.id,
                         type=NotificationType.SESSION_SCHEDULED, priority=Priority.NORMAL,
                         title=f"Session {n}", body=f"body {n}", link=f"/sessions/1?n={n}",
                         tag="session-1", created_at=start + timedelta(minutes=n))
            for n in range(count)]
    db.session.add_all(made)
    db.session.commit()
    return made


def bell_count(html: str) -> str | None:
    """The bell's text, or None when it is hidden (no unread notifications)."""
    match = re.search(r'<span id="notification-count"([^>]*)>([^<]*)<', html)
    assert match, "no bell on the page"
    return None if " hidden" in match.group(1) else match.group(2)


def listed_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li id="notification-(\d+)"', html)]


# --- the bell ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/notifications", "/chat/", "/calendar", "/account"])
def test_every_page_shows_the_unread_count(school, as_user, path):
    s1 = school.students[0]
    browser = as_user(s1)
    assert bell_count(browser.get(path).get_data(as_text=True)) is None
    made = bulk_notifications(s1, 3)
    bulk_notifications(school.students[1], 5)  # someone else's
    services.mark_read(s1, made[0])
    assert bell_count(browser.get(path).get_data(as_text=True)) == "2"


def test_the_bell_says_99_plus_beyond_99(school, as_user):
    s1 = school.students[0]
    bulk_notifications(s1, 120)
    html = as_user(s1).get("/").get_data(as_text=True)
    assert bell_count(html) == "99+"
    assert '99+<span class="visually-hidden"> unread</span>' in html  # read as "99+ unread"


# --- the list ------------------------------------------------------------------------------------

def test_the_list_is_newest_first_and_paged(school, as_user):
    s1 = school.students[0]
    made = bulk_notifications(s1, services.PAGE_SIZE + 5)
    newest_first = [n.id for n in reversed(made)]
    browser = as_user(s1)

    first = browser.get("/notifications").get_data(as_text=True)
    assert listed_ids(first) == newest_first[:services.PAGE_SIZE]
    assert "Page 1 of 2" in first
    second = browser.get("/notifications?page=2").get_data(as_text=True)
    assert listed_ids(second) == newest_first[services.PAGE_SIZE:]
    # The pager's HTMX request gets the list fragment alone.
    fragment = browser.get("/notifications?page=2", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="notification-list">')
    assert "<html" not in fragment and listed_ids(fragment) == newest_first[services.PAGE_SIZE:]
    assert listed_ids(browser.get("/notifications?page=99").get_data(as_text=True)) == []
    assert listed_ids(browser.get("/notifications?page=junk").get_data(as_text=True)) == \
        newest_first[:services.PAGE_SIZE]


def test_same_instant_notifications_are_ordered_by_id(school, as_user):
    s1 = school.students[0]
    created = services.notify([s1], NotificationType.NEW_MESSAGE, "first") + \
        services.notify([s1], NotificationType.NEW_MESSAGE, "second")
    for n in created:
        n.created_at = created[0].created_at
    db.session.commit()
    html = as_user(s1).get("/notifications").get_data(as_text=True)
    assert listed_ids(html) == [created[1].id, created[0].id]


def test_the_list_shows_only_your_own(school, as_user):
    s1, s2 = school.students
    mine, theirs = bulk_notifications(s1, 2), bulk_notifications(s2, 2)
    html = as_user(s1).get("/notifications").get_data(as_text=True)
    assert sorted(listed_ids(html)) == sorted(n.id for n in mine)
    assert not set(listed_ids(html)) & {n.id for n in theirs}


def test_the_list_query_count_does_not_grow_with_rows(school, as_user, count_queries):
    s1 = school.students[0]
    browser = as_user(s1)
    bulk_notifications(s1, 3)
    browser.get("/notifications")
    with count_queries() as few:
        browser.get("/notifications")
    bulk_notifications(s1, services.PAGE_SIZE)
    with count_queries() as many:
        html = browser.get("/notifications").get_data(as_text=True)
    assert len(listed_ids(html)) == services.PAGE_SIZE
    assert many.count == few.count, many.statements


def test_the_panel_shows_the_latest_eight(school, as_user):
    s1 = school.students[0]
    browser = as_user(s1)
    assert "all caught up" in browser.get("/notifications/panel").get_data(as_text=True)
    made = bulk_notifications(s1, 12)
    html = browser.get("/notifications/panel", headers=HTMX).get_data(as_text=True)
    assert listed_ids(html) == [n.id for n in reversed(made)][:8]


def test_logged_out_visitors_are_sent_to_login(client):
    for path in ("/notifications", "/notifications/panel", "/notifications/settings",
                 "/notifications/1/open"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- opening and reading -----------------------------------------------------------------------------

def test_opening_marks_read_and_goes_to_the_deep_link(school, as_user):
    """The list's link POSTs (htmx) to open: read, then HX-Location to the deep link. A plain
    POST gets the 302. A GET of the same address only goes there and changes nothing."""
    s1 = school.students[0]
    [notification] = services.notify([s1], NotificationType.SESSION_SCHEDULED, "Maths",
                                     "Monday", "/sessions/5?at=9")
    db.session.commit()
    browser = as_user(s1)
    page = browser.get("/notifications").get_data(as_text=True)
    assert f'href="/sessions/5?at=9" hx-post="/notifications/{notification.id}/open"' in page

    response = browser.get(f"/notifications/{notification.id}/open")
    assert response.status_code == 302 and response.headers["Location"] == "/sessions/5?at=9"
    db.session.expire_all()
    assert db.session.get(Notification, notification.id).read_at is None  # a GET is harmless
    assert browser.post(f"/notifications/{notification.id}/open").status_code == 400  # no CSRF

    response = browser.post(f"/notifications/{notification.id}/open",
                            data={"csrf_token": browser.csrf}, headers=HTMX)
    assert response.status_code == 204
    assert json.loads(response.headers["HX-Location"])["path"] == "/sessions/5?at=9"
    db.session.expire_all()
    assert db.session.get(Notification, notification.id).read_at is not None
    assert services.unread_count(s1) == 0
    # Opening it again keeps the first read time and still goes there.
    read_at = db.session.get(Notification, notification.id).read_at
    response = browser.post(f"/notifications/{notification.id}/open",
                            data={"csrf_token": browser.csrf})
    assert response.status_code == 302 and response.headers["Location"] == "/sessions/5?at=9"
    db.session.expire_all()
    assert db.session.get(Notification, notification.id).read_at == read_at


@pytest.mark.parametrize("link", ["https://evil.example/phish", "//evil.example/phish",
                                  "/\\evil.example/phish", "javascript:alert(1)"])
def test_opening_never_leaves_the_site(school, as_user, link):
    s1 = school.students[0]
    [notification] = services.notify([s1], NotificationType.NEW_MESSAGE, "x", "", link)
    db.session.commit()
    browser = as_user(s1)
    response = browser.get(f"/notifications/{notification.id}/open")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    response = browser.post(f"/notifications/{notification.id}/open",
                            data={"csrf_token": browser.csrf})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert f'href="/" hx-post="/notifications/{notification.id}/open"' in \
        browser.get("/notifications").get_data(as_text=True)


def test_another_users_notification_is_404(school, make, as_user):
    s1, s2 = school.students
    [theirs] = bulk_notifications(s2, 1)
    browser = as_user(s1)
    assert browser.get(f"/notifications/{theirs.id}/open").status_code == 404
    assert browser.post(f"/notifications/{theirs.id}/read",
                        data={"csrf_token": browser.csrf}).status_code == 404
    for junk in ("abc", "0", "-1", "99999999999"):
        assert browser.get(f"/notifications/{junk}/open").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None


def test_mark_one_read_answers_the_updated_item(school, as_user):
    s1 = school.students[0]
    [notification] = bulk_notifications(s1, 1)
    browser = as_user(s1)
    response = browser.post(f"/notifications/{notification.id}/read",
                            data={"csrf_token": browser.csrf}, headers=HTMX)
    assert response.status_code == 200
    item = response.get_data(as_text=True)
    assert f'id="notification-{notification.id}"' in item
    assert "unread" not in item and "Mark read" not in item
    assert services.unread_count(s1) == 0


def test_mark_all_read(school, as_user):
    s1, s2 = school.students
    bulk_notifications(s1, 4)
    bulk_notifications(s2, 2)
    browser = as_user(s1)
    response = browser.post("/notifications/read-all", data={"csrf_token": browser.csrf},
                            follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "4 notifications marked as read." in html
    assert bell_count(html) is None
    assert services.unread_count(s1) == 0
    assert services.unread_count(s2) == 2
    assert browser.post("/notifications/read-all").status_code == 400  # no CSRF token


# --- devices -------------------------------------------------------------------------------------

def subscription_json(n: int = 1, endpoint=None) -> dict:
    return {"endpoint": endpoint or f"https://fcm.googleapis.com/fcm/send/device-{n}",
            "expirationTime": None,
            "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0LWF1dGgtMTY"}}


def post_subscription(browser, body, csrf=True, agent=CHROME_ANDROID):
    headers = {"User-Agent": agent, "Content-Type": "application/json"}
    if csrf:
        headers["X-CSRFToken"] = browser.csrf
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return browser.post("/notifications/subscriptions", data=data, headers=headers)


def test_the_browser_posts_its_subscription_as_json(school, as_user):
    s1 = school.students[0]
    browser = as_user(s1)
    response = post_subscription(browser, subscription_json())
    assert response.status_code == 201
    assert response.get_json()["browser"] == "Chrome"
    assert response.get_json()["platform"] == "Android"
    [row] = db.session.scalars(select(PushSubscription)).all()
    assert (row.user_id, row.center_id, row.active) == (s1.id, s1.center_id, True)
    assert row.endpoint == subscription_json()["endpoint"]
    # The same endpoint again (the page re-sends it on every load) updates the one row.
    assert post_subscription(browser, subscription_json(), agent=FIREFOX_WINDOWS).status_code == 201
    db.session.expire_all()
    [row] = db.session.scalars(select(PushSubscription)).all()
    assert (row.browser, row.platform) == ("Firefox", "Windows")


@pytest.mark.parametrize("body", ["{not json", "[]", json.dumps({"endpoint": "https://x.example"}),
                                  json.dumps({"keys": {"p256dh": "B" * 87, "auth": "a" * 22}}),
                                  json.dumps(subscription_json(endpoint="http://push.example/x")),
                                  json.dumps({**subscription_json(), "keys": {"p256dh": "B",
                                                                              "auth": "a"}})])
def test_a_malformed_subscription_is_422(school, as_user, body):
    browser = as_user(school.students[0])
    response = post_subscription(browser, body)
    assert response.status_code == 422
    assert response.get_json()["error"]
    assert db.session.scalar(select(PushSubscription)) is None


def test_a_subscription_without_the_csrf_header_is_refused(school, as_user):
    browser = as_user(school.students[0])
    response = post_subscription(browser, subscription_json(), csrf=False)
    assert response.status_code == 400
    assert db.session.scalar(select(PushSubscription)) is None


def test_settings_lists_devices_and_removes_one(school, as_user):
    s1, s2 = school.students
    browser = as_user(s1)
    post_subscription(browser, subscription_json(1), agent=CHROME_ANDROID)
    post_subscription(browser, subscription_json(2), agent=FIREFOX_WINDOWS)
    theirs = post_subscription(as_user(s2), subscription_json(3)).get_json()["id"]
    html = browser.get("/notifications/settings").get_data(as_text=True)
    assert "Chrome on Android" in html and "Firefox on Windows" in html
    phone = db.session.scalar(select(PushSubscription).where(
        PushSubscription.endpoint == subscription_json(1)["endpoint"]))

    response = browser.post(f"/notifications/subscriptions/{phone.id}/delete",
                            data={"csrf_token": browser.csrf}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "will no longer get notifications" in html
    assert "Chrome on Android" not in html and "Firefox on Windows" in html
    # Someone else's device is not yours to remove.
    assert browser.post(f"/notifications/subscriptions/{theirs}/delete",
                        data={"csrf_token": browser.csrf}).status_code == 404
    db.session.expire_all()
    assert {s.user_id for s in db.session.scalars(select(PushSubscription))} == {s1.id, s2.id}


def test_logging_out_forgets_this_device_only(school, as_user):
    s1 = school.students[0]
    browser = as_user(s1)
    post_subscription(browser, subscription_json(1))
    post_subscription(browser, subscription_json(2))
    response = browser.post("/logout", data={"csrf_token": browser.csrf,
                                             "push_endpoint": subscription_json(1)["endpoint"]})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert [s.endpoint for s in db.session.scalars(select(PushSubscription))] == [
        subscription_json(2)["endpoint"]]

    other = as_user(s1)
    other.post("/logout", data={"csrf_token": other.csrf, "push_endpoint": ""})
    assert db.session.scalar(select(PushSubscription)) is not None


def test_an_endpoint_of_someone_else_is_not_moved_to_another_account(school, as_user):
    """(Issue 9, item 9: tests/security/test_push_endpoints.py has the cross-center case.)"""
    s1, s2 = school.students
    post_subscription(as_user(s1), subscription_json(1))
    response = post_subscription(as_user(s2), subscription_json(1))
    assert response.status_code == 409
    assert "another account" in response.get_json()["error"]
    db.session.expire_all()
    [row] = db.session.scalars(select(PushSubscription)).all()
    assert row.user_id == s1.id
    assert services.devices(s2) == []


# --- service worker and manifest -----------------------------------------------------------------

def test_the_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.headers["Service-Worker-Allowed"] == "/"
    assert "no-cache" in response.headers["Cache-Control"]
    assert "javascript" in response.mimetype
    assert 'addEventListener("push"' in response.get_data(as_text=True)


def test_the_manifest_names_real_icons(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200 and response.mimetype == "application/manifest+json"
    manifest = response.get_json()
    assert manifest["scope"] == "/" and manifest["start_url"] == "/"
    assert {"any", "maskable"} == {icon["purpose"] for icon in manifest["icons"]}
    for icon in manifest["icons"]:
        image = client.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == "image/png"
        assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
