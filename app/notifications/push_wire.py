"""One web push on the wire: the payload encrypted for one device (RFC 8291, aes128gcm of RFC
8188) and POSTed over the process's pooled keep-alive connections.

What pywebpush's WebPusher + requests did per push, without the per-call work that does not
depend on the push: a device's keys are decoded once per process (not on every send), the HKDF
steps are plain HMACs (each is one block of output: RFC 5869 with L <= 32 is one HMAC), and the
request goes out in one write on a keep-alive connection shared by the sending threads, and
its answer is read here (_Connection). Profiled on the loopback push service, requests' per-call
preparation (merging settings, hooks, cookie jars, proxy lookups) and http.client's header
parsing (the email package) cost several times the encryption, and so did h11 after them
(validating our own headers, its state machine); what is left per push is the ECDH and the
socket. Redirects are never followed: a push service does not redirect, and
following one would send the server somewhere endpoints.py never checked."""
from __future__ import annotations

import base64
import hmac
import os
import re
import select
import socket
import ssl
import struct
import threading
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

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


_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_MAX_HEAD = 64 * 1024  # an answer's status line and headers, at most
_MAX_KEPT = 2000  # bytes of an answer's body kept (for the delivery's error text)
_UNSAFE_IN_HEAD = re.compile(r"[\x00-\x1f\x7f]")


def request_head(target: str, authority: str, length: int, headers: dict) -> bytes:
    """A POST's request line and headers. Ours alone: the target comes from an endpoint that
    endpoints.py checked (no spaces or control characters) and the header values are this
    module's and vapid's; anything that could end a line is refused all the same."""
    lines = [f"POST {target} HTTP/1.1", f"Host: {authority}", f"Content-Length: {length}",
             *(f"{name}: {value}" for name, value in headers.items())]
    text = "\n".join(lines)
    if _UNSAFE_IN_HEAD.search(text.replace("\n", "")) or " " in target:
        raise ValueError("a push request cannot carry control characters or a spaced target")
    text = text.replace("\n", "\r\n")
    try:
        return (text + "\r\n\r\n").encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("a push request's target and headers must be ASCII") from None


class _Connection:
    """One keep-alive HTTP/1.1 connection to a push service. The request is framed here and
    the answer read here: h11 validated our own seven headers and walked its state machine for
    every push, more CPU than the encryption. An answer's framing is RFC 9112's: interim 1xx
    answers skipped, then a body by chunked transfer coding, Content-Length, or the close."""

    def __init__(self, scheme: str, host: str, port: int, timeout: float):
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if scheme == "https":
            sock = _tls_context().wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self._buffer = bytearray()

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
        while True:
            version, status, headers = self._read_head()
            if not 100 <= status < 200:
                break
            if status == 101:
                raise PushConnectionError("the push service switched protocols")
        body, until_close = self._read_body(status, headers)
        retry_after = headers.get(b"retry-after")
        answer = Answer(status, bytes(body[:_MAX_KEPT]).decode("utf-8", "replace"),
                        retry_after.decode("latin-1") if retry_after is not None else None)
        closing = b"close" in (t.strip() for t in headers.get(b"connection", b"").lower().split(b","))
        reusable = version == b"1" and not closing and not until_close and not self._buffer
        return answer, reusable

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise PushConnectionError("the push service closed the connection")
        self._buffer += data

    def _read_until(self, separator: bytes, limit: int) -> bytes:
        """What comes before ``separator`` (taken from the buffer with it), at most ``limit``
        bytes of it."""
        while (end := self._buffer.find(separator)) < 0:
            if len(self._buffer) > limit:
                raise PushConnectionError("not an HTTP/1.1 answer: a line or head too long")
            self._fill()
        taken = bytes(self._buffer[:end])
        del self._buffer[:end + len(separator)]
        return taken

    def _read_line(self, limit: int = _MAX_HEAD) -> bytes:
        return self._read_until(b"\r\n", limit)

    def _read_head(self) -> tuple[bytes, int, dict[bytes, bytes]]:
        head = self._read_until(b"\r\n\r\n", _MAX_HEAD)
        status_line, *lines = head.split(b"\r\n")
        matched = _STATUS_LINE.fullmatch(status_line)
        if matched is None:
            raise PushConnectionError(f"not an HTTP/1.1 answer: {status_line[:80]!r}")
        headers: dict[bytes, bytes] = {}
        for line in lines:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
                raise PushConnectionError(f"not an HTTP/1.1 answer: header {line[:80]!r}")
            name, value = name.lower(), value.strip(b" \t")
            if name in headers and name == b"content-length" and headers[name] != value:
                raise PushConnectionError("not an HTTP/1.1 answer: two Content-Lengths")
            headers[name] = headers[name] + b", " + value if name in headers \
                and name != b"content-length" else value
        return matched.group(1), int(matched.group(2)), headers

    def _read_body(self, status: int, headers: dict[bytes, bytes]) -> tuple[bytearray, bool]:
        """The answer's body (the first _MAX_KEPT bytes; the rest read and dropped) and whether
        it ran until the connection closed."""
        body = bytearray()
        if status in (204, 304):
            return body, False
        codings = headers.get(b"transfer-encoding")
        if codings is not None:
            if codings.lower().split(b",")[-1].strip() != b"chunked":
                return self._read_until_close(body), True
            while True:
                size_text = self._read_line().split(b";", 1)[0].strip()
                if not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                    raise PushConnectionError("not an HTTP/1.1 answer: a bad chunk size")
                size = int(size_text, 16)
                if size == 0:
                    while self._read_line():  # trailer fields, up to the empty line
                        pass
                    return body, False
                self._take(size, body)
                if self._read_line(limit=2) != b"":
                    raise PushConnectionError("not an HTTP/1.1 answer: a chunk without CRLF")
        length = headers.get(b"content-length")
        if length is None:
            return self._read_until_close(body), True
        if not length.isdigit():
            raise PushConnectionError("not an HTTP/1.1 answer: a bad Content-Length")
        self._take(int(length), body)
        return body, False

    def _take(self, size: int, body: bytearray) -> None:
        while size:
            if not self._buffer:
                self._fill()
            part = self._buffer[:size]
            del self._buffer[:len(part)]
            size -= len(part)
            if len(body) < _MAX_KEPT:
                body += part[:_MAX_KEPT - len(body)]

    def _read_until_close(self, body: bytearray) -> bytearray:
        while True:
            if len(body) < _MAX_KEPT:
                body += self._buffer[:_MAX_KEPT - len(body)]
            self._buffer.clear()
            data = self.sock.recv(65536)
            if not data:
                return body
            self._buffer += data

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
        request = request_head(target, authority, len(body), headers) + body
        connection = self._take(key)
        try:
            if connection is None:
                connection = _Connection(scheme, host, port, timeout)
            answer, reusable = connection.exchange(request, timeout)
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
