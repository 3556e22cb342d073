"""Start and stop a real Janus (Debian's ``janus`` 1.1.x) for tests, ``make run`` and the bench.

``JanusServer`` writes a minimal configuration folder (only what the Janus engine uses: the
plain HTTP transport on 127.0.0.1, the VideoRoom plugin with string ids and an ``admin_key`` so
only the app can create rooms, and the sample event handler posting to the app's webhook with
HTTP basic auth), runs ``janus -F <folder>`` in the foreground as a child process, waits until
its API answers ``info``, and stops it with SIGTERM (SIGKILL if it hangs).

Everything else Janus ships (other plugins, transports, loggers, event handlers) is disabled:
each one loaded is more start-up time, more attack surface, and, for the websockets transport,
a second port to collide on.

Command line (``make run``): ``python -m app.live.janus_server --port 8088 --webhook URL``
prints the environment the app needs (JANUS_URL, JANUS_ADMIN_SECRET, JANUS_WEBHOOK_SECRET) and
runs until interrupted.
"""
from __future__ import annotations

import argparse
import glob
import os
import secrets
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from app.live.child_server import ChildServer

JANUS_BINARY = os.environ.get("JANUS_BINARY", "/usr/bin/janus")
# The plugins the engine needs; everything else in the folders is disabled by file name.
KEEP = {
    "plugins": {"libjanus_videoroom.so"},
    "transports": {"libjanus_http.so"},
    "events": {"libjanus_sampleevh.so"},
    "loggers": set(),
}


class JanusNotInstalled(RuntimeError):
    pass


def janus_lib_folder() -> Path:
    """Where the distribution put Janus's plugin folders (multiarch path on Debian)."""
    for candidate in sorted(glob.glob("/usr/lib/*/janus")) + ["/usr/lib/janus", "/usr/local/lib/janus",
                                                             "/opt/janus/lib/janus"]:
        if Path(candidate, "plugins", "libjanus_videoroom.so").exists():
            return Path(candidate)
    raise JanusNotInstalled("Janus's plugins were not found (install the Debian package 'janus')")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _jcfg_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if '"' in text or "\n" in text or "\\" in text:
        # libconfig strings: refuse rather than escape, these values are ours (secrets are hex).
        raise ValueError(f"unsupported character in Janus setting {text!r}")
    return f'"{text}"'


def _jcfg(sections: dict[str, dict]) -> str:
    lines = []
    for name, items in sections.items():
        lines.append(f"{name}: {{")
        lines.extend(f"\t{key} = {_jcfg_value(value)}" for key, value in items.items())
        lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass
