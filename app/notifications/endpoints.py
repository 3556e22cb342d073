"""Which web push endpoints the server will send to.

A push subscription's endpoint is a URL the *browser* hands us, and the push job later POSTs
to it from inside the server's network: accepted blindly, it lets anyone with an account make
the server call internal addresses (Redis on 6379, a cloud metadata service on 169.254.169.254,
an admin page on localhost). Real browsers only ever give endpoints of their vendor's push
service, on https and the default port, so that is what is accepted:

* https only, port 443, no user name or password in the URL, no fragment, no whitespace or
  control characters;
* the host must match ``PUSH_ENDPOINT_HOSTS``: the push services of Chrome/Android/Opera/
  Samsung (FCM), Firefox (Mozilla autopush), Safari (Apple) and Edge (WNS) by default. A
  deployment with its own push service adds its host; ``*`` accepts any host whose every DNS
  address is public (never loopback, private, link-local, multicast or reserved);
* an address given as an IP literal is never accepted (no push service is reached that way);
* ``PUSH_ALLOW_LOOPBACK_ENDPOINTS`` (tests only: the loopback push service of tests/interop)
  also accepts http or https on 127.0.0.1, ::1 or localhost, any port.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

DEFAULT_PUSH_ENDPOINT_HOSTS = (
    "fcm.googleapis.com",  # Chrome, Chrome on Android, Opera, Samsung Internet, Brave
    "android.googleapis.com",  # older Chrome subscriptions (GCM)
    "*.push.services.mozilla.com",  # Firefox (updates.push.services.mozilla.com)
    "*.push.apple.com",  # Safari on macOS and iOS (web.push.apple.com)
    "*.notify.windows.com",  # Edge (wns2-*.notify.windows.com)
)
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def parse_host_patterns(raw: str | None) -> tuple[str, ...]:
    """``PUSH_ENDPOINT_HOSTS`` as patterns: comma- or space-separated host names, ``*.example``
    for any subdomain, ``*`` for any public host. Empty: the defaults."""
    patterns = tuple(p.strip().lower().rstrip(".") for p in (raw or "").replace(",", " ").split())
    return patterns or DEFAULT_PUSH_ENDPOINT_HOSTS


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local
                                 or ip.is_loopback or ip.is_private)


def _resolves_to_public_addresses_only(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(_is_public(a) for a in addresses)


def endpoint_problem(endpoint: str, *, allowed_hosts: tuple[str, ...],
                     allow_loopback: bool = False) -> str | None:
    """Why the server will not send pushes to ``endpoint``, or None when it will."""
    if not endpoint or len(endpoint) > 1000:
        return "That push subscription is malformed."
    if any(char.isspace() or not char.isprintable() for char in endpoint):
        return "A push endpoint cannot contain spaces or control characters."
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "That push endpoint is not a valid URL."
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return "That push endpoint is not a valid URL."
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "A push endpoint cannot carry a user name or password."
    if parts.fragment:
        return "That push endpoint is not a valid URL."
    if allow_loopback and host in LOOPBACK_NAMES and parts.scheme in ("http", "https"):
        return None
    if parts.scheme != "https":
        return "Push endpoints must use https."
    if port not in (None, 443):
        return "Push endpoints must use the standard https port."
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "Push endpoints must name their push service, not an IP address."
    if host in LOOPBACK_NAMES or host.endswith((".localhost", ".local", ".internal")):
        return "That push endpoint is not on a public push service."
    if "*" in allowed_hosts:
        if not _resolves_to_public_addresses_only(host):
            return "That push endpoint is not on a public push service."
        return None
    if not any(_host_matches(host, pattern) for pattern in allowed_hosts):
        return "That push service is not one this server sends to."
    return None
