"""JanusEngine against a real Janus: rooms and tokens on join, moderation after commit, and the
event handler's posts turned into EngineEvents (credentials, forged ids, duplicates).

The run and participant are plain objects with the attributes the engine documents (the live
models live in another part of the app); Janus, the database transaction and the event handler
are real. Janus's events come from joins made through its HTTP API (no media needed).
"""
from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
import requests

from app.accounts.services import PermissionDenied
from app.extensions import db
from app.live.engines.janus import JanusEngine, WebhookPayloadError, turn_credentials
from app.live.janus import JanusClient, JanusError


def make_run(run_id: int, room_key: str = "room42"):
    return SimpleNamespace(id=run_id, room=SimpleNamespace(engine_room_key=room_key))


def make_participant(key: str, user_id: int, role: str = "LEARNER", **extra):
    return SimpleNamespace(engine_key=key, user_id=user_id, role=role, **extra)


class RawPublisher:
    """A Janus VideoRoom publisher joined through the HTTP API, as janus.js would join."""

    def __init__(self, url: str):
        self.url = url
        self.client = JanusClient(url)
        self.session_id = self.client.create_session()
        self.handle_id = self.client.attach(self.session_id)

    def join(self, room: str, feed: str, token: str, display: str = "someone") -> dict:
        self.client._post(f"/{self.session_id}/{self.handle_id}", {"janus": "message", "body": {
            "request": "join", "ptype": "publisher", "room": room, "id": feed,
            "display": display, "token": token}})
        event = requests.get(f"{self.url}/{self.session_id}?maxev=1", timeout=10).json()
        return event["plugindata"]["data"]

    def close(self):
        self.client.destroy_session(self.session_id)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def listed(janus, room: str) -> list[str]:
    with JanusClient(janus.url).videoroom() as handle:
        return sorted(p["id"] for p in handle.participants(room))


def test_join_config_creates_the_run_room_and_admits_only_token_holders(janus_app, janus):
    engine = JanusEngine()
    run, alice = make_run(1), make_participant("pA", 7, display_name="Alice <b>")
    config = engine.join_config(run, alice, "conn1").as_json()
    data = config["janus"]
    assert config["engine"] == "janus" and config["publish"] == ["audio", "screen", "video"]
    assert data["server"] == janus.url and data["room"] == "room42~1" and data["mids"] == {"audio": "0", "video": "1", "screen": "2"}
    assert data["feed"].startswith("pA~conn1~") and data["display"] == "Alice <b>"
    observer = engine.join_config(run, make_participant("pO", 8, role="OBSERVER"), None).as_json()
    assert observer["publish"] == [] and observer["janus"]["room"] == "room42~1"

    publisher = RawPublisher(janus.url)
    try:
        refused = publisher.join("room42~1", "pX~c~bad", "guessed-token")
        assert refused.get("error_code") == 433  # not in the ACL
        assert publisher.join(data["room"], data["feed"], data["token"])["videoroom"] == "joined"
        assert listed(janus, "room42~1") == [data["feed"]]
    finally:
        publisher.close()


def test_ice_servers_carry_stun_and_minted_turn_credentials(janus_app, janus):
    janus_app.config.update(STUN_URLS=["stun:127.0.0.1:3478"], TURN_URLS=["turn:127.0.0.1:3478"],
                            TURN_SECRET="turn-secret", TURN_CREDENTIAL_TTL=600)
    try:
        servers = JanusEngine().join_config(make_run(2), make_participant("pA", 7), "c").ice_servers
    finally:
        janus_app.config.update(STUN_URLS=[], TURN_URLS=[], TURN_SECRET=None)
    assert servers[0] == {"urls": ["stun:127.0.0.1:3478"]}
    username, credential = servers[1]["username"], servers[1]["credential"]
    assert username.endswith(":7") and turn_credentials("turn-secret", 7, 0, now=int(username.split(":")[0])) == (username, credential)


def test_remove_and_end_act_on_janus_only_after_commit(janus_app, janus):
    engine = JanusEngine()
    run, bob = make_run(3), make_participant("pB", 9)
    data = engine.join_config(run, bob, "tab1").as_json()["janus"]
    publisher = RawPublisher(janus.url)
    try:
        assert publisher.join(data["room"], data["feed"], data["token"])["videoroom"] == "joined"
        engine.remove(run, bob)
        assert listed(janus, data["room"]) == [data["feed"]]  # not yet: nothing committed
        db.session.rollback()
        assert listed(janus, data["room"]) == [data["feed"]]  # rolled back: never
        engine.remove(run, bob)
        db.session.commit()
        assert listed(janus, data["room"]) == []  # kicked
    finally:
        publisher.close()
    again = RawPublisher(janus.url)
    try:  # the token left the ACL: an old page cannot rejoin
        assert again.join(data["room"], data["feed"], data["token"]).get("error_code") == 433
    finally:
        again.close()

    engine.end(run)
    with JanusClient(janus.url).videoroom() as handle:
        assert handle.exists(data["room"])
        db.session.commit()
        assert not handle.exists(data["room"])
    engine.end(run)
    db.session.commit()  # ending twice (room gone) is harmless


