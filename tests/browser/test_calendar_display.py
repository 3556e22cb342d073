"""Short sessions are readable on the calendar: in the week grid a 30-minute session shows its
whole title line (not cut off mid-line by the card's height), and on a phone the month view
shows each session's title under its time, not the time alone."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import User
from app.db_types import utcnow
from app.demo import seed_demo
from app.extensions import db
from app.scheduling import services
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_calendar import log_in

# The page's script measures each card: the title's text, line by line (a Range's client
# rects), against the box that clips it. A line cut by the card's edge (drawn half) is the bug; lines
# wholly past the edge are the ones a long title leaves for the tooltip.
MEASURE = """card => {
  const title = card.querySelector('.ev-title');
  const style = getComputedStyle(title);
  const range = document.createRange();
  range.selectNodeContents(title);
  // What clips the text: the card, and the title's own box when it hides its overflow (a
  // title clamped to two lines).
  const c = card.getBoundingClientRect(), t = title.getBoundingClientRect();
  const bottom = style.overflowY === 'visible' ? c.bottom : Math.min(c.bottom, t.bottom);
  const lines = Array.from(range.getClientRects()).filter(r => r.width > 0)
    .map(r => ({top: r.top, bottom: r.bottom, left: r.left, right: r.right}));
  return {card: {top: c.top, bottom: bottom, left: c.left, right: c.right}, lines,
          visibility: style.visibility, display: style.display};
}"""


def quiet_week() -> date:
    """The Monday of a week in next March, away from the demo's sessions."""
    day = date(utcnow().year + 1, 3, 10)
    return day - timedelta(days=day.weekday())


@pytest.fixture
def short_sessions(app):
    seed_demo()
    teacher = db.session.scalar(select(User).where(User.email == "teacher@example.com"))
    student = db.session.scalar(select(User).where(User.email == "student1@example.com"))
    monday = quiet_week()
    made = []
    for offset, start, minutes, title in (
            (1, time(10, 0), 30, "Quick check-in on homework"),
            (2, time(11, 0), 45, "Vocabulary quiz"),
            (3, time(9, 15), 15, "Register"),
            (3, time(14, 0), 90, "Long practical")):
        data = services.SessionInput(
            title=title, type="CLASS", participant_ids=[student.id],
            date=monday + timedelta(days=offset), start_time=start, timezone="Europe/London",
            duration_minutes=minutes, frequency="NONE")
        made.append(services.schedule_session(teacher, data, allow_conflicts=True))
    return monday


def assert_title_drawn_whole(card):
    box = card.evaluate(MEASURE)
    edge = box["card"]
    assert box["display"] != "none" and box["visibility"] == "visible", box
    inside = [line for line in box["lines"]
              if line["top"] >= edge["top"] - 1 and line["bottom"] <= edge["bottom"] + 1]
    cut = [line for line in box["lines"]
           if line["top"] < edge["bottom"] - 1 < line["bottom"] - 2]
    assert inside, box  # at least the title's first line, whole
    assert inside[0] == box["lines"][0], box
    assert not cut, box  # no line drawn half
    assert inside[0]["right"] - inside[0]["left"] > 20, box


def test_short_sessions_show_their_titles_in_the_week_grid(short_sessions, new_page):
    monday = short_sessions
    page = new_page(viewport=DESKTOP)
    log_in(page, "student1@example.com", "Sam")
    page.goto(f"/calendar?view=week&date={monday.isoformat()}")
    for title in ("Quick check-in on homework", "Vocabulary quiz", "Register", "Long practical"):
        card = page.locator("#calendar .ev-block", has_text=title)
        expect(card).to_have_count(1)
        expect(card.locator(".ev-title")).to_be_visible()
        assert_title_drawn_whole(card)
    # The 30-minute card names its time and title, and the full details are its tooltip.
    quick = page.locator("#calendar .ev-block", has_text="Quick check-in on homework")
    expect(quick).to_contain_text("10:00")
    expect(quick).to_have_attribute("title", "Quick check-in on homework, 10:00–10:30 (30 min)")
    screenshot(page, "calendar-week-short-desktop")

    phone = new_page(viewport=PHONE)
    log_in(phone, "student1@example.com", "Sam")
    phone.goto(f"/calendar?view=week&date={monday.isoformat()}")
    quick = phone.locator("#calendar .ev-block", has_text="Quick check-in on homework")
    expect(quick.locator(".ev-title")).to_be_visible()
    assert_title_drawn_whole(quick)
    screenshot(phone, "calendar-week-short-phone")
    assert_no_console_errors(page)
    assert_no_console_errors(phone)


def test_month_on_a_phone_shows_titles(short_sessions, new_page):
    monday = short_sessions
    phone = new_page(viewport=PHONE)
    log_in(phone, "student1@example.com", "Sam")
    phone.goto(f"/calendar?view=month&date={monday.isoformat()}")
    for title in ("Quick check-in on homework", "Vocabulary quiz", "Register", "Long practical"):
        chip = phone.locator("#calendar .ev-chip", has_text=title)
        expect(chip).to_have_count(1)
        expect(chip.locator(".ev-title")).to_be_visible()
        assert_title_drawn_whole(chip)
    # A chip stays within its day (no sideways scrolling of the page).
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "calendar-month-titles-phone")

    page = new_page(viewport=DESKTOP)
    log_in(page, "student1@example.com", "Sam")
    page.goto(f"/calendar?view=month&date={monday.isoformat()}")
    chip = page.locator("#calendar .ev-chip", has_text="Quick check-in on homework")
    expect(chip.locator(".ev-title")).to_be_visible()
    assert_title_drawn_whole(chip)
    screenshot(page, "calendar-month-titles-desktop")
    assert_no_console_errors(phone)
    assert_no_console_errors(page)
