"""The hub pings every socket on one timer (REALTIME_ROUND_SECONDS) instead of each socket's
reader waking on a timer of its own: a peer that answers stays connected, one that stops
answering (a laptop put to sleep, a dropped network) is closed by the next round. Against a
real gunicorn server whose rounds are a second apart."""
from __future__ import annotations

import json
import time

import pytest
from wsproto.events import AcceptConnection, CloseConnection, Ping, TextMessage

from app.extensions import db
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
        self.accepted = False

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
