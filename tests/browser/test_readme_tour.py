"""The README's "A short tour" and "Things to try", followed as a person would, on the demo data:
every page and link the README promises is where it says. The test reads README.md, so a
promise added there without the link to back it fails here."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.demo import DEMO_PASSWORD, seed_demo
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.live import ROOT

README = (ROOT / "README.md").read_text()


def tour_rows() -> dict[str, str]:
    """The tour table: who -> the "what to look at" cell."""
    section = README.split("## A short tour", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("who", "---"):
            rows[cells[0]] = cells[2]
    return rows


def things_to_try() -> list[str]:
    section = README.split("Things to try:", 1)[1].split("\n\n", 1)[0]
    return [line[2:] for line in section.splitlines() if line.startswith("- ")]


def bold_words(text: str) -> list[str]:
    return re.findall(r"\*\*([^*]+)\*\*", text)


@pytest.fixture
def demo(app):
    seed_demo()


def log_in(page, email):
    page.goto("/")  # the README: log in at the site's address
    assert "/login" in page.url
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(my-day)?$"))  # teachers land on My Day


def main_nav(page):
    if page.viewport_size["width"] < 1024:  # narrower, the sections are under Menu (app.css)
        menu = page.locator("#site-menu")
        if not menu.evaluate("el => el.open"):
            page.get_by_label("Menu").click()
    return page.get_by_role("navigation", name="Main")


def follow(page, name):
    link = main_nav(page).get_by_role("link", name=re.compile(rf"^{re.escape(name)}\b"))
    href = link.get_attribute("href")
    link.click()
    # The boosted page is in before the next step: the old page's heading (and its open Menu,
    # which the swap closes) would otherwise pass for the new one's.
    expect(page).to_have_url(re.compile(rf"^[^?#]*{re.escape(href)}([?#].*)?$"))
    expect(page.locator(".htmx-request")).to_have_count(0)
    expect(page.get_by_role("heading", level=1).first).to_be_visible()


def switch_view(page, view):
    page.get_by_role("link", name=view, exact=True).click()
    expect(page.locator(f"#view-{view.lower()}")).to_have_attribute("aria-current", "page")
    # The swap is over before the next click (a click in the outgoing calendar is dropped).
    expect(page.locator(".htmx-request")).to_have_count(0)


def test_the_readme_names_the_demo_password_and_logins():
    from app.demo import DEMO_LOGINS

    assert f"`{DEMO_PASSWORD}`" in README
    emails = {email for email, _ in DEMO_LOGINS}
    for promised in re.findall(r"`([a-z0-9]+@example\.com)`", README):
        assert promised in emails, promised


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_admin_tour(demo, new_page, viewport, size):
    what = tour_rows()["center admin"]
    page = new_page(viewport=viewport)
    log_in(page, "admin@example.com")
    # "counts and recent changes"
    expect(page.locator(".stat").first).to_be_visible()
    expect(page.get_by_role("heading", name="Recent changes")).to_be_visible()
    promised = bold_words(what)
    assert promised == ["People", "Courses", "Audit log", "Outbox", "Jobs", "Call settings",
                        "Attendance settings"], promised
    for name in promised[:-2]:
        follow(page, name)
        screenshot(page, f"tour-admin-{name.lower().replace(' ', '-')}-{size}")
    # "Call settings on the dashboard (how calls are carried, how to add a media server)"
    assert "**Call settings** on the dashboard" in what
    follow(page, "Dashboard")
    page.get_by_role("link", name="Call settings").click()
    expect(page.get_by_role("heading", name="How calls are carried")).to_be_visible()
    expect(page.get_by_role("heading", name="Adding a media server")).to_be_visible()
    # "and Attendance settings (when a join counts as late, how short a stay is left early)"
    follow(page, "Dashboard")
    page.get_by_role("link", name="Attendance settings").click()
    expect(page.get_by_label(re.compile("^Grace before someone is late"))).to_have_value("5")
    expect(page.get_by_label(re.compile("^Left early below"))).to_have_value("50")
    screenshot(page, f"tour-admin-attendance-settings-{size}")
    # People: search, add, deactivate, CSV import with a per-row report.
    follow(page, "People")
    expect(page.get_by_role("searchbox", name="Search people")).to_be_visible()
    expect(page.get_by_role("link", name="Add a person")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("^Deactivate ")).first).to_be_attached()
    page.get_by_role("link", name="Import CSV").click()
    expect(page.get_by_role("heading", name=re.compile("Import"))).to_be_visible()
    expect(page.get_by_label("CSV file")).to_be_visible()
    assert_no_console_errors(page)


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_teacher_tour(demo, new_page, viewport, size):
    what = tour_rows()[next(k for k in tour_rows() if k.startswith("teacher"))]
    assert bold_words(what) == ["My Day", "Calendar", "Chats", "Start call", "Students"]
    page = new_page(viewport=viewport)
    log_in(page, "teacher@example.com")

    # My Day, where a teacher lands: today's sessions, attendance to confirm, overdue
    # catch-ups, unread chats; the dashboard one click away.
    assert "where a teacher lands" in what
    assert page.url.endswith("/my-day")
    expect(page.get_by_role("heading", name="My Day", level=1)).to_be_visible()
    for heading in ("Attendance to confirm", "Overdue catch-ups", "Unread chats"):
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Today, "))).to_be_visible()
    screenshot(page, f"tour-teacher-my-day-{size}")
    assert "the dashboard is one click away" in what
    page.get_by_role("main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Hello, Tom")).to_be_visible()

    # Calendar: month, week and agenda; click a day or a time slot to schedule.
    follow(page, "Calendar")
    for view in ("Month", "Week", "Agenda"):
        assert view.lower() in what
        switch_view(page, view)
    assert "click a day or a time slot to schedule" in what
    # (The week view has the day and slot buttons on every screen size.)
    switch_view(page, "Week")
    page.locator("#calendar button[aria-label^='Schedule a session on']:visible").last.click()
    expect(page.locator("#dialog-body form")).to_be_visible()
    expect(page.get_by_label("Title")).to_be_visible()
    page.keyboard.press("Escape")
    # Open a session: move or cancel one occurrence, edit the series or "this and following".
    switch_view(page, "Agenda")
    page.locator("#calendar a[href*='/sessions/']").first.click()
    expect(page.get_by_role("link", name=re.compile("^Move")).first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Cancel")).first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("^Edit (series|session)"))).to_be_visible()
    assert "this and following" in what
    expect(page.get_by_role("link", name="Edit this and following").first).to_be_visible()

    # Chats: class channels, the "Exam prep" group, direct messages, search.
    follow(page, "Chats")
    for kind in ("Classes", "Groups", "Direct"):
        expect(page.get_by_role("navigation", name="Filter conversations")
               .get_by_role("link", name=kind)).to_be_visible()
    assert '"Exam prep"' in what
    expect(page.locator("#thread-list")).to_contain_text("Exam prep")
    expect(page.get_by_role("searchbox", name="Search messages")).to_be_visible()
    # "Start call in any conversation's header"
    page.locator("#thread-list").get_by_role("link", name=re.compile("Exam prep")).first.click()
    expect(page.locator(".thread-actions").get_by_role("button", name="Start call")).to_be_visible()

    follow(page, "Students")
    expect(page.get_by_role("heading", name="Your students")).to_be_visible()
    screenshot(page, f"tour-teacher-students-{size}")
    assert_no_console_errors(page)


def test_student_tour(demo, new_page):
    what = tour_rows()[next(k for k in tour_rows() if k.startswith("student"))]
    assert "student4 lives in New York" in what
    page = new_page()
    log_in(page, "student4@example.com")
    # Your sessions in your own time zone; chats with your teacher; the bell.
    expect(page.locator(".site-footer")).to_contain_text("America/New York")
    expect(page.get_by_role("heading", name="Upcoming sessions")).to_be_visible()
    expect(page.locator("#bell-menu > summary")).to_be_visible()
    follow(page, "Chats")
    expect(page.locator("#thread-list")).to_contain_text("Tom Teacher")
    assert_no_console_errors(page)


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_things_to_try(demo, new_page, viewport, size):
    bullets = things_to_try()
    page = new_page(viewport=viewport)
    log_in(page, "teacher@example.com")

    # "Notification settings (the sliders icon beside your name or initials at the top; under
    # Menu on a phone or tablet): enable push on this device, choose push/email per event, set
    # quiet hours in your own zone."
    [settings] = [b for b in bullets if b.startswith("**Notification settings** (the sliders "
                                                     "icon beside your name or initials")]
    main_nav(page)
    account = page.locator(".account")
    who = account.get_by_role("link", name=re.compile("Tom Teacher"))  # "your name or initials"
    expect(who).to_be_visible()
    expect(who.locator(".avatar")).to_have_text("TT")
    account.get_by_role("link", name="Notification settings").click()
    expect(page.get_by_role("heading", name="Notification settings", level=1)).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Enable notifications"))).to_be_visible()
    expect(page.get_by_role("checkbox", name=re.compile("^Push for ")).first).to_be_visible()
    expect(page.get_by_role("checkbox", name=re.compile("^Email for ")).first).to_be_visible()
    expect(page.get_by_role("group", name=re.compile("Quiet hours"))).to_contain_text("Europe/London")
    screenshot(page, f"tour-notification-settings-{size}")

    # "The calendar page has your personal feed (Subscribe: webcal:// or https://)".
    [feed] = [b for b in bullets if "personal feed" in b]
    assert "webcal://" in feed and "https://" in feed
    follow(page, "Calendar")
    expect(page.locator("input[value^='webcal://']")).to_have_count(1)
    expect(page.locator("input[value^='http']").first).to_be_attached()

    # "... listed under **Outbox**": an admin's page.
    [invites] = [b for b in bullets if "iCal invitations" in b]
    assert "**Outbox**" in invites

    # "Every time is shown in the viewer's own time zone (set on your profile: your name or
    # initials at the top)".
    assert "set on your profile: your name or initials at the top" in README
    main_nav(page)
    page.locator(".account .who").click()
    expect(page.get_by_role("heading", name="Your profile")).to_be_visible()
    expect(page.get_by_label("Time zone", exact=True)).to_be_visible()
    assert_no_console_errors(page)


def test_invitations_group_rules_and_forgotten_passwords(demo, new_page):
    """The "Things to try" bullets about inviting by email, a group's session rules with a
    student's proposal, and "Forgot your password?", followed on the demo data."""
    bullets = things_to_try()
    [invite] = [b for b in bullets if b.startswith("Invite someone")]
    [rules] = [b for b in bullets if "**Session rules**" in b]
    [forgot] = [b for b in bullets if b.startswith("Forgot a password?")]
    from datetime import timedelta

    from app.db_types import utcnow

    page = new_page()
    # "Forgot your password? on the login page emails a single-use link."
    assert "**Forgot your password?**" in forgot
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()

    log_in(page, "teacher@example.com")
    # "open a session and press Invite by email"
    assert "**Invite by email**" in invite
    follow(page, "Calendar")
    switch_view(page, "Agenda")
    page.locator("#calendar a[href*='/sessions/']").first.click()
    page.get_by_role("link", name="Invite by email").click()
    expect(page.get_by_role("heading", name="Invite by email", level=1)).to_be_visible()
    expect(page.get_by_label("Email addresses")).to_be_visible()

    # "open the "Exam prep" group's settings → Session rules: let members propose sessions
    # with your approval, set the notice and the allowed times."
    follow(page, "Chats")
    page.locator("#thread-list").get_by_role("link", name=re.compile("Exam prep")).first.click()
    page.locator(".thread-actions").get_by_role("link", name="Settings").click()
    expect(page.get_by_role("link", name="Invite by email")).to_be_visible()
    expect(page.get_by_role("heading", name="Session rules")).to_be_visible()
    page.get_by_label(re.compile("members", re.I)).first.check()
    page.get_by_label(re.compile("wait for the owner's approval")).check()
    page.get_by_label("Minimum notice (hours)").fill("24")
    page.get_by_label("Monday").fill("15:00-19:00")
    page.get_by_role("button", name="Save rules").click()
    expect(page.get_by_text("Session rules saved.")).to_be_visible()

    # "as student1, open the group's Sessions tab and propose one: a time outside the rules
    # is refused with the next allowed slots"
    assert "**Sessions**" in rules
    student = new_page()
    log_in(student, "student1@example.com")
    follow(student, "Chats")
    student.locator("#thread-list").get_by_role("link", name=re.compile("Exam prep")).first.click()
    student.locator(".thread-actions").get_by_role("link", name="Sessions").click()
    student.get_by_role("link", name="Propose a session").click()
    student.get_by_label("Title").fill("Past paper 2 walkthrough")
    monday = utcnow().date() + timedelta(days=7 - utcnow().weekday() + 7)
    student.get_by_label("Date", exact=True).fill(monday.isoformat())
    student.get_by_label("Start time").fill("20:00")
    student.get_by_role("button", name=re.compile("Send the proposal")).click()
    expect(student.get_by_text(re.compile("allowed time slots"))).to_be_visible()
    student.get_by_role("link", name=re.compile(r"Mon \d+ \w+ 15:00")).first.click()
    # The slot refills the form in place (once, not a page pasted into it).
    expect(student.get_by_label("Start time")).to_have_value("15:00")
    expect(student.get_by_role("heading", name="Propose a session")).to_have_count(1)
    student.get_by_role("button", name=re.compile("Send the proposal")).click()
    expect(student.get_by_text("Past paper 2 walkthrough").first).to_be_visible()

    # "the teacher approves or declines it there" (the group's Sessions tab).
    page.goto(page.url.replace("/settings", ""))
    page.locator(".thread-actions").get_by_role("link", name="Sessions").click()
    expect(page.get_by_role("button", name=re.compile("Approve")).first).to_be_visible()
    assert_no_console_errors(page)
    assert_no_console_errors(student)

    # "admins: People → Invitations"
    admin = new_page()
    log_in(admin, "admin@example.com")
    follow(admin, "People")
    admin.get_by_role("link", name="Invitations").click()
    expect(admin.get_by_role("heading", name="Invite by email", level=1)).to_be_visible()


