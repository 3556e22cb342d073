"""Accessibility: axe-core finds no violation on the main pages, for each role, on a desktop and
on a phone, in the states people see (a bell with a count, unread notifications with "Mark
read", a calendar with sessions, an open menu).

axe-core is vendored for the tests only (tests/vendor/axe-4.14.1.min.js, from `npm pack
axe-core@4.14.1`, MPL-2.0: tests/vendor/axe-LICENSE.txt). It is injected as an init script of
the browser context (the DevTools protocol), so the app's CSP (no inline script) stays as it is.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Role, User
from app.chat import services as chat
from app.chat.models import Thread, ThreadKind
from app.db_types import utcnow
from app.demo import DEMO_PASSWORD, seed_demo
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.models import NotificationType
from app.scheduling.models import VideoSession
from tests.attendance.test_catch_ups import add_catch_up
from tests.browser.conftest import DESKTOP, PHONE
from tests.control_center.conftest import lesson_for  # noqa: F401
from tests.live import ROOT

AXE = ROOT / "tests" / "vendor" / "axe-4.14.1.min.js"

PHONE_PAGES = ("/calendar?view=month", "/calendar?view=week", "/chat/threads/", "/notifications",
               "/admin/users", "/people/", "/attendance/me", "/catch-ups", "/my-day")
RUN_AXE = """async () => {
  const results = await axe.run(document, {resultTypes: ["violations"]});
  return results.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + n.failureSummary)}));
}"""


@pytest.fixture
def demo(app):
    seed_demo()
    people = {u.email: u for u in db.session.scalars(select(User))}
    # Unread notifications: the bell shows a count and the list has "Mark read" buttons.
    for email in ("student1@example.com", "teacher@example.com", "admin@example.com"):
        notifications.notify([people[email]], NotificationType.NEW_MESSAGE, "Tom Teacher",
                             "See you on Monday", link="/chat/")
        notifications.notify([people[email]], NotificationType.SESSION_SCHEDULED,
                             "New session: GCSE Mathematics", "Mondays at 16:00", link="/calendar")
    # A catch-up (issue 12) for the first student, with work set and a message said during
    # the occurrence: its page, the dashboard card, the lists and a person page show it.
    session = db.session.scalar(select(VideoSession).where(
        VideoSession.teacher_id == people["teacher@example.com"].id,
        VideoSession.participants.any(user_id=people["student1@example.com"].id))
        .order_by(VideoSession.id))
    catch_up = add_catch_up(session, people["student1@example.com"], work="Exercises 4-9",
                            link="https://example.org/worksheet")
    chat.post_message(people["teacher@example.com"], db.session.get(Thread, catch_up.thread_id),
                      "Page 12, questions 4 to 9")
    catch_up.occurrence_start = utcnow() - timedelta(minutes=5)
    # My Day with rows in it: a lesson in its Join window with answers, and an unread message.
    from tests.my_day.helpers import add_session

    teacher = people["teacher@example.com"]
    learners = [people["student1@example.com"], people["student2@example.com"]]
    add_session(teacher.center, teacher, learners, utcnow() + timedelta(minutes=5), 45,
                "Past paper practice")
    chat.post_message(learners[0], chat.get_or_create_direct(learners[0], teacher),
                      "Is the homework due tomorrow?")
    db.session.commit()
    people["catch_up_id"] = catch_up.id
    return people


def axe_violations(page) -> list[dict]:
    return page.evaluate(RUN_AXE)


def log_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(my-day)?$"))  # a teacher lands on My Day


def check(page, path, found, label, wait_for=None):
    response = page.goto(path)
    assert response is not None and response.ok, f"{label} {path}: {response and response.status}"
    page.wait_for_load_state("networkidle")
    if wait_for:
        expect(page.locator(wait_for).first).to_be_visible()
    for violation in axe_violations(page):
        found.append(f"{label} {path}: {violation['id']} ({violation['impact']}) "
                     f"{violation['help']}\n    " + "\n    ".join(violation["nodes"]))


def pages_for(role, demo) -> list[tuple[str, str | None]]:
    session_id = db.session.scalar(select(VideoSession.id).order_by(VideoSession.id))
    thread_id = db.session.scalar(select(Thread.id).where(Thread.kind == ThreadKind.CLASS)
                                  .order_by(Thread.id))
    group_id = db.session.scalar(select(Thread.id).where(Thread.kind == ThreadKind.GROUP)
                                 .order_by(Thread.id))
    # Group session rules, proposals and invitations (issue 14): the group's Sessions tab for
    # everyone in it; its rules, settings and invitations, a session's invitations for staff.
    groups = [(f"/groups/{group_id}/sessions", None)]
    catch_up_pages = [("/catch-ups", None), (f"/catch-ups/{demo['catch_up_id']}", None),
                      ("/catch-ups?state=all", None)]
    staff = groups + [(f"/groups/{group_id}/rules", None),
                      (f"/chat/threads/{group_id}/settings", None),
                      (f"/groups/{group_id}/sessions/new", None),
                      (f"/sessions/{session_id}/invitations", None)]
    common = [("/", None), ("/calendar?view=month", ".cal-month, .month, table"),
              ("/calendar?view=week", None), ("/calendar?view=agenda", None),
              (f"/sessions/{session_id}", None), ("/chat/", None),
              (f"/chat/threads/{thread_id}", None), ("/notifications", None),
              ("/notifications/settings", None), ("/account", None)]
    if role == Role.ADMIN:
        course_id = db.session.scalar(select(VideoSession.course_id).where(
            VideoSession.course_id.is_not(None))) or 1
        return [("/", None), ("/my-day", "#my-day-today"), ("/admin/users", None),
                ("/admin/courses", None),
                (f"/admin/courses/{course_id}", None), ("/admin/audit", None),
                ("/admin/outbox", None), ("/admin/users/import", None), ("/admin/jobs", None),
                (f"/people/{demo['student1@example.com'].id}", None), ("/calendar", None),
                ("/notifications", None), ("/notifications/settings", None), ("/account", None),
                ("/admin/invitations", None), ("/admin/users/new", None),
                ("/catch-ups?state=all", None), (f"/catch-ups/{demo['catch_up_id']}", None),
                ("/admin/attendance", None),
                (f"/admin/users/{demo['student1@example.com'].id}/edit", None),
                (f"/courses/{course_id}/attendance", None),
                (f"/people/{demo['student1@example.com'].id}/attendance", None)]
    if role == Role.TEACHER:
        course_id = db.session.scalar(select(VideoSession.course_id).where(
            VideoSession.course_id.is_not(None)))
        return common + staff + catch_up_pages + [
            ("/my-day", "#my-day-today"),
            ("/students", None), (f"/people/{demo['student1@example.com'].id}", None),
            (f"/sessions/{session_id}/attendance", None),
            (f"/courses/{course_id}/attendance", None),
            (f"/people/{demo['student1@example.com'].id}/attendance", None)]
    return common + groups + catch_up_pages + [("/teachers", None), ("/attendance/me", None)]


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_no_axe_violations_on_the_main_pages(demo, browser, live_server, viewport, size):
    found: list[str] = []
    # Logged out: the login page.
    context = browser.new_context(viewport=viewport, base_url=live_server.url)
    context.add_init_script(path=str(AXE))
    try:
        page = context.new_page()
        check(page, "/login", found, size)
        check(page, "/password/forgot", found, size)
    finally:
        context.close()
    for email, role in (("admin@example.com", Role.ADMIN), ("teacher@example.com", Role.TEACHER),
                        ("student1@example.com", Role.STUDENT)):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.set_default_timeout(10_000)
        context.add_init_script(path=str(AXE))
        try:
            page = context.new_page()
            log_in(page, email)
            for path, wait_for in pages_for(role, demo):
                # On a phone, the pages whose layout changes there (the rest is the same
                # markup and colours, checked on the desktop).
                if size == "phone" and not path.startswith(PHONE_PAGES):
                    continue
                check(page, path, found, f"{size} {role.value.lower()}", wait_for)
            # The bell's panel and (on a phone) the menu, opened.
            page.goto("/")
            if size == "phone":
                page.get_by_label("Menu").click()
            page.locator("#bell-menu > summary").click()
            expect(page.locator(".bell-panel .notification").first).to_be_visible()
            for violation in axe_violations(page):
                found.append(f"{size} {role.value.lower()} / with panels open: {violation['id']} "
                             f"{violation['help']}\n    " + "\n    ".join(violation["nodes"]))
        finally:
            context.close()
    assert not found, "\n".join(found)


# --- the Tutor Control Center (issue 13) ----------------------------------------------------------

@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_no_axe_violations_in_the_control_center(lesson_for, school, browser, live_server,
                                                 viewport, size):
    """The tutor's page with every kind of content (a plan, work, a help request, notes, a
    timer, the plan and note forms opened, the call's strip), the reports page, a student's
    room page with their box and whether their tutor is talking to them, and the person page's
    notes history (the tutor's view and the student's)."""
    from io import BytesIO

    from werkzeug.datastructures import FileStorage

    from app.control_center import services as control_center
    from tests.browser.test_notifications import log_in as log_in_user
    from tests.conftest import commit

    lesson = lesson_for(3)
    sara = lesson.learners[0]
    control_center.save_plan(school.teacher, lesson.session, lesson.at, sara.id,
                             subject="Maths", current_level="Grade 8", working_level="Grade 5",
                             goal="Fractions")
    control_center.add_work_item(school.teacher, lesson.session, lesson.at, sara.id,
                                 "Worksheet", "https://example.org/sheet",
                                 FileStorage(BytesIO(b"%PDF-1.4\n"), "worksheet.pdf"))
    control_center.add_note(school.teacher, lesson.session, lesson.at, sara.id, "Good", "SHARED")
    control_center.add_note(school.teacher, lesson.session, lesson.at, sara.id, "Hm", "TUTOR_ONLY")
    control_center.raise_help(sara, lesson.session, "HIGH", "Stuck")
    control_center.start_timer(school.teacher, lesson.session, lesson.at, None, 10, "Exercise")
    commit()
    found: list[str] = []
    cc = f"/sessions/{lesson.session.id}/control-center"
    # The person page's notes history: the tutor's view (both kinds), the student's (shared).
    person = f"/people/{sara.id}"
    for user, paths in ((school.teacher, [cc]),
                        (sara, [f"/live/rooms/{lesson.run.room_id}"])):
        context = browser.new_context(viewport=viewport, base_url=live_server.url)
        context.set_default_timeout(10_000)
        context.add_init_script(path=str(AXE))
        try:
            page = context.new_page()
            log_in_user(page, user)
            if user is sara:
                check(page, paths[0], found, f"{size} student's room", "#cc-student-box")
                expect(page.locator("#cc-tutor-with")).to_be_visible()
                check(page, person, found, f"{size} student's own person page",
                      wait_for="#person-notes")
                continue
            for path in paths:
                check(page, path, found, f"{size} control center", "#cc-call-join")
            check(page, person, found, f"{size} tutor's view of a person page",
                  wait_for="#person-notes")
            page.goto(cc)
            if user is school.teacher:
                for summary in page.locator(f"#cc-panel-{sara.id} details > summary").all():
                    summary.click()
                for violation in axe_violations(page):
                    found.append(f"{size} control center, forms open: {violation['id']} "
                                 f"{violation['help']}\n    " + "\n    ".join(violation["nodes"]))
                control_center.draft_reports(school.teacher, lesson.session, lesson.at)
                commit()
                check(page, f"{cc}/reports?at={lesson.at_param}", found, f"{size} reports")
        finally:
            context.close()
    assert not found, "\n".join(found)


def test_no_axe_violations_on_the_attendance_sheet(school, make, browser, live_server):
    """The attendance sheet (issue 12) for its teacher and for a student (their own record),
    on a desktop and a phone."""
    from app.attendance import services
    from app.attendance.rules import AttendanceStatus as S
    from datetime import timedelta

    from app.live import services as live
    from tests.attendance.test_sheet import attend, occurrence_of, sheet_path
    from tests.browser.test_attendance_sheet import _lesson
    from tests.browser.test_notifications import log_in as log_in_user
    from tests.conftest import commit

    session, start, run, (s1, s2, s3) = _lesson(school, make, live_run=True)
    sheet = services.occurrence_sheet(session, occurrence_of(session, start))
    services.set_statuses(school.teacher, sheet, [s2.id], S.EXCUSED, "Dentist")
    attend(run, s1, start, start + timedelta(minutes=8))
    attend(run, s1, start + timedelta(minutes=11), start + timedelta(minutes=19))
    live._end(run, school.teacher, start + timedelta(minutes=20))
    commit()
    found = []
    for viewport, size in ((DESKTOP, "desktop"), (PHONE, "phone")):
        for user in (school.teacher, s1):
            context = browser.new_context(viewport=viewport, base_url=live_server.url)
            context.add_init_script(path=str(AXE))
            try:
                page = context.new_page()
                log_in_user(page, user)
                page.goto(sheet_path(session, start))
                page.wait_for_load_state("networkidle")
                for violation in axe_violations(page):
                    found.append(f"{size} {user.name}: {violation['id']} {violation['help']}\n"
                                 + "\n".join(violation["nodes"]))
            finally:
                context.close()
    assert not found, "\n".join(found)
