"""Call engines: how a run's media flows. ``base`` is the interface; ``mesh`` (built in, peer to
peer with signalling over /ws) and ``janus`` (the Janus SFU) implement it."""
from __future__ import annotations

import importlib

from app.live.engines.base import CallEngine

# engine name -> "module:Class", imported when first used (the Janus client is only loaded by
# deployments that use it).
ENGINES = {"mesh": "app.live.engines.mesh:MeshEngine",
           "janus": "app.live.engines.janus:JanusEngine"}
_instances: dict[str, CallEngine] = {}


def get_engine(name: str) -> CallEngine:
    if name not in _instances:
        module, _, cls = ENGINES[name].partition(":")
        _instances[name] = getattr(importlib.import_module(module), cls)()
    return _instances[name]
