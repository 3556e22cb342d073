"""The per-process hub: one Redis subscriber, the open websocket connections, and fan-out.

An idle connection costs no wake-ups and holds no greenlet of its own beyond its socket's
reader: its receive loop waits without a timeout (so does the reader), presence is refreshed
and every connection pinged by one hub-wide timer. Frames are written by whoever queued them
(the hub's dispatcher) as far as the socket takes them without waiting; a sender greenlet runs
only for a connection whose socket did not take everything (it drains the rest and ends). The
queue is bounded, so one slow client never stalls a broadcast; a client that falls too far
behind is closed with 1013 (try again later), reconnects, and catches up from the database.

One event is handled once per process, whatever the number of its recipients: the viewers'
accounts are checked in one statement (``Viewer``s are kept across events), a domain's
``prepare`` computes what differs between viewers in grouped queries (unread counts...), each
distinct output is rendered once and the same string queued for every socket that gets it. A
topic with no connection here costs nothing: no DB session is opened for it.

DB work for websockets (subscribes with their catch-ups, resyncs) runs under ``db_gate``, a
semaphore smaller than the connection pool, each in a short session returned at once: a burst of
reconnecting pages waits its turn instead of draining the pool that requests need; an idle socket
holds no DB connection.

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
import threading
import time
import uuid
from collections import defaultdict, deque
from contextlib import contextmanager

import redis
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from wsproto.connection import ConnectionState
from wsproto.events import Message, Ping, TextMessage

from app.bulk import one_of_parameter, reusable
from app.db_types import utcnow
from app.realtime.compression import framed_text, message_framing
from app.realtime.events import (COMMIT_SHARED, CatchUp, Event, allowed_viewers, can_subscribe,
                                 catch_up_for, channel_for, coalesced, invalidate_caches,
                                 renderer_for)
from app.realtime.reader import stop_reading

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 500
CLOSE_GOING_AWAY_RESTART = 1012  # "service restart": the htmx ws extension reconnects
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_POLICY = 1008
SESSION_ENDED = "session ended"
# The event app/realtime/sessions.py publishes on user:<id> once that user's login sessions or
# account state changed: what the hub confirmed about them is stale from then on.
SESSION_REVOKED = "session.revoked"
# Published (app/realtime/sessions.py) once a change to what a Viewer holds commits: a person's
# name, time zone or role on user:<id>, a center's time zone on center:<id>. The hub forgets
# those viewers before delivering anything after it; nothing is sent for it.
VIEWER_CHANGED = "viewer.changed"
# Events may be lost from a little before the hub notices Redis is gone (a dead connection is
# found by a failed read or the health check): edits since then are sent again on resync.
LOST_MARGIN_SECONDS = 60
# Websocket DB work (subscribes, catch-ups) at once per process: below the pool (5 + 10), so
# requests and the hub's own delivery always find a connection.
DB_WORKERS = 4
PING = object()  # queued like a frame: the socket's sender writes a ping in its turn
# The server's ping as it goes on the wire (RFC 6455 5.5.2): FIN and opcode 0x9, unmasked, no
# payload. The same two bytes on every socket, with permessage-deflate too (control frames are
# never compressed, RFC 7692 6.1). Framed by wsproto and written through the socket's queue,
# a round's pings to 2,000 sockets cost about 50 ms of CPU; written at once, about 23 ms
# (py-spy on bench/realtime.py's worker with REALTIME_ROUND_SECONDS=3).
PING_FRAME = b"\x89\x00"
VIEWER_TTL = 300  # seconds a viewer's name, role and zone are reused without reloading


# Frames queued for one socket while its sender was busy go out as one websocket message (the
# htmx ws extension swaps every top-level element of a message on its own), up to this size:
# a burst of events costs a socket one write, not one per event.
JOIN_LIMIT = 64 * 1024
# Events taken from Redis at once and dispatched before the sockets write (senders_held): a
# few commits' worth. Events waiting together that a renderer coalesces are rendered once
# (events.coalesced): when the hub falls behind a burst, it catches up by rendering less, not
# by queueing. Small fan-outs are written after each event, so the writes of a steady stream
# are never held for the whole batch.
BATCH_LIMIT = 32
HOLD_FROM = 100  # sockets an event must reach for its writes to wait for the batch's end
# How long the listener keeps a delivery scope (and its DB connection) open after a batch, for
# the next one: a class's messages and typing notices come seconds apart, and opening a scope
# again cost each message of a class posting every 0.3 s about 1.1 ms of CPU and 1.1-1.6 ms on
# its way (a request context, a pool checkout and its ping), when this was 0.2 s.
SCOPE_KEPT_SECONDS = 2.0
SCOPE_RENEWED_SECONDS = 10.0  # and never longer than this, however busy


class Standalone(str):
    """A frame sent as a message of its own, never joined with others (the page compares it
    whole, e.g. views.SUBSCRIBED_FRAME)."""


def _joinable(frame) -> bool:
    return type(frame) is str and frame.startswith("<")  # HTML fragments only, never JSON


# Senders whose start waits for the end of the batch of events being dispatched, by the
# thread (the greenlet, under gevent) dispatching it. A dict of the few holding now rather
# than a threading.local: under gevent a local's first read in a greenlet gives that greenlet
# a dict of its own, and every socket's request greenlet reads it (0.35 KiB a socket).
_held: dict[int, "HeldSenders"] = {}


class HeldSenders(list):
    """What waits for the end of a batch (senders_held): ``(target, writes_now)`` pairs."""

    def release(self) -> None:
        """Start the ones held so far now."""
        waiting, self[:] = list(self), []
        for target, writes_now in waiting:
            if writes_now:
                target()
            else:
                _start(target)


@contextmanager
def senders_held():
    """Sockets' senders started inside the block start when it ends (or at ``release()``): a
    message's events (the message on its thread, the badge and list row on its members' user
    topics) arrive together, and each socket then writes the frames of all of them as one
    websocket message (Connection._next_message joins what is queued) instead of one per
    event. For a class of 2,000 that is 2,000 writes fewer per message."""
    me = threading.get_ident()
    _held[me] = held = HeldSenders()
    try:
        yield held
    finally:
        _held.pop(me, None)
        held.release()


def spawn(target) -> None:
    """Run ``target()`` concurrently: a greenlet under gunicorn's gevent workers (cheap enough to
    start one per burst of frames), a daemon thread elsewhere; inside senders_held, once the
    batch ends or is released."""
    held = _held.get(threading.get_ident()) if _held else None
    if held is not None:
        held.append((target, False))
        return
    _start(target)


def start_writing(write) -> None:
    """Run ``write()``, which never waits (Connection._write_queued), in the caller: now, or
    inside senders_held once the batch ends or is released."""
    held = _held.get(threading.get_ident()) if _held else None
    if held is not None:
        held.append((write, True))
        return
    write()


def _start(target) -> None:
    try:
        from gevent import monkey
        if monkey.is_module_patched("threading"):
            import gevent

            # A raw greenlet: gevent.spawn's Greenlet records who spawned it and their stack,
            # and taking that stack gave the request greenlet's frames (it sends a subscribe's
            # frames) frame objects that lived as long as the socket: 1.6 KiB a socket.
            gevent.spawn_raw(target)
            return
    except ImportError:  # pragma: no cover (gevent is a runtime dependency)
        pass
    threading.Thread(target=target, daemon=True).start()


def session_valid(user, session_id: str | None) -> bool:
    """Whether the login session a socket was opened with still stands: the same check
    flask-login's user loader makes for every request (accounts.load_user_for_session)."""
    return user is not None and user.is_active and session_id is not None \
        and user.get_id() == session_id


