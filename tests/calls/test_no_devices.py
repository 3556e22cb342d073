"""Someone whose browser refuses the camera and microphone, or who has none, is told so plainly
and is still in the call, seeing and hearing the others (receive-only)."""
from __future__ import annotations

import pytest

from tests.browser.conftest import assert_no_console_errors
from tests.calls.test_instant_call import login, remote_videos_playing, start_call, wait_joined


@pytest.mark.parametrize("case, expected", [
    ("refused", "blocked for this site"),  # a camera, but the prompt was not allowed
    ("missing", "No camera or microphone found"),  # nothing to use
])
def test_no_camera_or_microphone_still_joins_receiving_only(chat, new_page, live_server,
                                                           browsers_without_media,
                                                           case, expected):
    from app.extensions import db

    db.session.commit()
    teacher = new_page()
    login(teacher, chat.teacher)
    start_call(teacher, chat, live_server)
    room_url = teacher.url

    context = browsers_without_media[case].new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    student = context.new_page()
    student.console_messages = []
    student.on("console", lambda msg: student.console_messages.append(f"{msg.type}: {msg.text}"))
    student.on("pageerror", lambda exc: student.console_messages.append(f"pageerror: {exc}"))
    try:
        login(student, chat.s1)
        student.goto(room_url)
        student.wait_for_selector("html[data-realtime=open]")
        student.click("#room-join")
        wait_joined(student, True, live_server)
        assert expected in student.inner_text("#room-status")
        assert student.is_visible(".video-tile.local.receive-only")
        assert student.is_hidden("#room-mic") and student.is_hidden("#room-camera")
        remote_videos_playing(student, 1)  # the teacher's camera reaches them
        teacher.wait_for_selector(f"#room-roster li:has-text('{chat.s1.name}')")
        assert_no_console_errors(student)
    finally:
        context.close()
