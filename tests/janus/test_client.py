"""The VideoRoom client against a real Janus."""
from __future__ import annotations

import pytest

from app.live.janus import NO_SUCH_ROOM, UNAUTHORIZED, JanusClient, JanusError, JanusUnavailable
from app.live.janus_server import free_port


def test_room_lifecycle_with_secret_and_token_acl(janus):
    client = JanusClient(janus.url, admin_key=janus.admin_secret)
    with client.videoroom() as room:
        assert room.create("lesson~1", "room-secret", allowed=["token-a"]) is True
        assert room.create("lesson~1", "room-secret", allowed=["token-a"]) is False  # idempotent
        assert room.exists("lesson~1")
        assert room.participants("lesson~1") == []
        assert sorted(room.allow("lesson~1", "room-secret", ["token-b"])) == ["token-a", "token-b"]
        assert room.disallow("lesson~1", "room-secret", ["token-a"]) == ["token-b"]
        with pytest.raises(JanusError) as refused:
            room.destroy("lesson~1", "wrong-secret")
        assert refused.value.code == UNAUTHORIZED
        assert room.exists("lesson~1")
        assert room.destroy("lesson~1", "room-secret") is True
        assert not room.exists("lesson~1")
        assert room.destroy("lesson~1", "room-secret") is False  # already gone: harmless
        with pytest.raises(JanusError) as missing:
            room.destroy("lesson~1", "room-secret", missing_ok=False)
        assert missing.value.code == NO_SUCH_ROOM


def test_only_the_app_can_create_rooms(janus):
    # Browsers reach the same API: without the plugin's admin_key nobody creates rooms.
    for admin_key in (None, "guessed"):
        with JanusClient(janus.url, admin_key=admin_key).videoroom() as room:
            with pytest.raises(JanusError):
                room.create("intruder~1", "s")
    with JanusClient(janus.url, admin_key=janus.admin_secret).videoroom() as room:
        assert not room.exists("intruder~1")


def test_kick_and_moderate_someone_absent_are_harmless(janus):
    with JanusClient(janus.url, admin_key=janus.admin_secret).videoroom() as room:
        room.create("quiet~1", "s", allowed=[])
        assert room.kick("quiet~1", "s", "nobody~x~y") is False
        assert room.moderate("quiet~1", "s", "nobody~x~y", "0", True) is False
        with pytest.raises(JanusError):
            room.kick("quiet~1", "s", "nobody~x~y", missing_ok=False)
        room.keepalive()
        room.destroy("quiet~1", "s")


def test_unreachable_janus_is_a_clear_error():
    client = JanusClient(f"http://127.0.0.1:{free_port()}/janus", timeout=2)
    with pytest.raises(JanusUnavailable, match="unreachable"):
        with client.videoroom():
            pass
    with pytest.raises(JanusUnavailable, match="JANUS_URL is not set"):
        JanusClient(None)


def test_a_server_that_is_not_janus_is_a_clear_error(janus):
    # Janus's own info endpoint answers a POST with an error object, not a session.
    client = JanusClient(janus.url + "/info")
    with pytest.raises((JanusUnavailable, JanusError)):
        client.create_session()
