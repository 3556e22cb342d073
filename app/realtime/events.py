"""Publishing events and the registries domains fill: who may subscribe to a topic, and how an
event is rendered for one viewer."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable

from flask import current_app

from app.after_commit import redis_after_commit
from app.extensions import db
from app.redis_conn import get_redis

CHANNEL_PREFIX = "classhub:events"


def channel_for(app) -> str:
    """Redis pub/sub ignores the database number: name it in the channel, so deployments (or
    test runs) sharing one Redis server on different databases never see each other's events."""
    db_index = get_redis(app).connection_pool.connection_kwargs.get("db", 0)
    return f"{CHANNEL_PREFIX}:{db_index}"


# A topic ending in this names one topic per user: "threads:*" with data["user_ids"] reaches the
# connections on "threads:<id>" for each of those ids (one event for a whole set of people).
EACH_USER = "*"


@dataclass(frozen=True)
class Event:
    topic: str  # "user:7", "thread:12", "room:3", or "user:*" for data["user_ids"]
    name: str  # "message.created", "notification.created", ...
    data: dict = field(default_factory=dict)  # ids and small scalars only
    # The same for every event one transaction published (a token; None: not said), so a
    # process delivering them together can read what they share once (hub.DeliveryScope).
    commit: str | None = None

    @property
    def topics(self) -> list[str]:
        """The topics this event goes to: its own, or one per user of a per-user batch."""
        prefix, _, key = self.topic.partition(":")
        if key != EACH_USER:
            return [self.topic]
        return [f"{prefix}:{user_id}" for user_id in self.data.get("user_ids") or ()]

    def to_json(self) -> str:
        payload = {"topic": self.topic, "name": self.name, "data": self.data}
        if self.commit is not None:
            payload["commit"] = self.commit
        return json.dumps(payload)

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Event":
        payload = json.loads(raw)
        commit = payload.get("commit")
        return cls(payload["topic"], payload["name"], payload.get("data") or {},
                   commit if isinstance(commit, str) else None)


# topic prefix -> authorize(user, key) -> bool. One permission function per resource, the same
# the views use (e.g. chat's can_view_thread), registered by each domain.
_topic_authorizers: dict[str, Callable] = {}
# topic prefix -> catch_ups(connection, user, key, since: CatchUp) sending what the client missed
# (several domains may share a topic: the user topic carries chat's badge and the bell)
_catch_ups: dict[str, list[Callable]] = {}


@dataclass(frozen=True)
class CatchUp:
    """What a catch-up is measured against.

    From a subscribing page (``from_client``): ``after`` (the page has everything up to this id,
    or None: nothing to measure against) and ``have`` (what it has beyond that, in the topic's
    own shape, sent by static/js/realtime.js and checked by the domain). The server computes the
    gap; the page never has to know which of its ids came from where.
    From the hub after it lost Redis (not ``from_client``): measured against what the connection
    was sent (its ``state``), plus what changed since ``changed_since`` (edits, read state).
    """

    after: int | None = None
    have: object = None
    changed_since: object = None  # datetime (aware, UTC) or None
    from_client: bool = True


# A renderer's cache holds, under this key, a dict shared by the events of one commit delivered
# together (Event.commit): what one of them read that another needs too (a new message's thread
# for its members' lists). Only what reads the same for both goes in; each event's own work
# stays in its cache.
COMMIT_SHARED = "commit_shared"

# event name -> Renderer
_renderers: dict[str, "Renderer"] = {}


