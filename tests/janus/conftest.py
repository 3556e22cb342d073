"""A real Janus (Debian's package) started per test session on loopback, with its event handler
posting to a receiver the tests run (``janus_events``), which checks the handler's secret.

Run inside a loopback-only network namespace (FIELD-NOTES, "WebRTC"):
    unshare -n sh -c 'ip link set lo up; DATABASE_URL=... .venv/bin/python -m pytest tests/janus'
A missing Janus is a failure, never a skip: CI installs it (.ci/run).

Janus never gathers ICE candidates on a loopback interface (ice.c skips IFF_LOOPBACK), so in
that namespace the suite adds a veth pair with 10.99.0.1 (local to the namespace, gone with it)
and has Janus use only that address; Chromium finds it as a host candidate too.
"""
from __future__ import annotations

import base64
import hmac
import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.live.janus_server import JANUS_BINARY, JanusServer, free_port


class EventReceiver:
    """Collects what Janus's sample event handler posts; refuses (401) a wrong password."""

    def __init__(self):
        self.events: list[dict] = []
        self.refused = 0
        self.password = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                expected = "Basic " + base64.b64encode(f"janus:{receiver.password}".encode()).decode()
                if not hmac.compare_digest(self.headers.get("Authorization", ""), expected):
                    receiver.refused += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                payload = json.loads(body)
                with receiver.lock:
                    receiver.events.extend(payload if isinstance(payload, list) else [payload])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/janus-events"

    def videoroom(self, event: str, room: str) -> list[dict]:
        with self.lock:
            return [e for e in self.events if e.get("type") == 64
                    and e["event"].get("data", {}).get("event") == event
                    and e["event"]["data"].get("room") == room]

    def wait_for(self, event: str, room: str, count: int = 1, timeout: float = 15) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.videoroom(event, room)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"Janus posted {len(self.videoroom(event, room))} {event!r} for {room}")

    def close(self):
        self.server.shutdown()


@pytest.fixture(scope="session")
def janus_events():
    receiver = EventReceiver()
    yield receiver
    receiver.close()


ICE_ADDRESS = "10.99.0.1"


@pytest.fixture(scope="session")
def janus_ice_address():
    """The address Janus offers for media; None: let it choose (not in a namespace)."""
    # if_nameindex asks the kernel about this namespace (/sys/class/net shows the host's).
    interfaces = {name for _, name in socket.if_nameindex()}
    if "jns0" in interfaces:
        return ICE_ADDRESS
    if interfaces != {"lo"}:
        return None  # the machine's own network: never add interfaces there
    for command in (["ip", "link", "add", "jns0", "type", "veth", "peer", "name", "jns1"],
                    ["ip", "addr", "add", f"{ICE_ADDRESS}/24", "dev", "jns0"],
                    ["ip", "link", "set", "jns0", "up"], ["ip", "link", "set", "jns1", "up"]):
        subprocess.run(command, check=True)
    return ICE_ADDRESS


@pytest.fixture(scope="session")
def janus(janus_events, test_dirs, janus_ice_address):
    assert Path(JANUS_BINARY).exists(), (
        f"Janus not found at {JANUS_BINARY}: install the Debian package 'janus' (.ci/run does)")
    server = JanusServer(webhook_url=janus_events.url, workdir=test_dirs / "janus",
                         ice_enforce_list=janus_ice_address)
    janus_events.password = server.webhook_secret
    server.start()
    yield server
    server.stop()


@pytest.fixture
def janus_app(app, janus):
    """The app pointed at the test Janus (restored after the test)."""
    saved = {key: app.config.get(key) for key in janus.environment()}
    app.config.update(janus.environment())
    yield app
    app.config.update(saved)
