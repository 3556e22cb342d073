"""Accessibility: axe-core finds no violation on the main pages, for each role, on a desktop and
on a phone, in the states people see (a bell with a count, unread notifications with "Mark
read", a calendar with sessions, an open menu).

axe-core is vendored for the tests only (tests/vendor/axe-4.14.1.min.js, from `npm pack
axe-core@4.14.1`, MPL-2.0: tests/vendor/axe-LICENSE.txt). It is injected as an init script of
the browser context (the DevTools protocol), so the app's CSP (no inline script) stays as it is.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Role, User
from app.chat.models import Thread, ThreadKind
from app.demo import DEMO_PASSWORD, seed_demo
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.models import NotificationType
from app.scheduling.models import VideoSession
from tests.browser.conftest import DESKTOP, PHONE
from tests.live import ROOT

AXE = ROOT / "tests" / "vendor" / "axe-4.14.1.min.js"

PHONE_PAGES = ("/calendar?view=month", "/calendar?view=week", "/chat/threads/", "/notifications",
               "/admin/users", "/people/")
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
    db.session.commit()
    return people


def axe_violations(page) -> list[dict]:
    return page.evaluate(RUN_AXE)


def log_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/$"))


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
        return [("/", None), ("/admin/users", None), ("/admin/courses", None),
                (f"/admin/courses/{course_id}", None), ("/admin/audit", None),
                ("/admin/outbox", None), ("/admin/users/import", None), ("/admin/jobs", None),
                (f"/people/{demo['student1@example.com'].id}", None), ("/calendar", None),
                ("/notifications", None), ("/notifications/settings", None), ("/account", None),
                ("/admin/invitations", None), ("/admin/users/new", None),
                (f"/admin/users/{demo['student1@example.com'].id}/edit", None)]
    if role == Role.TEACHER:
        return common + staff + [("/students", None),
                                 (f"/people/{demo['student1@example.com'].id}", None)]
    return common + groups + [("/teachers", None)]


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
