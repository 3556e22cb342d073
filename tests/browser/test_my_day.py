"""My Day in real Chromium against the live server, at desktop and phone sizes: the tutor lands
on it after logging in, sees today in order with Start/Join and who is expected, and the page
follows what happens elsewhere without a reload: a co-teacher starts a session (its row turns
"Live now" with Join) and a student writes (the conversation shows up unread)."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from app.accounts.models import Role
from app.chat import services as chat
from app.db_types import utcnow
from app.extensions import db
from app.live import session_runs
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.conftest import PASSWORD, commit
from tests.my_day.helpers import add_session


def log_in(page, user):
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def zone_with_room_today(now) -> str:
    """London, unless its day ends within the hour (the live server's clock cannot be set):
    then Tokyo, where it is morning. "In 4 and in 15 minutes" are today there."""
    london = ZoneInfo("Europe/London")
    late = now.astimezone(london) + timedelta(hours=1)
    return "Europe/London" if late.date() == now.astimezone(london).date() else "Asia/Tokyo"


@pytest.fixture
def day(make):
    zone = zone_with_room_today(utcnow())
    center = make.center("Riverside Tutoring", timezone=zone)
    tess = make.user(center, Role.TEACHER, name="Tess Tutor")
    cora = make.user(center, Role.TEACHER, name="Cora Coteacher")
    kids = [make.user(center, Role.STUDENT, name=name)
            for name in ("Amir Khan", "Bea Lopez", "Chen Wu")]
    make.course(center, "Maths", teachers=[tess, cora], students=kids)
    now = utcnow().replace(second=0, microsecond=0)
    # Today: one in its Join window, one shortly after.
    soon = add_session(center, tess, kids[:2], now + timedelta(minutes=4), 45, "Algebra 1:1")
    add_session(center, tess, kids, now + timedelta(minutes=15), 30, "Reading group")
    soon.participants.append(type(soon.participants[0])(
        center_id=center.id, user_id=cora.id, role=soon.participants[0].role))
    chat.ensure_session_thread(soon)
    db.session.commit()
    return type("Day", (), dict(tess=tess, cora=cora, kids=kids, soon=soon, zone=zone))


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_my_day_lands_shows_today_and_follows_live_changes(day, new_page, viewport, size):
    page = new_page(viewport=viewport)
    log_in(page, day.tess)
    page.wait_for_url(re.compile(r"/my-day$"))
    expect(page.get_by_role("heading", name="My Day", level=1)).to_be_visible()
    today = page.locator("#my-day-today")
    expect(today.get_by_role("heading", name=re.compile(r"^Today, "))).to_be_visible()
    expect(today).to_contain_text(f"Times in {day.zone}")
    rows = today.locator(".my-day-item")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Algebra 1:1")
    expect(rows.nth(1)).to_contain_text("Reading group")
    first = rows.nth(0)
    expect(first.get_by_role("button", name="Start")).to_be_visible()
    expect(first.get_by_role("list", name="Expected at Algebra 1:1")).to_contain_text("Amir Khan")
    expect(first.get_by_role("link", name="Control center")).to_have_attribute(
        "href", f"/sessions/{day.soon.id}/control-center")
    expect(page.locator("#my-day-chats")).to_contain_text("You have read everything.")
    expect(page.locator("html[data-realtime=open]")).to_have_count(1)
    screenshot(page, f"my-day-{size}")

    # A co-teacher starts "Algebra 1:1" elsewhere: the row turns "Live now" with Join.
    session_runs.start_session_run(day.cora, day.soon)
    commit()
    expect(first.locator(".badge", has_text="Live now").first).to_be_visible(timeout=10_000)
    expect(first.get_by_role("button", name="Join")).to_be_visible()
    expect(first.get_by_role("button", name="Start")).to_have_count(0)
    # The whole row came again from My Day's own section (not only the call button the
    # session-live event turns): it is marked live.
    expect(first).to_have_class(re.compile(r"\bis-live\b"), timeout=10_000)

    # A student writes to the tutor: the conversation shows up unread, without a reload.
    thread = chat.get_or_create_direct(day.kids[0], day.tess)
    chat.post_message(day.kids[0], thread, "Running five minutes late!")
    commit()
    chats = page.locator("#my-day-chats")
    expect(chats.locator(".thread-item.unread")).to_contain_text("Running five minutes late!",
                                                                 timeout=10_000)
    expect(chats.locator(".thread-item.unread")).to_contain_text("Amir Khan")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the page scrolls sideways"
    screenshot(page, f"my-day-live-{size}")

    # My Day is in the nav; the dashboard is still reachable.
    if size == "phone":
        page.get_by_label("Menu").click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My Day")).to_have_attribute("aria-current", "page")
    nav.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Hello, Tess")).to_be_visible()
    assert_no_console_errors(page)


def test_a_student_is_refused_my_day(day, new_page):
    page = new_page()
    log_in(page, day.kids[0])
    page.wait_for_url(re.compile(r"/$"))
    response = page.goto("/my-day")
    assert response is not None and response.status == 403