def test_mute_and_set_role_on_feeds_without_media_are_harmless(janus_app, janus):
    engine = JanusEngine()
    run, carol = make_run(4), make_participant("pC", 10)
    data = engine.join_config(run, carol, "t").as_json()["janus"]
    publisher = RawPublisher(janus.url)
    try:
        publisher.join(data["room"], data["feed"], data["token"])
        # Nothing published yet: Janus has no stream to moderate ("no such stream"), not an error.
        assert engine._moderate_feeds(data["room"], "pC", {"audio": True, "video": True}) == 0
        carol.role = "OBSERVER"
        engine.set_role(run, carol)
        engine.mute(run, carol, frozenset({"audio", "screen"}))
        db.session.commit()
    finally:
        publisher.close()
    with pytest.raises(JanusError):  # a real refusal still surfaces when called directly
        JanusEngine({**janus_app.config, "SECRET_KEY": "another key"})._remove_now(data["room"], "pC")


def test_webhook_turns_janus_posts_into_events(janus_app, janus, janus_events):
    engine = JanusEngine()
    run, dan = make_run(5), make_participant("pD", 11)
    data = engine.join_config(run, dan, "tabX").as_json()["janus"]
    publisher = RawPublisher(janus.url)
    try:
        publisher.join(data["room"], data["feed"], data["token"], display="Dan")
    finally:
        publisher.close()
    joined = janus_events.wait_for("joined", data["room"])
    leaving = janus_events.wait_for("leaving", data["room"])
    body = json.dumps(joined + leaving)
    secret = janus.webhook_secret

    with janus_app.test_request_context("/", method="POST", data=body, headers=basic("janus", secret)):
        from flask import request
        events = engine.parse_webhook(request)
    assert [(e.kind, e.room_key, e.participant_key) for e in events] == [
        ("joined", "room42", "pD"), ("left", "room42", "pD")]
    assert events[0].data["connection_id"] == "tabX" and events[0].data["run_id"] == "5"
    assert events[0].data["display"] == "Dan" and events[0].at.tzinfo is not None
    assert events[0].at <= events[1].at

    # A retransmission (same JSON) gives the same event ids: the services ignore it.
    with janus_app.test_request_context("/", method="POST", data=body, headers=basic("janus", secret)):
        from flask import request
        again = engine.parse_webhook(request)
    assert [e.event_id for e in again] == [e.event_id for e in events]
    assert len({e.event_id for e in events}) == 2

    for headers in (basic("janus", "wrong"), basic("other", secret), {}, {"Authorization": f"Bearer {secret}"}):
        with janus_app.test_request_context("/", method="POST", data=body, headers=headers):
            from flask import request
            with pytest.raises(PermissionDenied):
                engine.parse_webhook(request)
    janus_app.config["JANUS_WEBHOOK_SECRET"] = None  # unset: nobody gets in, not everybody
    try:
        with janus_app.test_request_context("/", method="POST", data=body, headers=basic("janus", "")):
            from flask import request
            with pytest.raises(PermissionDenied):
                engine.parse_webhook(request)
    finally:
        janus_app.config["JANUS_WEBHOOK_SECRET"] = secret

    for garbage in (b"{not json", b"[1, 2]"):
        with janus_app.test_request_context("/", method="POST", data=garbage, headers=basic("janus", secret)):
            from flask import request
            with pytest.raises(WebhookPayloadError):
                engine.parse_webhook(request)


def test_webhook_drops_forged_feeds_and_stolen_ids(janus_app, janus, janus_events):
    engine = JanusEngine()
    run = make_run(6)
    erin = engine.join_config(run, make_participant("pE", 12), "e").as_json()["janus"]
    frank = engine.join_config(run, make_participant("pF", 13), "f").as_json()["janus"]
    forger = RawPublisher(janus.url)
    try:
        # Frank joins under a made-up id for Erin, then under Erin's real feed id, with his token.
        assert forger.join(erin["room"], "pE~e~0000", frank["token"])["videoroom"] == "joined"
    finally:
        forger.close()
    thief = RawPublisher(janus.url)
    try:
        assert thief.join(erin["room"], erin["feed"], frank["token"])["videoroom"] == "joined"
    finally:
        thief.close()
    honest = RawPublisher(janus.url)
    try:
        assert honest.join(frank["room"], frank["feed"], frank["token"])["videoroom"] == "joined"
    finally:
        honest.close()
    posted = janus_events.wait_for("joined", erin["room"], count=3)
    events = engine.events_from_payload(posted)
    assert [(e.kind, e.participant_key) for e in events] == [("joined", "pF")]
