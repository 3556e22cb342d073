"""Attendance reports in a real browser: a teacher opens a series' grid from the session page,
narrows the dates (the grid swaps in place, the address follows), downloads the CSV, which says
what the grid says; on a phone the grid scrolls sideways with the names kept in view; a student
finds their own history from the menu. axe finds nothing on any of these pages. Screenshots at
both sizes go to test-artifacts/."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from app.attendance.rules import AttendanceStatus as S
from app.extensions import db
from tests.attendance.test_reports import daily_series, mark, past_starts, students
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_accessibility import AXE, axe_violations
from tests.conftest import PASSWORD

WORDS = {"PRESENT": "Present", "LATE": "Late", "ABSENT": "Absent", "EXCUSED": "Excused",
         "": "Not taken"}


@pytest.fixture
def world(school, make):
    """Twelve learners, a daily series of 25 over, a mix of statuses; a course grid too."""
    learners = list(school.students) + students(make, school.center, 10, "Learner")
    db.session.commit()
    session = daily_series(school.center, school.teacher, learners, days_ago=25, count=25,
                           course=school.course, title="Algebra lesson")
    starts = past_starts(session)
    cycle = [S.PRESENT, S.PRESENT, S.LATE, S.ABSENT, S.EXCUSED, None]
    for i, person in enumerate(learners):
        for j, start in enumerate(starts):
            status = cycle[(i + j) % len(cycle)]
            if status is not None:
                mark(session, person, start, status, auto=status != S.EXCUSED,
                     left_early=(i + j) % 7 == 0 and status == S.PRESENT, seconds=2400,
                     joins=1 if status in (S.PRESENT, S.LATE) else 0,
                     note="Dentist" if status == S.EXCUSED else "")
    db.session.commit()
    return type("World", (), dict(session=session, starts=starts, student=school.students[0],
                                  teacher=school.teacher, course=school.course))


def log_in(page, user):
    page.context.add_init_script(path=str(AXE))
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Where logging in lands: My Day for those who teach, the dashboard for everyone else.
    expect(page.get_by_role("heading", name=re.compile(r"^(Hello, |My Day$)"))).to_be_visible()


def no_axe_violations(page, where):
    found = axe_violations(page)
    assert not found, f"{where}: {found}"


def grid_words(page) -> dict[str, list[str]]:
    """Each person's cells, as a screen reader reads them."""
    rows = {}
    for row in page.locator(".att-grid tbody tr").all():
        name = row.locator("th").text_content().strip()
        rows[name] = [t.strip() for t in row.locator("td.att-cell .visually-hidden")
                      .all_text_contents()]
    return rows


