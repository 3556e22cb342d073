"""A real loopback Web Push service (RFC 8030 / 8291 / 8292) for the tests.

It listens on 127.0.0.1 (a random port, in a thread) and, for every ``POST /push/<id>``, checks
what a real push service checks before it accepts a message:

- ``Authorization: vapid t=<JWT>,k=<public key>``: the ES256 signature (raw r||s, 64 bytes)
  verifies with the P-256 key from ``k=``; the JWT header says ES256; ``aud`` is this service's
  origin; ``exp`` is in the future and at most 24 h away; ``sub`` is a mailto: or https: URI;
  when the device was subscribed with an applicationServerKey, ``k=`` must be that key (403).
- ``TTL`` is present and a non-negative integer; ``Urgency`` (when present) is very-low, low,
  normal or high; ``Topic`` (when present) is at most 32 URL-safe base64 characters.
- ``Content-Encoding: aes128gcm`` and a body that decrypts (http_ece, with the device's own EC
  private key and auth secret) to JSON, at most 4096 bytes on the wire.

Every request is recorded (headers, verification result, decrypted payload). Devices answer by
a per-device script of status codes (``[500, 201]``: first 500, then 201; 201 once it runs out),
429 with a ``Retry-After``. Nothing here is a mock: the app's pywebpush client talks HTTP to it,
and the keys and signatures are real.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)

MAX_BODY = 4096  # RFC 8030 §7.2: a push service must accept at least 4096 bytes
MAX_TOKEN_LIFETIME = 24 * 3600  # RFC 8292 §2: exp no more than 24 hours from the request
URGENCIES = ("very-low", "low", "normal", "high")
_URLSAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def sign_vapid(private_key: ec.EllipticCurvePrivateKey, claims: dict,
               header: dict | None = None, key_b64: str | None = None) -> str:
    """An ``Authorization`` value signed here (independently of py_vapid), so tests can make
    tokens that are wrong in exactly one way."""
    header = header or {"typ": "JWT", "alg": "ES256"}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                     b64url(json.dumps(claims, separators=(",", ":")).encode()))
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(),
                                                 ec.ECDSA(hashes.SHA256())))
    token = signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return f"vapid t={token},k={key_b64 or public_key_b64(private_key)}"


class VapidError(Exception):
    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


def verify_vapid(authorization: str, audience: str, expected_key: str | None = None,
                 now: float | None = None) -> dict:
    """Check an RFC 8292 Authorization header; return what it says (raises VapidError)."""
    now = time.time() if now is None else now
    scheme, _, params = (authorization or "").strip().partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError(f"Authorization scheme must be vapid, got {scheme!r}")
    parts = {}
    for item in params.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts[name.strip()] = value.strip()
    token, key_b64 = parts.get("t"), parts.get("k")
    if not token or not key_b64:
        raise VapidError("Authorization needs both t= and k=")
    try:
        key_bytes = b64url_decode(key_b64)
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key_bytes)
    except ValueError as exc:
        raise VapidError(f"k= is not an uncompressed P-256 point: {exc}") from None
    if len(key_bytes) != 65:
        raise VapidError("k= must be the 65-byte uncompressed point")
    pieces = token.split(".")
    if len(pieces) != 3:
        raise VapidError("t= is not a JWS compact token")
    header_b64, claims_b64, signature_b64 = pieces
    try:
        signature = b64url_decode(signature_b64)
        header = json.loads(b64url_decode(header_b64))
        claims = json.loads(b64url_decode(claims_b64))
    except ValueError as exc:
        raise VapidError(f"t= does not decode: {exc}") from None
    if len(signature) != 64:
        raise VapidError(f"ES256 signature must be 64 bytes (r||s), got {len(signature)}")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise VapidError("the JWT signature does not verify with k=") from None
    if header.get("alg") != "ES256":
        raise VapidError(f"JWT alg must be ES256, got {header.get('alg')!r}")
    if header.get("typ") not in (None, "JWT"):
        raise VapidError(f"JWT typ must be JWT, got {header.get('typ')!r}")
    if claims.get("aud") != audience:
        raise VapidError(f"aud {claims.get('aud')!r} is not this push service ({audience})")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise VapidError(f"exp must be an integer, got {exp!r}")
    if exp <= now:
        raise VapidError("the token has expired")
    if exp > now + MAX_TOKEN_LIFETIME + 5:
        raise VapidError("exp is more than 24 hours away")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith(("mailto:", "https:")):
        raise VapidError(f"sub must be a mailto: or https: URI, got {sub!r}")
    if expected_key is not None and key_b64 != expected_key:
        # RFC 8292 §4.2: the subscription is bound to another application server key.
        raise VapidError("k= is not the key this subscription was made with", status=403)
    return {"header": header, "claims": claims, "key": key_b64}


@dataclass
class Device:
    """A browser's push subscription whose private keys the test holds."""

    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None = None

    @property
    def p256dh(self) -> str:
        return public_key_b64(self.private_key)

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def subscription_json(self) -> dict:
        """What ``PushSubscription.toJSON()`` gives in a browser."""
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass
class PushRequest:
    device_id: str
    path: str
    headers: dict
    body_size: int
    status: int = 0
    errors: list = field(default_factory=list)
    vapid: dict | None = None
    payload: dict | None = None
    received_at: float = field(default_factory=time.time)
    client: tuple | None = None  # the sender's (address, port): one port per connection

    @property
    def ok(self) -> bool:
        """Passed every check (whatever the script then answered)."""
        return not self.errors

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")