class JanusServer(ChildServer):
    """One Janus process. ``webhook_url`` None: no event handler (no events posted)."""

    name = "Janus"

    port: int = 0
    webhook_url: str | None = None
    admin_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    webhook_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    webhook_user: str = "janus"
    # ICE: "lo" for the loopback-only network namespaces the tests and the bench run in; None
    # lets Janus use every interface (a real deployment sets nat_1_1_mapping / STUN instead).
    ice_enforce_list: str | None = "lo"
    nat_1_1_mapping: str | None = None
    stun_server: str | None = None
    rtp_port_range: str = "20000-40000"
    # How long Janus keeps a session whose browser stopped long-polling or sending keepalives.
    session_timeout: int = 60
    debug_level: int = 3
    workdir: Path | None = None
    process: subprocess.Popen | None = field(default=None, init=False)

    def __post_init__(self):
        if not self.port:
            self.port = free_port()
        self._own_workdir = self.workdir is None
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="janus-"))
        self.workdir = Path(self.workdir)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/janus"

    @property
    def config_folder(self) -> Path:
        return self.workdir / "conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "janus.log"

    def environment(self) -> dict[str, str]:
        """The app's settings that point at this server."""
        return {"JANUS_URL": self.url, "JANUS_ADMIN_SECRET": self.admin_secret,
                "JANUS_WEBHOOK_SECRET": self.webhook_secret}

    def write_config(self) -> Path:
        lib = janus_lib_folder()
        folder = self.config_folder
        folder.mkdir(parents=True, exist_ok=True)

        def disabled(kind: str) -> str:
            present = sorted(Path(p).name for p in glob.glob(str(lib / kind / "*.so")))
            return ",".join(name for name in present if name not in KEEP[kind])

        nat = {"nice_debug": False, "ice_ignore_list": "vmnet"}
        if self.ice_enforce_list:
            nat["ice_enforce_list"] = self.ice_enforce_list
        if self.nat_1_1_mapping:
            nat["nat_1_1_mapping"] = self.nat_1_1_mapping
        if self.stun_server:
            host, _, port = self.stun_server.rpartition(":")
            nat["stun_server"], nat["stun_port"] = host, int(port)
        media = {"rtp_port_range": self.rtp_port_range}
        general = {
            "configs_folder": str(folder),
            "plugins_folder": str(lib / "plugins"),
            "transports_folder": str(lib / "transports"),
            "events_folder": str(lib / "events"),
            "loggers_folder": str(lib / "loggers"),
            "debug_level": self.debug_level,
            "admin_secret": self.admin_secret,
            "session_timeout": self.session_timeout,
            "server_name": "classhub-janus",
        }
        events = {"broadcast": bool(self.webhook_url), "disable": disabled("events"),
                  # Media statistics every second per handle would flood the webhook.
                  "stats_period": 0}
        (folder / "janus.jcfg").write_text(_jcfg({
            "general": general, "media": media, "nat": nat,
            "plugins": {"disable": disabled("plugins")},
            "transports": {"disable": disabled("transports")},
            "loggers": {"disable": disabled("loggers") or "none.so"},
            "events": events,
        }))
        (folder / "janus.transport.http.jcfg").write_text(_jcfg({
            "general": {"json": "plain", "base_path": "/janus", "http": True, "port": self.port,
                        "ip": "127.0.0.1", "https": False},
            "admin": {"admin_http": False},
        }))
        (folder / "janus.plugin.videoroom.jcfg").write_text(_jcfg({
            # admin_key: browsers reach this API, so only the app (which knows the key) may
            # create rooms. string_ids: room and feed ids carry the app's keys (engines/janus.py).
            "general": {"admin_key": self.admin_secret, "string_ids": True, "events": True},
        }))
        if self.webhook_url:
            (folder / "janus.eventhandler.sampleevh.jcfg").write_text(_jcfg({
                "general": {
                    "enabled": True,
                    # Only what the app turns into EngineEvents: sessions (destroyed/timeout)
                    # and plugin events (VideoRoom joined/published/unpublished/leaving).
                    "events": "sessions,plugins",
                    "grouping": True,
                    "json": "plain",
                    "backend": self.webhook_url,
                    "backend_user": self.webhook_user,
                    "backend_pwd": self.webhook_secret,
                    "max_retransmissions": 5,
                    "retransmissions_backoff": 100,
                },
            }))
        return folder

    def start(self, timeout: float = 20.0) -> "JanusServer":
        if not Path(JANUS_BINARY).exists():
            raise JanusNotInstalled(f"Janus not found at {JANUS_BINARY} (install the Debian package 'janus')")
        folder = self.write_config()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [JANUS_BINARY, "-F", str(folder), "-C", str(folder / "janus.jcfg"),
             "--log-stdout", "--disable-colors"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self.wait_until_ready(timeout)

    def ready(self) -> bool:
        try:
            return requests.get(self.url + "/info", timeout=1).json().get("janus") == "server_info"
        except (requests.RequestException, ValueError):
            return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run Janus configured for Classhub.")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--webhook", help="the app's Janus webhook URL, e.g. http://127.0.0.1:5000/live/janus/events")
    parser.add_argument("--admin-secret", default=os.environ.get("JANUS_ADMIN_SECRET") or secrets.token_hex(16))
    parser.add_argument("--webhook-secret", default=os.environ.get("JANUS_WEBHOOK_SECRET") or secrets.token_hex(16))
    parser.add_argument("--ice-interfaces", default=None,
                        help="ice_enforce_list (e.g. 'lo' inside a loopback-only namespace)")
    args = parser.parse_args(argv)
    server = JanusServer(port=args.port, webhook_url=args.webhook, admin_secret=args.admin_secret,
                         webhook_secret=args.webhook_secret, ice_enforce_list=args.ice_interfaces)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
