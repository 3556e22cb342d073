"""The interface every call engine implements (../shared/DESIGN.md, "Live").

The live services own the rules (who may join, roles, moderation, the roster, segments); an
engine only turns their decisions into media: what a joining browser needs to connect, and
what the media server must do when someone is muted, removed, given another role, or the run
ends. Engines never commit: they are called inside the service's transaction, and anything
they must do on an external server after the decision is durable goes through after-commit
work (``app.after_commit``) or a job.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class JoinConfig:
    """What the room page's script needs to connect one participant, as JSON-able data.

    ``engine``: "mesh" or "janus" (selects the browser-side adapter).
    ``ice_servers``: RTCIceServer dicts (STUN, and TURN with credentials minted for this join).
    ``publish``: which media this participant may send ({"audio", "video", "screen"} subset).
    ``ice_transport_policy``: "all" or "relay" (media only through TURN).
    ``engine_data``: engine specific (mesh: the peers to connect to and whether to connect as a
    star; janus: server URL, room number, join token/pin, the participant's Janus display id).
    """

    engine: str
    ice_servers: list[dict[str, Any]]
    publish: frozenset[str]
    engine_data: dict[str, Any] = field(default_factory=dict)
    # RTCConfiguration.iceTransportPolicy: "all", or "relay" (TURN only; ICE_TRANSPORT_POLICY).
    ice_transport_policy: str = "all"

    def as_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "iceServers": self.ice_servers,
                "iceTransportPolicy": self.ice_transport_policy,
                "publish": sorted(self.publish), **self.engine_data}


@dataclass(frozen=True)
class EngineEvent:
    """A fact reported by a media server (only engines with a server produce them).

    ``kind``: "joined" | "left" | "published" | "unpublished" | "room_destroyed".
    ``event_id``: the server's own id for the event when it has one (duplicates are ignored by
    it); else a digest of the payload. ``at``: when the server says it happened (UTC).
    ``room_key``: the engine's room identifier (``Room.engine_room_key``); ``participant_key``:
    the engine's id for the participant as handed out in ``JoinConfig.engine_data``.
    """

    kind: str
    event_id: str
    at: datetime
    room_key: str
    participant_key: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


class CallEngine(abc.ABC):
    """One implementation per engine name; chosen per room by ``app.live`` (config + size)."""

    name: str

    @abc.abstractmethod
    def join_config(self, run, participant, connection_id: str | None) -> JoinConfig:
        """What ``participant`` (a RunParticipant of ``run``, already allowed to join by the
        services) needs to connect from the page whose websocket is ``connection_id``."""

    @abc.abstractmethod
    def mute(self, run, participant, kinds: frozenset[str]) -> None:
        """Stop ``participant`` sending the given kinds ({"audio", "video", "screen"})."""

    @abc.abstractmethod
    def remove(self, run, participant) -> None:
        """Disconnect ``participant``'s media; the services refuse any later join."""

    @abc.abstractmethod
    def set_role(self, run, participant) -> None:
        """Apply ``participant.role``'s publish permissions to the media already flowing."""

    @abc.abstractmethod
    def end(self, run) -> None:
        """Tear the run's media down for everyone (and free any server-side room)."""

    def parse_webhook(self, request) -> list[EngineEvent]:
        """The events in a media server's callback; raise ``PermissionDenied`` when its
        credentials are wrong. Engines without a server have no callbacks: nothing may post
        them any, so every callback is refused as unauthenticated."""
        from app.accounts.services import PermissionDenied

        raise PermissionDenied(f"the {self.name} engine takes no callbacks")
