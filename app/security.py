"""Security headers for every response."""
from __future__ import annotations

from flask import Flask, request


def init_security_headers(app: Flask) -> None:
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
            f"connect-src 'self' {ws_scheme}://{request.host}",
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
