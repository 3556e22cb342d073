"""The built-in engine: WebRTC peer to peer, signalled over /ws (app/live/signalling.py).

There is no media server: every decision (mute, remove, role, end) reaches the peers as the
room's roster on ``room:<id>`` (published by the services), and each browser enforces it: a
muted participant's page stops its track, the others drop a removed peer's connection. So the
methods that act on media have nothing to do on a server; they exist to keep the interface
the same for every engine (the Janus engine acts on its server there)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

from flask import current_app

from app.live.engines.base import CallEngine, JoinConfig
from app.live.permissions import publishable


def turn_credentials(secret: str, user_id: int, ttl: int, now: float | None = None) -> tuple[str, str]:
    """coturn's use-auth-secret scheme: username "<expiry>:<user id>", credential
    base64(HMAC-SHA1(secret, username)); coturn refuses it after the expiry."""
    expiry = int(now if now is not None else time.time()) + ttl
    username = f"{expiry}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(user_id: int) -> list[dict]:
    config = current_app.config
    servers = []
    if config["STUN_URLS"]:
        servers.append({"urls": list(config["STUN_URLS"])})
    if config["TURN_URLS"] and config["TURN_SECRET"]:
        username, credential = turn_credentials(config["TURN_SECRET"], user_id,
                                                config["TURN_CREDENTIAL_TTL"])
        servers.append({"urls": list(config["TURN_URLS"]), "username": username,
                        "credential": credential})
    return servers


class MeshEngine(CallEngine):
    name = "mesh"

    def join_config(self, run, participant, connection_id: str | None) -> JoinConfig:
        from app.live import services

        return JoinConfig(engine=self.name, ice_servers=ice_servers(participant.user_id),
                          publish=publishable(participant.role),
                          ice_transport_policy=current_app.config["ICE_TRANSPORT_POLICY"],
                          engine_data={"connection": connection_id,
                                       "roster": services.roster_state(run)})

    def mute(self, run, participant, kinds) -> None:
        pass  # the muted page stops its own tracks on the roster it receives

    def remove(self, run, participant) -> None:
        pass  # the other peers drop the removed person's connections on the roster

    def set_role(self, run, participant) -> None:
        pass  # the page applies its new publish permissions on the roster

    def end(self, run) -> None:
        pass  # every page closes its peer connections on "room.ended"
