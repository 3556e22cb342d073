"""The hub pings every socket on one timer (REALTIME_ROUND_SECONDS) instead of each socket's
reader waking on a timer of its own: a peer that answers stays connected, one that stops
answering (a laptop put to sleep, a dropped network) is closed by the next round. Against a
real gunicorn server whose rounds are a second apart."""
from __future__ import annotations

import json
import time

import pytest
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, TextMessage

from app.extensions import db
from app.realtime.reader import CLIENT_PONG_HEAD, CLIENT_PONG_LENGTH
from tests.chat.test_realtime import Person
from tests.live import LiveServer
from tests.realtime.raw_websocket import open_raw

ROUND = 1.0


@pytest.fixture
def quick_rounds(app_config, database_url, redis_url, test_dirs):
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "keepalive.log",
                        extra_env={"REALTIME_ROUND_SECONDS": str(ROUND)})
    yield server
    server.stop()


class RawSocket:
    """A websocket that answers pings only while told to (wsproto never answers by itself)."""

    def __init__(self, server, person):
        self.raw, self.ws = open_raw(server, person, timeout=ROUND / 4)
        self.answering, self.pings, self.closed_with = True, 0, None
        self.accepted, self.texts = False, []

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.closed_with is None:
            try:
                data = self.raw.recv(65536)
            except TimeoutError:
                continue
            if not data:
                self.closed_with = self.closed_with or ("dropped", "")
                break
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self.accepted = True
                elif isinstance(event, Ping):
                    self.pings += 1
                    if self.answering:
                        self.raw.sendall(self.ws.send(event.response()))
                elif isinstance(event, TextMessage):
                    self.texts.append(event.data)
                elif isinstance(event, CloseConnection):
                    self.closed_with = (event.code, event.reason)


def test_a_peer_that_answers_stays_and_one_that_stops_is_closed(chat, quick_rounds):
    db.session.commit()
    sara = Person(quick_rounds, chat.s1)
    sock = RawSocket(quick_rounds, sara)
    sock.pump(ROUND / 2)
    assert sock.accepted
    sock.raw.sendall(sock.ws.send(TextMessage(json.dumps(
        {"type": "subscribe", "topics": [f"user:{chat.s1.id}"]}))))
    sock.pump(4 * ROUND)
    assert sock.closed_with is None and sock.pings >= 3  # pinged every round, and still open

    sock.answering = False
    sock.pump(4 * ROUND)
    assert sock.closed_with == (1008, "no answer to ping")
    sock.raw.close()


def _masked(opcode: int, payload: bytes, mask: bytes) -> tuple[bytes, bytes]:
    """A client's frame (FIN, ``opcode``) as its header with mask, and its masked payload."""
    assert len(payload) < 126
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask, masked


SUBSCRIBED = 'data-realtime="subscribed"'


def _subscribed(sock, person_id) -> bool:
    """Whether the server confirms a subscribe sent now (its pings answered meanwhile); an
    earlier confirmation does not count."""
    seen_before = len(sock.texts)
    sock.raw.sendall(sock.ws.send(TextMessage(json.dumps(
        {"type": "subscribe", "topics": [f"user:{person_id}"]}))))
    deadline = time.monotonic() + 3 * ROUND
    while time.monotonic() < deadline and sock.closed_with is None:
        sock.pump(ROUND / 4)
        if any(SUBSCRIBED in text for text in sock.texts[seen_before:]):
            return True
    return False


def test_pongs_read_whole_or_with_other_frames_all_count(chat, quick_rounds):
    """The reader takes a browser's pong, read alone, without wsproto (reader.CLIENT_PONG_HEAD):
    a pong that comes with a payload, or in one read with a message, is wsproto's and counts
    the same; and the message that came with it is not lost."""
    db.session.commit()
    sock = RawSocket(quick_rounds, Person(quick_rounds, chat.s1))
    sock.answering = False

    def next_ping():
        pings = sock.pings
        while sock.pings == pings and sock.closed_with is None:
            sock.pump(ROUND / 4)
        assert sock.closed_with is None

    next_ping()
    assert sock.accepted
    for answer in ("with a payload", "with a message"):
        pong = sock.ws.send(Pong(payload=b"still here"
                                 if answer == "with a payload" else b""))
        if answer == "with a message":  # one write: the server reads both at once
            pong += sock.ws.send(TextMessage(json.dumps(
                {"type": "subscribe", "topics": [f"user:{chat.s1.id}"]})))
        sock.raw.sendall(pong)
        next_ping()  # the next round found the pong: it pinged again, not closed the socket
    assert any(SUBSCRIBED in text for text in sock.texts)
    sock.raw.close()


def test_the_bytes_of_a_message_that_look_like_a_pong_are_the_message(chat, quick_rounds):
    """Six bytes read alone that look like a pong but are the payload of a frame whose header
    came first stay that frame's: the message after them is understood."""
    db.session.commit()
    sock = RawSocket(quick_rounds, Person(quick_rounds, chat.s1))
    sock.pump(ROUND / 4)
    assert sock.accepted
    payload = b'"hey!"'  # a JSON string: not a request, read and ignored
    # The mask that makes the masked payload begin as a pong does (0x8a 0x80).
    mask = bytes([payload[0] ^ 0x8A, payload[1] ^ 0x80, 0x11, 0x22])
    head, body = _masked(0x1, payload, mask)
    assert body.startswith(CLIENT_PONG_HEAD) and len(body) == CLIENT_PONG_LENGTH
    sock.raw.sendall(head)
    sock.pump(0.3)  # read apart: the server has the header when the six bytes come alone
    sock.raw.sendall(body)
    sock.pump(0.3)
    assert _subscribed(sock, chat.s1.id)  # the frames after it are read as frames
    assert sock.closed_with is None
    sock.raw.close()
