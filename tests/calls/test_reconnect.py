"""A page in a call whose socket drops (a network blip) comes back on a new socket and joins
again by itself: the server ended the old stay when that socket closed (attendance counts the
gap as time away), the media flows again both ways, and nobody had to press Join."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.live.models import Segment
from tests.calls.test_instant_call import (assert_no_call_errors, in_a_call,
                                           remote_videos_playing, wait_joined)

# The page's socket, as the htmx ws extension keeps it on <body>.
DROP_SOCKET = "() => document.body['htmx-internal-data'].webSocket.socket.close()"


def test_a_dropped_socket_rejoins_the_call_by_itself(chat, new_page, live_server):
    rejoins_by_itself(chat, new_page, live_server, engine="mesh")


def test_a_dropped_socket_rejoins_a_janus_call_by_itself(chat, janus_pages, janus_call_server):
    rejoins_by_itself(chat, janus_pages, janus_call_server, engine="janus")


def rejoins_by_itself(chat, new_page, live_server, engine):
    teacher, student = new_page(), new_page()
    in_a_call(chat, teacher, student, live_server)
    for page in (teacher, student):
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


def test_a_heartbeat_while_the_socket_is_away_leaves_the_rejoin_to_its_return(
        chat, new_page, live_server):
    """The page's socket stays away past a heartbeat (its closing closed the stay): the beat's
    "not in the call" is taken for the drop it is, and the page joins again once the socket is
    back, instead of ending at "You are no longer in this call"."""
    from playwright.sync_api import expect

    teacher, student = new_page(), new_page()
    teacher.clock.install()  # timers run in real time until the test jumps them
    away = {"now": False}
    teacher.route_web_socket("**/ws", lambda ws: ws.close() if away["now"]
                             else ws.connect_to_server())
    in_a_call(chat, teacher, student, live_server)
    before = teacher.evaluate("() => window.classhubRoom.connection()")

    away["now"] = True  # the network drops the socket, and keeps refusing a new one
    teacher.evaluate(DROP_SOCKET)
    student.wait_for_function("() => Object.keys(window.classhubRoom.peers).length === 0")
    teacher.clock.run_for(20_000)  # the heartbeat: the stay is closed, the socket away
    wait_joined(teacher, False, live_server)
    expect(teacher.locator("#room-status")).to_have_text(
        "The connection was interrupted: joining again…")

    away["now"] = False  # back: the next retry connects (the backoff is at most 30 s)
    teacher.clock.run_for(30_000)
    teacher.wait_for_function("old => window.classhubRoom.connection() !== old", arg=before,
                              timeout=15_000)
    wait_joined(teacher, True, live_server)
    for page in (teacher, student):
        remote_videos_playing(page, 1)
    for page in (teacher, student):
        assert_no_call_errors(page, live_server, "mesh")