@dataclass(frozen=True)
class Renderer:
    """Turns an event into HTML for one viewer. ``view_key(event, viewer, cache)`` says which
    viewers see the same HTML (e.g. same zone, not the author, same unread count), so a process
    renders once per key, not once per socket. ``prepare(event, viewers, cache)`` runs once per
    event before any of that with every viewer this process delivers to: the place for grouped
    queries (everyone's unread counts in one statement), so an event's statements do not grow
    with its recipients. Viewers are ``hub.Viewer`` snapshots, not ORM rows."""

    render: Callable  # (event, viewer, cache: dict) -> str | None (None: nothing to send)
    view_key: Callable = lambda event, viewer, cache: viewer.id
    prepare: Callable | None = None
    # (event, connection) -> hashable: what differs between two sockets of one viewer (e.g.
    # whether the page shows the thread list). When set, render is called with it as a fourth
    # argument, and it is part of the key outputs are shared by.
    variant: Callable | None = None
    # (event, connection_state) -> bool, called under the connection's lock: a domain drops
    # what this connection already has (e.g. a message sent during catch-up) and records what
    # it is about to get.
    accept: Callable | None = None
    # (event, connection) -> bool: the only connections the event is for (e.g. the one a call
    # signal is addressed to), chosen before anything else, so the others cost it nothing.
    only_for: Callable | None = None
    # Deliver with the accounts and access the hub confirmed for earlier events, kept current
    # by the events that change them (see register_cache_invalidator), instead of reading them
    # again: for events sent many times a second (call signalling). Others read them fresh.
    trusts_confirmed_access: bool = False
    # (earlier, later) -> Event | None: two events of this name and topic waiting in the hub
    # together as one (or None: keep both). Only for events whose render reads the state as it
    # stands, so the one render after both commits shows everything both would have (latest
    # wins, nothing lost): a burst of changes to one thing costs one render, not one each.
    coalesce: Callable | None = None


# topic prefix -> still_allowed(users, key) -> set of user ids: access checked again on every
# delivery (one query for all listeners), so someone removed keeps no open feed.
_delivery_authorizers: dict[str, Callable] = {}


def register_topic(prefix: str, authorize: Callable, catch_up: Callable | None = None,
                   still_allowed: Callable | None = None) -> None:
    _topic_authorizers[prefix] = authorize
    if catch_up is not None:
        register_catch_up(prefix, catch_up)
    if still_allowed is not None:
        _delivery_authorizers[prefix] = still_allowed


# forget(event): what a process keeps about access (who may follow a topic) is dropped by the
# events that change it. The hub calls every one with each event it takes from Redis, before
# delivering it (whether or not anyone here listens to its topic), and with None when events may
# have been lost (Redis outage): then everything must go.
_cache_invalidators: list[Callable] = []


def register_cache_invalidator(forget: Callable) -> None:
    if forget not in _cache_invalidators:
        _cache_invalidators.append(forget)


def invalidate_caches(event: Event | None) -> None:
    for forget in _cache_invalidators:
        forget(event)


def register_catch_up(prefix: str, catch_up: Callable) -> None:
    """Add what a (re)subscribing connection is sent for topics with this prefix."""
    if catch_up not in _catch_ups.setdefault(prefix, []):
        _catch_ups[prefix].append(catch_up)


# An event's data may name who may see it as of the commit that published it: AUDIENCE, the
# user ids (e.g. a thread's members when its message was posted), and AUDIENCE_CENTER, their
# center. The hub then asks the topic's delivery check only about the others.
AUDIENCE = "audience"
AUDIENCE_CENTER = "audience_center"


def allowed_viewers(topic: str, users, event: Event | None = None) -> set[int] | None:
    """Which of ``users`` may still receive ``topic`` now (None: no check for this topic).
    Those in ``event``'s audience (and its center) are allowed without asking: they could see
    what it announces when it was committed, which is what they are sent (a member removed a
    moment later still gets the message posted while they were one). Anyone else, such as
    someone added since, is checked by the topic's own delivery check: a message on the way to
    every open page of a thread costs no statement for who may see it."""
    prefix, _, key = topic.partition(":")
    check = _delivery_authorizers.get(prefix)
    if check is None:
        return None
    if topic_key(topic) is None:
        return set()
    users = list(users)
    allowed: set[int] = set()
    data = event.data if event is not None else {}
    if data.get(AUDIENCE) is not None and data.get(AUDIENCE_CENTER) is not None:
        audience, center_id = set(data[AUDIENCE]), data[AUDIENCE_CENTER]
        allowed = {u.id for u in users if u.id in audience and u.center_id == center_id}
        users = [u for u in users if u.id not in allowed]
    if users:
        allowed.update(check(users, int(key)))
    return allowed


def catch_up_for(topic: str) -> Callable | None:
    catch_ups = _catch_ups.get(topic.partition(":")[0])
    if not catch_ups:
        return None

    def run_all(conn, user, key, since):
        for catch_up in catch_ups:
            catch_up(conn, user, key, since)

    return run_all


# message type -> handle(connection, message, raw_size): what a domain does with a JSON message
# a page sends on its socket beyond subscribing (e.g. live's call signalling).
_client_messages: dict[str, Callable] = {}


