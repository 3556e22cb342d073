"""The per-process hub: one Redis subscriber, the open websocket connections, and fan-out.

Each connection has a bounded outbox drained by its own sender (a greenlet under gunicorn's
gevent workers), so one slow client never stalls a broadcast; a client that falls too far behind
is closed with 1013 (try again later), reconnects, and catches up from the database.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import defaultdict

import redis
from sqlalchemy import select

from app.realtime.events import Event, allowed_viewers, channel_for, renderer_for

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 500
CLOSE_GOING_AWAY_RESTART = 1012  # "service restart": the htmx ws extension reconnects
CLOSE_TRY_AGAIN_LATER = 1013


class Connection:
    def __init__(self, ws, user_id: int):
        self.ws = ws
        self.user_id = user_id
        self.id = uuid.uuid4().hex[:12]
        self.topics: set[str] = set()
        # Per-connection state domains keep (e.g. the last message id sent per thread), guarded
        # by ``lock`` together with enqueueing, so live delivery and catch-up never both send.
        self.state: dict = {}
        self.lock = threading.RLock()
        self._outbox: queue.Queue = queue.Queue(maxsize=OUTBOX_LIMIT)
        self._send_lock = threading.Lock()
        self.closed = threading.Event()

    def send(self, frame: str) -> None:
        """Queue a frame; never blocks the caller."""
        if self.closed.is_set():
            return
        try:
            self._outbox.put_nowait(frame)
        except queue.Full:
            log.warning("websocket of user %s fell behind; closing it", self.user_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "too far behind")

    def sender_loop(self) -> None:
        while not self.closed.is_set():
            try:
                frame = self._outbox.get(timeout=1.0)
            except queue.Empty:
                continue
            if frame is None:
                break
            try:
                with self._send_lock:
                    self.ws.send(frame)
            except Exception:  # the socket is gone: the receive loop notices and cleans up
                self.closed.set()
                break

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        try:
            self._outbox.put_nowait(None)
        except queue.Full:
            pass
        try:
            with self._send_lock:
                self.ws.close(reason=code, message=reason)
        except Exception:
            pass


class Hub:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_topic: dict[str, set[Connection]] = defaultdict(set)
        self._connections: set[Connection] = set()
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()
        self._app = None

    # --- connections -----------------------------------------------------------------------
    def add(self, conn: Connection) -> None:
        with self._lock:
            self._connections.add(conn)

    def subscribe(self, conn: Connection, topic: str) -> None:
        with self._lock:
            self._by_topic[topic].add(conn)
            conn.topics.add(topic)

    def unsubscribe(self, conn: Connection, topic: str) -> None:
        with self._lock:
            self._by_topic.get(topic, set()).discard(conn)
            conn.topics.discard(topic)

    def remove(self, conn: Connection) -> None:
        with self._lock:
            for topic in conn.topics:
                subscribers = self._by_topic.get(topic)
                if subscribers is not None:
                    subscribers.discard(conn)
                    if not subscribers:
                        del self._by_topic[topic]
            conn.topics.clear()
            self._connections.discard(conn)

    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def close_all(self, code: int = CLOSE_GOING_AWAY_RESTART) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close(code, "server restarting")

    # --- Redis ------------------------------------------------------------------------------
    def ensure_listening(self, app) -> None:
        """Start this process's one Redis subscriber (first connection starts it)."""
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._app = app
            self._listener = threading.Thread(target=self._listen, name="realtime-hub",
                                              daemon=True)
            self._listener.start()
        self._ready.wait(timeout=5)

    def _listen(self) -> None:
        url = self._app.config["REDIS_URL"]
        backoff = 0.5
        while True:
            try:
                client = redis.Redis.from_url(url, health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel_for(self._app))
                self._ready.set()
                backoff = 0.5
                for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        self.dispatch(Event.from_json(message["data"]))
                    except Exception:
                        log.exception("realtime event could not be delivered")
            except redis.RedisError:
                # Events published while we were away are not lost: clients catch up from the
                # database when they next (re)subscribe.
                log.warning("realtime hub lost Redis; retrying in %.1fs", backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    # --- fan-out ----------------------------------------------------------------------------
    def dispatch(self, event: Event) -> None:
        with self._lock:
            targets = list(self._by_topic.get(event.topic, ()))
        if not targets:
            return
        renderer = renderer_for(event.name)
        if renderer is None:
            log.warning("no renderer for realtime event %s", event.name)
            return
        from app.accounts.models import User
        from app.extensions import db

        # Partials call url_for, which needs a request: build one at BASE_URL (the viewer is
        # passed explicitly; partials never use current_user).
        with self._app.test_request_context("/", base_url=self._app.config["BASE_URL"]):
            viewers = {u.id: u for u in db.session.scalars(
                select(User).where(User.id.in_({c.user_id for c in targets})))}
            allowed = allowed_viewers(event.topic, viewers.values())
            cache: dict = {}
            rendered: dict = {}
            for conn in targets:
                viewer = viewers.get(conn.user_id)
                if viewer is None or not viewer.is_active:
                    conn.close(1008, "account unavailable")
                    continue
                if allowed is not None and viewer.id not in allowed:
                    self.unsubscribe(conn, event.topic)  # access was revoked since subscribing
                    continue
                with conn.lock:
                    if renderer.accept is not None and not renderer.accept(event, conn.state):
                        continue
                    key = renderer.view_key(event, viewer)
                    if key not in rendered:
                        rendered[key] = renderer.render(event, viewer, cache)
                    if rendered[key]:
                        conn.send(rendered[key])
            db.session.remove()


hub = Hub()