class Viewer:
    """What rendering an event for someone needs (partials never use current_user): a snapshot
    of the account, kept across events; its session version and state are read again on every
    delivery, except for events that trust what was ``confirmed``: read from the database with
    no session.revoked event for this user taken from Redis since."""

    __slots__ = ("id", "center_id", "role", "name", "timezone", "effective_timezone", "tz",
                 "session_version", "is_active", "loaded_at", "confirmed")

    def __init__(self, id, center_id, role, name, timezone, center_timezone, session_version,
                 is_active):
        from zoneinfo import ZoneInfo

        self.id, self.center_id, self.role, self.name = id, center_id, role, name
        self.timezone = timezone
        self.effective_timezone = timezone or center_timezone
        self.tz = ZoneInfo(self.effective_timezone)
        self.session_version, self.is_active = session_version, bool(is_active)
        self.loaded_at = time.monotonic()
        self.confirmed = True

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


def _sessions_query():
    from app.accounts.models import User

    return select(User.id, User.session_version, User.is_active_flag, User.timezone).where(
        one_of_parameter(User.id, "user_ids"))


def _viewers_query():
    from app.accounts.models import Center, User

    return (select(User.id, User.center_id, User.role, User.name, User.timezone, Center.timezone,
                   User.session_version, User.is_active_flag)
            .join(Center, Center.id == User.center_id)
            .where(one_of_parameter(User.id, "user_ids")))


