"""A page in a call whose socket drops (a network blip) comes back on a new socket and joins
again by itself: the server ended the old stay when that socket closed (attendance counts the
gap as time away), the media flows again both ways, and nobody had to press Join."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.live.models import Segment
from tests.calls.test_instant_call import (assert_no_call_errors, login, remote_videos_playing,
                                           wait_joined)

# The page's socket, as the htmx ws extension keeps it on <body>.
DROP_SOCKET = "() => document.body['htmx-internal-data'].webSocket.socket.close()"


def test_a_dropped_socket_rejoins_the_call_by_itself(chat, new_page, live_server):
    rejoins_by_itself(chat, new_page, live_server, engine="mesh")


def test_a_dropped_socket_rejoins_a_janus_call_by_itself(chat, janus_pages, janus_call_server):
    rejoins_by_itself(chat, janus_pages, janus_call_server, engine="janus")


def rejoins_by_itself(chat, new_page, live_server, engine):
    db.session.commit()
    teacher, student = new_page(), new_page()
    for page, user in ((teacher, chat.teacher), (student, chat.s1)):
        login(page, user)
    teacher.goto(f"/chat/threads/{chat.group.id}")
    teacher.click("#start-call")
    teacher.wait_for_url("**/live/rooms/*")
    student.goto(teacher.url)
    for page in (teacher, student):
        page.wait_for_selector("html[data-realtime=open]")
        page.click("#room-join")
        wait_joined(page, True, live_server)
    for page in (teacher, student):
        remote_videos_playing(page, 1)
        assert page.evaluate("() => window.classhubRoom.engine()") == engine
    before = teacher.evaluate("() => window.classhubRoom.connection()")

    teacher.evaluate(DROP_SOCKET)
    teacher.wait_for_function("old => window.classhubRoom.connection() !== old", arg=before,
                              timeout=15_000)
    wait_joined(teacher, True, live_server)
    assert teacher.is_hidden("#room-join")
    for page in (teacher, student):
        remote_videos_playing(page, 1)
    assert "You are in the call" in teacher.inner_text("#room-status")

    db.session.expire_all()
    stays = db.session.execute(select(Segment.connection_id, Segment.left_at)
                               .where(Segment.user_id == chat.teacher.id)
                               .order_by(Segment.id)).all()
    after = teacher.evaluate("() => window.classhubRoom.connection()")
    assert [(c, left is not None) for c, left in stays] == [(before, True), (after, False)]
    for page in (teacher, student):  # the old Janus session's long poll may end in a 404
        assert_no_call_errors(page, live_server, engine)
