"""A small client for Janus's HTTP API and its VideoRoom plugin (the requests the app makes as
the rooms' owner; browsers talk to Janus themselves through janus.js).

One ``JanusClient`` call = one short-lived Janus session: create session, attach
``janus.plugin.videoroom``, send the synchronous request(s), destroy the session. The app's calls
are rare (a room created per run, a mute, a kick) and come from web processes and jobs that may
run anywhere, so keeping a session alive between them (keepalives every < 60 s, reclaiming it
after a Janus restart) would cost more than the two extra round trips it saves. A session is
still kept alive while it is in use (``keepalive``) so a slow batch cannot lose it.

Errors: ``JanusUnavailable`` when Janus cannot be reached or answers garbage (network, HTTP
status, not JSON); ``JanusError`` when Janus or the plugin refuse a request (with Janus's code
and text), e.g. ``JanusError(426, "No such room")``. Callers decide which codes are harmless
(``ROOM_EXISTS`` on an idempotent create, ``NO_SUCH_ROOM`` on a destroy).
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from typing import Any, Iterator

import requests

VIDEOROOM = "janus.plugin.videoroom"

# VideoRoom error codes (janus_videoroom.c) the engine treats specially.
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
UNAUTHORIZED = 433


class JanusUnavailable(RuntimeError):
    """Janus could not be reached, or did not answer like Janus."""


class JanusError(RuntimeError):
    """Janus (core or plugin) refused a request."""

    def __init__(self, code: int | None, reason: str):
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


class JanusClient:
    def __init__(self, url: str, admin_key: str | None = None, timeout: float = 5.0,
                 http: requests.Session | None = None):
        if not url:
            raise JanusUnavailable("JANUS_URL is not set: the Janus engine has no server")
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self.timeout = timeout
        self.http = http or requests.Session()

    # --- core API --------------------------------------------------------------------------

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        payload = {**payload, "transaction": secrets.token_hex(8)}
        try:
            response = self.http.post(self.url + path, json=payload, timeout=self.timeout)
        except requests.RequestException as exc:
            raise JanusUnavailable(f"Janus at {self.url} is unreachable: {exc}") from exc
        if response.status_code != 200:
            raise JanusUnavailable(f"Janus at {self.url} answered HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise JanusUnavailable(f"Janus at {self.url} did not answer JSON") from exc
        if not isinstance(answer, dict):
            raise JanusUnavailable(f"Janus at {self.url} answered {type(answer).__name__}, not an object")
        if answer.get("janus") == "error":
            error = answer.get("error") or {}
            raise JanusError(error.get("code"), error.get("reason") or "unknown error")
        return answer

    def info(self) -> dict[str, Any]:
        try:
            response = self.http.get(self.url + "/info", timeout=self.timeout)
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise JanusUnavailable(f"Janus at {self.url} is unreachable: {exc}") from exc

    def create_session(self) -> int:
        return self._post("", {"janus": "create"})["data"]["id"]

    def keepalive(self, session_id: int) -> None:
        """Janus drops a session after ``session_timeout`` (60 s) without requests."""
        self._post(f"/{session_id}", {"janus": "keepalive"})

    def destroy_session(self, session_id: int) -> None:
        self._post(f"/{session_id}", {"janus": "destroy"})

    def attach(self, session_id: int, plugin: str = VIDEOROOM) -> int:
        return self._post(f"/{session_id}", {"janus": "attach", "plugin": plugin})["data"]["id"]

    def plugin_request(self, session_id: int, handle_id: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request; returns the plugin's data or raises its error."""
        answer = self._post(f"/{session_id}/{handle_id}", {"janus": "message", "body": body})
        data = (answer.get("plugindata") or {}).get("data")
        if data is None:
            raise JanusUnavailable(f"Janus answered {answer.get('janus')!r} without plugin data")
        if "error_code" in data:
            raise JanusError(data["error_code"], data.get("error") or "unknown error")
        return data

    @contextmanager
    def videoroom(self) -> Iterator["VideoRoomHandle"]:
        session_id = self.create_session()
        try:
            handle_id = self.attach(session_id)
            yield VideoRoomHandle(self, session_id, handle_id)
        finally:
            try:
                self.destroy_session(session_id)
            except (JanusUnavailable, JanusError):
                pass  # Janus drops it after its session timeout anyway.


class VideoRoomHandle:
    """The VideoRoom requests of a room's owner, on one attached handle."""

    def __init__(self, client: JanusClient, session_id: int, handle_id: int):
        self.client = client
        self.session_id = session_id
        self.handle_id = handle_id

    def _request(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.plugin_request(self.session_id, self.handle_id, body)

    def keepalive(self) -> None:
        self.client.keepalive(self.session_id)

    def create(self, room: str, secret: str, *, allowed: list[str] | None = None,
               pin: str | None = None, description: str = "", publishers: int = 50,
               exist_ok: bool = True, **settings) -> bool:
        """Create ``room`` (False if it already existed and ``exist_ok``). ``allowed``: the
        join tokens (an ACL: only holders can join); ``pin``: a shared password instead."""
        body = {"request": "create", "room": room, "secret": secret, "permanent": False,
                "is_private": True, "description": description[:100], "publishers": publishers,
                **settings}
        if self.client.admin_key:
            body["admin_key"] = self.client.admin_key
        if allowed is not None:
            body["allowed"] = list(allowed)
        if pin is not None:
            body["pin"] = pin
        try:
            self._request(body)
        except JanusError as exc:
            if exc.code == ROOM_EXISTS and exist_ok:
                return False
            raise
        return True

    def exists(self, room: str) -> bool:
        return bool(self._request({"request": "exists", "room": room}).get("exists"))

    def destroy(self, room: str, secret: str, missing_ok: bool = True) -> bool:
        try:
            self._request({"request": "destroy", "room": room, "secret": secret})
        except JanusError as exc:
            if exc.code == NO_SUCH_ROOM and missing_ok:
                return False
            raise
        return True

    def allow(self, room: str, secret: str, tokens: list[str]) -> list[str]:
        return self._request({"request": "allowed", "action": "add", "room": room,
                              "secret": secret, "allowed": list(tokens)}).get("allowed", [])

    def disallow(self, room: str, secret: str, tokens: list[str]) -> list[str]:
        return self._request({"request": "allowed", "action": "remove", "room": room,
                              "secret": secret, "allowed": list(tokens)}).get("allowed", [])

    def kick(self, room: str, secret: str, feed_id: str, missing_ok: bool = True) -> bool:
        try:
            self._request({"request": "kick", "room": room, "secret": secret, "id": feed_id})
        except JanusError as exc:
            if exc.code == NO_SUCH_FEED and missing_ok:
                return False
            raise
        return True

    def moderate(self, room: str, secret: str, feed_id: str, mid: str, mute: bool,
                 missing_ok: bool = True) -> bool:
        """Stop (or allow again) forwarding one of a publisher's streams (by m-line ``mid``)."""
        try:
            self._request({"request": "moderate", "room": room, "secret": secret,
                           "id": feed_id, "mid": mid, "mute": mute})
        except JanusError as exc:
            if exc.code == NO_SUCH_FEED and missing_ok:
                return False  # not in the room, or not publishing that stream (yet)
            raise
        return True

    def participants(self, room: str) -> list[dict[str, Any]]:
        """Everyone joined as a publisher (``publisher``: whether they send media now)."""
        return self._request({"request": "listparticipants", "room": room}).get("participants", [])
