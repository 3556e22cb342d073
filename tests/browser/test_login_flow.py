"""A person logs in as the demo teacher, lands on My Day, opens the dashboard and sees their
enrolled students, logs out: on a desktop and on a phone-sized screen."""
import time

import pytest
from playwright.sync_api import expect

from app.demo import DEMO_PASSWORD, seed_demo
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot


@pytest.fixture
def demo(app):
    seed_demo()


def _log_in(page, email):
    page.goto("/")
    assert "/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # A teacher's landing page.
    expect(page.get_by_role("heading", name="My Day", level=1)).to_be_visible()


@pytest.mark.parametrize("viewport,label", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_teacher_sees_enrolled_students_and_logs_out(demo, new_page, viewport, label):
    page = new_page(viewport=viewport)
    _log_in(page, "teacher@example.com")
    page.get_by_role("main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Hello, Tom")).to_be_visible()
    screenshot(page, f"teacher-dashboard-{label}")
    # Tom teaches both demo courses: 8 distinct students.
    expect(page.locator(".stat")).to_have_text("8")

    if label == "phone":
        # On a phone the navigation is behind the menu button.
        expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
        page.get_by_label("Menu").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Students").click()
    expect(page.get_by_role("heading", name="Your students")).to_be_visible()
    rows = page.locator("#student-list tbody tr")
    expect(rows).to_have_count(8)
    expect(page.locator("#student-list")).to_contain_text("Maya Johnson")
    expect(page.locator("#student-list")).to_contain_text("America/New York")
    screenshot(page, f"teacher-students-{label}")

    # Live search narrows the list without a page load (hx-get on input).
    page.get_by_label("Search students").fill("kenji")
    expect(rows).to_have_count(1)
    expect(page.locator("#student-list")).to_contain_text("Kenji Tanaka")
    assert "q=kenji" in page.url

    if label == "phone":
        page.get_by_label("Menu").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Classhub")).to_be_visible()
    expect(page.get_by_text("You have logged out.")).to_be_visible()
    page.goto("/students")
    assert "/login" in page.url
    assert_no_console_errors(page)


def test_wrong_password_shows_error_and_keeps_email(demo, new_page):
    page = new_page()
    page.goto("/login")
    page.get_by_label("Email").fill("teacher@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("do not match")
    expect(page.get_by_label("Email")).to_have_value("teacher@example.com")
    screenshot(page, "login-error")
    assert_no_console_errors(page)


def test_a_tap_on_the_menu_before_the_scripts_ran_is_kept(demo, new_page):
    """The menu starts closed and is opened on desktops, kept closed on phones, by app.js once
    the page has loaded. A tap that came first (a fast finger, or a busy machine where the
    deferred scripts run late) must not be undone by that."""
    page = new_page(viewport=PHONE)
    _log_in(page, "teacher@example.com")
    # app.js arrives two seconds late, so the tap lands before the page has set its menu.
    page.route("**/static/js/app.js*", lambda route: (time.sleep(2), route.continue_()))
    page.goto("/students", wait_until="commit")
    page.get_by_label("Menu").click()
    page.wait_for_load_state("load")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()  # a new page: closed again
