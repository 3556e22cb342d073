"""The personal calendar feed on the calendar page, in a real browser: both addresses are shown
and copied to the clipboard by their buttons, the instructions are there, and a reset (confirmed
first) gives a new address while the old one stops working."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.demo import seed_demo
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_calendar import log_in


@pytest.fixture
def demo(app):
    seed_demo()


def test_feed_addresses_copy_and_reset(demo, new_page, live_server):
    page = new_page(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    log_in(page, "student1@example.com", "Sam")
    page.goto("/calendar")
    page.get_by_role("link", name="Subscribe", exact=True).click()
    panel = page.locator("#feed")
    expect(panel).to_be_in_viewport()
    https_field = panel.get_by_label("Web address")
    webcal_field = panel.get_by_label("webcal:// address")
    https_url = https_field.input_value()
    assert re.fullmatch(re.escape(live_server.url) + r"/calendar/feed/[\w-]{32,}\.ics", https_url)
    expect(webcal_field).to_have_value("webcal://" + https_url.split("://", 1)[1])
    expect(panel.get_by_role("link", name="Subscribe on this device")).to_have_attribute(
        "href", webcal_field.input_value())
    for app_name in ("Google Calendar", "Outlook", "Apple Calendar"):
        expect(panel).to_contain_text(app_name)

    # Each Copy button puts its address on the clipboard and says so.
    copy_buttons = panel.locator("button[data-copy-text]")
    expect(copy_buttons).to_have_text(["Copy", "Copy"])
    copy_https = copy_buttons.nth(0)
    copy_https.click()
    expect(copy_https).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == https_url
    copy_buttons.nth(1).click()
    assert page.evaluate("navigator.clipboard.readText()") == webcal_field.input_value()

    # The feed answers at that address (a calendar app fetches it with no login).
    feed = page.request.get(https_url)
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VCALENDAR" in feed.text()
    screenshot(page, "calendar-feed-desktop")

    # Reset: dismissing the confirmation changes nothing; accepting it makes a new address.
    page.once("dialog", lambda dialog: dialog.dismiss())
    panel.get_by_role("button", name="Reset the address").click()
    expect(https_field).to_have_value(https_url)
    messages = []

    def accept(dialog):
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.locator("#feed").get_by_role("button", name="Reset the address").click()
    expect(page.locator("#flashes")).to_contain_text("the old one no longer works")
    assert "stop updating" in messages[0]
    new_url = page.locator("#feed-https").input_value()
    assert new_url != https_url
    assert page.request.get(https_url).status == 404
    assert page.request.get(new_url).status == 200
    assert_no_console_errors(page)

    phone = new_page(viewport=PHONE)
    log_in(phone, "student1@example.com", "Sam")
    phone.goto("/calendar#feed")
    expect(phone.locator("#feed-https")).to_have_value(new_url)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.locator("#feed").scroll_into_view_if_needed()
    screenshot(phone, "calendar-feed-phone")
    assert_no_console_errors(phone)
