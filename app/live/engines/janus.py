"""The Janus engine: media through a Janus SFU's VideoRoom (for classes larger than a mesh).

How a run maps onto Janus
- One VideoRoom per run, id ``"<room.engine_room_key>~<run.id>"`` (the plugin runs with
  ``string_ids``): a new run never inherits the previous run's join tokens, even if destroying
  the old room failed while Janus was down.
- The room is created by the first ``join_config`` with a ``secret`` only the app knows
  (derived from SECRET_KEY; needed to destroy, kick, moderate, change the ACL) and an ACL
  (``allowed``): each participant gets a join token of their own, added when the services let
  them join and removed when they are removed, so a removed person cannot rejoin even with an
  old page. Creating rooms also needs the plugin's ``admin_key`` (JANUS_ADMIN_SECRET): browsers
  reach this API too.
- A participant's Janus feed id is ``"<participant.engine_key>~<connection>~<signature>"``: one
  feed per page (two tabs are two feeds), the signature (HMAC of room, key and connection) lets
  ``parse_webhook`` drop events for ids nobody was handed out. Janus does not bind a join
  token to an id, so a participant with a valid token could reuse a feed id seen in the room
  after its owner left: Janus's events are media facts, the services' own roster stays the
  authority on who is who. Janus does report the token in "joined": a join whose token is not
  the feed owner's is dropped, and Janus keeps a feed id unique while it is in the room.
- Moderation by m-line: ``static/js/room-janus.js`` always publishes audio as mid "0", video as
  mid "1" and a screen share as mid "2" of the same feed (``MIDS``; Janus 1.x publishes several
  video streams per PeerConnection); mute moderates those mids of every feed of the participant.

What the engine reads from the live models (duck-typed, so it fits them without importing them)
- ``run.id``; ``run.room.engine_room_key`` (str, no "~").
- ``participant.engine_key`` (str, no "~"; stable per run participant, not secret);
  ``participant.user_id``; ``participant.role`` (an enum or a str: INSTRUCTOR, LEARNER,
  OBSERVER); optional ``participant.display_name`` (shown to the others by Janus; default the
  engine key); optional ``participant.publish_kinds`` (a set overriding the role table below,
  e.g. the services' permission table minus muted kinds).

Server-side work (create, allow) in ``join_config`` runs at once because the browser needs the
room before it can join; it is idempotent and harmless if the caller's transaction rolls back
(an unused token nobody saw). ``mute``, ``remove``, ``set_role`` and ``end`` act on Janus only
after the caller's transaction commits (``app.after_commit``); a Janus outage then is logged,
not raised (the decision is durable; the browser side also enforces it).

Settings: JANUS_URL (the app's way to Janus), JANUS_PUBLIC_URL (the browsers' way; default
JANUS_URL), JANUS_ADMIN_SECRET (VideoRoom admin_key), JANUS_WEBHOOK_SECRET (the event handler's
HTTP basic password, user "janus"), STUN_URLS / TURN_URLS / TURN_SECRET / TURN_CREDENTIAL_TTL.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import datetime, timezone
from typing import Any, Mapping

from app.accounts.services import PermissionDenied
from app.live.engines.base import CallEngine, EngineEvent, JoinConfig
from app.live.janus import JanusClient, JanusError, JanusUnavailable

log = logging.getLogger(__name__)

MIDS = {"audio": "0", "video": "1", "screen": "2"}
PUBLISH_BY_ROLE = {
    "INSTRUCTOR": frozenset({"audio", "video", "screen"}),
    "LEARNER": frozenset({"audio", "video", "screen"}),
    "OBSERVER": frozenset(),
}
WEBHOOK_USER = "janus"
# VideoRoom plugin events -> EngineEvent kinds. "kicked" is how Janus reports a participant the
# app removed (it does not send "leaving" for them).
PLUGIN_EVENT_KINDS = {"joined": "joined", "published": "published", "unpublished": "unpublished",
                      "leaving": "left", "kicked": "left", "destroyed": "room_destroyed"}
JANUS_EVENT_PLUGIN = 64  # janus_events.h: JANUS_EVENT_TYPE_PLUGIN


class WebhookPayloadError(ValueError):
    """The event handler's body is not what Janus sends (answer 400, nothing is lost)."""


