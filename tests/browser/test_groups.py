"""Group session rules in a real browser: the owner sets the rules in the group's settings (a
mistake first, refused in place with what was typed kept, then saved), and a student on a
phone proposes a session: refused outside the allowed times with the next allowed starts
offered, one of them picked, sent for approval; the owner approves it on the Sessions tab.
Screenshots at both sizes go to test-artifacts/."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from app.accounts.models import Role
from app.chat import services as chat_services
from app.db_types import utcnow
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.conftest import PASSWORD
from tests.groups.conftest import LONDON


@pytest.fixture
def world(school, make):
    teacher, (s1, s2) = school.teacher, school.students
    group = chat_services.create_group(teacher, "Exam prep", "Past papers", [s1.id, s2.id])
    return type("World", (), dict(teacher=teacher, student=s1, other=s2, group=group))


def log_in(page, user):
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Where logging in lands: My Day for those who teach, the dashboard for everyone else.
    expect(page.get_by_role("heading", name=re.compile(r"^(Hello, |My Day$)"))).to_be_visible()


def a_tuesday_ahead() -> date:
    today = utcnow().astimezone(LONDON).date()
    return today + timedelta(days=(1 - today.weekday()) % 7 + 21)


def test_owner_sets_rules_and_a_student_proposes_on_a_phone(world, new_page):
    owner = new_page(viewport=DESKTOP)
    log_in(owner, world.teacher)
    owner.goto(f"/chat/threads/{world.group.id}/settings")
    rules = owner.locator("#group-rules-form")
    rules.get_by_label("All members").check()
    rules.get_by_label("Sessions made by members wait for the owner's approval").check()
    rules.get_by_label("Minimum notice (hours)").fill("24")
    for day in ("Monday", "Wednesday", "Thursday", "Friday"):
        rules.get_by_label(day, exact=True).fill("15:00-19:00")
    rules.get_by_label("Tuesday", exact=True).fill("19:00-15:00")
    rules.get_by_role("button", name="Save rules").click()
    rules = owner.locator("#group-rules-form")
    expect(rules.locator("#r-slots_TU-error")).to_contain_text("ends before it starts")
    expect(rules.get_by_label("Tuesday", exact=True)).to_have_value("19:00-15:00")
    expect(rules.get_by_label("Minimum notice (hours)")).to_have_value("24")
    screenshot(owner, "groups-rules-refused-desktop")
    rules.get_by_label("Tuesday", exact=True).fill("15:00-19:00")
    rules.get_by_role("button", name="Save rules").click()
    expect(owner.locator("#group-rules-form")).to_contain_text("Session rules saved.")
    screenshot(owner, "groups-rules-saved-desktop")
    assert_no_console_errors(owner)

    phone = new_page(viewport=PHONE)
    log_in(phone, world.student)
    phone.goto(f"/chat/threads/{world.group.id}")
    phone.get_by_role("link", name="Sessions").first.click()
    expect(phone.get_by_role("heading", name="Exam prep")).to_be_visible()
    expect(phone.locator(".group-rules-summary")).to_contain_text("Mon–Fri 15:00–19:00")
    phone.get_by_role("link", name="Propose a session").click()
    tuesday = a_tuesday_ahead()
    phone.get_by_label("Title").fill("Mock exam review")
    phone.get_by_label("Date", exact=True).fill(tuesday.isoformat())
    phone.get_by_label("Start time").fill("20:00")
    phone.get_by_role("button", name="Send the proposal").click()
    refusal = phone.locator(".rule-refusal")
    expect(refusal).to_contain_text("allowed time slots")
    expect(refusal).to_contain_text("Next allowed starts")
    expect(phone.get_by_label("Title")).to_have_value("Mock exam review")
    screenshot(phone, "groups-proposal-refused-phone")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"

    # Pick the first allowed start offered: the form comes back filled in with it.
    first = refusal.get_by_role("link").first
    picked = first.inner_text()
    first.click()
    expect(phone.get_by_label("Title")).to_have_value("Mock exam review")
    expect(phone.get_by_label("Start time")).to_have_value(picked.split()[-1])
    phone.get_by_role("button", name="Send the proposal").click()
    expect(phone.locator(".flash-success")).to_contain_text("sent to Terry Teacher for approval")
    pending = phone.locator(".group-session", has_text="Mock exam review")
    expect(pending).to_contain_text("Waiting for approval")
    screenshot(phone, "groups-proposal-sent-phone")
    assert_no_console_errors(phone)

    owner.goto(f"/groups/{world.group.id}/sessions")
    item = owner.locator(".group-session", has_text="Mock exam review")
    expect(item).to_contain_text("Waiting for approval")
    screenshot(owner, "groups-sessions-pending-desktop")
    item.get_by_role("button", name="Approve Mock exam review").click()
    expect(owner.locator(".flash-success")).to_contain_text("is scheduled")
    item = owner.locator("#upcoming-heading ~ ul .group-session", has_text="Mock exam review")
    expect(item).to_contain_text("Scheduled")
    expect(item.get_by_role("link", name="Reschedule Mock exam review")).to_be_visible()
    screenshot(owner, "groups-sessions-approved-desktop")
    assert_no_console_errors(owner)
