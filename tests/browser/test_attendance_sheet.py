"""The attendance sheet in real Chromium at phone size against the live gunicorn server: one
tap cycles a status, a bulk EXCUSED removes the absentee's catch-up, a student's row updates
live when they join the running call (the join driven through app.live.services, as the room
page's Join would), and axe finds nothing on the sheet. Screenshots in test-artifacts/."""
from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from app.attendance import services
from app.attendance.models import CatchUp
from app.attendance.rules import AttendanceStatus as S
from app.db_types import utcnow
from app.extensions import db
from app.live import services as live
from app.live import session_runs
from app.live.models import Run
from tests.attendance.test_sheet import go_live, occurrence_of, session_for_three, sheet_path
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_notifications import log_in, wait_connected
from tests.conftest import commit


def _lesson(school, make, live_run: bool):
    s1, s2 = school.students
    start = (utcnow() - timedelta(minutes=20)).replace(microsecond=0, second=0)
    session, s3 = session_for_three(school, make, start)
    run = go_live(session, start, school.teacher) if live_run else None
    commit()
    return session, start, run, (s1, s2, s3)


def test_roll_call_on_a_phone_tap_bulk_and_a_live_join(school, make, new_page):
    session, start, run, (s1, s2, s3) = _lesson(school, make, live_run=True)
    page = new_page(viewport=PHONE)
    log_in(page, school.teacher)
    page.goto(sheet_path(session, start))
    wait_connected(page)
    row = page.locator(f"#sheet-row-{s1.id}")
    expect(row).to_have_attribute("data-status", "NONE")

    # One tap: Present; another: Late.
    row.get_by_role("button", name=f"{s1.name}: Unmarked. Tap to change").click()
    expect(row).to_have_attribute("data-status", "PRESENT")
    expect(page.locator("[data-count=PRESENT]")).to_have_text("1 present")
    row.get_by_role("button", name=f"{s1.name}: Present. Tap to change").click()
    expect(row).to_have_attribute("data-status", "LATE")

    # Two absent by taps: each owes a catch-up; a bulk EXCUSED removes them.
    for person in (s2, s3):
        chip = page.locator(f"#sheet-row-{person.id} .sheet-chip")
        for expected in ("PRESENT", "LATE", "ABSENT"):
            chip.click()
            expect(page.locator(f"#sheet-row-{person.id}")).to_have_attribute(
                "data-status", expected)
            chip = page.locator(f"#sheet-row-{person.id} .sheet-chip")
    db.session.expire_all()
    assert set(db.session.scalars(select(CatchUp.user_id))) == {s2.id, s3.id}
    page.get_by_label(f"Select {s2.name}").check()
    page.get_by_label(f"Select {s3.name}").check()
    page.get_by_label("Mark the selected people").select_option("EXCUSED")
    page.get_by_label("Note (optional)").fill("School trip")
    page.get_by_role("button", name="Apply to selected").click()
    expect(page.locator(".sheet-bulk-done")).to_have_text("2 people marked excused.")
    for person in (s2, s3):
        expect(page.locator(f"#sheet-row-{person.id}")).to_have_attribute("data-status",
                                                                           "EXCUSED")
    db.session.expire_all()
    assert list(db.session.scalars(select(CatchUp.user_id))) == []

    # s1 joins the running call (what the room page's Join does): their row updates live.
    room = session_runs.room_for_session(session)
    live.join(s1, room, "a1b2c3d4e5f6")
    commit()
    expect(row.locator(".badge-ok")).to_have_text("In the call")
    expect(row.locator("[data-joins]")).to_have_text("1 join")
    expect(row.locator(".sheet-timeline")).to_be_visible()
    expect(row).to_have_attribute("data-status", "LATE")  # the manual mark still wins
    # Another teacher (the center's admin) marks Nora: her row changes here too.
    sheet = services.occurrence_sheet(session, occurrence_of(session, start))
    services.set_statuses(school.admin, sheet, [s3.id], S.PRESENT, "Came in person")
    commit()
    nora = page.locator(f"#sheet-row-{s3.id}")
    expect(nora).to_have_attribute("data-status", "PRESENT")
    expect(nora.locator(".sheet-source")).to_contain_text("Marked by Alice Admin")
    screenshot(page, "attendance-sheet-phone")
    assert_no_console_errors(page)


def test_the_sheet_after_the_call_on_a_desktop_and_a_students_own_view(school, make,
                                                                         new_page):
    session, start, run, (s1, s2, s3) = _lesson(school, make, live_run=True)
    sheet = services.occurrence_sheet(session, occurrence_of(session, start))
    services.set_statuses(school.teacher, sheet, [s2.id], S.EXCUSED, "Dentist appointment")
    from tests.attendance.test_sheet import attend

    attend(run, s1, start - timedelta(minutes=2), start + timedelta(minutes=8))
    attend(run, s1, start + timedelta(minutes=11), start + timedelta(minutes=19))
    live._end(db.session.get(Run, run.id), school.teacher, start + timedelta(minutes=20))
    commit()
    page = new_page(viewport=DESKTOP)
    log_in(page, school.teacher)
    page.goto(sheet_path(session, start))
    expect(page.locator(f"#sheet-row-{s3.id}")).to_have_attribute("data-status", "ABSENT")
    expect(page.locator(f"#sheet-row-{s1.id} [data-joins]")).to_have_text("2 joins")
    screenshot(page, "attendance-sheet-desktop")
    assert_no_console_errors(page)

    student = new_page(viewport=PHONE)
    log_in(student, s1)
    student.goto(sheet_path(session, start))
    expect(student.get_by_role("heading", name="My attendance")).to_be_visible()
    expect(student.locator(".sheet-row")).to_have_count(1)
    expect(student.get_by_text(s3.name)).to_have_count(0)
    screenshot(student, "attendance-sheet-student-phone")
    assert_no_console_errors(student)