# Built once (bulk.reusable): every event with a listener here runs the first.
_SESSIONS = reusable(_sessions_query)
_VIEWERS = reusable(_viewers_query)


def read_only_without_transaction() -> None:
    """The hub's session reads and never writes: it runs without a transaction (autocommit),
    so a delivery's statements are not preceded by a BEGIN and followed by a ROLLBACK, two
    round trips of five for a new message. Each statement sees what is committed when it runs,
    as it would under PostgreSQL's READ COMMITTED inside a transaction too."""
    from app.extensions import db

    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


class _Rest(bytes):
    """The part of a websocket frame the socket did not take at once: written before anything
    else, even when the connection is closing (a frame begun must be ended)."""


def _writes_without_waiting(sock) -> bool:
    """Whether ``sock`` can be written to without waiting: under gevent, a socket's own
    ``send(data, flags, timeout)`` writes what the kernel takes now when given a timeout of
    0 (and raises BlockingIOError when it takes nothing). Other sockets' writes are left to a
    thread of their own, as a TLS socket's are (it may need to read to write)."""
    try:
        from gevent.socket import socket as gevent_socket
        from gevent.ssl import SSLSocket
    except ImportError:  # pragma: no cover (gevent is a runtime dependency)
        return False
    return isinstance(sock, gevent_socket) and not isinstance(sock, SSLSocket)