def test_calls(demo, new_page):
    """The two "Things to try" bullets about calls, followed on the demo data up to the point
    where media would flow (that part runs in tests/calls, inside a network namespace)."""
    bullets = things_to_try()
    [instant] = [b for b in bullets if b.startswith("Calls:")]
    [scheduled] = [b for b in bullets if b.startswith("A scheduled session's page")]
    from app.accounts.models import User
    from app.extensions import db
    from tests.live.test_sessions_live import make_session, now_plus

    # "as student1 ... its members get a ringing toast with Join"
    student = new_page()
    log_in(student, "student1@example.com")
    follow(student, "Chats")
    expect(student.locator("html[data-realtime=open]")).to_have_count(1)

    # "as the teacher, open the "Exam prep" group and press Start call: the call opens with the
    # group's chat beside the video"
    assert "**Start call**" in instant
    teacher = new_page()
    log_in(teacher, "teacher@example.com")
    follow(teacher, "Chats")
    teacher.locator("#thread-list").get_by_role("link", name=re.compile("Exam prep")).first.click()
    teacher.locator(".thread-actions").get_by_role("button", name="Start call").click()
    expect(teacher.get_by_role("heading", name=re.compile(r"^Call · Exam prep"), level=1)).to_be_visible()
    expect(teacher.get_by_role("region", name="Chat")).to_be_visible()
    controls = teacher.get_by_role("toolbar", name="Call controls")
    assert "**Join**" in instant
    expect(controls.get_by_role("button", name="Join")).to_be_visible()
    # "the teacher's People list ... Mute everyone ... End for everyone"
    for words in ("**People**", "**Mute everyone**", "**End for everyone**"):
        assert words in instant
    expect(teacher.get_by_role("heading", name=re.compile(r"^People"))).to_be_visible()
    expect(teacher.get_by_role("button", name="Mute everyone")).to_be_visible()
    expect(teacher.get_by_role("button", name="End for everyone")).to_be_visible()

    toast = student.get_by_role("alertdialog", name=re.compile("started a call in Exam prep"))
    expect(toast).to_be_visible(timeout=15_000)
    toast.get_by_role("link", name="Join").click()
    expect(student.get_by_role("heading", name=re.compile(r"^Call · Exam prep"), level=1)).to_be_visible()
    assert_no_console_errors(teacher)

    # "A scheduled session's page shows Join from 10 minutes before it starts ... the
    # teacher's Start"
    assert "**Join**" in scheduled and "**Start**" in scheduled
    teacher_user = db.session.scalar(db.select(User).where(User.email == "teacher@example.com"))
    student_user = db.session.scalar(db.select(User).where(User.email == "student1@example.com"))
    session = make_session(teacher_user.center, teacher_user, [student_user], start=now_plus(8),
                           title="Tour lesson")
    db.session.commit()
    student.goto(f"/sessions/{session.id}")
    card = student.get_by_role("region", name="Video call")
    expect(card.get_by_role("button", name="Join")).to_be_visible()
    teacher.goto(f"/sessions/{session.id}")
    expect(teacher.get_by_role("region", name="Video call").get_by_role("button", name="Start")).to_be_visible()


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_attendance_and_catch_ups(demo, new_page, viewport, size):
    """The "Things to try" bullets about attendance and catch-ups, on the demo's homework
    clinic (four past calls: app/attendance/demo.py)."""
    bullets = things_to_try()
    [attendance] = [b for b in bullets if b.startswith("Attendance takes itself")]
    [catch_ups] = [b for b in bullets if "**To catch up on**" in b]

    # "as the teacher, press Attendance beside "GCSE Mathematics" on the dashboard"
    page = new_page(viewport=viewport)
    log_in(page, "teacher@example.com")
    follow(page, "Dashboard")
    assert '**Attendance** beside "GCSE Mathematics" on the dashboard' in attendance
    page.get_by_role("link", name="Attendance of GCSE Mathematics").click()
    grid = page.locator("#attendance-report")
    expect(grid).to_contain_text("Lucas Moreau")
    # "with rates, lates and absences, and Download CSV or JSON"
    for words in ("rates", "lates", "absences", "**Download CSV**", "**JSON**"):
        assert words in attendance
    expect(grid.locator("thead")).to_contain_text("Rate")
    expect(page.get_by_role("link", name="Download CSV")).to_be_visible()
    expect(page.get_by_role("link", name="JSON", exact=True)).to_be_visible()
    screenshot(page, f"tour-attendance-grid-{size}")

    # "Click an occurrence's date for its roll call: tap a status to change it"
    grid.locator("a[title='Attendance sheet']").first.click()
    expect(page.get_by_role("heading", name="Attendance", level=1)).to_be_visible()
    sam = page.locator(".sheet-row", has_text="Sam Student")
    status = sam.get_attribute("data-status")
    sam.locator(".sheet-chip").click()
    expect(sam).not_to_have_attribute("data-status", status)
    # "tick several people to mark them at once, add a note; a bar shows when each was there"
    expect(page.get_by_label("Mark the selected people")).to_be_visible()
    expect(page.locator(".sheet-timeline").first).to_be_attached()
    expect(page.get_by_text(re.compile("^(Add a note|Note:)")).first).to_be_attached()
    screenshot(page, f"tour-attendance-sheet-{size}")
    # "Click a student's name for their history."
    page.go_back()
    page.get_by_role("link", name="Lucas Moreau").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lucas Moreau")
    expect(page.get_by_role("main")).to_contain_text("Absent")
    # "Teachers follow open and overdue catch-ups under Catch-ups."
    assert "under **Catch-ups**" in catch_ups
    follow(page, "Catch-ups")
    expect(page.locator(".catch-up-title").first).to_be_visible()
    assert_no_console_errors(page)

    # "Lucas (student3) missed two clinics: his dashboard lists them under To catch up on; open
    # one to see what was said while he was away and the work set, then Mark done."
    lucas = new_page(viewport=viewport)
    log_in(lucas, "student3@example.com")
    card = lucas.locator("#catch-up-card")
    expect(card.get_by_role("heading", name="To catch up on")).to_be_visible()
    expect(card.locator(".catch-up-title")).to_have_count(2)
    card.locator("a").filter(has_text="homework clinic").first.click()
    expect(lucas.get_by_role("heading", name=re.compile("^Catch-up: "))).to_be_visible()
    expect(lucas.locator(".catch-up-messages .message-body").first).to_be_visible()
    expect(lucas.get_by_text(re.compile(r"^Exercise 3\.\d, questions"))).to_be_visible()
    screenshot(lucas, f"tour-catch-up-{size}")
    lucas.get_by_role("button", name="Mark done").click()
    expect(lucas.locator("#catch-up-status").get_by_text("Done", exact=True)).to_be_visible()
    assert_no_console_errors(lucas)


