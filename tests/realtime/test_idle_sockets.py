"""An open websocket holds no request under gunicorn's gevent worker: its request ends once the
socket is handed to a greenlet of its own (app/realtime/reader.py, take_over), so idle sockets
take no place in gunicorn's pool of request greenlets (``worker_connections``) and keep no
request, environ or deep request stack. With a pool of 4, twelve open sockets are each served,
and pages are still answered."""
from __future__ import annotations

import json
import time

import psutil
import requests
from wsproto.events import AcceptConnection, TextMessage

from app.extensions import db
from tests.chat.test_realtime import Person
from tests.live import LiveServer
from tests.realtime.raw_websocket import open_raw, wait_for_event

POOL = 4


def _sockets_of(process, port: int) -> int:
    """The worker's descriptors of client connections on its port (not its database or Redis),
    whatever their state: one the client closed and the worker did not is CLOSE_WAIT."""
    return sum(1 for c in process.net_connections(kind="tcp")
               if c.raddr and c.laddr.port == port)


def _subscribed(raw, ws, topic: str) -> bool:
    raw.sendall(ws.send(TextMessage(json.dumps({"type": "subscribe", "topics": [topic]}))))
    return wait_for_event(raw, ws, lambda e: isinstance(e, TextMessage)
                          and 'data-realtime="subscribed"' in e.data, 10) is not None


def _accepted(raw, ws) -> bool:
    return wait_for_event(raw, ws, lambda e: isinstance(e, AcceptConnection), 10) is not None


def test_open_sockets_take_no_place_among_the_requests(chat, app_config, database_url,
                                                       redis_url, test_dirs):
    db.session.commit()
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "idle_sockets.log", extra_env={"WORKER_CONNECTIONS": str(POOL)})
    sockets = []
    try:
        sara = Person(server, chat.s1)
        for _ in range(3 * POOL):
            raw, ws = open_raw(server, sara, timeout=0.25)
            sockets.append(raw)
            assert _accepted(raw, ws)
            assert _subscribed(raw, ws, f"thread:{chat.group.id}")
        assert requests.get(f"{server.url}/login", timeout=10).status_code == 200
        # Closed by their pages, the sockets are closed here too: no descriptor is left open.
        worker = psutil.Process(server.process.pid).children()[0]
        for raw in sockets:
            raw.close()
        deadline = time.monotonic() + 10
        while _sockets_of(worker, server.port) >= len(sockets) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _sockets_of(worker, server.port) < len(sockets)
    finally:
        for raw in sockets:
            raw.close()
        server.stop()
