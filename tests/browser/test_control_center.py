"""The Tutor Control Center in real Chromium against the live gunicorn server (issue 13): a tutor's
page and their students' room pages, no media needed (the panels, the queue, the timers and the
reports work without anyone joining the call).

A student's HIGH request goes to the top of the tutor's queue live; the tutor claims and resolves
it and the student sees each state; a student's progress moves the tutor's bar; a timer for
everyone counts down on every page and says when it ends; the lesson ends, the report is sent,
and the student gets it in the app and by email. Screenshots at desktop, tablet and phone."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from app.control_center import services
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_notifications import log_in, wait_connected
from tests.control_center.conftest import lesson_for  # noqa: F401
from tests.conftest import commit
from tests.invites.conftest import _mail_settings, smtp, smtp_server  # noqa: F401

TABLET = {"width": 820, "height": 1180}
DESKTOP_WIDE = {"width": 1280, "height": 800}


def _prepare(lesson, tutor):
    titles = {}
    for n, student in enumerate(lesson.learners):
        services.save_plan(tutor, lesson.session, lesson.at, student.id, subject="Maths",
                           current_level=f"Grade {8 + n}", working_level=f"Grade {5 + n}",
                           goal="Fractions with unlike denominators")
        item = services.add_work_item(tutor, lesson.session, lesson.at, student.id,
                                      f"Worksheet {n + 1}", "https://example.org/sheet")
        services.add_work_item(tutor, lesson.session, lesson.at, student.id, "Word problems")
        titles[student.id] = item
    commit()
    return titles


def _open_control_center(new_page, tutor, lesson, viewport=DESKTOP_WIDE):
    page = new_page(viewport=viewport)
    log_in(page, tutor)
    page.goto(f"/sessions/{lesson.session.id}/control-center")
    wait_connected(page)
    return page


def _open_room(new_page, student, lesson, viewport=DESKTOP):
    page = new_page(viewport=viewport)
    log_in(page, student)
    page.goto(f"/live/rooms/{lesson.run.room_id}")
    wait_connected(page)
    expect(page.locator("#cc-student-box")).to_be_visible()
    return page


def test_help_progress_timers_and_the_report_live(lesson_for, school, new_page, smtp,
                                                  run_worker):
    lesson = lesson_for(3)
    sara, ben, third = lesson.learners
    items = _prepare(lesson, school.teacher)

    tutor = _open_control_center(new_page, school.teacher, lesson, DESKTOP_WIDE)
    expect(tutor.locator(".cc-panel")).to_have_count(3)
    expect(tutor.locator(f"#cc-panel-{sara.id} .cc-level")).to_have_text(
        "Grade 8 → Maths at Grade 5")

    sara_page = _open_room(new_page, sara, lesson)
    ben_page = _open_room(new_page, ben, lesson, viewport=PHONE)

    # A second tab of the tutor's follows what the first does (the same partials on cc:<run>),
    # and the student sees the new work in their own box.
    second_tab = _open_control_center(new_page, school.teacher, lesson, TABLET)
    panel = tutor.locator(f"#cc-panel-{third.id}")
    panel.locator("summary", has_text="Assign work").click()
    panel.get_by_label("Title").fill("Times tables")
    panel.get_by_role("button", name="Assign").click()
    expect(second_tab.locator(f"#cc-panel-{third.id} .cc-item")).to_have_count(3)
    expect(second_tab.locator(f"#cc-panel-{third.id}")).to_contain_text("Times tables")
    second_tab.locator(f"#cc-panel-{third.id}").get_by_role(
        "button", name="Pop into Teach").click()
    expect(tutor.locator(f"#cc-panel-{third.id}")).to_have_attribute("data-mode", "TEACH")
    # The hook the call's audio routing follows saw the change on this page too.
    assert tutor.evaluate(f"window.classhubControlCenter.modeOf({third.id})") == "TEACH"

    # Ben asks first (low), then Sara (high): Sara's goes to the top of the queue at once.
    ben_page.get_by_label("How urgent").select_option("LOW")
    ben_page.get_by_role("button", name="Raise hand / Ask for help").click()
    expect(ben_page.locator("#cc-student-box")).to_have_attribute("data-help-status", "PENDING")
    expect(tutor.locator(".cc-queue-item")).to_have_count(1)
    sara_page.get_by_label("How urgent").select_option("HIGH")
    sara_page.get_by_label("What do you need? (optional)").fill("Stuck on question 3")
    sara_page.get_by_role("button", name="Raise hand / Ask for help").click()
    expect(sara_page.locator("#cc-student-box")).to_have_attribute("data-help-status", "PENDING")
    first = tutor.locator(".cc-queue-item").first
    expect(first).to_have_attribute("data-priority", "HIGH", timeout=2_000)
    expect(first).to_contain_text("Stuck on question 3")
    expect(tutor.locator(f"#cc-panel-{sara.id} .cc-help")).to_contain_text("Stuck on question 3")
    screenshot(tutor, "control-center-desktop")

    # The tutor claims, then resolves; Sara sees each state.
    first.get_by_role("button", name=re.compile("^Claim")).click()
    expect(sara_page.locator("#cc-student-box")).to_have_attribute("data-help-status",
                                                                  "IN_PROGRESS")
    expect(sara_page.locator(".cc-help-state")).to_contain_text("Terry Teacher is helping you")
    tutor.locator(".cc-queue-item").first.get_by_role(
        "button", name=re.compile("^Resolve")).click()
    expect(sara_page.locator("#cc-student-box")).to_have_attribute("data-help-status",
                                                                  "RESOLVED")
    expect(tutor.locator(".cc-queue-item")).to_have_count(1)  # Ben's is still waiting
    expect(tutor.locator(f"#cc-panel-{sara.id} .cc-help")).to_have_count(0)

    # Sara's progress moves the tutor's bar.
    item = items[sara.id]
    sara_page.locator(f"#cc-my-progress-{item.id}").fill("60")
    sara_page.locator(f"#cc-my-item-{item.id}").get_by_role(
        "button", name=re.compile("^Save")).click()
    expect(tutor.locator(f"#cc-item-{item.id} progress")).to_have_attribute("value", "60")
    expect(tutor.locator(f"#cc-item-{item.id}")).to_have_attribute("data-status", "DOING")
    # Progress alone: the tutor's page swaps the item's row in place inside the panel, and
    # Sara's answer is her row, in place inside her box.
    sara_page.locator(f"#cc-my-progress-{item.id}").fill("75")
    sara_page.locator(f"#cc-my-item-{item.id}").get_by_role(
        "button", name=re.compile("^Save")).click()
    expect(tutor.locator(f"#cc-panel-{sara.id} #cc-item-{item.id} progress")) \
        .to_have_attribute("value", "75")
    expect(tutor.locator(f"#cc-item-{item.id}")).to_have_count(1)
    expect(sara_page.locator(f"#cc-student-box #cc-my-item-{item.id} progress")) \
        .to_have_attribute("value", "75")
    expect(sara_page.locator(f"#cc-my-item-{item.id}")).to_have_count(1)
    screenshot(tutor, "control-center-row-pushed")

    # A timer for everyone: it counts down on every page, then says so.
    tutor.get_by_label("Minutes").fill("0.1")
    tutor.get_by_label("Label").fill("Quick drill")
    tutor.get_by_role("button", name="Start timer").click()
    for page in (tutor, sara_page, ben_page):
        countdown = page.locator(".cc-timer[data-label='Quick drill'] [data-countdown]").first
        expect(countdown).to_have_text(re.compile(r"^0:0[0-6]$"))
    for page in (tutor, sara_page, ben_page):
        expect(page.locator("#cc-alert")).to_have_text("Time's up: Quick drill.", timeout=15_000)
        expect(page.locator(".cc-timer[data-label='Quick drill'] [data-countdown]").first
               ).to_have_text("Time's up")
    screenshot(sara_page, "control-center-student-desktop")
    screenshot(ben_page, "control-center-student-phone")
    assert ben_page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # End: the call ends, the reports are drafted; Sara's is sent and she receives it.
    tutor.once("dialog", lambda dialog: dialog.accept())
    tutor.get_by_role("button", name="End lesson").click()
    expect(tutor.get_by_role("heading", name="Lesson reports")).to_be_visible()
    report = tutor.locator(".cc-report", has_text="Sara Student")
    body = report.get_by_label("Report for Sara Student")
    expect(body).to_contain_text("Worksheet 1: working on it (75%)")
    body.fill(body.input_value() + "\nWell done today.")
    screenshot(tutor, "control-center-reports")
    report.get_by_role("button", name="Send to Sara Student").click()
    expect(report).to_have_attribute("data-sent", "true")
    expect(report).to_contain_text("Sent ")

    sara_page.goto("/notifications")
    link = sara_page.get_by_role("link", name=re.compile("Lesson report: Tutoring"))
    expect(link).to_be_visible()
    link.click()
    expect(sara_page.locator(".cc-report-body")).to_contain_text("Well done today.")
    run_worker()
    mail = smtp.to(sara.email)
    assert len(mail) == 1 and "Well done today." in mail[0].message.get_body(
        ("plain",)).get_content()
    sent = services.reports_for(lesson.session, lesson.at)
    assert [r.student_id for r in sent if r.sent_at] == [sara.id]
    for page in (tutor, second_tab, sara_page, ben_page):
        assert_no_console_errors(page)


def test_the_tutor_page_at_desktop_tablet_and_phone(lesson_for, school, new_page):
    lesson = lesson_for(5)
    _prepare(lesson, school.teacher)
    services.raise_help(lesson.learners[1], lesson.session, "URGENT", "My sound is gone")
    services.add_note(school.teacher, lesson.session, lesson.at, lesson.learners[0].id,
                      "Check the method, not just the answer", "SHARED")
    services.start_timer(school.teacher, lesson.session, lesson.at, None, 10, "Exercise 4")
    commit()
    boxes = {}
    for name, viewport in (("desktop", DESKTOP_WIDE), ("tablet", TABLET), ("phone", PHONE)):
        page = _open_control_center(new_page, school.teacher, lesson, viewport)
        panels = page.locator(".cc-panel")
        expect(panels).to_have_count(5)
        boxes[name] = [panels.nth(i).bounding_box() for i in range(5)]
        screenshot(page, f"control-center-{name}")
        assert_no_console_errors(page)
        if name == "phone":
            # A swipeable stack: the panels side by side in a strip that scrolls sideways,
            # the page itself no wider than the phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            strip = page.locator(".cc-panels")
            assert strip.evaluate("el => el.scrollWidth > el.clientWidth")
            assert strip.evaluate("el => getComputedStyle(el).scrollSnapType").startswith("x")
            strip.evaluate("el => el.scrollBy(el.clientWidth, 0)")
            page.wait_for_timeout(400)
            screenshot(page, "control-center-phone-swiped")
    # Five across on a wide screen, two across (2 x 2 and one) on a tablet, one row on a phone.
    assert len({round(b["y"]) for b in boxes["desktop"]}) == 1
    assert len({round(b["x"]) for b in boxes["tablet"]}) == 2
    assert len({round(b["y"]) for b in boxes["tablet"]}) == 3
    assert len({round(b["y"]) for b in boxes["phone"]}) == 1


def test_a_planning_page_is_live_and_turns_live_when_the_session_starts(
        lesson_for, school, new_page, tmp_path):
    """Before the run: a second tutor tab sees the first one's plan and work (with a file)
    live, on ccplan:<session>; when the session starts, both pages turn into the live page
    without a reload, and then follow cc:<run> (a student's progress moves their bars)."""
    from app.live import session_runs

    lesson = lesson_for(2, live=False)
    sara = lesson.learners[0]
    tabs = []
    for viewport in (DESKTOP_WIDE, PHONE):
        tab = _open_control_center(new_page, school.teacher, lesson, viewport)
        expect(tab.locator("#cc-page .badge", has_text="Planning")).to_be_visible()
        tabs.append(tab)
    first, second = tabs
    panel = first.locator(f"#cc-panel-{sara.id}")
    panel.locator("summary", has_text="Plan").click()
    panel.get_by_label("Subject").fill("Geometry")
    panel.get_by_label("Level now").fill("Year 9")
    panel.get_by_label("Working at").fill("Year 7")
    panel.get_by_role("button", name="Save plan").click()
    expect(second.locator(f"#cc-panel-{sara.id} .cc-level")).to_have_text(
        "Year 9 → Geometry at Year 7")

    sheet = tmp_path / "angles worksheet.pdf"
    sheet.write_bytes(b"%PDF-1.4\n% angles\n")
    panel = first.locator(f"#cc-panel-{sara.id}")
    panel.locator("summary", has_text="Assign work").click()
    panel.get_by_label("Title").fill("Angles in triangles")
    panel.get_by_label("File (optional)").set_input_files(str(sheet))
    panel.get_by_role("button", name="Assign").click()
    attachment = second.locator(f"#cc-panel-{sara.id} .cc-attachment")
    expect(attachment).to_contain_text("angles_worksheet.pdf")
    screenshot(first, "control-center-planning-desktop")
    screenshot(second, "control-center-planning-phone")

    run, _ = session_runs.start_session_run(school.teacher, lesson.session)
    commit()
    lesson.run = run
    for tab in tabs:
        expect(tab.locator("#cc-page")).to_have_attribute("data-realtime-topic", f"cc:{run.id}")
        expect(tab.locator("#cc-page .badge", has_text="Live")).to_be_visible()
        expect(tab.get_by_role("button", name="End lesson")).to_be_visible()
    item = services.board(school.teacher, lesson.session, lesson.at).panel(sara.id).items[0]
    services.update_work_item(sara, item, progress="40")
    commit()
    for tab in tabs:
        expect(tab.locator(f"#cc-item-{item.id} progress")).to_have_attribute("value", "40")
    screenshot(second, "control-center-turned-live-phone")

    # Sara downloads her item's file from her box in the room.
    sara_page = _open_room(new_page, sara, lesson, viewport=PHONE)
    link = sara_page.locator("#cc-student-box .cc-attachment")
    expect(link).to_contain_text("angles_worksheet.pdf")
    with sara_page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "angles_worksheet.pdf"
    assert open(download.value.path(), "rb").read() == sheet.read_bytes()
    sara_page.locator("#cc-student-box").scroll_into_view_if_needed()
    screenshot(sara_page, "control-center-student-box-file-phone")
    for tab in (*tabs, sara_page):
        assert_no_console_errors(tab)


def test_the_notes_history_on_a_students_person_page(lesson_for, school, new_page):
    """The student reads the notes shared with them; their tutor also the tutor-only ones.
    Desktop and phone screenshots."""
    lesson = lesson_for(2, live=False)
    sara = lesson.learners[0]
    services.add_note(school.teacher, lesson.session, lesson.at, sara.id,
                      "Great progress on fractions: keep showing your working.", "SHARED")
    services.add_note(school.teacher, lesson.session, lesson.at, sara.id,
                      "Tutors only: check her times tables next week.", "TUTOR_ONLY")
    commit()
    for viewer, viewport, name in ((sara, PHONE, "student-phone"),
                                   (school.teacher, DESKTOP, "tutor-desktop")):
        page = new_page(viewport=viewport)
        log_in(page, viewer)
        page.goto(f"/people/{sara.id}")
        notes = page.locator("section.person-notes .person-note")
        expect(notes.filter(has_text="Great progress on fractions")).to_have_count(1)
        expect(notes).to_have_count(1 if viewer is sara else 2)
        if viewer is sara:
            expect(page.locator("body")).not_to_contain_text("check her times tables")
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, f"person-notes-{name}")
        assert_no_console_errors(page)


