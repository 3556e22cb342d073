"""Security headers for every response, and refusal of input no form of ours can send."""
from __future__ import annotations

from flask import Flask, abort, request


def _has_nul(values) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def _json_has_nul(value) -> bool:
    """A NUL anywhere in a parsed JSON body (keys and strings, at any depth)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_json_has_nul(k) or _json_has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_json_has_nul(v) for v in value)
    return False


def init_security_headers(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters():
        # PostgreSQL text cannot hold NUL (0x00): a search or a name carrying one fails inside the
        # query as a 500. No page of ours sends one, so refuse the request here with a 400.
        if "\x00" in request.path or _has_nul(request.args) or (
                request.method != "GET" and (_has_nul(request.form) or (
                    request.is_json and _json_has_nul(request.get_json(silent=True))))):
            abort(400, "The request contains a NUL character (0x00); nothing was changed.")

    @app.after_request
    def add_headers(response):
        # No inline script anywhere: htmx is configured (meta htmx-config) not to eval or inject
        # styles, and page behaviour lives in static/js.
        ws_scheme = "wss" if request.scheme == "https" else "ws"
        csp = "; ".join([
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",
            "media-src 'self' blob:",
            f"connect-src 'self' {ws_scheme}://{request.host}{_media_server_origin(app)}",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "worker-src 'self'",
            "manifest-src 'self'",
        ])
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self), "
            "geolocation=(), payment=(), usb=()")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security",
                                        "max-age=31536000; includeSubDomains")
        if response.mimetype == "text/html":
            # Pages carry personal data: never cache them in shared caches.
            response.headers.setdefault("Cache-Control", "no-store")
            response.vary.add("HX-Request")
        return response


def _media_server_origin(app) -> str:
    """The Janus server browsers talk to (app/live/engines/janus.py) when it is on another
    origin: the room page's script must be allowed to reach it, and only it."""
    from urllib.parse import urlsplit

    url = app.config.get("JANUS_PUBLIC_URL") or app.config.get("JANUS_URL")
    parts = urlsplit(url) if url else None
    if not parts or parts.scheme not in ("http", "https") or not parts.netloc:
        return ""  # none, or behind the app's own origin (a proxied path)
    return f" {parts.scheme}://{parts.netloc}"
