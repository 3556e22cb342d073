"""Attendance taken by a real call (issue 12), end to end in Chromium with fake media: two
students join a scheduled session's call, one of them leaves and joins again, the third never
comes. After End the sheet says PRESENT / PRESENT (two joins) / ABSENT with the seconds the
segments give, the absentee owes a catch-up and was told; a bulk EXCUSED takes the catch-up
away; the series grid's CSV says what the sheet says."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Role
from app.attendance.models import AttendanceRecord, CatchUp
from app.db_types import utcnow
from app.extensions import db
from app.live.models import Run
from app.notifications.models import Notification, NotificationType
from tests.browser.conftest import PHONE, assert_no_console_errors, screenshot
from tests.calls.test_instant_call import login, remote_videos_playing
from tests.live.test_sessions_live import make_session, now_plus

# A closed segment ends at its leave; an open one at its last heartbeat (the room page beats
# every few seconds): the seconds counted may fall short of the wall clock by that much.
HEARTBEAT_SLACK = 20


def join_call(page, session_id):
    page.goto(f"/sessions/{session_id}")
    page.click("[data-session-join]")
    page.wait_for_url("**/live/rooms/*")
    page.wait_for_selector("html[data-realtime=open]")
    # A page that waited in the lobby joins by itself when the session starts; one that comes
    # later offers Join.
    page.wait_for_selector("#room[data-joined=true], #room-join:not([hidden]):not([disabled])")
    if page.get_attribute("#room", "data-joined") != "true":
        page.click("#room-join")
    page.wait_for_selector("#room[data-joined=true]")


def test_a_call_takes_attendance_and_the_sheet_report_and_catch_up_follow(school, make,
                                                                        new_page):
    teacher_user = school.teacher
    ana, ben = school.students
    cleo = make.user(school.center, Role.STUDENT, name="Cleo Nevercame")
    session = make_session(school.center, teacher_user, [ana, ben, cleo], start=now_plus(3),
                           minutes=45, title="Fractions lesson")
    for participant in session.participants:  # in the session well before it: expected
        participant.created_at = utcnow() - timedelta(days=1)
    db.session.commit()

    teacher, ana_page, ben_page = new_page(), new_page(viewport=PHONE), new_page(viewport=PHONE)
    for page, user in ((teacher, teacher_user), (ana_page, ana), (ben_page, ben)):
        login(page, user)
    teacher.goto(f"/sessions/{session.id}")
    teacher.click("[data-session-start]")
    teacher.wait_for_url("**/live/rooms/*")
    teacher.wait_for_selector("html[data-realtime=open]")
    teacher.click("#room-join")
    teacher.wait_for_selector("#room[data-joined=true]")
    began = utcnow()

    join_call(ana_page, session.id)
    join_call(ben_page, session.id)
    remote_videos_playing(teacher, 2)
    # Ben leaves, and comes back a little later.
    ben_page.click("#room-leave")
    ben_page.wait_for_selector("#room[data-joined=false]")
    ben_page.wait_for_timeout(2000)
    ben_page.click("#room-join")
    ben_page.wait_for_selector("#room[data-joined=true]")
    remote_videos_playing(ben_page, 2)
    ben_page.wait_for_timeout(2000)

    # The teacher's sheet while the call is on: Ana and Ben in the call, Cleo not yet.
    sheet = new_page()
    login(sheet, teacher_user)
    sheet.goto(f"/sessions/{session.id}")
    # The live occurrence's own sheet (the page's other "Attendance" is the series' grid).
    sheet.locator("a[href*='/occurrences/'][href$='/attendance']").first.click()
    sheet.wait_for_url("**/occurrences/**/attendance")
    expect(sheet.locator(f"#sheet-row-{ana.id} .badge", has_text="In the call")).to_be_visible()
    expect(sheet.locator(f"#sheet-row-{cleo.id}")).to_have_attribute("data-status", "NONE")
    sheet_url = sheet.url

    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.click("#room-end")
    teacher.wait_for_url(f"**/sessions/{session.id}")
    ended = utcnow()
    for page in (ana_page, ben_page):
        page.wait_for_selector("#room[data-joined=false]")

    # After End: the sheet (reloaded) says what the call gave.
    sheet.goto(sheet_url)
    expect(sheet.locator(f"#sheet-row-{ana.id}")).to_have_attribute("data-status", "PRESENT")
    expect(sheet.locator(f"#sheet-row-{ben.id}")).to_have_attribute("data-status", "PRESENT")
    expect(sheet.locator(f"#sheet-row-{cleo.id}")).to_have_attribute("data-status", "ABSENT")
    expect(sheet.locator(f"#sheet-row-{ben.id} [data-joins]")).to_have_attribute("data-joins", "2")
    expect(sheet.locator(f"#sheet-row-{ana.id} [data-joins]")).to_have_attribute("data-joins", "1")
    expect(sheet.locator(f"#sheet-row-{cleo.id} [data-joins]")).to_have_attribute("data-joins", "0")
    screenshot(sheet, "attendance-after-a-real-call-desktop")

    db.session.expire_all()
    run = db.session.scalar(select(Run).where(Run.session_id == session.id))
    records = {r.user_id: r for r in db.session.scalars(
        select(AttendanceRecord).where(AttendanceRecord.run_id == run.id))}
    length = (run.ended_at - run.started_at).total_seconds()
    assert (ended - began).total_seconds() + 5 >= length
    assert length - HEARTBEAT_SLACK <= records[ana.id].seconds_present <= length
    # Ben was away about two seconds and more: less than Ana, never more than the run.
    assert records[ben.id].seconds_present < records[ana.id].seconds_present
    assert records[ben.id].seconds_present >= length - HEARTBEAT_SLACK - 10
    assert records[cleo.id].seconds_present == 0
    catch_up = db.session.scalar(select(CatchUp).where(CatchUp.user_id == cleo.id))
    assert catch_up is not None and catch_up.done_at is None
    told = db.session.scalar(select(Notification).where(
        Notification.user_id == cleo.id, Notification.type == NotificationType.CATCH_UP_ASSIGNED))
    assert told is not None and f"/catch-ups/{catch_up.id}" in told.link

    # A bulk EXCUSED for Cleo (her parent wrote in): the catch-up goes.
    sheet.get_by_label(f"Select {cleo.name}").check()
    sheet.get_by_label("Mark the selected people").select_option("EXCUSED")
    sheet.get_by_label("Note (optional)").fill("Parent wrote in: ill")
    sheet.get_by_role("button", name="Apply to selected").click()
    expect(sheet.locator(f"#sheet-row-{cleo.id}")).to_have_attribute("data-status", "EXCUSED")
    db.session.expire_all()
    assert db.session.scalar(select(CatchUp).where(CatchUp.user_id == cleo.id)) is None

    # The series' CSV says what the sheet says, person by person.
    on_page = {uid: sheet.get_attribute(f"#sheet-row-{uid}", "data-status")
               for uid in (ana.id, ben.id, cleo.id)}
    answer = sheet.request.get(f"/sessions/{session.id}/attendance.csv")
    assert answer.ok, answer.status
    rows = list(csv.DictReader(io.StringIO(answer.text().lstrip("\ufeff"))))
    in_csv = {int(r["person_id"]): r["status"] for r in rows if r["status"]}
    assert in_csv == on_page, (in_csv, on_page)
    assert {r["time_zone"] for r in rows} == {teacher_user.effective_timezone}
    for page in (teacher, sheet):
        assert_no_console_errors(page)