def turn_credentials(secret: str, user_id, ttl: int, now: float | None = None) -> tuple[str, str]:
    """coturn's use-auth-secret scheme: username "<expiry>:<user>", password
    base64(HMAC-SHA1(secret, username))."""
    username = f"{int((now or time.time()) + ttl)}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(config: Mapping[str, Any], user_id) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if config.get("STUN_URLS"):
        servers.append({"urls": list(config["STUN_URLS"])})
    if config.get("TURN_URLS") and config.get("TURN_SECRET"):
        username, credential = turn_credentials(config["TURN_SECRET"], user_id,
                                                int(config.get("TURN_CREDENTIAL_TTL") or 3600))
        servers.append({"urls": list(config["TURN_URLS"]), "username": username,
                        "credential": credential})
    return servers


def _role_name(role) -> str:
    return str(getattr(role, "name", role)).upper()


def publish_kinds(participant) -> frozenset[str]:
    explicit = getattr(participant, "publish_kinds", None)
    if explicit is not None:
        return frozenset(explicit)
    return PUBLISH_BY_ROLE.get(_role_name(participant.role), frozenset())


class JanusEngine(CallEngine):
    name = "janus"

    def __init__(self, config: Mapping[str, Any] | None = None):
        # None: read the current app's config at each call (engines are built once per process).
        self._config = config

    # --- settings and derived secrets --------------------------------------------------------

    @property
    def config(self) -> Mapping[str, Any]:
        if self._config is not None:
            return self._config
        from flask import current_app
        return current_app.config

    def client(self) -> JanusClient:
        return JanusClient(self.config.get("JANUS_URL"), admin_key=self.config.get("JANUS_ADMIN_SECRET"))

    def _sign(self, purpose: str, *parts: str) -> str:
        key = self.config["SECRET_KEY"]
        key = key.encode() if isinstance(key, str) else key
        message = "\x1f".join((purpose, *parts)).encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def janus_room(self, run) -> str:
        key = str(run.room.engine_room_key)
        if not key or "~" in key:
            raise ValueError(f"unusable engine_room_key {key!r} for Janus")
        return f"{key}~{run.id}"

    def room_secret(self, janus_room: str) -> str:
        return self._sign("janus-room-secret", janus_room)

    def join_token(self, janus_room: str, participant_key: str) -> str:
        return self._sign("janus-join-token", janus_room, participant_key)

    def feed_id(self, janus_room: str, participant_key: str, connection: str) -> str:
        connection = connection.replace("~", "-")
        signature = self._sign("janus-feed", janus_room, participant_key, connection)[:20]
        return f"{participant_key}~{connection}~{signature}"

    def parse_feed_id(self, janus_room: str, feed_id) -> tuple[str, str] | None:
        """(participant key, connection) of a feed id this app handed out, else None."""
        if not isinstance(feed_id, str) or feed_id.count("~") < 2:
            return None
        participant_key, connection, signature = feed_id.rsplit("~", 2)
        expected = self.feed_id(janus_room, participant_key, connection).rsplit("~", 1)[1]
        if not hmac.compare_digest(signature, expected):
            return None
        return participant_key, connection

    @staticmethod
    def participant_key(participant) -> str:
        key = str(participant.engine_key)
        if not key or "~" in key:
            raise ValueError(f"unusable engine_key {key!r} for Janus")
        return key

    # --- CallEngine ----------------------------------------------------------------------------

    def join_config(self, run, participant, connection_id: str | None) -> JoinConfig:
        janus_room = self.janus_room(run)
        key = self.participant_key(participant)
        token = self.join_token(janus_room, key)
        secret = self.room_secret(janus_room)
        with self.client().videoroom() as videoroom:
            # require_pvtid: only someone joined with a token (who got a private id) may
            # subscribe to the feeds; a receive-only page joins as a silent publisher for it.
            if not videoroom.create(janus_room, secret, allowed=[token], require_pvtid=True,
                                    description=f"Classhub run {run.id}"):
                videoroom.allow(janus_room, secret, [token])
        publish = publish_kinds(participant)
        display = getattr(participant, "display_name", None) or key
        return JoinConfig(
            engine=self.name,
            ice_servers=ice_servers(self.config, participant.user_id),
            ice_transport_policy=self.config.get("ICE_TRANSPORT_POLICY") or "all",
            publish=publish,
            engine_data={"janus": {
                "server": self.config.get("JANUS_PUBLIC_URL") or self.config.get("JANUS_URL"),
                "room": janus_room,
                "token": token,
                "feed": self.feed_id(janus_room, key, connection_id or secrets.token_hex(6)),
                "display": str(display)[:100],
                "mids": MIDS,
            }},
        )

    def mute(self, run, participant, kinds: frozenset[str]) -> None:
        mids = {kind: True for kind in kinds if kind in MIDS}
        if mids:
            self._after_commit(self._moderate_feeds, self.janus_room(run),
                               self.participant_key(participant), mids)

    def set_role(self, run, participant) -> None:
        allowed = publish_kinds(participant)
        self._after_commit(self._moderate_feeds, self.janus_room(run),
                           self.participant_key(participant),
                           {kind: kind not in allowed for kind in MIDS})

    def remove(self, run, participant) -> None:
        self._after_commit(self._remove_now, self.janus_room(run), self.participant_key(participant))

    def end(self, run) -> None:
        self._after_commit(self._end_now, self.janus_room(run))

    # --- work on Janus (after commit, or directly from a job) ------------------------------

    def _after_commit(self, work, *args) -> None:
        from app.after_commit import run_after_commit
        from app.extensions import db

        config = dict(self.config)  # the callback may run outside the request's app context
        engine = JanusEngine(config)

        def run_work():
            try:
                getattr(engine, work.__name__)(*args)
            except (JanusUnavailable, JanusError) as exc:
                log.warning("Janus %s%r not applied: %s", work.__name__, args, exc)

        run_after_commit(db.session(), run_work)

    def _feeds_of(self, videoroom, janus_room: str, participant_key: str) -> list[str]:
        feeds = []
        for entry in videoroom.participants(janus_room):
            parsed = self.parse_feed_id(janus_room, entry.get("id"))
            if parsed and parsed[0] == participant_key:
                feeds.append(entry["id"])
        return feeds

    def _moderate_feeds(self, janus_room: str, participant_key: str, mute_by_kind: dict[str, bool]) -> int:
        """Mute (True) or release (False) each kind on every feed of the participant; returns
        how many streams Janus changed."""
        secret = self.room_secret(janus_room)
        changed = 0
        with self.client().videoroom() as videoroom:
            try:
                feeds = self._feeds_of(videoroom, janus_room, participant_key)
            except JanusError as exc:
                if exc.code == 426:  # no such room: nobody is connected, nothing to stop
                    return 0
                raise
            for feed in feeds:
                for kind, mute in mute_by_kind.items():
                    changed += videoroom.moderate(janus_room, secret, feed, MIDS[kind], mute)
        return changed

    def _remove_now(self, janus_room: str, participant_key: str) -> int:
        secret = self.room_secret(janus_room)
        with self.client().videoroom() as videoroom:
            try:
                videoroom.disallow(janus_room, secret, [self.join_token(janus_room, participant_key)])
                feeds = self._feeds_of(videoroom, janus_room, participant_key)
            except JanusError as exc:
                if exc.code == 426:
                    return 0
                raise
            return sum(videoroom.kick(janus_room, secret, feed) for feed in feeds)

    def _end_now(self, janus_room: str) -> bool:
        with self.client().videoroom() as videoroom:
            return videoroom.destroy(janus_room, self.room_secret(janus_room))

    # --- webhook -------------------------------------------------------------------------------

    def check_webhook_credentials(self, authorization) -> None:
        """``authorization``: werkzeug's parsed Authorization header (or None)."""
        expected = self.config.get("JANUS_WEBHOOK_SECRET")
        given_user = getattr(authorization, "username", None) or ""
        given_password = getattr(authorization, "password", None) or ""
        if getattr(authorization, "type", "basic") != "basic":
            given_user = given_password = ""
        # Both comparisons always run (constant time, no early exit on the user name).
        user_ok = hmac.compare_digest(given_user.encode(), WEBHOOK_USER.encode())
        password_ok = hmac.compare_digest(given_password.encode(), (expected or "\x00").encode())
        if not expected or not (user_ok and password_ok):
            raise PermissionDenied("bad Janus event handler credentials")

    def parse_webhook(self, request) -> list[EngineEvent]:
        self.check_webhook_credentials(request.authorization)
        try:
            payload = json.loads(request.get_data(cache=True) or b"null")
        except ValueError as exc:
            raise WebhookPayloadError("the Janus event body is not JSON") from exc
        return self.events_from_payload(payload)

    def events_from_payload(self, payload) -> list[EngineEvent]:
        items = payload if isinstance(payload, list) else [payload]
        if not all(isinstance(item, dict) for item in items):
            raise WebhookPayloadError("Janus events are JSON objects (or a list of them)")
        events = []
        for item in items:
            event = self._event_from_item(item)
            if event is not None:
                events.append(event)
        return events

    def _event_from_item(self, item: dict) -> EngineEvent | None:
        # Only VideoRoom events name a room; core session events (created, destroyed, timeout)
        # do not, and a session's end also detaches its handles, which the plugin reports as
        # "leaving" for a publisher: those are the ones that matter.
        if item.get("type") != JANUS_EVENT_PLUGIN:
            return None
        body = item.get("event")
        if not isinstance(body, dict) or body.get("plugin") != "janus.plugin.videoroom":
            return None
        data = body.get("data")
        if not isinstance(data, dict):
            return None
        kind = PLUGIN_EVENT_KINDS.get(data.get("event"))
        janus_room = data.get("room")
        if kind is None or not isinstance(janus_room, str) or janus_room.count("~") != 1:
            return None
        room_key, run_id = janus_room.split("~")
        extra: dict[str, Any] = {"run_id": run_id, "janus_event": data["event"]}
        participant_key = None
        if kind != "room_destroyed":
            parsed = self.parse_feed_id(janus_room, data.get("id"))
            if parsed is None:
                # A subscriber's events carry no feed of its own; a forged or foreign id is not
                # someone the app let in.
                return None
            participant_key, extra["connection_id"] = parsed
            # Janus reports the ACL token a feed joined with: a feed id copied from the room
            # but joined with someone else's token is not its owner.
            if data["event"] == "joined" and not hmac.compare_digest(
                    str(data.get("token") or ""), self.join_token(janus_room, participant_key)):
                return None
            extra["feed_id"] = data["id"]
        if kind == "published":
            extra["streams"] = [{"type": s.get("type"), "mid": s.get("mid")}
                                for s in data.get("streams") or [] if isinstance(s, dict)]
        if isinstance(data.get("display"), str):
            extra["display"] = data["display"]
        timestamp = item.get("timestamp")
        at = (datetime.fromtimestamp(timestamp / 1_000_000, timezone.utc)
              if isinstance(timestamp, (int, float)) else datetime.now(timezone.utc))
        # Janus gives events no id; a retransmission repeats the same JSON, so a digest of the
        # canonical form identifies it.
        event_id = hashlib.sha256(json.dumps(item, sort_keys=True, separators=(",", ":"))
                                  .encode()).hexdigest()
        return EngineEvent(kind=kind, event_id=f"janus:{event_id}", at=at, room_key=room_key,
                           participant_key=participant_key, data=extra)
