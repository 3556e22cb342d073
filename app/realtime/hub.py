"""The per-process hub: one Redis subscriber, the open websocket connections, and fan-out.

Each connection has a bounded outbox drained by its own sender (a greenlet under gunicorn's
gevent workers), so one slow client never stalls a broadcast; a client that falls too far behind
is closed with 1013 (try again later), reconnects, and catches up from the database.

A connection belongs to one login session: the session id it was opened with (flask-login's
``User.get_id()``, which carries the session version) is checked again on every subscribe and
every delivery, so a password change, a deactivation or a logout that bumps the version ends
sockets opened before it, not only new requests.

When the hub loses Redis, events published meanwhile never reach it: once it is subscribed
again it resyncs every connection from the database (the same catch-ups a reconnecting page
gets, measured against what each connection was sent).
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

from app.db_types import utcnow
from app.realtime.events import (CatchUp, Event, allowed_viewers, can_subscribe, catch_up_for,
                                 channel_for, renderer_for)

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 500
CLOSE_GOING_AWAY_RESTART = 1012  # "service restart": the htmx ws extension reconnects
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_POLICY = 1008
SESSION_ENDED = "session ended"
# Events may be lost from a little before the hub notices Redis is gone (a dead connection is
# found by a failed read or the health check): edits since then are sent again on resync.
LOST_MARGIN_SECONDS = 60


def session_valid(user, session_id: str | None) -> bool:
    """Whether the login session a socket was opened with still stands: the same check
    flask-login's user loader makes for every request (accounts.load_user_for_session)."""
    return user is not None and user.is_active and session_id is not None \
        and user.get_id() == session_id


class Connection:
    def __init__(self, ws, user_id: int, session_id: str | None = None):
        self.ws = ws
        self.user_id = user_id
        self.session_id = session_id
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
        subscribed_before = False
        lost_at = None
        while True:
            try:
                client = redis.Redis.from_url(url, health_check_interval=30)
                # Subscribe confirmations are kept: redis-py may reconnect (and resubscribe) on
                # its own inside listen(), and each confirmation after the first means events
                # may have been missed in between.
                pubsub = client.pubsub(ignore_subscribe_messages=False)
                pubsub.subscribe(channel_for(self._app))
                for message in pubsub.listen():
                    if message.get("type") == "subscribe":
                        self._ready.set()
                        backoff = 0.5
                        if subscribed_before:
                            self._resync_after_outage(lost_at)
                        subscribed_before, lost_at = True, None
                        continue
                    if message.get("type") != "message":
                        continue
                    try:
                        self.dispatch(Event.from_json(message["data"]))
                    except Exception:
                        log.exception("realtime event could not be delivered")
            except redis.RedisError:
                lost_at = lost_at or utcnow()
                log.warning("realtime hub lost Redis; retrying in %.1fs", backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    def _resync_after_outage(self, lost_at) -> None:
        """Events published while this process was not subscribed are gone: send every
        connection what it missed, from the database."""
        from datetime import timedelta

        since = (lost_at or utcnow()) - timedelta(seconds=LOST_MARGIN_SECONDS)
        with self._lock:
            connections = list(self._connections)
        log.warning("realtime hub subscribed again; resyncing %d connections", len(connections))
        for conn in connections:
            try:
                self.resync(conn, CatchUp(changed_since=since, from_client=False))
            except Exception:
                log.exception("resync of a realtime connection failed")

    def resync(self, conn: Connection, since: CatchUp) -> None:
        """Run the catch-up of every topic the connection is subscribed to."""
        from app.accounts.models import User
        from app.extensions import db

        if conn.closed.is_set():
            return
        with self._app.test_request_context("/", base_url=self._app.config["BASE_URL"]):
            try:
                user = db.session.get(User, conn.user_id)
                if user is None or not user.is_active:
                    conn.close(CLOSE_POLICY, "account unavailable")
                    return
                if not session_valid(user, conn.session_id):
                    conn.close(CLOSE_POLICY, SESSION_ENDED)
                    return
                with conn.lock:
                    for topic in sorted(conn.topics):
                        if not can_subscribe(user, topic):  # access revoked meanwhile
                            self.unsubscribe(conn, topic)
                            continue
                        catch_up = catch_up_for(topic)
                        key = topic.partition(":")[2]
                        if catch_up is not None and key.isdigit():
                            catch_up(conn, user, int(key), since)
            finally:
                db.session.remove()

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
                    conn.close(CLOSE_POLICY, "account unavailable")
                    continue
                if not session_valid(viewer, conn.session_id):
                    # Signed out (password changed, logged out): the page reconnects with the
                    # cookie it has now, or is refused if it has none.
                    conn.close(CLOSE_POLICY, SESSION_ENDED)
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
