"""The one websocket endpoint. The page opens it with htmx's ws extension; static/js/realtime.js
sends the subscriptions, each with what the page already has for that topic; the server sends
the difference (see events.CatchUp)."""
from __future__ import annotations

import json
import logging
from contextlib import contextmanager

import redis
from flask import Blueprint, current_app, g, request
from flask_login import AnonymousUserMixin, current_user

from app.accounts.tenancy import MAX_ID
from app.extensions import db, sock
from app.realtime import presence, sessions  # noqa: F401  (sessions: closes revoked sockets)
from app.realtime.events import (CatchUp, Event, can_subscribe, catch_up_for,
                                 client_message_handler, disconnect_handlers, publish_now)
from app.realtime.hub import (CLOSE_POLICY, SESSION_ENDED, Connection, Standalone, hub,
                              session_valid)
from app.realtime.reader import (close_socket, forget_handshake, next_message, serve_in_greenlet,
                                 take_over)

log = logging.getLogger(__name__)

MAX_TOPICS = 20
# Sent once a subscribe message has been handled, catch-ups included: realtime.js shows the page
# as live only then (a page marked live earlier could miss what is published meanwhile).
SUBSCRIBED_FRAME = Standalone('<template data-realtime="subscribed"></template>')


def origin_allowed() -> bool:
    """Browsers send cookies on cross-site websocket handshakes (no CORS, no CSRF token), so
    another site could open a socket as the user: only our own origin may connect."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser (browsers always send Origin on websocket handshakes)
    allowed = {request.host_url.rstrip("/"), current_app.config["BASE_URL"].rstrip("/")}
    return origin.rstrip("/") in allowed


bp = Blueprint("realtime", __name__)
# current_user for what a socket renders once it is open (see websocket()).
NO_CURRENT_USER = AnonymousUserMixin()


@sock.route("/ws", bp=bp)
def websocket(ws):
    if not origin_allowed():
        ws.close(reason=1008, message="origin not allowed")
        return
    if not current_user.is_authenticated:
        ws.close(reason=1008, message="log in first")
        return
    forget_handshake(ws)
    user_id, session_id = current_user.id, current_user.get_id()
    app = current_app._get_current_object()
    hub.ensure_listening(app)
    # Neither the request's DB session nor its loaded account stays for the connection's
    # lifetime (an idle socket holds its ids, not ORM rows; the hub loads viewers per event).
    g._login_user = NO_CURRENT_USER
    db.session.remove()
    # Under gevent the socket is served by a greenlet of its own and this request ends now
    # (reader.take_over); elsewhere this request's thread serves it until it closes.
    ws, handed_over = take_over(ws)
    conn = Connection(ws, user_id, session_id=session_id)
    hub.add(conn)
    hub.subscribe(conn, f"user:{user_id}")
    if handed_over:
        serve_in_greenlet(serve_socket, app, conn)
    else:
        serve_socket(app, conn)


def serve_socket(app, conn: Connection) -> None:
    """Read the socket's messages and act on them until it closes, then clean up after it.
    Read with no timeout: an idle socket is one greenlet waiting on its descriptor, with no
    wake-ups (the hub refreshes presence and pings every connection on one timer; an unanswered
    ping closes the socket). Each message is handled in an app context of its own, the
    subscriptions in a request context too (their catch-ups render partials with url_for), as
    the hub renders its events."""
    try:
        while (raw := next_message(conn.ws)) is not None and not conn.closed:
            with app.app_context():
                handle_client_message(conn, raw)
    finally:
        with socket_request_context(app):
            for topic in list(conn.topics):
                if topic.startswith("thread:"):
                    _presence(presence.mark_absent, app, topic, conn)
            _run_disconnect_handlers(conn)
            hub.remove(conn)
            conn.close()
        close_socket(conn.ws)


@contextmanager
def socket_request_context(app):
    """A request context for rendering what a socket is sent (the hub renders in one too). Its
    current_user is nobody: flask-login's template context processor reads current_user for
    every template, and would otherwise load the account again (a query) for each catch-up.
    The partials are rendered for the viewer they are given, never for current_user."""
    with app.test_request_context("/", base_url=app.config["BASE_URL"]):
        g._login_user = NO_CURRENT_USER
        yield


def _run_disconnect_handlers(conn: Connection) -> None:
    """Each domain's cleanup for a closed socket; one failing never keeps the socket's other
    cleanup (or the hub's) from running."""
    for handle in disconnect_handlers():
        try:
            with hub.db_gate:
                try:
                    handle(conn)
                finally:
                    db.session.remove()
        except Exception:
            log.exception("realtime disconnect handler %s failed", getattr(handle, "__name__", handle))


def _presence(mark, app, topic: str, conn: Connection) -> None:
    """Presence only decides whether a push goes out to someone already looking: while Redis
    is away it is skipped (it ages out on its own), never a reason to drop the socket."""
    try:
        mark(app, topic, conn.user_id, conn.id)
    except redis.RedisError:
        log.warning("presence not updated: Redis unavailable")


def handle_client_message(conn: Connection, raw: str | bytes) -> None:
    try:
        message = json.loads(raw)
    except ValueError:
        return
    if not isinstance(message, dict):
        return
    kind = message.get("type")
    if kind == "subscribe":
        topics = message.get("topics")
        after = message.get("after") or {}
        have = message.get("have") or {}
        if not isinstance(topics, list) or not isinstance(after, dict) \
                or not isinstance(have, dict):
            return
        from app.accounts.models import User

        # A burst of (re)connecting pages takes turns (hub.db_gate) and each returns its DB
        # connection as soon as its catch-ups are sent: an idle socket never holds one.
        with socket_request_context(current_app._get_current_object()), hub.db_gate:
            try:
                user = db.session.get(User, conn.user_id)
                for topic in topics[:MAX_TOPICS]:
                    if isinstance(topic, str):
                        if not subscribe(conn, topic, after.get(topic), have.get(topic),
                                         user=user) and conn.closed:
                            return
            finally:
                db.session.remove()
        conn.send(SUBSCRIBED_FRAME)  # the page is live from here (static/js/realtime.js)
    elif kind == "unsubscribe" and isinstance(message.get("topic"), str):
        if not message["topic"].startswith("user:"):
            hub.unsubscribe(conn, message["topic"])
            if message["topic"].startswith("thread:"):
                _presence(presence.mark_absent, current_app, message["topic"], conn)
    elif kind == "typing" and isinstance(message.get("topic"), str):
        # Never stored: a transient event for the others on the topic (lost while Redis is away).
        if message["topic"] in conn.topics:
            try:
                publish_now(Event(message["topic"], "typing", {"user_id": conn.user_id}))
            except redis.RedisError:
                log.warning("typing notice dropped: Redis unavailable")
    elif (handle := client_message_handler(kind)) is not None:
        handle(conn, message, len(raw))


def _client_id(value) -> int | None:
    """An id the client sent, or None for junk (which must not reach the database)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 <= number <= MAX_ID else None


def subscribe(conn: Connection, topic: str, after, have=None, user=None) -> bool:
    from app.accounts.models import User

    user = user if user is not None else db.session.get(User, conn.user_id)
    if user is not None and user.is_active and not session_valid(user, conn.session_id):
        conn.close(CLOSE_POLICY, SESSION_ENDED)  # signed out since the socket opened
        return False
    if user is None or not user.is_active or not can_subscribe(user, topic):
        conn.send(f'<div id="realtime-denied" hx-swap-oob="true" hidden data-topic="{_attr(topic)}"></div>')
        return False
    # Subscribe first, then catch up, both under the connection's lock: the hub takes the same
    # lock to deliver, so a live event published meanwhile waits; it can neither overtake the
    # missed messages nor make the catch-up skip them. It is either in the catch-up query or goes
    # out after it, and the domain's accept hook (under conn.lock) drops the second copy.
    with conn.lock:
        hub.subscribe(conn, topic)
        if topic.startswith("thread:"):
            _presence(presence.mark_present, current_app, topic, conn)
        catch_up = catch_up_for(topic)
        if catch_up is not None:
            catch_up(conn, user, int(topic.partition(":")[2]),
                     CatchUp(after=_client_id(after) if after is not None else None, have=have))
    return True


def _attr(value: str) -> str:
    from markupsafe import escape

    return str(escape(value))
