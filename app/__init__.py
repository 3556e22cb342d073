"""Classhub: a self-hosted communication and sessions hub for teachers, tutors and students."""
from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.config import load_config
from app.extensions import csrf, db, htmx, limiter, login_manager, migrate, sock
from app.redis_conn import init_redis_health, limiter_storage_uri, start_embedded_redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25,
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
    from app.accounts import auth

    auth.init_login_manager(login_manager)

    from app.accounts.admin_views import bp as admin_bp
    from app.accounts.views import bp as accounts_bp
    from app.scheduling.views import bp as scheduling_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(scheduling_bp)
    from app.scheduling.group_views import bp as groups_bp

    app.register_blueprint(groups_bp)

    from app.chat import realtime as chat_realtime
    from app.accounts import receivers as account_receivers  # noqa: F401
    from app.chat import receivers as chat_receivers  # noqa: F401  (connects signal receivers)
    from app.chat.views import bp as chat_bp
    from app.realtime.views import bp as realtime_bp

    from app.notifications import realtime as notifications_realtime
    from app.notifications import receivers as notification_receivers  # noqa: F401
    from app.notifications.views import bp as notifications_bp

    from app.invites import receivers as invite_receivers  # noqa: F401
    from app.invites.views import bp as invites_bp

    app.register_blueprint(invites_bp)
    from app.accounts.password_views import bp as passwords_bp
    from app.invites.invitation_views import bp as invitations_bp

    app.register_blueprint(invitations_bp)
    app.register_blueprint(passwords_bp)
    chat_realtime.register()
    notifications_realtime.register()
    app.register_blueprint(notifications_bp)
    app.register_blueprint(chat_bp)
    app.register_blueprint(realtime_bp)

    from app.scheduling.feed_views import bp as feed_bp

    app.register_blueprint(feed_bp)

    from app.errors import init_error_handlers
    from app.security import init_security_headers
    from app.templating import init_templating

    init_security_headers(app)
    init_error_handlers(app)
    init_templating(app)

    from app.cli import register_cli

    register_cli(app)
    return app