class Connection:
    __slots__ = ("ws", "user_id", "session_id", "id", "topics", "state", "lock", "closed",
                 "_outbox", "_guard", "_sending", "_close_with", "_start_sender", "_write_now",
                 "_framing")

    def __init__(self, ws, user_id: int, session_id: str | None = None,
                 start_sender=start_writing):
        self.ws = ws
        self.user_id = user_id
        self.session_id = session_id
        self.id = uuid.uuid4().hex[:12]
        self.topics: set[str] = set()
        # Per-connection state domains keep (e.g. the messages sent per thread), guarded by
        # ``lock`` together with enqueueing, so live delivery and catch-up never both send.
        self.state: dict = {}
        self.lock = threading.RLock()
        self.closed = False
        # None while nothing waits: an empty deque is 0.7 KiB, on every idle socket.
        self._outbox: deque | None = None
        self._guard = threading.Lock()  # the outbox, and who writes to the socket
        self._sending = False  # a writer owns the socket (the only one meanwhile)
        self._close_with = None  # (code, reason) for the writer to write once drained
        # Given _write_queued, which never waits; tests give one that never writes.
        self._start_sender = start_sender
        self._write_now = _writes_without_waiting(getattr(ws, "sock", None))
        self._framing = None  # compression.message_framing, once known (False: not shared)

    def send(self, frame: str) -> None:
        """Queue a frame; never blocks the caller. Writing starts when the queue was empty."""
        with self._guard:
            if self.closed:
                return
            if self._outbox is None:
                self._outbox = deque()
            if len(self._outbox) >= OUTBOX_LIMIT:
                overflow = True
            else:
                overflow = False
                self._outbox.append(frame)
                start, self._sending = not self._sending, True
        if overflow:
            log.warning("websocket of user %s fell behind; closing it", self.user_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "too far behind")
        elif start:
            self._start_sender(self._write_queued)

    @property
    def queued(self) -> tuple:
        """The frames waiting for this socket's sender (what a test's socket, whose sender never
        runs, has been sent)."""
        return tuple(self._outbox or ())

    def drop_queued(self) -> None:
        with self._guard:
            self._outbox = None

    def keep_alive(self) -> None:
        """Ping the peer, or close the socket when the last ping got no pong (a peer gone
        without a word: a laptop put to sleep, a dropped network). The hub does this for every
        connection on one timer: simple-websocket's own pings (``ping_interval``) made each
        socket's reader wake on a timer of its own and cost 132 us per ping against 29 us
        here (1,000 sockets pinged every second, flask-sock under gevent)."""
        ws = self.ws
        if ws is None or self.closed:
            return
        if not ws.pong_received:
            # Closed by a sender: a write to a dead peer may block, never in the hub's timer.
            spawn(lambda: self.close(CLOSE_POLICY, "no answer to ping"))
            return
        ws.pong_received = False  # the reader sets it again when the pong comes
        if self._write_now and self._ping_now(ws):
            return
        self.send(PING)

    def _ping_now(self, ws) -> bool:
        """Write the ping at once when nothing else is being written to this socket (nearly
        always): True once the socket took it, or lost it. False leaves it to the queue. Only
        for a gevent socket (``_write_now``): its write with a timeout of 0 never switches
        greenlets, so nothing can start writing between the check and the write."""
        with self._guard:
            if self._sending or self.closed or not ws.connected or \
                    ws.ws.state is not ConnectionState.OPEN:
                return False
        try:
            written = ws.sock.send(PING_FRAME, 0, 0.0)
        except BlockingIOError:
            return False
        except OSError:
            self._lost()
            return True
        if written < len(PING_FRAME):  # a full socket took part of it: its sender ends it
            with self._guard:
                if self._outbox is None:
                    self._outbox = deque()
                self._outbox.appendleft(_Rest(PING_FRAME[written:]))
                self._sending = True
            _start(self._drain)
        return True

    def _next_message(self):
        """``(frame, None)``: what to write next, the queued fragments joined into one message;
        ``(None, close_with)`` once nothing is left, and the writer is done."""
        with self._guard:
            outbox = self._outbox
            if outbox and type(outbox[0]) is _Rest:
                return outbox.popleft(), None
            if self.closed or not outbox:
                self._outbox = None
                self._sending = False
                close_with, self._close_with = self._close_with, None
                return None, close_with
            frame = outbox.popleft()
            if _joinable(frame):
                parts, size = [frame], len(frame)
                while outbox and _joinable(outbox[0]) and size + len(outbox[0]) <= JOIN_LIMIT:
                    parts.append(outbox.popleft())
                    size += len(parts[-1])
                frame = "".join(parts)
            return frame, None

    def _encoded(self, frame) -> bytes:
        """The bytes of ``frame`` on the wire (simple-websocket's send, without the write)."""
        if type(frame) is _Rest:
            return frame
        ws = self.ws
        if not ws.connected:
            raise ConnectionError("the websocket is closed")
        if frame is PING:
            # simple-websocket has no public ping: its wsproto connection makes the frame.
            return ws.ws.send(Ping())
        if isinstance(frame, bytes):
            return ws.ws.send(Message(data=frame))
        framing = self._framing
        if framing is None:  # the first text message: may it share others' bytes?
            shared = message_framing(ws.ws.connection)
            framing = self._framing = False if shared is None else shared
        if framing is False or ws.ws.state is not ConnectionState.OPEN:
            return ws.ws.send(TextMessage(data=frame))  # wsproto raises when it is not open
        return framed_text(framing, frame, lambda: ws.ws.send(TextMessage(data=frame)))

    def _lost(self) -> None:
        """The socket is gone: the receive loop notices and cleans up."""
        with self._guard:
            self.closed, self._sending, self._outbox = True, False, None

    def _write_queued(self) -> None:
        """Write what is queued now, in the caller (the hub's dispatching greenlet), as far as
        the socket takes it without waiting, which it nearly always does; what it does not take
        goes to a sender of its own (_drain), so a slow reader never holds up a fan-out. A
        sender per write (a raw greenlet, its switch and the outbox's guard around it) cost
        15 us of the 21 us each write took (30 sockets over loopback under gevent), and a
        message to a class is 30 writes."""
        if not self._write_now:  # a thread's socket: its write may block
            _start(self._drain)
            return
        sock = self.ws.sock
        while True:
            frame, close_with = self._next_message()
            if frame is None:
                if close_with is not None:
                    spawn(lambda: self._write_close(*close_with))
                return
            try:
                data = self._encoded(frame)
                try:
                    written = sock.send(data, 0, 0.0)  # gevent: a timeout of 0, no wait
                except BlockingIOError:
                    written = 0
            except Exception:
                self._lost()
                return
            if written < len(data):
                with self._guard:
                    if self._outbox is None:
                        self._outbox = deque()
                    self._outbox.appendleft(_Rest(data[written:]))
                _start(self._drain)
                return

    def _drain(self) -> None:
        """The sender: write what is queued, waiting for the socket as long as it takes."""
        while True:
            frame, close_with = self._next_message()
            if frame is None:
                break
            try:
                self.ws.sock.sendall(self._encoded(frame))
            except Exception:
                self._lost()
                return
        if close_with is not None:
            self._write_close(*close_with)

    def close(self, code: int = 1000, reason: str = "") -> None:
        with self._guard:
            if self.closed:
                return
            self.closed = True
            outbox = self._outbox
            # What is queued is dropped, except the end of a frame the socket took part of.
            self._outbox = deque([outbox[0]]) if outbox and type(outbox[0]) is _Rest else None
            if self._sending:  # the sender is writing a frame: it writes the close after it
                self._close_with = (code, reason)
                return
        self._write_close(code, reason)

    def _write_close(self, code: int, reason: str) -> None:
        try:
            self.ws.close(reason=code, message=reason)
        except Exception:
            pass
        # Wake the request's read loop (it waits without a timeout) rather than wait for the
        # client's answering close frame.
        stop_reading(self.ws)


