"""One web push on the wire: the payload encrypted for one device (RFC 8291, aes128gcm of RFC
8188) and POSTed over the process's pooled keep-alive connections.

What pywebpush's WebPusher + requests did per push, without the per-call work that does not
depend on the push: a device's keys are decoded once per process (not on every send), the HKDF
steps are plain HMACs (each is one block of output: RFC 5869 with L <= 32 is one HMAC), and the
request goes out in one write on a keep-alive connection shared by the sending threads, and
its answer is parsed by h11. Profiled on the loopback push service, requests' per-call
preparation (merging settings, hooks, cookie jars, proxy lookups) and http.client's header
parsing (the email package) cost several times the encryption; what is left per push is the
ECDH and the socket. Redirects are never followed: a push service does not redirect, and
following one would send the server somewhere endpoints.py never checked."""
from __future__ import annotations

import base64
import hmac
import os
import select
import socket
import ssl
import struct
import threading
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

import h11
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RECORD_SIZE = 4096  # rs of the aes128gcm header: one record holds any payload we send
_KEY_INFO = b"WebPush: info\x00"
_CEK_INFO = b"Content-Encoding: aes128gcm\x00\x01"
_NONCE_INFO = b"Content-Encoding: nonce\x00\x01"
_LAST_RECORD = b"\x02"  # RFC 8188 §2: the padding delimiter of the last record
_P256 = ec.SECP256R1()


class DeviceKeys(NamedTuple):
    public_key: ec.EllipticCurvePublicKey
    public_bytes: bytes  # the 65-byte uncompressed point (p256dh), part of the key info
    auth_secret: bytes


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=50_000)
def device_keys(p256dh: str, auth: str) -> DeviceKeys:
    """A subscription's keys decoded (raises ValueError when they are not a P-256 point and a
    16-byte secret). Cached: the same devices get every notification of their user."""
    try:
        public_bytes = _b64url_decode(p256dh)
        auth_secret = _b64url_decode(auth)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the subscription's keys are not base64url: {exc}") from None
    if len(auth_secret) != 16:
        raise ValueError(f"the auth secret must be 16 bytes, not {len(auth_secret)}")
    public_key = ec.EllipticCurvePublicKey.from_encoded_point(_P256, public_bytes)
    return DeviceKeys(public_key, public_bytes, auth_secret)


def _hkdf_one_block(salt: bytes, key_material: bytes, info_and_counter: bytes) -> bytes:
    """HKDF-SHA-256 (RFC 5869) for an output of at most 32 bytes: extract, then expand's one
    block (T(1) = HMAC(PRK, info || 0x01); the counter byte is part of the argument)."""
    prk = hmac.digest(salt, key_material, "sha256")
    return hmac.digest(prk, info_and_counter, "sha256")


def encrypt(payload: bytes, keys: DeviceKeys) -> bytes:
    """The aes128gcm body for ``payload`` (RFC 8291 §3.4 / RFC 8188 §2): a fresh ephemeral key
    pair and salt for every message, one record, no padding."""
    server_key = ec.generate_private_key(_P256)
    server_public = server_key.public_key().public_bytes(Encoding.X962,
                                                         PublicFormat.UncompressedPoint)
    shared_secret = server_key.exchange(ec.ECDH(), keys.public_key)
    ikm = _hkdf_one_block(keys.auth_secret, shared_secret,
                          _KEY_INFO + keys.public_bytes + server_public + b"\x01")
    salt = os.urandom(16)
    prk = hmac.digest(salt, ikm, "sha256")
    cek = hmac.digest(prk, _CEK_INFO, "sha256")[:16]
    nonce = hmac.digest(prk, _NONCE_INFO, "sha256")[:12]
    header = salt + struct.pack("!IB", RECORD_SIZE, len(server_public)) + server_public
    return header + AESGCM(cek).encrypt(nonce, payload + _LAST_RECORD, None)


class Answer(NamedTuple):
    status: int
    text: str
    retry_after: str | None


class PushConnectionError(Exception):
    """No answer from the push service (refused, reset, timed out, not HTTP)."""


class _Connection:
    """One keep-alive HTTP/1.1 connection to a push service: h11 parses, the socket is ours."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = _tls_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.http = h11.Connection(h11.CLIENT, max_incomplete_event_size=64 * 1024)

    def dropped(self) -> bool:
        """An idle connection with something to read was closed (or broken) by the server."""
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def exchange(self, request: bytes, timeout: float) -> tuple[Answer, bool]:
        """Send one request (already framed), read its answer; (answer, reusable)."""
        self.sock.settimeout(timeout)
        self.sock.sendall(request)
        status, headers, body = 0, (), bytearray()
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                self.http.receive_data(self.sock.recv(65536))
                continue
            kind = type(event)
            if kind is h11.Response:
                status, headers = event.status_code, event.headers
            elif kind is h11.Data:
                if len(body) < 2000:
                    body += event.data
            elif kind is h11.EndOfMessage:
                break
            elif kind is h11.ConnectionClosed:
                raise PushConnectionError("the push service closed the connection")
        retry_after = next((value.decode("latin-1") for name, value in headers
                            if name == b"retry-after"), None)
        answer = Answer(status, bytes(body[:2000]).decode("utf-8", "replace"), retry_after)
        reusable = self.http.our_state is h11.DONE and self.http.their_state is h11.DONE
        if reusable:
            self.http.start_next_cycle()
        return answer, reusable

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    context = ssl.create_default_context()  # verifies the certificate and the host name
    context.set_alpn_protocols(["http/1.1"])
    return context


class ConnectionPool:
    """Idle keep-alive connections per push-service origin, shared by the sending threads
    (at most ``per_origin`` kept; a thread takes one, or opens one, and gives it back)."""

    def __init__(self, per_origin: int):
        self.per_origin = per_origin
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._lock = threading.Lock()

    def post(self, endpoint: str, body: bytes, headers: dict, timeout: float) -> Answer:
        """POST one encrypted push; the push service's answer. Raises PushConnectionError or
        OSError (no answer), ValueError (not an http(s) URL)."""
        parts = urlsplit(endpoint)
        scheme, host = parts.scheme, parts.hostname
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"not an http(s) URL: {endpoint!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        default_port = port == (443 if scheme == "https" else 80)
        named = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
        authority = named if default_port else f"{named}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = (scheme, host, port)
        framed = [("Host", authority), ("Content-Length", str(len(body))),
                  *headers.items()]
        connection = self._take(key)
        try:
            if connection is None:
                connection = _Connection(scheme, host, port, timeout)
            request = (connection.http.send(h11.Request(method="POST", target=target,
                                                        headers=framed))
                       + connection.http.send(h11.Data(data=body))
                       + connection.http.send(h11.EndOfMessage()))
            answer, reusable = connection.exchange(request, timeout)
        except h11.ProtocolError as exc:
            if connection is not None:
                connection.close()
            raise PushConnectionError(f"not an HTTP/1.1 answer: {exc}") from None
        except BaseException:
            if connection is not None:
                connection.close()
            raise
        if reusable:
            self._give_back(key, connection)
        else:
            connection.close()
        return answer

    def _take(self, key) -> _Connection | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None or not connection.dropped():
                return connection
            connection.close()

    def _give_back(self, key, connection: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self.per_origin:
                idle.append(connection)
                return
        connection.close()


_pool: tuple[int, ConnectionPool] | None = None


def connection_pool(connections_per_origin: int) -> ConnectionPool:
    """The process's keep-alive connections, kept across jobs (made anew in a forked child:
    sockets must not be shared with the parent). Proxy variables are not read."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ConnectionPool(connections_per_origin))
    return _pool[1]
