"""Classhub: a self-hosted communication and sessions hub for teachers, tutors and students."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from app import (accounts, attendance, chat, control_center, invites, live, mail, my_day,
                 notifications, realtime, scheduling)
from app.config import load_config
from app.extensions import csrf, db, htmx, limiter, login_manager, migrate, sock
from app.redis_conn import init_redis_health, limiter_storage_uri, start_embedded_redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Every domain package, each with an ``init_app(app)``. Order matters only where two domains
# receive the same event: chat's receivers run before notifications', notifications' before
# invites' (the order they are connected in). Mail, which receives no event, comes before
# invites so the worker's cron runs the outbox sweep before the invitation-expiry sweep, as before.
DOMAINS = (accounts, scheduling, chat, notifications, mail, invites, live, attendance,
           control_center, my_day, realtime)


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` overrides settings read from the environment (tests use it)."""
    config = dict(config or {})
    instance_path = Path(config.pop("INSTANCE_PATH", PROJECT_ROOT / "instance"))
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(load_config(instance_path))
    app.config.update(config)
    if not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = start_embedded_redis(instance_path / "redis")
    app.config.setdefault("RATELIMIT_STORAGE_URI", limiter_storage_uri(app.config["REDIS_URL"]))
    # No ping_interval: the hub pings every socket on one timer (realtime.hub, keep_alive).
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": None,
                                                  "max_message_size": 64 * 1024})

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    init_redis_health(app)
    sock.init_app(app)

    from app import models  # noqa: F401  (registers every domain's models with SQLAlchemy)

    for domain in DOMAINS:  # each registers its pages, receivers, realtime topics and cron jobs
        domain.init_app(app)

    from app.errors import init_error_handlers
    from app.security import init_security_headers
    from app.templating import init_templating

    init_security_headers(app)
    init_error_handlers(app)
    init_templating(app)

    from app.cli import register_cli

    register_cli(app)

    from app import transactions

    transactions.init_app(app)  # last: the request's one commit runs before other after_request
    return app
