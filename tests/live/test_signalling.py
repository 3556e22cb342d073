"""Call signalling on the real /ws (two gunicorn servers sharing Redis): relayed only to the
addressed connection, only from people in the call, size and shape checked, never stored."""
from __future__ import annotations

import json

from sqlalchemy import select

from app.extensions import db
from app.live.models import Run, RunParticipant
from tests.chat.test_realtime import Person, Socket

OFFER = {"description": {"type": "offer", "sdp": "v=0\r\n"}}


def _json(kind):
    def match(frame):
        try:
            message = json.loads(frame)
        except ValueError:
            return False
        return isinstance(message, dict) and message.get("type") == kind
    return match


def _in_room(server, person, room_id):
    sock = Socket(server, person)
    sock.subscribe(f"room:{room_id}")
    hello = json.loads(sock.wait_for(_json("hello")))
    return sock, hello["connection"]


def _join(person, room_id, connection):
    return person.http.post(f"{person.server.url}/live/rooms/{room_id}/join",
                            json={"connection": connection},
                            headers={"X-CSRFToken": person.csrf}, timeout=8)


def test_signals_reach_only_the_addressed_connection_across_servers(chat, live_servers):
    db.session.commit()
    a, b = live_servers
    teacher, s1, s2 = Person(a, chat.teacher), Person(b, chat.s1), Person(a, chat.s2)
    teacher.http.post(f"{a.url}/live/threads/{chat.group.id}/call",
                      data={"csrf_token": teacher.csrf}, timeout=8)
    room_id = db.session.scalar(select(Run)).room_id
    sockets = []
    try:
        t_sock, t_conn = _in_room(a, teacher, room_id)
        s1_sock, s1_conn = _in_room(b, s1, room_id)
        s2_sock, s2_conn = _in_room(a, s2, room_id)
        sockets += [t_sock, s1_sock, s2_sock]
        for person, conn in ((teacher, t_conn), (s1, s1_conn), (s2, s2_conn)):
            assert _join(person, room_id, conn).status_code == 200

        t_sock.send(type="signal", room=room_id, to=s1_conn, data=OFFER)
        got = json.loads(s1_sock.wait_for(_json("signal")))
        assert got["from"] == t_conn and got["from_user"] == chat.teacher.id
        assert got["data"] == OFFER
        s2_sock.settle()
        assert not [f for f in s2_sock.frames if _json("signal")(f)]  # not addressed: nothing

        # To a connection outside the room (a socket not subscribed to it): dropped.
        outsider_sock = Socket(a, Person(a, chat.s1))
        sockets.append(outsider_sock)
        outsider_sock.subscribe(f"thread:{chat.group.id}")
        outsider_id = "0" * 12
        t_sock.send(type="signal", room=room_id, to=outsider_id, data=OFFER)
        outsider_sock.settle()
        assert not [f for f in outsider_sock.frames if _json("signal")(f)]

        # Junk and huge frames: a clear refusal, and the socket keeps working.
        for junk in ({"room": "x", "to": s1_conn, "data": OFFER},
                     {"room": room_id, "to": 5, "data": OFFER},
                     {"room": room_id, "to": s1_conn, "data": {"description": "nope"}},
                     {"room": room_id, "to": s1_conn, "data": {"evil": 1}},
                     {"room": room_id, "to": s1_conn, "data": {"screen": 5}},
                     {"room": room_id, "to": s1_conn, "data": {"screen": "s" * 101}},
                     {"room": room_id, "to": s1_conn,
                      "data": {"description": {"type": "offer", "sdp": "a" * 50_000}}}):
            t_sock.frames.clear()
            t_sock.send(type="signal", **junk)
            refused = json.loads(t_sock.wait_for(_json("signal-refused")))
            assert refused["reason"]
        assert "too large" in refused["reason"]
        assert refused["room"] == room_id  # the page shows the refusals of its own room
        t_sock.send(type="signal", room=room_id, to=s1_conn, data=OFFER)
        s1_sock.frames.clear()
        s1_sock.wait_for(_json("signal"))
        # Which stream is a screen share (or that it stopped) is relayed like the rest.
        for screen in ("{0b8e-stream}", None):
            s1_sock.frames.clear()
            t_sock.send(type="signal", room=room_id, to=s1_conn, data={"screen": screen})
            assert json.loads(s1_sock.wait_for(_json("signal")))["data"] == {"screen": screen}

        # Someone in the thread but not in the call (no join) cannot signal.
        s1_extra = Socket(b, s1)
        sockets.append(s1_extra)
        s1_extra.subscribe(f"room:{room_id}")
        s1_extra.send(type="signal", room=room_id, to=t_conn, data=OFFER)
        assert "not in this call" in json.loads(s1_extra.wait_for(_json("signal-refused")))["reason"]

        # Removed: their socket leaves the room and their signals are refused.
        student = db.session.scalar(select(RunParticipant).where(
            RunParticipant.user_id == chat.s2.id))
        answer = teacher.http.post(f"{a.url}/live/rooms/{room_id}/moderate", timeout=8,
                                   data={"csrf_token": teacher.csrf, "action": "remove",
                                         "participant": student.id})
        assert answer.status_code == 200
        s2_sock.wait_for(_json("room-removed"))
        s2_sock.frames.clear()
        s2_sock.send(type="signal", room=room_id, to=t_conn, data=OFFER)
        assert "not in this call" in json.loads(s2_sock.wait_for(_json("signal-refused")))["reason"]
        t_sock.settle()
    finally:
        for sock in sockets:
            sock.close()


