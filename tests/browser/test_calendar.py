"""The sessions calendar in a real browser: the demo teacher schedules a weekly session through
the dialog (a mistake first, fixed in place), finds it on the week view, moves one occurrence
and cancels another; a student in New York then sees all of it in their own time zone, on a
phone. Screenshots of every view at both sizes go to test-artifacts/."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from app.db_types import utcnow
from app.demo import DEMO_PASSWORD, seed_demo
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot

LONDON, NEW_YORK = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")


@pytest.fixture
def demo(app):
    seed_demo()


def target_week() -> date:
    """The Monday of a week in next January: always ahead."""
    day = date(utcnow().year + 1, 1, 11)
    return day - timedelta(days=day.weekday())


def log_in(page, email: str, first_name: str):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Where logging in lands: My Day for those who teach, the dashboard for everyone else.
    expect(page.get_by_role("heading", name=re.compile(rf"^(Hello, {first_name}|My Day)$"))
           ).to_be_visible()


def in_new_york(day: date, hour: int, minute: int = 0) -> str:
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=LONDON)
    return local.astimezone(NEW_YORK).strftime("%H:%M")


def test_teacher_schedules_moves_cancels_and_a_student_sees_it(demo, new_page):
    monday = target_week()
    wednesday = monday + timedelta(days=2)
    page = new_page(viewport=DESKTOP)
    log_in(page, "teacher@example.com", "Tom")  # a teacher lands on My Day
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Upcoming sessions")).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    expect(page.get_by_role("heading", name="Calendar", exact=True)).to_be_visible()
    expect(page.locator("#calendar")).to_contain_text("Europe/London")

    # Week view of the week before, then "Next" over HTMX: the URL follows.
    page.locator("#view-week").click()
    expect(page).to_have_url(re.compile(r"view=week"))
    page.goto(f"/calendar?view=week&date={(monday - timedelta(days=7)).isoformat()}")
    page.locator("#cal-next").click()
    expect(page).to_have_url(re.compile(f"view=week&date={monday.isoformat()}"))
    expect(page.locator("#cal-title")).to_contain_text(f"{monday.day}")

    # Clicking Wednesday 16:00 opens the dialog with that day and time.
    page.get_by_label(f"Schedule a session on {wednesday:%A} {wednesday.day} {wednesday:%B} "
                      f"at 16:00").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Date", exact=True)).to_have_value(wednesday.isoformat())
    expect(dialog.get_by_label("Start time")).to_have_value("16:00")
    expect(dialog.get_by_label("Time zone")).to_have_value("Europe/London")

    # The search box filters the students; a ticked one stays ticked.
    students = dialog.locator("#f-student-list li")
    expect(students).to_have_count(8)
    dialog.get_by_label("Filter students").fill("maya")
    expect(students.locator("visible=true")).to_have_count(1)
    dialog.get_by_label("Maya Johnson").check()
    expect(dialog.locator("[data-picked-count]")).to_have_text("1")
    dialog.get_by_label("Filter students").fill("")
    expect(students.locator("visible=true")).to_have_count(8)
    dialog.get_by_label("Sam Student").check()

    dialog.get_by_text("Weekly", exact=True).click()
    expect(dialog.get_by_role("checkbox", name="Wednesday")).to_be_checked()
    dialog.get_by_label("Number of occurrences").fill("4")

    # Forgot the title: 422, the error sits by the field, the rest is as typed.
    dialog.get_by_role("button", name="Schedule", exact=True).click()
    expect(dialog.get_by_text("Give the session a title.")).to_be_visible()
    expect(dialog.get_by_label("Title")).to_be_focused()
    expect(dialog.get_by_label("Maya Johnson")).to_be_checked()
    expect(dialog.get_by_label("Sam Student")).to_be_checked()
    expect(dialog.get_by_label("Number of occurrences")).to_have_value("4")
    dialog.get_by_label("Title").fill("Physics revision")
    screenshot(page, "calendar-dialog-desktop")
    dialog.get_by_role("button", name="Schedule", exact=True).click()

    expect(dialog).to_be_hidden()
    expect(page.locator("#flashes")).to_contain_text("“Physics revision” was scheduled.")
    card = page.locator("#calendar .ev", has_text="Physics revision")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("16:00")
    expect(card).to_contain_text("2 participants")
    expect(card).to_contain_text("Tom Teacher")
    screenshot(page, "calendar-week-desktop")

    # The session page: move the first occurrence, cancel the second.
    card.click()
    expect(page.get_by_role("heading", name="Physics revision")).to_be_visible()
    expect(page.get_by_role("heading", name="Video call")).to_be_visible()
    occurrences = page.locator("li.occ")
    expect(occurrences).to_have_count(4)
    occurrences.nth(0).get_by_role("link", name="Move / change duration").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("New start time").fill("17:00")
    dialog.get_by_label("Duration (minutes)").fill("90")
    dialog.get_by_role("button", name="Move occurrence").click()
    expect(page.locator("#flashes")).to_contain_text("The occurrence was moved.")
    expect(occurrences.nth(0)).to_contain_text("Moved")
    expect(occurrences.nth(0)).to_contain_text("17:00")
    expect(occurrences.nth(0)).to_contain_text("90 min")

    occurrences.nth(1).get_by_role("link", name="Cancel this occurrence").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason").fill("Mock exams")
    dialog.get_by_role("button", name="Cancel occurrence").click()
    expect(page.locator("#flashes")).to_contain_text("The occurrence was cancelled.")
    expect(occurrences.nth(1)).to_contain_text("Cancelled")
    expect(occurrences.nth(1)).to_contain_text("Cancelled: Mock exams")  # the reason, shown
    # A cancelled occurrence can only be restored (not moved or cancelled again).
    expect(occurrences.nth(1).get_by_role("link")).to_have_text(["Restore"])
    screenshot(page, "session-desktop")

    for view in ("month", "agenda"):
        page.goto(f"/calendar?view={view}&date={monday.isoformat()}")
        expect(page.locator("#calendar")).to_contain_text("Physics revision")
        screenshot(page, f"calendar-{view}-desktop")
    assert_no_console_errors(page)

    # Maya is in New York: the moved 17:00 London is 12:00 for her; it says so.
    phone = new_page(viewport=PHONE)
    log_in(phone, "student4@example.com", "Maya")
    expect(phone.get_by_role("heading", name="Upcoming sessions")).to_be_visible()
    screenshot(phone, "dashboard-student-phone")
    phone.get_by_label("Menu").click()
    phone.get_by_role("navigation", name="Main").get_by_role("link", name="Calendar").click()
    expect(phone.locator("#calendar")).to_contain_text("America/New York")
    expect(phone.get_by_role("link", name="Schedule session")).to_have_count(0)
    phone.goto(f"/calendar?view=week&date={monday.isoformat()}")
    moved = phone.locator("#calendar .ev", has_text="Physics revision")
    expect(moved).to_have_count(1)
    expect(moved).to_contain_text(in_new_york(wednesday, 17))
    expect(moved).to_contain_text("Moved")
    expect(moved).to_contain_text("90 min")
    screenshot(phone, "calendar-week-phone")

    phone.locator("#cal-next").click()
    expect(phone).to_have_url(re.compile(
        f"date={(monday + timedelta(days=7)).isoformat()}"))
    cancelled = phone.locator("#calendar .ev", has_text="Physics revision")
    expect(cancelled).to_contain_text("Cancelled")
    expect(cancelled).to_contain_text(in_new_york(wednesday + timedelta(days=7), 16))
    expect(cancelled).to_have_class(re.compile("is-cancelled"))

    # The back button shows the week before again.
    phone.go_back()
    expect(phone).to_have_url(re.compile(f"date={monday.isoformat()}"))
    expect(phone.locator("#calendar .ev", has_text="Physics revision")).to_contain_text("Moved")

    phone.locator("#view-agenda").click()
    expect(phone).to_have_url(re.compile("view=agenda"))
    agenda = phone.locator(".ag-item", has_text="Physics revision")
    expect(agenda).to_have_count(4)
    start = in_new_york(wednesday, 17)
    expect(agenda.nth(0)).to_contain_text(start)
    screenshot(phone, "calendar-agenda-phone")
    phone.locator("#view-month").click()
    expect(phone.locator("table.month")).to_be_visible()
    expect(phone.locator("table.month")).to_contain_text(in_new_york(wednesday, 17))
    screenshot(phone, "calendar-month-phone")

    agenda_url = f"/calendar?view=agenda&date={monday.isoformat()}"
    phone.goto(agenda_url)
    phone.locator(".ag-item", has_text="Physics revision").first.get_by_role("link").click()
    expect(phone.get_by_role("heading", name="Physics revision")).to_be_visible()
    expect(phone.get_by_role("link", name="Move / change duration")).to_have_count(0)
    expect(phone.locator("li.occ").nth(0)).to_contain_text(f"{start} EST")
    screenshot(phone, "session-phone")
    assert_no_console_errors(phone)


def test_teacher_schedules_from_a_phone(demo, new_page):
    monday = target_week()
    page = new_page(viewport=PHONE)
    log_in(page, "teacher@example.com", "Tom")
    page.goto(f"/calendar?view=month&date={monday.isoformat()}")
    screenshot(page, "calendar-month-empty-phone")
    # On a phone the day's + button is hidden: a tap on the day's empty space opens the dialog.
    # A day of that week with nothing on it yet (Friday if it is free): the demo's weekly
    # clinic, on the weekday the demo was seeded and twelve weeks long, may reach this week,
    # and a tap on a session opens that session.
    def add_button(day):
        return page.get_by_label(f"Schedule a session on {day:%A} {day.day} {day:%B}")

    free_day = next(day for day in (monday + timedelta(days=n) for n in (4, 3, 2, 1, 0))
                    if page.locator("td.m-day", has=add_button(day)).locator(".ev").count() == 0)
    day_button = add_button(free_day)
    expect(day_button).to_be_hidden()
    page.locator("td.m-day", has=day_button).click(position={"x": 25, "y": 55})
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Date", exact=True)).to_have_value(free_day.isoformat())
    dialog.get_by_label("Title").fill("Exam clinic")
    dialog.get_by_label("Type").select_option(label="Group meeting")
    dialog.get_by_label("Whole course").select_option(label="A-level Physics (4 students)")
    dialog.get_by_label("Start time").fill("09:30")
    dialog.get_by_label("Duration (minutes)").fill("45")
    screenshot(page, "calendar-dialog-phone")
    dialog.get_by_role("button", name="Schedule", exact=True).click()
    expect(dialog).to_be_hidden()
    chip = page.locator("#calendar .ev", has_text="Exam clinic")
    expect(chip).to_have_count(1)
    expect(chip).to_contain_text("09:30")
    screenshot(page, "calendar-month-phone-teacher")

    # The same students at the same time: the dialog says who is booked, then "anyway".
    page.get_by_role("link", name="Schedule session").click()
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Clashing clinic")
    dialog.get_by_label("Whole course").select_option(label="A-level Physics (4 students)")
    dialog.get_by_label("Date", exact=True).fill(free_day.isoformat())
    dialog.get_by_label("Start time").fill("09:45")
    dialog.get_by_role("button", name="Schedule", exact=True).click()
    warning = dialog.locator("#conflicts")
    expect(warning).to_be_focused()
    expect(warning).to_contain_text("Already booked at that time")
    expect(warning).to_contain_text("Maya Johnson")
    expect(warning).to_contain_text(f"“Exam clinic” on {free_day:%a} {free_day.day} {free_day:%b %Y}, "
                                    "09:30 GMT")
    expect(dialog.get_by_label("Title")).to_have_value("Clashing clinic")
    screenshot(page, "calendar-dialog-conflict-phone")
    dialog.get_by_role("button", name="Schedule anyway").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#calendar .ev", has_text="Clashing clinic")).to_have_count(1)
    # The form is also a page of its own (a bookmark, or no script): repeat options show as
    # they apply.
    page.goto(f"/sessions/new?date={free_day.isoformat()}")
    expect(page.get_by_role("heading", name="Schedule a session")).to_be_visible()
    expect(page.get_by_role("group", name="On")).to_be_hidden()
    page.get_by_text("Weekly", exact=True).click()
    expect(page.get_by_role("checkbox", name=f"{free_day:%A}")).to_be_checked()
    expect(page.get_by_label("Number of occurrences")).to_be_visible()
    screenshot(page, "session-form-page-phone")

    page.goto(f"/calendar?view=week&date={monday.isoformat()}")
    expect(page.locator("#calendar .ev", has_text="Exam clinic")).to_contain_text("4 participants")
    screenshot(page, "calendar-week-phone-teacher")
    assert_no_console_errors(page)
