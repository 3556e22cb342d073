"""Start and stop a real TURN server (Debian's ``coturn`` 4.6.x) for tests and ``make run``.

``TurnServer`` writes a minimal ``turnserver.conf``: one listener on 127.0.0.1 (UDP and TCP on
one port, no TLS/DTLS), relayed addresses on 127.0.0.1, coturn's shared-secret scheme
(``use-auth-secret`` / ``static-auth-secret``, the one the engines mint per-join credentials for;
FIELD-NOTES "WebRTC"), no telnet CLI, a log file in its workdir. It runs ``turnserver -c <conf>``
as a child, waits until it answers on TCP and on UDP, and stops it with SIGTERM (SIGKILL if
it hangs).

Loopback peers: coturn refuses to relay to 127.x by default, because a TURN server that relays
to its own loopback lets any client with credentials reach the services listening there
(databases, Redis). Here relayed addresses are on 127.0.0.1 too, so two browsers on this machine
that both use TURN need it (``allow_loopback_peers``): the tests turn it on; ``flask serve``
only when calls are forced through the relay (app/cli.py).

Command line: ``python -m app.live.turn_server --port 3478`` prints the environment the app
needs (TURN_URLS, TURN_SECRET) and runs until interrupted.
"""
from __future__ import annotations

import argparse
import os
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from app.live.child_server import ChildServer
from app.live.janus_server import free_port

TURN_BINARY = os.environ.get("TURN_BINARY", "/usr/bin/turnserver")
STUN_BINDING_REQUEST, STUN_MAGIC_COOKIE = 0x0001, 0x2112A442


class TurnNotInstalled(RuntimeError):
    pass


@dataclass
class TurnServer(ChildServer):
    """One coturn process listening on ``host``:``port`` (a free port when 0)."""

    name = "coturn"

    port: int = 0
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    realm: str = "classhub"
    host: str = "127.0.0.1"
    allow_loopback_peers: bool = False
    # Relayed addresses come from this range (coturn's default is 49152-65535).
    relay_ports: tuple[int, int] = (49152, 65535)
    workdir: Path | None = None
    process: subprocess.Popen | None = field(default=None, init=False)

    def __post_init__(self):
        if not self.port:
            self.port = free_port(self.host)
        self._own_workdir = self.workdir is None
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="coturn-"))
        self.workdir = Path(self.workdir)

    @property
    def urls(self) -> list[str]:
        return [f"turn:{self.host}:{self.port}?transport=udp",
                f"turn:{self.host}:{self.port}?transport=tcp"]

    @property
    def config_path(self) -> Path:
        return self.workdir / "turnserver.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "turnserver.log"

    def environment(self) -> dict[str, str]:
        """The app's settings that point at this server."""
        return {"TURN_URLS": ",".join(self.urls), "TURN_SECRET": self.secret}

    def write_config(self) -> Path:
        for value in (self.secret, self.realm, self.host, str(self.workdir)):
            if any(c in value for c in "\n\r#"):
                raise ValueError(f"unsupported character in TURN setting {value!r}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listening-ip={self.host}",
            f"listening-port={self.port}",
            f"relay-ip={self.host}",
            f"min-port={self.relay_ports[0]}",
            f"max-port={self.relay_ports[1]}",
            "use-auth-secret",
            f"static-auth-secret={self.secret}",
            f"realm={self.realm}",
            "fingerprint",
            "no-cli", "no-tls", "no-dtls",
            # No NAT-behaviour discovery (it needs a second address) and no multicast relaying.
            "no-rfc5780", "no-multicast-peers",
            # Its own database file (coturn's default, /var/lib/turn/turndb, is shared and
            # may not be writable); nothing is stored in it with use-auth-secret.
            f"userdb={self.workdir / 'turndb'}",
            f"pidfile={self.workdir / 'turnserver.pid'}",
            f"log-file={self.log_path}",
            "simple-log", "no-stdout-log",
        ]
        if self.allow_loopback_peers:
            lines.append("allow-loopback-peers")
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def start(self, timeout: float = 15.0) -> "TurnServer":
        if not Path(TURN_BINARY).exists():
            raise TurnNotInstalled(f"coturn not found at {TURN_BINARY} (install the Debian package 'coturn')")
        config = self.write_config()
        self.process = subprocess.Popen(
            [TURN_BINARY, "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        return self.wait_until_ready(timeout)

    def ready(self) -> bool:
        """Up when both listeners answer: the TCP one accepts and the UDP one (which browsers
        try first) answers a STUN Binding request. coturn serves UDP from its relay threads,
        which may start after the TCP listener: a request sent to a UDP port nobody has bound
        yet is simply dropped (a test's first Allocate once waited 5 s for nothing)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                pass
        except OSError:
            return False
        return self._answers_stun_over_udp(timeout=0.5)

    def _answers_stun_over_udp(self, timeout: float) -> bool:
        transaction = secrets.token_bytes(12)
        # RFC 5389 6: Binding request, no attributes, the magic cookie, a transaction id.
        request = struct.pack("!HHI", STUN_BINDING_REQUEST, 0, STUN_MAGIC_COOKIE) + transaction
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(timeout)
            try:
                sock.sendto(request, (self.host, self.port))
                while True:
                    answer = sock.recv(2048)
                    if answer[8:20] == transaction:
                        return True
            except OSError:  # timed out, or refused: nothing listens yet
                return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run coturn configured for Classhub.")
    parser.add_argument("--port", type=int, default=3478)
    parser.add_argument("--secret", default=os.environ.get("TURN_SECRET") or secrets.token_hex(16))
    parser.add_argument("--allow-loopback-peers", action="store_true",
                        help="relay between browsers on this machine (tests; see the module's docstring)")
    args = parser.parse_args(argv)
    server = TurnServer(port=args.port, secret=args.secret, allow_loopback_peers=args.allow_loopback_peers)
    server.serve_until_interrupted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
