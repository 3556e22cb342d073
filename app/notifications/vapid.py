"""VAPID (RFC 8292): the server's key pair and signed Authorization headers.

Keys come from VAPID_PRIVATE_KEY / VAPID_PUBLIC_KEY, or are generated on first run and kept in
instance/vapid_private.pem. A signed header is cached per push-service origin until shortly
before it expires (signing costs ~0.1 ms; Apple rejects re-signing more than hourly)."""
from __future__ import annotations

import base64
import os
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02

TOKEN_LIFETIME = 12 * 3600  # exp must be within 24 h
REFRESH_MARGIN = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class VapidKeys:
    def __init__(self, vapid: Vapid02, subject: str):
        self.vapid = vapid
        self.subject = subject
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @property
    def public_key_b64(self) -> str:
        """applicationServerKey for pushManager.subscribe (uncompressed P-256 point)."""
        raw = self.vapid.public_key.public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
        return b64url(raw)

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        """The Authorization header for a push to ``endpoint`` (cached per origin)."""
        parts = urlsplit(endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
        now = time.time() if now is None else now
        with self._lock:
            cached = self._cache.get(origin)
            if cached and cached[1] - now > REFRESH_MARGIN:
                return cached[0]
            expires = int(now) + TOKEN_LIFETIME
            # A fresh claims dict every time: pywebpush mutates the one it is given (FIELD-NOTES).
            header = self.vapid.sign({"aud": origin, "exp": expires, "sub": self.subject})
            value = header["Authorization"]
            self._cache[origin] = (value, expires)
            return value

    def sign_uncached(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        return self.vapid.sign({"aud": f"{parts.scheme}://{parts.netloc}",
                                "exp": int(time.time()) + TOKEN_LIFETIME,
                                "sub": self.subject})["Authorization"]


_keys: dict[str, VapidKeys] = {}


def load_keys(config: dict, instance_path: str) -> VapidKeys:
    private = config.get("VAPID_PRIVATE_KEY")
    cache_key = private or instance_path
    if cache_key in _keys:
        return _keys[cache_key]
    if private:
        vapid = Vapid02.from_string(private) if "BEGIN" not in private else \
            Vapid02.from_pem(private.encode())
    else:
        path = Path(instance_path) / "vapid_private.pem"
        if not path.exists():
            generated = Vapid02()
            generated.generate_keys()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(generated.private_pem())
            except FileExistsError:
                pass  # another process made it first: use theirs
        vapid = Vapid02.from_file(str(path))
    keys = VapidKeys(vapid, config.get("VAPID_SUBJECT") or "mailto:admin@localhost")
    _keys[cache_key] = keys
    return keys


def app_keys(app=None) -> VapidKeys:
    from flask import current_app

    app = app or current_app
    return load_keys(app.config, app.instance_path)