class _Listener(ThreadingHTTPServer):
    # A real push service takes a sender's burst of connections (Classhub's push job opens one
    # per sending thread, 16, at once); socketserver's backlog of 5 dropped the SYNs beyond it,
    # and each dropped one cost its thread the kernel's 1 s retransmission.
    request_queue_size = 128


class PushService:
    def __init__(self):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.devices: dict[str, Device] = {}
        self._scripts: dict[str, deque] = {}
        self.requests: list[PushRequest] = []
        self._server = _Listener(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # --- devices and scripts -------------------------------------------------------------------

    def new_device(self, application_server_key: str | None = None) -> Device:
        with self._lock:
            device_id = f"d{next(self._ids)}-{b64url(os.urandom(6))}"
        device = Device(id=device_id, endpoint=f"{self.origin}/push/{device_id}",
                        private_key=ec.generate_private_key(ec.SECP256R1()),
                        auth_secret=os.urandom(16),
                        application_server_key=application_server_key)
        with self._lock:
            self.devices[device_id] = device
        return device

    def script(self, device: Device, *responses) -> None:
        """What ``device`` answers next: each an int status or (status, {headers})."""
        with self._lock:
            self._scripts.setdefault(device.id, deque()).extend(responses)

    def _next_response(self, device_id: str) -> tuple[int, dict]:
        with self._lock:
            queue = self._scripts.get(device_id)
            item = queue.popleft() if queue else 201
        status, headers = item if isinstance(item, tuple) else (item, {})
        headers = dict(headers)
        if status == 429:
            headers.setdefault("Retry-After", "30")
        if status == 201:
            headers.setdefault("Location", f"{self.origin}/message/{b64url(os.urandom(9))}")
        return status, headers

    # --- what arrived ----------------------------------------------------------------------------

    def requests_for(self, device: Device) -> list[PushRequest]:
        with self._lock:
            return [r for r in self.requests if r.device_id == device.id]

    def delivered(self, device: Device) -> list[dict]:
        """The decrypted payloads the device accepted (verified and answered 2xx)."""
        return [r.payload for r in self.requests_for(device) if r.ok and 200 <= r.status < 300]

    def all_requests(self) -> list[PushRequest]:
        with self._lock:
            return list(self.requests)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- checking one request --------------------------------------------------------------------

    def handle(self, path: str, headers: dict, body: bytes,
               client: tuple | None = None) -> tuple[int, dict, bytes]:
        device_id = path.rsplit("/", 1)[-1] if path.startswith("/push/") else ""
        record = PushRequest(device_id=device_id, path=path, headers=headers,
                             body_size=len(body), client=client)
        status, extra = self._check(record, body)
        record.status = status
        with self._lock:
            self.requests.append(record)
        answer = json.dumps({"errors": record.errors}).encode() if record.errors else b""
        return status, extra, answer

    def _check(self, record: PushRequest, body: bytes) -> tuple[int, dict]:
        device = self.devices.get(record.device_id)
        if device is None:
            record.errors.append("no such subscription")
            return 404, {}
        headers = record.headers
        try:
            record.vapid = verify_vapid(headers.get("authorization", ""), self.origin,
                                        device.application_server_key)
        except VapidError as exc:
            record.errors.append(f"VAPID: {exc}")
            return exc.status, {}
        ttl = headers.get("ttl")
        if ttl is None or not ttl.isdigit():
            record.errors.append(f"TTL must be a non-negative integer, got {ttl!r}")
        urgency = headers.get("urgency")
        if urgency is not None and urgency not in URGENCIES:
            record.errors.append(f"Urgency must be one of {URGENCIES}, got {urgency!r}")
        topic = headers.get("topic")
        if topic is not None and not (0 < len(topic) <= 32 and set(topic) <= _URLSAFE):
            record.errors.append(f"Topic must be 1-32 URL-safe base64 characters: {topic!r}")
        if record.errors:
            return 400, {}
        if len(body) > MAX_BODY:
            record.errors.append(f"the body has {len(body)} bytes (at most {MAX_BODY})")
            return 413, {}
        if headers.get("content-encoding") != "aes128gcm":
            record.errors.append(f"Content-Encoding must be aes128gcm, got "
                                 f"{headers.get('content-encoding')!r}")
            return 415, {}
        try:
            plaintext = http_ece.decrypt(body, private_key=device.private_key,
                                         auth_secret=device.auth_secret, version="aes128gcm")
        except Exception as exc:  # any failure to decrypt is the sender's fault
            record.errors.append(f"decryption failed: {type(exc).__name__}: {exc}")
            return 400, {}
        try:
            record.payload = json.loads(plaintext)
        except ValueError:
            record.errors.append("the decrypted payload is not JSON")
            return 400, {}
        return self._next_response(device.id)

    def _handler_class(self):
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real push service
            # Headers and body go out in two writes: without TCP_NODELAY the second waits for
            # the client's delayed ACK (~40 ms a request on loopback).
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, extra, answer = service.handle(self.path, headers, body,
                                                       tuple(self.client_address))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        return Handler


class running:
    """``with running() as service:`` a push service for the block (fixtures use it)."""

    def __enter__(self) -> PushService:
        self.service = PushService()
        return self.service

    def __exit__(self, *exc):
        self.service.stop()
