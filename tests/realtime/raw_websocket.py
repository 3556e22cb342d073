"""A websocket to /ws opened with wsproto itself, for tests that must see what a library
client hides: the negotiated extensions, and pings (wsproto answers none by itself)."""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import Request


def open_raw(server, person, *, timeout: float,
             extensions=()) -> tuple[socket.socket, WSConnection]:
    """The TCP socket and the client connection, the handshake sent (as a browser sends it:
    the person's session cookie and the page's Origin); its answer is for the caller to read."""
    url = urlsplit(server.url)
    raw = socket.create_connection((url.hostname, url.port), timeout=timeout)
    ws = WSConnection(ConnectionType.CLIENT)
    raw.sendall(ws.send(Request(host=f"{url.hostname}:{url.port}", target="/ws",
                                extensions=list(extensions),
                                extra_headers=[(b"cookie", person.cookie.encode()),
                                               (b"origin", server.url.encode())])))
    return raw, ws