class Hub:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_topic: dict[str, set[Connection]] = defaultdict(set)
        self._connections: set[Connection] = set()
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()
        self._app = None
        self._viewers: dict[int, Viewer] = {}
        self.db_gate = threading.BoundedSemaphore(DB_WORKERS)

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
            subscribers = self._by_topic.get(topic)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self._by_topic[topic]
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

    def close_all_and_wait(self, timeout: float) -> int:
        """Close every socket as the server restarts (the pages reconnect, to another worker or
        to this one's successor) and give each socket's greenlet up to ``timeout`` seconds to
        clean up after it (presence, a call's open segment): those greenlets are not gunicorn's
        request greenlets, which gunicorn would wait for. The sockets still open then."""
        self.close_all()
        deadline = time.monotonic() + timeout
        while self.connection_count() and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.connection_count()

    def targets(self, event: Event) -> list[Connection]:
        """This process's connections the event goes to (each once)."""
        with self._lock:
            if len(event.topics) == 1:
                return list(self._by_topic.get(event.topics[0], ()))
            found: set[Connection] = set()
            for topic in event.topics:
                found.update(self._by_topic.get(topic, ()))
            return list(found)

    # --- Redis ------------------------------------------------------------------------------
    def ensure_listening(self, app) -> None:
        """Start this process's one Redis subscriber and its timer of rounds (presence, pings;
        the first connection starts them)."""
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._app = app
            self._listener = threading.Thread(target=self._listen, name="realtime-hub",
                                              daemon=True)
            self._listener.start()
            threading.Thread(target=self._rounds_forever, name="realtime-rounds",
                             daemon=True).start()
        self._ready.wait(timeout=5)

    @staticmethod
    def _arrivals(pubsub, scope: "DeliveryScope"):
        """What Redis sends, one message at a time. While events keep coming, their delivery
        scope (request context, DB connection) stays open from one batch to the next: opening
        one costs a pool checkout and its ping, a round trip, which a busy class paid for each
        message. It is let go once nothing has come for SCOPE_KEPT_SECONDS, so an idle process
        holds no DB connection."""
        listening = pubsub.listen()
        while True:
            if scope.context is not None and \
                    time.monotonic() - scope.opened_at > SCOPE_RENEWED_SECONDS:
                scope.close()  # a fresh request context (its g) now and then, even when busy
            if scope.context is not None:
                message = pubsub.get_message(timeout=SCOPE_KEPT_SECONDS)
                if message is not None:
                    yield message
                    continue
                scope.close()
            yield next(listening)

    def _listen(self) -> None:
        url = self._app.config["REDIS_URL"]
        scope = DeliveryScope(self._app)  # kept between batches that follow closely
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
                for first in self._arrivals(pubsub, scope):
                    # What has arrived with it is handled with it (a commit publishes its
                    # events together), the sockets' writes after the whole batch.
                    batch = [first]
                    while len(batch) < BATCH_LIMIT and \
                            (more := pubsub.get_message(timeout=0)) is not None:
                        batch.append(more)
                    with senders_held():
                        events: list[Event] = []
                        for message in batch:
                            if message.get("type") == "subscribe":
                                self.dispatch_batch(events, scope)  # what came before, first
                                scope.close()
                                events = []
                                self._ready.set()
                                backoff = 0.5
                                if subscribed_before:
                                    self._resync_after_outage(lost_at)
                                subscribed_before, lost_at = True, None
                                continue
                            if message.get("type") != "message":
                                continue
                            try:
                                events.append(Event.from_json(message["data"]))
                            except Exception:
                                log.exception("realtime event could not be read")
                        self.dispatch_batch(events, scope)
            except redis.RedisError:
                scope.close()
                lost_at = lost_at or utcnow()
                log.warning("realtime hub lost Redis; retrying in %.1fs", backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10)

    # --- rounds: presence and pings ---------------------------------------------------------
    def _rounds_forever(self) -> None:
        while True:
            # REALTIME_ROUND_SECONDS (25 s; presence.FRESH_FOR is 75)
            time.sleep(self._app.config["REALTIME_ROUND_SECONDS"])
            try:
                self.refresh_presence()
            except Exception:
                log.exception("presence refresh failed")
            try:
                self.keep_alive()
            except Exception:
                log.exception("pinging the sockets failed")

    def keep_alive(self) -> None:
        """Every connection pinged (or closed when its last ping went unanswered)."""
        with self._lock:
            connections = list(self._connections)
        with senders_held():  # their pings written by senders started together, after the loop
            for conn in connections:
                conn.keep_alive()

    def refresh_presence(self) -> None:
        """Every connection's thread topics marked present again, in one Redis round trip for
        the whole process (sockets do not wake up for it); unused viewers are forgotten."""
        from app.realtime import presence

        with self._lock:
            entries = [(topic, conn.user_id, conn.id) for conn in self._connections
                       if not conn.closed for topic in conn.topics
                       if topic.startswith("thread:")]
            connected = {conn.user_id for conn in self._connections}
        for user_id in [u for u in self._viewers if u not in connected]:
            self._viewers.pop(user_id, None)
        if entries:
            try:
                presence.mark_many_present(self._app, entries)
            except redis.RedisError:
                log.warning("presence not refreshed: Redis unavailable")

    # --- catch-up ---------------------------------------------------------------------------
    def _resync_after_outage(self, lost_at) -> None:
        """Events published while this process was not subscribed are gone: send every
        connection what it missed, from the database."""
        from datetime import timedelta

        since = (lost_at or utcnow()) - timedelta(seconds=LOST_MARGIN_SECONDS)
        with self._lock:
            connections = list(self._connections)
        log.warning("realtime hub subscribed again; resyncing %d connections", len(connections))
        self.forget_confirmed(None)
        for conn in connections:
            try:
                self.resync(conn, CatchUp(changed_since=since, from_client=False))
            except Exception:
                log.exception("resync of a realtime connection failed")

    def resync(self, conn: Connection, since: CatchUp) -> None:
        """Run the catch-up of every topic the connection is subscribed to."""
        from app.accounts.models import User
        from app.extensions import db

        if conn.closed:
            return
        with self.db_gate, \
                self._app.test_request_context("/", base_url=self._app.config["BASE_URL"]):
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
    def forget_confirmed(self, event: Event | None) -> None:
        """What this process confirmed about accounts and access goes stale with the events that
        change it, before they are delivered (or all of it when events may have been lost)."""
        if event is None:
            for viewer in list(self._viewers.values()):
                viewer.confirmed = False
        elif event.name == SESSION_REVOKED:
            for topic in event.topics:
                viewer = self._viewers.get(int(topic.partition(":")[2]))
                if viewer is not None:
                    viewer.confirmed = False
        elif event.name == VIEWER_CHANGED:
            for topic in event.topics:
                prefix, _, key = topic.partition(":")
                if prefix == "user":
                    self._viewers.pop(int(key), None)
                elif prefix == "center":
                    center_id = int(key)
                    for user_id in [u for u, v in self._viewers.items()
                                    if v.center_id == center_id]:
                        self._viewers.pop(user_id, None)
        invalidate_caches(event)

    def viewers(self, user_ids, reuse_confirmed: bool = False) -> dict[int, Viewer]:
        """The viewers for ``user_ids``, their session version and state read now (one
        statement); name, role and zone reused from earlier events while fresh. With
        ``reuse_confirmed``, a viewer whose state is confirmed (Viewer) costs no statement."""
        from app.extensions import db

        found: dict[int, Viewer] = {}
        now = time.monotonic()
        if reuse_confirmed:
            for user_id in user_ids:
                viewer = self._viewers.get(user_id)
                if viewer is not None and viewer.confirmed and now - viewer.loaded_at <= VIEWER_TTL:
                    found[user_id] = viewer
        ids = sorted(set(user_ids) - set(found))
        if not ids:
            return found
        stale = []
        for user_id, version, active, zone in db.session.execute(_SESSIONS(), {"user_ids": ids}):
            viewer = self._viewers.get(user_id)
            if viewer is None or viewer.timezone != zone or now - viewer.loaded_at > VIEWER_TTL:
                stale.append(user_id)
                continue
            viewer.session_version, viewer.is_active = version, bool(active)
            viewer.confirmed = True
            found[user_id] = viewer
        if stale:
            for row in db.session.execute(_VIEWERS(), {"user_ids": stale}):
                found[row[0]] = self._viewers[row[0]] = Viewer(*row)
        return found

    def dispatch_batch(self, events: list[Event], scope: "DeliveryScope | None" = None) -> None:
        """Events taken from Redis together, in order, those a renderer coalesces rendered
        once (the events merged away still drop what they make stale). They share one request
        context and one DB connection (DeliveryScope): a message's events arrive together, and
        each checkout of a connection costs a round trip (pool_pre_ping). A ``scope`` given is
        the listener's, kept open for the next batch; without one, the batch's own is closed
        at its end."""
        events, merged_away = coalesced(events)
        for event in merged_away:
            self.forget_confirmed(event)
        own_scope = scope is None
        scope = scope or DeliveryScope(self._app)
        try:
            for event in events:
                try:
                    try:
                        self.dispatch(event, scope)
                    except DBAPIError as exc:
                        if not (exc.connection_invalidated and scope.carried_over):
                            raise
                        # The connection kept from an earlier batch was gone (the database
                        # restarted meanwhile) and was not pinged: the event again, on a new
                        # one, which the pool pings.
                        scope.close()
                        self.dispatch(event, scope)
                except Exception:
                    log.exception("realtime event could not be delivered")
                    scope.close()  # the next event starts on a fresh connection
                held = _held.get(threading.get_ident())
                if held is not None and len(held) < HOLD_FROM:
                    # A small fan-out goes out at once: joining its few writes is not worth
                    # making its frames wait for the next event.
                    held.release()
        finally:
            if own_scope:
                scope.close()
            else:
                scope.carried_over = scope.context is not None

    def dispatch(self, event: Event, scope: "DeliveryScope | None" = None) -> None:
        self.forget_confirmed(event)  # even when nobody here listens to its topic
        targets = self.targets(event)
        if not targets:
            return  # nobody here: no DB session, no render
        renderer = renderer_for(event.name)
        if renderer is None:
            log.warning("no renderer for realtime event %s", event.name)
            return
        if renderer.only_for is not None:
            targets = [conn for conn in targets if renderer.only_for(event, conn)]
            if not targets:
                return
        own_scope = scope is None
        scope = scope or DeliveryScope(self._app)
        try:
            scope.open(event)
            self._deliver(event, renderer, targets, scope.shared)
        finally:
            if own_scope:
                scope.close()

    def _deliver(self, event: Event, renderer, targets: list[Connection], shared: dict) -> None:
        viewers = self.viewers({c.user_id for c in targets},
                               reuse_confirmed=renderer.trusts_confirmed_access)
        live = []
        for conn in targets:
            viewer = viewers.get(conn.user_id)
            if viewer is None or not viewer.is_active:
                conn.close(CLOSE_POLICY, "account unavailable")
            elif not session_valid(viewer, conn.session_id):
                # Signed out (password changed, logged out): the page reconnects with the
                # cookie it has now, or is refused if it has none.
                conn.close(CLOSE_POLICY, SESSION_ENDED)
            else:
                live.append((conn, viewer))
        if not live:
            return
        receiving = {viewer.id: viewer for _, viewer in live}
        allowed = allowed_viewers(event.topic, receiving.values(), event)
        if allowed is not None:
            for conn, viewer in live:
                if viewer.id not in allowed:
                    self.unsubscribe(conn, event.topic)  # access was revoked since subscribing
            live = [(conn, viewer) for conn, viewer in live if viewer.id in allowed]
            receiving = {i: v for i, v in receiving.items() if i in allowed}
        cache: dict = {COMMIT_SHARED: shared}
        if renderer.prepare is not None and receiving:
            renderer.prepare(event, list(receiving.values()), cache)
        rendered: dict = {}
        for conn, viewer in live:
            with conn.lock:
                if renderer.accept is not None and not renderer.accept(event, conn.state):
                    continue
                if renderer.variant is None:
                    key = renderer.view_key(event, viewer, cache)
                    if key not in rendered:
                        rendered[key] = renderer.render(event, viewer, cache)
                else:
                    variant = renderer.variant(event, conn)
                    key = (variant, renderer.view_key(event, viewer, cache))
                    if key not in rendered:
                        rendered[key] = renderer.render(event, viewer, cache, variant)
                if rendered[key]:
                    conn.send(rendered[key])


