"""The hub writes a frame from the greenlet that dispatches it when the socket takes it at once
(Connection._write_queued), and hands the rest to a sender of its own when it does not: a page
that reads slowly (a phone on a poor network) must still get every frame whole and in order,
while the others' frames are not held up. Against a real gunicorn server, with a reader whose
receive buffer is small and who reads nothing until every message has been posted. (Whether the
server's socket then stops taking frames depends on how far the kernel grows its send buffer;
tests/realtime/gevent_writes.py makes that happen for certain.)"""
from __future__ import annotations

import hashlib
import json

import pytest
from wsproto.events import AcceptConnection, CloseConnection, TextMessage

from app.extensions import db
from tests.chat.test_realtime import Person, Socket
from tests.live import LiveServer
from tests.realtime.raw_websocket import open_raw

MESSAGES = 25  # the chat's rate limit is 30 a minute
BODY = 9_000  # characters (at most 10,000)


@pytest.fixture
def server(app_config, database_url, redis_url, test_dirs):
    served = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "slow-reader.log")
    yield served
    served.stop()


def _body(number: int) -> str:
    # Hex digits: nothing for the HTML to escape, and every message different.
    digest = hashlib.sha256(str(number).encode()).hexdigest()
    return f"message {number} " + (digest * (BODY // len(digest) + 1))[:BODY]


def _read_accept(raw, ws) -> None:
    while True:
        data = raw.recv(65536)
        assert data, "the server closed the connection"
        ws.receive_data(data)
        if any(isinstance(event, AcceptConnection) for event in ws.events()):
            return


def _read_messages(raw, ws, until) -> list[str]:
    """The text messages received until ``until(messages)`` holds; wsproto parses every frame,
    so a frame broken off or interleaved with another fails here."""
    messages, parts = [], []
    while not until(messages):
        data = raw.recv(65536)
        assert data, "the server closed the connection"
        ws.receive_data(data)
        for event in ws.events():
            assert not isinstance(event, CloseConnection), (event.code, event.reason)
            if isinstance(event, TextMessage):
                parts.append(event.data)
                if event.message_finished:
                    messages.append("".join(parts))
                    parts = []
    return messages


def test_a_reader_that_falls_behind_gets_every_frame_whole_and_in_order(chat, server):
    db.session.commit()
    teacher, sara, ben = Person(server, chat.teacher), Person(server, chat.s1), \
        Person(server, chat.s2)
    raw, ws = open_raw(server, sara, timeout=10, receive_buffer=4096)
    _read_accept(raw, ws)
    ws_marker = "sync:slow"
    raw.sendall(ws.send(TextMessage(json.dumps(
        {"type": "subscribe", "topics": [f"thread:{chat.group.id}", ws_marker],
         "after": {}, "have": {}}))))
    _read_messages(raw, ws, lambda m: any(f'data-topic="{ws_marker}"' in f for f in m))
    # Ben's page reads as it goes: his frames are not held up behind Sara's.
    quick = Socket(server, ben)
    quick.subscribe(f"thread:{chat.group.id}")

    posted = []
    for number in range(MESSAGES):
        posted.append(teacher.post_message(chat.group.id, _body(number)))
        quick.wait_for(lambda f, i=posted[-1]: f'id="message-{i}"' in f)

    append = f'hx-swap-oob="beforeend:#messages-{chat.group.id}"'
    received = _read_messages(raw, ws, lambda m: f'id="message-{posted[-1]}"' in "".join(m))
    frames = "".join(received)
    order = [frames.index(f'<article id="message-{i}"') for i in posted]
    assert order == sorted(order)  # every message, in the order posted
    for number, message_id in enumerate(posted):
        assert frames.count(f'<article id="message-{message_id}"') == 1
        assert _body(number) in frames  # whole
    assert frames.count(append) >= 1
    raw.close()