def test_a_non_member_cannot_subscribe_to_the_room(chat, live_servers, other_center):
    db.session.commit()
    a, _ = live_servers
    teacher = Person(a, chat.teacher)
    teacher.http.post(f"{a.url}/live/threads/{chat.direct.id}/call",
                      data={"csrf_token": teacher.csrf}, timeout=8)
    room_id = db.session.scalar(select(Run)).room_id
    for user in (chat.s2, other_center.teacher):
        sock = Socket(a, Person(a, user))
        try:
            sock.send(type="subscribe", topics=[f"room:{room_id}"], after={}, have={})
            sock.wait_for(lambda f: "realtime-denied" in f and f"room:{room_id}" in f)
            sock.send(type="signal", room=room_id, to="a" * 12, data=OFFER)
            sock.wait_for(_json("signal-refused"))
            assert not [f for f in sock.frames if _json("hello")(f)]
        finally:
            sock.close()


def test_closing_the_socket_ends_that_pages_time_in_the_call(chat, live_servers):
    import time

    from app.live.models import Segment

    db.session.commit()
    a, b = live_servers
    teacher, s1 = Person(a, chat.teacher), Person(b, chat.s1)
    teacher.http.post(f"{a.url}/live/threads/{chat.group.id}/call",
                      data={"csrf_token": teacher.csrf}, timeout=8)
    room_id = db.session.scalar(select(Run)).room_id
    t_sock, t_conn = _in_room(a, teacher, room_id)
    s1_sock, s1_conn = _in_room(b, s1, room_id)
    try:
        for person, conn in ((teacher, t_conn), (s1, s1_conn)):
            assert _join(person, room_id, conn).status_code == 200
        t_sock.frames.clear()
        s1_sock.close()  # the tab closed: no leave request
        # The others get the roster without s1's connection.
        t_sock.wait_for(lambda f: 'id="room-roster"' in f and s1_conn not in f)
        deadline = time.monotonic() + 10
        left_at = None
        while left_at is None and time.monotonic() < deadline:
            db.session.rollback()
            left_at = db.session.scalar(select(Segment.left_at).where(
                Segment.connection_id == s1_conn))
            time.sleep(0.05)
        assert left_at is not None
        db.session.rollback()
        assert db.session.scalar(select(Segment.left_at).where(
            Segment.connection_id == t_conn)) is None
        assert db.session.scalar(select(Run)).ended_at is None
    finally:
        t_sock.close()
