"""Catch-ups in real Chromium against the live gunicorn server: on a phone the student sees the
card on their dashboard, opens the catch-up, marks it done and it leaves the dashboard; the
teacher sets the work (a bad link refused with what was typed kept, then saved) and the student
reads it. Screenshots at desktop and phone sizes go to test-artifacts/."""
from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import expect

from app.chat import services as chat
from app.chat.models import Thread
from app.db_types import utcnow
from app.extensions import db
from tests.attendance.test_catch_ups import add_catch_up
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_notifications import log_in
from tests.conftest import commit
from tests.live.test_sessions_live import make_session


def test_a_student_opens_a_catch_up_from_the_dashboard_and_marks_it_done_on_a_phone(
        school, new_page):
    student = school.students[0]
    session = make_session(school.center, school.teacher, school.students, title="Fractions",
                           start=utcnow() - timedelta(days=2))
    catch_up = add_catch_up(session, student, work="Exercises 4-9 on page 12",
                            link="https://example.org/worksheet", missed_ago=timedelta(minutes=5))
    thread = db.session.get(Thread, catch_up.thread_id)
    chat.post_message(school.teacher, thread, "Today: **fractions** of amounts, page 12")
    chat.post_message(student, thread, "Sorry, I can't make it today")
    add_catch_up(make_session(school.center, school.teacher, school.students, title="Decimals",
                              start=utcnow() - timedelta(days=12)),
                 student, due_in=timedelta(days=-3), missed_ago=timedelta(days=12))
    commit()

    page = new_page(viewport=PHONE)
    log_in(page, student)
    card = page.locator("#catch-up-card")
    expect(card.get_by_role("heading", name="To catch up on")).to_be_visible()
    # The overdue one first, saying so.
    expect(card.locator(".catch-up-title")).to_have_text(["Decimals", "Fractions"])
    expect(card.locator("li").first.get_by_text("Overdue")).to_be_visible()
    screenshot(page, "catch-ups-dashboard-phone")

    card.get_by_role("link", name="Fractions").click()
    expect(page.get_by_role("heading", name="Catch-up: Fractions")).to_be_visible()
    expect(page.get_by_text("Exercises 4-9 on page 12")).to_be_visible()
    messages = page.locator(".catch-up-messages")
    expect(messages.locator(".message-body")).to_have_text([
        "Today: fractions of amounts, page 12", "Sorry, I can't make it today"])
    expect(messages.get_by_role("button")).to_have_count(0)  # read-only: no Edit or Delete
    expect(page.get_by_role("link", name="https://example.org/worksheet")).to_be_visible()
    screenshot(page, "catch-up-student-phone")
    page.get_by_role("button", name="Mark done").click()
    status = page.locator("#catch-up-status")
    expect(status.get_by_text("Done", exact=True)).to_be_visible()
    expect(status.get_by_role("button", name="Not done yet")).to_be_visible()
    screenshot(page, "catch-up-done-phone")

    page.goto("/")
    expect(page.get_by_role("heading", name=re.compile(r"^Hello, "))).to_be_visible()
    expect(page.locator("#catch-up-card .catch-up-title")).to_have_text(["Decimals"])

    # All of them, the done one too, on the list.
    page.goto("/catch-ups")
    expect(page.locator(".catch-up-title")).to_have_text(["Decimals", "Fractions"])
    screenshot(page, "catch-ups-student-list-phone")
    assert_no_console_errors(page)


def test_a_teacher_sets_the_work_and_the_student_reads_it(school, new_page):
    student = school.students[0]
    session = make_session(school.center, school.teacher, school.students, title="Fractions",
                           start=utcnow() - timedelta(days=2))
    catch_up = add_catch_up(session, student)
    commit()

    for viewport, size in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = new_page(viewport=viewport)
        log_in(page, school.teacher)
        page.goto("/catch-ups")
        expect(page.locator(".catch-up-title")).to_have_text(["Fractions"])
        screenshot(page, f"catch-ups-teacher-list-{size}")
        if size == "phone":
            break
        page.get_by_role("link", name="Fractions").click()
        expect(page.get_by_role("heading", name="Catch-up: Fractions")).to_be_visible()
        page.get_by_label("What to do").fill("Read chapter 3 & answer <all> questions")
        page.get_by_label("Link").fill("javascript:alert(1)")
        page.get_by_role("button", name=re.compile("^Save and tell")).click()
        expect(page.get_by_text("starts with http:// or https://")).to_be_visible()
        expect(page.get_by_label("What to do")).to_have_value(
            "Read chapter 3 & answer <all> questions")
        screenshot(page, "catch-up-teacher-refused-desktop")
        page.get_by_label("Link").fill("https://example.org/chapter-3")
        page.get_by_role("button", name=re.compile("^Save and tell")).click()
        expect(page.get_by_text(f"Saved. {student.name} was told about the change.")).to_be_visible()
        screenshot(page, "catch-up-teacher-desktop")
        # The student's person page lists what they still owe.
        page.goto(f"/people/{student.id}")
        section = page.get_by_role("region", name="Open catch-ups")
        expect(section.locator(".catch-up-title")).to_have_text(["Fractions"])
        screenshot(page, "catch-ups-person-desktop")
        assert_no_console_errors(page)

    page = new_page(viewport=DESKTOP)
    log_in(page, student)
    page.goto(f"/catch-ups/{catch_up.id}")
    expect(page.get_by_text("Read chapter 3 & answer <all> questions")).to_be_visible()
    expect(page.get_by_role("link", name="https://example.org/chapter-3")).to_be_visible()
    screenshot(page, "catch-up-student-desktop")
    page.goto("/")
    screenshot(page, "catch-ups-dashboard-desktop")
    assert_no_console_errors(page)


def test_the_dashboard_card_comes_and_goes_live_with_the_absence(school, new_page):
    """Marked absent while the dashboard is open: the card appears without a reload (over
    user:<id>); the absence excused: it goes again."""
    from app.attendance import services
    from app.attendance.rules import AttendanceStatus
    from tests.attendance.test_compute import World

    teacher, student = school.teacher, school.students[0]
    world = World(school.center, teacher, [student],
                  (utcnow() - timedelta(hours=2)).replace(microsecond=0))
    world.presence(student, 0, 60)
    world.end(teacher)  # present: no catch-up yet

    page = new_page(viewport=PHONE)
    log_in(page, student)
    expect(page.locator("html[data-realtime='open']")).to_have_count(1)
    expect(page.get_by_role("heading", name="To catch up on")).to_have_count(0)

    services.set_statuses(teacher, world.run, [student.id], AttendanceStatus.ABSENT)
    commit()
    card = page.locator("#catch-up-card")
    expect(card.get_by_role("heading", name="To catch up on")).to_be_visible()
    expect(card.locator(".catch-up-title")).to_have_text(["Algebra lesson"])

    services.set_statuses(teacher, world.run, [student.id], AttendanceStatus.EXCUSED)
    commit()
    expect(page.get_by_role("heading", name="To catch up on")).to_have_count(0)
    assert_no_console_errors(page)
