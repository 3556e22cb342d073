"""The coturn launcher (app/live/turn_server.py) with a tiny TURN client (RFC 5766 Allocate over
UDP with RFC 5389 long-term credentials): a credential minted the way the engines mint it gets a
relayed address; one minted from another secret is refused. A missing coturn is a failure, never
a skip: CI installs it (.ci/run)."""
from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
from pathlib import Path

import pytest

from app.live.engines.mesh import turn_credentials
from app.live.turn_server import TURN_BINARY, TurnServer

MAGIC = 0x2112A442
ALLOCATE, ALLOCATE_OK, ALLOCATE_ERROR = 0x0003, 0x0103, 0x0113
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM, NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT = 0x0016, 0x0019
UDP = 17


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _message(kind: int, transaction: bytes, attributes: bytes) -> bytes:
    return struct.pack("!HHI", kind, len(attributes), MAGIC) + transaction + attributes


def _signed(kind: int, transaction: bytes, attributes: bytes, key: bytes) -> bytes:
    # MESSAGE-INTEGRITY covers the header whose length already counts it (RFC 5389 15.4).
    header = struct.pack("!HHI", kind, len(attributes) + 24, MAGIC) + transaction
    digest = hmac.new(key, header + attributes, hashlib.sha1).digest()
    return _message(kind, transaction, attributes + _attribute(MESSAGE_INTEGRITY, digest))


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length, _magic = struct.unpack("!HHI", data[:8])
    attributes, offset = {}, 20
    while offset < 20 + length:
        attr, size = struct.unpack("!HH", data[offset:offset + 4])
        attributes.setdefault(attr, data[offset + 4:offset + 4 + size])
        offset += 4 + size + (-size % 4)
    return kind, attributes


def _exchange(sock, server: TurnServer, transaction: bytes, request: bytes):
    """Send a request over UDP and return its answer, retransmitting as a STUN client does
    (RFC 5389 7.2.1: 0.5 s, then doubling; 15.5 s in all). A datagram may be lost, and a test
    that sent once and waited 5 s saw nothing come back once under a heavily loaded CI run."""
    for wait in (0.5, 1, 2, 4, 8):
        sock.sendto(request, (server.host, server.port))
        sock.settimeout(wait)
        try:
            while True:
                answer = sock.recv(2048)
                if answer[8:20] == transaction:  # not a late answer to an earlier request
                    return _parse(answer)
        except TimeoutError:
            continue
    raise AssertionError(f"no answer from coturn over UDP:\n{server.log_tail()}")


def allocate(server: TurnServer, username: str, password: str) -> tuple[int, dict[int, bytes]]:
    """Allocate a UDP relay: the unauthenticated request gets 401 with realm and nonce, then
    the signed one. Returns the final answer (message type, attributes)."""
    requested = _attribute(REQUESTED_TRANSPORT, struct.pack("!B3x", UDP))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        transaction = os.urandom(12)
        kind, challenge = _exchange(sock, server, transaction,
                                    _message(ALLOCATE, transaction, requested))
        assert kind == ALLOCATE_ERROR and challenge[ERROR_CODE][2:4] == b"\x04\x01", challenge
        realm, nonce = challenge[REALM], challenge[NONCE]
        key = hashlib.md5(username.encode() + b":" + realm + b":" + password.encode()).digest()
        attributes = (requested + _attribute(USERNAME, username.encode()) + _attribute(REALM, realm)
                      + _attribute(NONCE, nonce))
        transaction = os.urandom(12)
        # A retransmitted signed Allocate gets the allocation's answer again (RFC 5766 6.2).
        return _exchange(sock, server, transaction,
                         _signed(ALLOCATE, transaction, attributes, key))


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    assert Path(TURN_BINARY).exists(), f"coturn not found at {TURN_BINARY}: install the Debian package 'coturn'"
    with TurnServer(workdir=tmp_path_factory.mktemp("coturn")) as server:
        yield server


def test_ready_means_the_udp_listener_answers_too(turn, tmp_path):
    # Started means both listeners serve: the UDP one answers a STUN Binding request.
    assert turn.ready() and turn._answers_stun_over_udp(timeout=2)
    # A TCP listener alone on the port is not a TURN server ready for browsers.
    with socket.socket() as tcp_only:
        tcp_only.bind(("127.0.0.1", 0))
        tcp_only.listen()
        assert not TurnServer(port=tcp_only.getsockname()[1], workdir=tmp_path).ready()


def test_a_minted_credential_gets_a_relayed_address(turn):
    username, credential = turn_credentials(turn.secret, 42, ttl=600)
    kind, answer = allocate(turn, username, credential)
    assert kind == ALLOCATE_OK, (answer, turn.log_tail())
    family, xport = struct.unpack("!xBH", answer[XOR_RELAYED_ADDRESS][:4])
    address = bytes(a ^ b for a, b in zip(answer[XOR_RELAYED_ADDRESS][4:8], struct.pack("!I", MAGIC)))
    assert (family, socket.inet_ntoa(address)) == (1, "127.0.0.1")
    assert turn.relay_ports[0] <= xport ^ (MAGIC >> 16) <= turn.relay_ports[1]


def test_a_credential_from_another_secret_or_expired_is_refused(turn):
    for username, credential in (turn_credentials("not-the-secret", 42, ttl=600),
                                 turn_credentials(turn.secret, 42, ttl=-60)):
        kind, answer = allocate(turn, username, credential)
        assert kind == ALLOCATE_ERROR and answer[ERROR_CODE][2:4] == b"\x04\x01", answer


def test_the_environment_names_both_transports_and_the_secret(turn):
    env = turn.environment()
    assert env["TURN_URLS"].split(",") == [f"turn:127.0.0.1:{turn.port}?transport=udp",
                                           f"turn:127.0.0.1:{turn.port}?transport=tcp"]
    assert env["TURN_SECRET"] == turn.secret


def test_stop_ends_the_process_and_frees_the_port(tmp_path):
    server = TurnServer(workdir=tmp_path).start()
    process = server.process
    server.stop()
    assert process.poll() is not None
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=1).close()
