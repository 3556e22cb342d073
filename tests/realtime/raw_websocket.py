"""A websocket to /ws opened with wsproto itself, for tests that must see what a library
client hides: the negotiated extensions, and pings (wsproto answers none by itself)."""
from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import Request


def open_raw(server, person, *, timeout: float, extensions=(),
             receive_buffer: int | None = None) -> tuple[socket.socket, WSConnection]:
    """The TCP socket and the client connection, the handshake sent (as a browser sends it:
    the person's session cookie and the page's Origin); its answer is for the caller to read.
    ``receive_buffer`` (bytes) makes a reader whose kernel buffer fills quickly."""
    url = urlsplit(server.url)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect
    raw.settimeout(timeout)
    raw.connect((url.hostname, url.port))
    ws = WSConnection(ConnectionType.CLIENT)
    raw.sendall(ws.send(Request(host=f"{url.hostname}:{url.port}", target="/ws",
                                extensions=list(extensions),
                                extra_headers=[(b"cookie", person.cookie.encode()),
                                               (b"origin", server.url.encode())])))
    return raw, ws


def wait_for_event(raw: socket.socket, ws: WSConnection, wanted, seconds: float):
    """The first wsproto event ``wanted(event)`` accepts within ``seconds``, or None (also when
    the server closes the connection first). ``raw`` needs a short timeout of its own."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            data = raw.recv(65536)
        except TimeoutError:
            continue
        if not data:
            return None
        ws.receive_data(data)
        for event in ws.events():
            if wanted(event):
                return event
    return None
