"""A scheduled session going live in real Chromium: a student opens Join early and waits in the
lobby; the teacher's Start turns the lobby into the call (media both ways); the teacher's End
closes it on both pages and the session page stops showing it live."""
from __future__ import annotations

from tests.browser.conftest import PHONE, assert_no_console_errors, screenshot
from tests.calls.test_instant_call import inbound_growing, login, remote_videos_playing
from tests.live.test_sessions_live import make_session, now_plus


def test_a_scheduled_session_goes_live_from_the_lobby(school, new_page):
    from app.extensions import db

    teacher_user, student_user = school.teacher, school.students[0]
    session = make_session(school.center, teacher_user, [student_user], start=now_plus(4),
                           minutes=45, title="Algebra lesson")
    db.session.commit()
    teacher, student = new_page(), new_page(viewport=PHONE)
    login(teacher, teacher_user)
    login(student, student_user)

    # The student, early: the card offers Join, which opens the lobby.
    student.goto(f"/sessions/{session.id}")
    card = student.wait_for_selector(f"#session-call-{session.id}[data-call-state=open]")
    assert "wait in the lobby" in card.inner_text()
    screenshot(student, "session-call-card-phone")
    student.click("[data-session-join]")
    student.wait_for_url("**/live/rooms/*")
    student.wait_for_selector("#room[data-lobby=waiting]")
    student.wait_for_selector("html[data-realtime=open]")
    assert "Waiting for Terry Teacher" in student.inner_text("#room-status")
    assert not student.is_visible("#room-join")
    screenshot(student, "session-lobby-phone")

    # The teacher starts it from the session page and joins.
    teacher.goto(f"/sessions/{session.id}")
    teacher.wait_for_selector(f"#session-call-{session.id}[data-call-state=open]")
    screenshot(teacher, "session-call-card-desktop")
    teacher.click("[data-session-start]")
    teacher.wait_for_url("**/live/rooms/*")
    teacher.wait_for_selector("html[data-realtime=open]")
    teacher.click("#room-join")
    teacher.wait_for_selector("#room[data-joined=true]")

    # The lobby became the call by itself (no reload, no polling): media flows both ways.
    student.wait_for_selector("#room[data-lobby=started]")
    try:
        student.wait_for_selector("#room[data-joined=true]")
    except Exception:
        raise AssertionError((student.inner_text("#room-status"), student.console_messages))
    for page in (teacher, student):
        remote_videos_playing(page, 1)
        inbound_growing(page, 1)
    screenshot(student, "session-live-room-phone")

    # The teacher ends it: both pages say so, and the session page no longer shows it live.
    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.click("#room-end")
    teacher.wait_for_url(f"**/sessions/{session.id}")
    student.wait_for_selector("#room[data-joined=false]")
    assert "ended" in student.inner_text("#room-status")
    ended = teacher.wait_for_selector(f"#session-call-{session.id}[data-call-state=ended]")
    assert "has ended" in ended.inner_text()
    screenshot(teacher, "session-call-ended-desktop")
    student.goto(f"/sessions/{session.id}")
    student.wait_for_selector(f"#session-call-{session.id}[data-call-state=ended]")
    assert "Live" not in student.inner_text(".session-head")
    for page in (teacher, student):
        assert_no_console_errors(page)