@pytest.mark.parametrize("viewport,size", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_control_center(demo, new_page, viewport, size):
    """The "Things to try" bullet about the Tutoring session's control center, up to where a
    live lesson begins (the lesson itself is tests/browser/test_control_center.py and, with
    media, tests/calls/test_control_center_call.py)."""
    [bullet] = [b for b in things_to_try() if "**Control center**" in b]
    page = new_page(viewport=viewport)
    log_in(page, "teacher@example.com")
    # "open it from the calendar and press Control center"
    follow(page, "Calendar")
    switch_view(page, "Agenda")
    page.locator("#calendar a", has_text="homework clinic").first.click()
    expect(page.locator(".session-head")).to_contain_text("Tutoring")
    page.get_by_role("link", name="Control center", exact=True).click()
    expect(page.get_by_role("heading", name="Control center", level=1)).to_be_visible()
    # "Each student has a panel with their plan (subject, "Year 10 → Maths at Year 9", goal),
    # their work with progress, and Teach / Observe; three of the next lesson's plans are ready"
    panels = page.locator(".cc-panel")
    expect(panels).to_have_count(5)
    sam = panels.filter(has_text="Sam Student")
    assert "Year 10 → Maths at Year 9" in bullet
    expect(sam).to_contain_text("Year 10 → Maths at Year 9")
    expect(sam).to_contain_text("Worksheet 3.5")
    for name in ("Teach", "Observe"):
        assert f"**{name}**" in bullet
        expect(sam.get_by_role("button", name=name, exact=True)).to_be_visible()
    expect(panels.filter(has_text="No subject set yet")).to_have_count(2)
    # "the others can be made there (Plan, Assign work, or Copy last session's plan)"
    kenji = panels.filter(has_text="Kenji Tanaka")
    for name in ("Plan", "Assign work"):
        assert f"**{name}**" in bullet
        expect(kenji.locator("summary", has_text=name)).to_be_visible()
    kenji.locator("summary", has_text="Plan").click()
    assert "**Copy last session's plan**" in bullet
    expect(kenji.get_by_role("button", name="Copy last session's plan")).to_be_visible()
    screenshot(page, f"tour-control-center-{size}")
    assert_no_console_errors(page)
