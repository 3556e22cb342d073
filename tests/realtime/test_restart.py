"""A worker that stops (a deploy, a restart) closes its websockets with 1012 "service restart",
which the pages answer by reconnecting, and each socket cleans up after itself first: its
presence on the thread it showed is gone at once, not left to age out. The sockets are served
by greenlets of their own, which gunicorn does not wait for (app/realtime/reader.py,
gunicorn.conf.py worker_exit)."""
from __future__ import annotations

import json
import signal

from wsproto.events import AcceptConnection, CloseConnection, TextMessage

from app.extensions import db
from app.realtime import presence
from tests.chat.test_realtime import Person
from tests.live import LiveServer
from tests.realtime.raw_websocket import open_raw, wait_for_event


def test_a_stopping_worker_closes_its_sockets_as_a_restart_and_cleans_up(
        app, chat, app_config, database_url, redis_url, test_dirs):
    db.session.commit()
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "restart.log")
    try:
        sara = Person(server, chat.s1)
        raw, ws = open_raw(server, sara, timeout=0.25)
        assert wait_for_event(raw, ws, lambda e: isinstance(e, AcceptConnection), 5)
        topic = f"thread:{chat.group.id}"
        raw.sendall(ws.send(TextMessage(json.dumps({"type": "subscribe", "topics": [topic]}))))
        assert wait_for_event(raw, ws, lambda e: isinstance(e, TextMessage)
                             and 'data-realtime="subscribed"' in e.data, 10)
        assert chat.s1.id in presence.present_users(app, topic)

        server.process.send_signal(signal.SIGTERM)
        closed = wait_for_event(raw, ws, lambda e: isinstance(e, CloseConnection), 15)
        assert closed is not None and (closed.code, closed.reason) == (1012, "server restarting")
        assert server.process.wait(timeout=15) == 0
        assert chat.s1.id not in presence.present_users(app, topic)
        raw.close()
    finally:
        server.stop()