def register_client_message(kind: str, handle: Callable) -> None:
    _client_messages[kind] = handle


def client_message_handler(kind) -> Callable | None:
    return _client_messages.get(kind) if isinstance(kind, str) else None


# handle(connection): what a domain does when a socket closes (e.g. live ends the connection's
# segment in a call). Called once per socket, before the hub forgets its topics.
_disconnect_handlers: list[Callable] = []


def register_disconnect_handler(handle: Callable) -> None:
    if handle not in _disconnect_handlers:
        _disconnect_handlers.append(handle)


def disconnect_handlers() -> list[Callable]:
    return list(_disconnect_handlers)


def coalesced(events: list[Event]) -> tuple[list[Event], list[Event]]:
    """Events taken from Redis together, with those whose renderer coalesces merged into the
    place of the latest of their name and topic (never earlier: its render must follow every
    commit it stands for), and the events merged away."""
    out: list[Event | None] = []
    merged_away: list[Event] = []
    latest: dict[tuple[str, str], int] = {}  # (topic, name) -> its place in out
    for event in events:
        renderer = _renderers.get(event.name)
        if renderer is None or renderer.coalesce is None:
            out.append(event)
            continue
        key = (event.topic, event.name)
        place = latest.get(key)
        if place is not None:
            merged = renderer.coalesce(out[place], event)
            if merged is not None:
                merged_away.append(out[place])
                out[place], event = None, merged
        latest[key] = len(out)
        out.append(event)
    return [event for event in out if event is not None], merged_away


def register_renderer(event_name: str, renderer: Renderer) -> None:
    _renderers[event_name] = renderer


def renderer_for(event_name: str) -> Renderer | None:
    return _renderers.get(event_name)


def can_subscribe(user, topic: str) -> bool:
    """The hub's check for every subscription: tenancy and membership via the domain's rule."""
    prefix, _, key = topic.partition(":")
    if prefix == "user":
        return key == str(user.id)
    authorize = _topic_authorizers.get(prefix)
    if authorize is None or topic_key(topic) is None:
        return False
    return bool(authorize(user, int(key)))


def topic_key(topic: str) -> int | None:
    """The id in "thread:12", or None when it cannot be one (a client sent it: "²", 10**40 and
    the like must be refused, not reach the database)."""
    from app.accounts.tenancy import MAX_ID

    key = topic.partition(":")[2]
    if not (key.isascii() and key.isdigit()) or len(key) > 12:
        return None
    return int(key) if 0 < int(key) <= MAX_ID else None


def publish_now(event: Event, app=None) -> None:
    app = app or current_app
    get_redis(app).publish(channel_for(app), event.to_json())


def publish(topic: str, name: str, **data) -> None:
    """Publish once the current transaction commits (never before: a client must not be told
    about a row it cannot read yet, nor about one that was rolled back)."""
    _publish_after_commit(Event(topic, name, data))


def publish_to_users(prefix: str, user_ids, name: str, **data) -> None:
    """One event for a set of people: each process delivers it to its connections on
    "<prefix>:<id>" for those ids, computing what each sees in grouped queries (hub.dispatch),
    instead of one event (and one round of queries) per person."""
    user_ids = sorted({int(u) for u in user_ids})
    if user_ids:
        _publish_after_commit(Event(f"{prefix}:{EACH_USER}", name, {**data, "user_ids": user_ids}))


_COMMIT_TAG = "realtime_commit_tag"


def _commit_tag(session) -> str:
    """A token for the transaction ``session`` is in, the same for each event it publishes.
    Random (not a counter): forked workers and two processes never hand out the same one, and
    two commits sharing one would have the hub serve the later one what the earlier read."""
    transaction = session.get_transaction()
    if transaction is None:
        return uuid.uuid4().hex  # none begun yet: nothing to tell another event's apart from
    held = session.info.get(_COMMIT_TAG)
    if held is None or held[0] is not transaction:
        held = session.info[_COMMIT_TAG] = (transaction, uuid.uuid4().hex)
    return held[1]


def _publish_after_commit(event: Event) -> None:
    app = current_app._get_current_object()
    event = replace(event, commit=_commit_tag(db.session()))
    # In the commit's one Redis pipeline, with its other events and jobs (app/after_commit.py).
    redis_after_commit(db.session(), app,
                       lambda pipeline: pipeline.publish(channel_for(app), event.to_json()))