class DeliveryScope:
    """What delivering events needs, opened by the first event that has someone here to go to
    and kept for the events dispatched with it: a request context (partials call url_for; the
    viewer is passed explicitly, partials never use current_user), a DB session reading
    without a transaction, and ``shared``, what the events of one commit read for each other
    (a renderer's ``cache[COMMIT_SHARED]``; e.g. a new message's thread, read for its open
    pages, is the thread its members' lists show)."""

    __slots__ = ("app", "context", "commit", "shared", "carried_over", "opened_at")

    def __init__(self, app) -> None:
        self.app, self.context, self.commit, self.shared = app, None, None, {}
        self.opened_at = 0.0
        # Open since an earlier batch: its connection was not pinged for this one.
        self.carried_over = False

    def open(self, event: Event | None = None) -> None:
        commit = event.commit if event is not None else None
        same_commit = commit is not None and commit == self.commit
        self.commit = commit
        if self.context is None:
            self.shared, self.opened_at = {}, time.monotonic()
            self.context = self.app.test_request_context("/", base_url=self.app.config["BASE_URL"])
            self.context.push()
            # Nobody is logged in here: said once, so that flask-login's context processor does
            # not look for a login in the (empty) session again for every partial rendered.
            from flask import g
            from flask_login import AnonymousUserMixin

            g._login_user = AnonymousUserMixin()
            read_only_without_transaction()
        elif not same_commit:
            # Each commit's events read afresh: a batch can hold several commits' events, and
            # an object an earlier one loaded would keep that commit's values in the identity
            # map. Events of the same commit read the same state: they share it.
            from app.extensions import db

            db.session.expunge_all()
            self.shared = {}

    def close(self) -> None:
        if self.context is not None:
            from app.extensions import db

            context, self.context = self.context, None
            self.commit, self.shared, self.carried_over = None, {}, False
            try:
                db.session.remove()
            finally:
                context.pop()


hub = Hub()