def test_a_live_update_keeps_what_the_tutor_opened_and_typed(lesson_for, school, new_page):
    """A student's panel re-rendered live (another tutor's change, the page's catch-up frame)
    while the tutor has its note open and half typed: the section stays open, the text and
    the focus stay, and the change shows."""
    lesson = lesson_for(2, live=False)
    sara = lesson.learners[0]
    page = _open_control_center(new_page, school.teacher, lesson, DESKTOP_WIDE)
    panel = page.locator(f"#cc-panel-{sara.id}")
    panel.locator("summary", has_text="Add a note").click()
    note = panel.get_by_label("Note")
    note.fill("Struggled with")
    panel.get_by_label("Who sees it").select_option("SHARED")
    note.focus()
    services.save_plan(school.teacher, lesson.session, lesson.at, sara.id, subject="Geometry",
                       current_level="Year 9", working_level="Year 7", goal="")
    commit()
    expect(panel.locator(".cc-level")).to_have_text("Year 9 → Geometry at Year 7")
    expect(panel.locator("details", has_text="Add a note")).to_have_attribute("open", "")
    expect(note).to_have_value("Struggled with")
    expect(panel.get_by_label("Who sees it")).to_have_value("SHARED")
    expect(note).to_be_focused()
    page.keyboard.type(" fractions")
    expect(note).to_have_value("Struggled with fractions")
    # Sent: the panel the answer brings is the server's (the note saved, the field empty).
    panel.get_by_role("button", name="Add note").click()
    expect(panel.get_by_label("Note")).to_have_value("")
    assert_no_console_errors(page)
