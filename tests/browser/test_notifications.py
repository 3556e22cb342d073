"""Notifications in real Chromium against the live gunicorn server: the service worker at /sw.js
(scope "/") shows a pushed notification with its deep link (delivered through the DevTools
protocol: headless Chromium cannot subscribe to a real push service), the bell's count follows
new notifications live, the bell's panel, and the notification pages on a desktop and a phone."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.notifications import push, services
from app.notifications.models import NotificationType
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.conftest import PASSWORD, commit


def log_in(page, user):
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Where logging in lands: My Day for those who teach, the dashboard for everyone else.
    expect(page.get_by_role("heading", name=re.compile(r"^(Hello, |My Day$)"))).to_be_visible()


def wait_connected(page):
    """The page's websocket is open (static/js/realtime.js has sent its subscriptions)."""
    expect(page.locator("html[data-realtime='open']")).to_have_count(1)


def notify(user, type_=NotificationType.SESSION_SCHEDULED, title="New session: Algebra",
           body="Mon 30 Nov, 16:00 with Terry Teacher", link="/calendar", tag=""):
    [notification] = services.notify([user], type_, title, body, link, tag=tag)
    db.session.commit()
    return notification


def wait_for(page, predicate, timeout=10.0, described=None):
    """Poll ``predicate``; Playwright delivers events (CDP ones too) only while the test is in
    one of its calls, so wait with the page's own timer, not time.sleep. ``described()`` says
    what was seen when it times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        page.wait_for_timeout(100)
    raise AssertionError("timed out waiting" + (f": {described()}" if described else ""))


def watch_service_worker(page, cdp, live_server):
    """What to say when a pushed notification is not shown: the worker's versions and errors
    (DevTools), the worker's requests (its notification's icons come from the server) and the
    server's log. A run of the whole suite once timed out waiting for the first notification,
    and nothing said why."""
    seen = {"versions": [], "errors": [], "requests": []}
    cdp.on("ServiceWorker.workerVersionUpdated", lambda event: seen["versions"].extend(
        (v["runningStatus"], v["status"]) for v in event["versions"]))
    cdp.on("ServiceWorker.workerErrorReported",
           lambda event: seen["errors"].append(event["errorMessage"].get("errorMessage")))
    for outcome in ("requestfinished", "requestfailed"):
        page.context.on(outcome, lambda request, outcome=outcome: seen["requests"].append(
            f"{outcome} {request.url}") if request.service_worker else None)
    return lambda: (f"worker versions {seen['versions'][-4:]}, errors {seen['errors']}, "
                    f"worker requests {seen['requests']}; server log: {live_server.log()[-1500:]}")


def count_shown_notifications(page, live_server, described=None):
    """Once the served sw.js is activated (pushes go to an activated worker; ``ready`` resolves
    while it may still be activating), a reader of how many notifications it has shown (its
    showNotification() promises resolved). Read a worker's notifications only once that count is reached: Chromium's
    getNotifications() keeps a stored notification only if the platform already lists it as
    displayed (or it was written after the read began) and deletes every other one from its
    database (platform_notification_context_impl.cc). A read that lands between the write and the
    display loses that notification for good; polling while a push was being shown did that in
    two CI runs (the icons had been fetched, then every read listed nothing). The wrapper is
    installed from the test, so the worker the browser runs is the real sw.js."""
    wait_for(page, lambda: page.evaluate("""() => navigator.serviceWorker.ready
        .then(r => r.active.state === 'activated')"""), described=described)
    script = f"{live_server.url}/sw.js"
    worker = wait_for(page, lambda: next(
        (w for w in page.context.service_workers if w.url == script), None), described=described)
    worker.evaluate("""() => {
        if (self.__shown !== undefined) return;
        self.__shown = 0;
        const registration = self.registration;
        const show = registration.showNotification.bind(registration);
        registration.showNotification = (...args) => show(...args).then(
            shown => { self.__shown += 1; return shown; });
    }""")
    return lambda: worker.evaluate("() => self.__shown")


def read_notifications(page, expression):
    return page.evaluate("""() => navigator.serviceWorker.ready
        .then(r => r.getNotifications()).then(list => list.map(n => (%s)))""" % expression)


# --- the service worker ----------------------------------------------------------------------------

def test_a_pushed_message_is_shown_by_the_service_worker(school, new_page, live_server):
    student = school.students[0]
    page = new_page()
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    log_in(page, student)

    # push.js registers the worker on every logged-in page, for the whole site.
    registration = page.evaluate("""() => navigator.serviceWorker.ready.then(r => ({
        scope: r.scope, script: r.active && r.active.scriptURL}))""")
    assert registration == {"scope": f"{live_server.url}/", "script": f"{live_server.url}/sw.js"}

    cdp = page.context.new_cdp_session(page)
    registrations = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.update(
               {r["scopeURL"]: r["registrationId"] for r in event["registrations"]
                if not r.get("isDeleted")}))
    described = watch_service_worker(page, cdp, live_server)
    cdp.send("ServiceWorker.enable")
    wait_for(page, lambda: f"{live_server.url}/" in registrations, described=described)
    shown_count = count_shown_notifications(page, live_server, described)

    notification = notify(student, NotificationType.SESSION_REMINDER,
                          "Algebra starts in 15 min", "Mon 30 Nov, 16:00 GMT · 60 min",
                          "/sessions/42", tag="session-42")
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live_server.url, "registrationId": registrations[f"{live_server.url}/"],
        "data": push.payload_for(notification).decode()})

    wait_for(page, lambda: shown_count() == 1, described=described)
    shown = read_notifications(page, """{title: n.title, body: n.body, tag: n.tag, data: n.data,
                                         requireInteraction: n.requireInteraction}""")
    assert shown == [{"title": "Algebra starts in 15 min",
                      "body": "Mon 30 Nov, 16:00 GMT · 60 min", "tag": "session-42",
                      "data": {"url": "/sessions/42", "id": notification.id,
                               "type": "SESSION_REMINDER"},
                      "requireInteraction": True}]

    # A newer push with the same tag replaces the shown one (one per thread or session).
    later = notify(student, NotificationType.NEW_MESSAGE, "Terry Teacher", "Room changed",
                   "/chat/threads/9?at=3", tag="session-42")
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live_server.url, "registrationId": registrations[f"{live_server.url}/"],
        "data": push.payload_for(later).decode()})
    wait_for(page, lambda: shown_count() == 2, described=described)
    assert read_notifications(page, "[n.body, n.data]") == [
        ["Room changed", {"url": "/chat/threads/9?at=3", "id": later.id, "type": "NEW_MESSAGE"}]]
    assert_no_console_errors(page)


def test_a_push_that_is_not_json_still_shows(school, new_page, live_server):
    page = new_page()
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    log_in(page, school.students[1])
    page.evaluate("() => navigator.serviceWorker.ready")
    cdp = page.context.new_cdp_session(page)
    registrations = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.update(
               {r["scopeURL"]: r["registrationId"] for r in event["registrations"]}))
    cdp.send("ServiceWorker.enable")
    wait_for(page, lambda: f"{live_server.url}/" in registrations)
    shown_count = count_shown_notifications(page, live_server)
    cdp.send("ServiceWorker.deliverPushMessage", {
        "origin": live_server.url, "registrationId": registrations[f"{live_server.url}/"],
        "data": "plain words"})
    wait_for(page, lambda: shown_count() == 1)
    assert read_notifications(page, "[n.title, n.body, n.data.url]") == [
        ["Classhub", "plain words", "/"]]


# --- the bell --------------------------------------------------------------------------------------

def test_the_bell_counts_new_notifications_live(school, new_page):
    student = school.students[0]
    page = new_page()
    log_in(page, student)
    wait_connected(page)
    page.evaluate("window.__stillHere = true")
    bell = page.locator("#notification-count")
    expect(bell).to_be_hidden()

    first = notify(student, body="First")
    expect(bell).to_be_visible()
    expect(bell).to_have_text("1 unread")  # "unread" is for screen readers
    notify(student, body="Second")
    expect(bell).to_have_text("2 unread")
    notify(school.students[1], title="Not for Sara")  # someone else's: no change
    # A chat message is counted by the Chats badge, not a second time by the bell.
    notify(student, NotificationType.NEW_MESSAGE, title="Terry Teacher", body="Hi",
           link="/chat/", tag="thread-1")
    services.mark_read(student, first)  # read on another device
    commit()  # that device's request ends
    expect(bell).to_have_text("1 unread")  # "unread" is for screen readers
    services.mark_all_read(student)
    commit()
    expect(bell).to_be_hidden()
    assert page.evaluate("window.__stillHere === true"), "the page was reloaded"
    assert_no_console_errors(page)


def test_the_bell_panel_lists_the_latest_and_opens_the_deep_link(school, new_page, run_worker):
    from app.chat import services as chat

    student = school.students[0]
    direct = chat.get_or_create_direct(school.teacher, student)
    message = chat.post_message(school.teacher, direct, "Have a look at question 3")
    run_worker()  # the job that tells the message's members
    moved = notify(student, NotificationType.SESSION_RESCHEDULED, title="Algebra was moved",
                   body="Mon 07 Dec → Tue 08 Dec", link="/calendar?view=agenda")
    page = new_page()
    log_in(page, student)
    # The chat message is on the Chats badge; the bell counts the move only.
    expect(page.locator("#notification-count")).to_have_text("1 unread")
    # The panel loads on the bell's toggle event, listened for once htmx has processed the
    # page: a click in the first moments after the login's swap can come before that.
    expect(page.locator("html[data-realtime='open']")).to_have_count(1)
    page.locator("#bell-menu > summary").click()  # the bell: "Notifications, N unread"
    item = page.locator(".bell-panel .notification", has_text="Algebra was moved")
    expect(item).to_be_visible(timeout=15_000)  # the panel loads on open (slow on a busy CI box)
    item.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/calendar\?view=agenda$"))
    expect(page.locator("#notification-count")).to_be_hidden()
    db.session.expire_all()
    assert db.session.get(type(moved), moved.id).read_at is not None

    # The chat notification's deep link opens the thread at the message, and reading the
    # thread reads its notification.
    page.goto("/notifications")
    page.locator(".notification", has_text="Have a look at question 3").get_by_role("link").click()
    page.wait_for_url(re.compile(rf"/chat/threads/{direct.id}\?at={message.id}$"))
    expect(page.locator(f"#message-{message.id}")).to_be_visible()
    assert_no_console_errors(page)


# --- the pages, on a desktop and a phone ------------------------------------------------------------

def look_at(page, name):
    """A screenshot for a person to look at, then the page as it was: Playwright's screenshot
    leaves ``style=""`` on form fields, which the CSP (style-src 'self') reports as a blocked
    inline style once htmx carries them into the next swap."""
    screenshot(page, name)
    page.reload()


@pytest.fixture
def busy_student(school):
    """A student with a page of varied notifications and two devices."""
    student = school.students[1]
    samples = [
        (NotificationType.GROUP_CHAT_CREATED, "Terry Teacher created the group “Exam prep”",
         "Past papers and questions before the exam."),
        (NotificationType.SESSION_SCHEDULED, "New session: Algebra",
         "Mon 30 Nov, 11:00 EST (repeats) with Terry Teacher"),
        (NotificationType.NEW_MESSAGE, "Terry Teacher in Exam prep",
         "A very long message that goes on and on to see how the list copes with text that "
         "wraps over several lines on a phone screen, with a link https://example.com/a/very/"
         "long/path/that/does/not/break/easily/anywhere/at/all"),
        (NotificationType.SESSION_RESCHEDULED, "Algebra was moved",
         "Mon 07 Dec, 11:00 EST → Tue 08 Dec, 12:00 EST · Bank holiday"),
        (NotificationType.SESSION_REMINDER, "Algebra starts in 15 min",
         "Mon 30 Nov, 11:00 EST · 60 min with Terry Teacher"),
    ]
    made = [services.notify([student], t, title, body, "/calendar")[0]
            for t, title, body in samples]
    db.session.commit()
    services.mark_read(student, made[0])
    for n, agent in enumerate([
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"]):
        services.save_subscription(student, {
            "endpoint": f"https://fcm.googleapis.com/fcm/send/device-{n}",
            "keys": {"p256dh": "B" + "A" * 86, "auth": "c2VjcmV0LWF1dGgtMTY"}}, agent)
    return student


@pytest.mark.parametrize("viewport, label", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_notification_pages_on_a_desktop_and_a_phone(busy_student, new_page, viewport,
                                                         label):
    page = new_page(viewport=viewport)
    log_in(page, busy_student)

    # The bell's panel opens within the screen, next to the bell.
    # The panel loads on the bell's toggle event, listened for once htmx has processed the
    # page: a click in the first moments after the login's swap can come before that.
    expect(page.locator("html[data-realtime='open']")).to_have_count(1)
    page.locator("#bell-menu > summary").click()  # the bell: "Notifications, N unread"
    panel = page.locator(".bell-panel")
    expect(panel.locator(".notification")).to_have_count(5)
    box = panel.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
    look_at(page, f"notification-panel-{label}")

    page.goto("/notifications")
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    expect(page.locator(".notification-list .notification")).to_have_count(5)
    expect(page.locator(".notification.unread")).to_have_count(4)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the page scrolls sideways"
    look_at(page, f"notifications-{label}")

    # Mark one read in place (HTMX), then all.
    first_unread = page.locator(".notification.unread").first
    first_unread.get_by_role("button", name=re.compile("^Mark read: ")).click()
    expect(page.locator(".notification.unread")).to_have_count(3)
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_text("3 notifications marked as read.")).to_be_visible()
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(page.locator("#notification-count")).to_be_hidden()

    page.goto("/notifications/settings")
    expect(page.get_by_role("heading", name="Notification settings")).to_be_visible()
    expect(page.get_by_text("Chrome on Android")).to_be_visible()
    expect(page.get_by_text("Firefox on Windows")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the settings page scrolls sideways"
    look_at(page, f"notification-settings-{label}")

    # Turn message pushes off, set quiet hours, save; remove a device.
    page.get_by_label("Push for New messages").uncheck()
    page.get_by_label("Hold normal notifications between").check()
    page.get_by_label("From", exact=True).fill("21:30")
    page.get_by_label("Until").fill("06:45")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Notification settings saved.")).to_be_visible()
    expect(page.get_by_label("Push for New messages")).not_to_be_checked()
    expect(page.get_by_label("Push for Reminders before sessions")).to_be_checked()
    expect(page.get_by_label("From", exact=True)).to_have_value("21:30")
    page.get_by_role("button", name="Remove Chrome on Android").click()
    expect(page.get_by_text("will no longer get notifications")).to_be_visible()
    expect(page.get_by_text("Chrome on Android")).to_have_count(0)
    assert_no_console_errors(page)