def test_teacher_reads_the_grid_narrows_it_and_downloads_the_csv(world, new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, world.teacher)
    page.goto(f"/sessions/{world.session.id}")
    page.get_by_role("link", name="Attendance", exact=True).click()
    expect(page.get_by_role("heading", name="Attendance", exact=True)).to_be_visible()
    expect(page.locator(".att-grid tbody tr")).to_have_count(12)
    expect(page.locator(".att-grid thead .att-occ")).to_have_count(20)  # page 1 of 2
    expect(page.get_by_role("link", name="Earlier")).to_be_visible()
    screenshot(page, "attendance-series-grid-desktop")
    no_axe_violations(page, "series grid")

    # The last week only: the grid swaps in place and the address says so.
    london = ZoneInfo("Europe/London")
    last = world.starts[-1].astimezone(london).date()
    page.get_by_label("From").fill((last - timedelta(days=6)).isoformat())
    page.get_by_label("To").fill(last.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator(".att-grid thead .att-occ")).to_have_count(7)
    expect(page).to_have_url(re.compile(rf"from={last - timedelta(days=6)}&to={last}"))
    expect(page.get_by_role("link", name="Earlier")).to_have_count(0)
    shown = grid_words(page)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(f"{last - timedelta(days=6)}-to-{last}.csv")
    rows = list(csv.DictReader(io.StringIO(
        open(download.path(), encoding="utf-8-sig").read())))
    from_csv: dict[str, list[str]] = {}
    for row in rows:
        word = WORDS[row["status"]] + (", left early" if row["left_early"] == "yes" else "")
        from_csv.setdefault(row["person"], []).append(word)
    assert from_csv == shown
    assert {r["time_zone"] for r in rows} == {"Europe/London"}
    assert any(r["note"] == "Dentist" for r in rows)

    # A mistake in the dates: said next to the field, what was typed kept.
    page.get_by_label("From").fill(last.isoformat())
    page.get_by_label("To").fill((last - timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#range-from-error")).to_have_text(
        "The start must be on or before the end.")
    expect(page.get_by_label("To")).to_have_value((last - timedelta(days=3)).isoformat())
    screenshot(page, "attendance-series-grid-refused-desktop")
    assert_no_console_errors(page)

    # The course grid, from the dashboard.
    page.goto("/")
    page.get_by_role("link", name=f"Attendance of {world.course.name}").click()
    expect(page.get_by_role("heading", name=f"Attendance · {world.course.name}")).to_be_visible()
    expect(page.locator(".att-grid tbody tr")).to_have_count(2)  # the course's two students
    screenshot(page, "attendance-course-grid-desktop")
    no_axe_violations(page, "course grid")

    # A student's history from their person page.
    page.goto(f"/people/{world.student.id}")
    page.locator("#person-attendance-link").click()
    expect(page.locator("#overall-figures")).to_be_visible()
    expect(page.locator(".att-line").first).to_be_visible()
    expect(page.get_by_text("Dentist").first).to_be_visible()
    no_axe_violations(page, "teacher's view of a history")
    assert_no_console_errors(page)


def test_on_a_phone_the_grid_scrolls_with_the_names_in_view(world, new_page):
    page = new_page(viewport=PHONE)
    log_in(page, world.teacher)
    page.goto(f"/sessions/{world.session.id}/attendance")
    scroller = page.locator(".att-scroll")
    expect(scroller).to_be_visible()
    widths = scroller.evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] > widths[1] * 2, widths  # far wider than the screen: it scrolls
    # The page itself does not scroll sideways: only the grid does.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    name = page.locator(".att-grid tbody tr").first.locator("th")
    before = name.bounding_box()
    screenshot(page, "attendance-series-grid-phone")
    scroller.evaluate("el => el.scrollLeft = el.scrollWidth")
    page.wait_for_function("document.querySelector('.att-scroll').scrollLeft > 0")
    after = name.bounding_box()
    assert abs(after["x"] - before["x"]) < 1, (before, after)  # sticky: the name stayed
    last_header = page.locator(".att-grid thead .att-occ").last
    assert last_header.bounding_box()["x"] < PHONE["width"]  # the newest column came into view
    screenshot(page, "attendance-series-grid-phone-scrolled")
    no_axe_violations(page, "series grid on a phone")
    assert_no_console_errors(page)


def test_a_student_finds_their_history_in_the_menu(world, new_page):
    page = new_page(viewport=PHONE)
    log_in(page, world.student)
    page.get_by_label("Menu").click()
    page.get_by_role("link", name="Attendance").click()
    expect(page.get_by_role("heading", name="My attendance")).to_be_visible()
    expect(page.locator("#overall-figures")).to_be_visible()
    expect(page.locator(".att-line")).to_have_count(25)
    expect(page.get_by_text("Dentist")).to_have_count(0)  # teachers' notes are theirs
    expect(page.get_by_text("Learner 001")).to_have_count(0)
    screenshot(page, "attendance-history-phone")
    no_axe_violations(page, "history on a phone")
    assert_no_console_errors(page)
    page.set_viewport_size(DESKTOP)
    page.reload()
    screenshot(page, "attendance-history-desktop")
    no_axe_violations(page, "history on a desktop")
