"""Each websocket is read by the greenlet (or thread) of its own request, not by a reader that
simple-websocket starts beside it: an idle socket is one greenlet waiting on its file
descriptor. Measured under gunicorn's gevent worker with 2,000 idle sockets (bench/realtime.py,
every socket subscribed as a thread page), the reader greenlet cost each socket about 7 KiB
(the greenlet, its saved stack and gevent's wait on the socket) and its Event another.

simple-websocket (pinned) still does the protocol: its handshake, ``_handle_events`` (pongs,
closes, messages and the size limit) and ``send``. What is used of it beyond its public
interface is named here, in one place: ``input_buffer``, ``_handle_events``, ``sock``,
``receive_bytes``, ``pong_received`` and ``ws`` (its wsproto connection, ``handshake`` and
``connection``); of wsproto's own, only the negotiated extensions (``connection._proto.extensions``,
read once per socket by compression.message_framing) and whether its frame decoder is between
frames (``_between_frames``)."""
from __future__ import annotations

import socket

from wsproto.utilities import LocalProtocolError


class NoReaderThread:
    """What simple-websocket starts as its reader (``thread_class``): nothing. The request's
    own greenlet reads the socket with ``next_message``."""

    __slots__ = ("name",)

    def __init__(self, target) -> None:
        self.name = "websocket-reader(_thread)"  # simple-websocket rewrites "(_thread)"

    def start(self) -> None:
        pass


class NoWaiting:
    """simple-websocket's ``event_class``: its reader sets the event for ``receive()``, which
    nothing here calls (``next_message`` reads), so the event holds no lock or waiter."""

    __slots__ = ()

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass

    def wait(self, timeout=None) -> bool:
        raise RuntimeError("this socket is read with app.realtime.reader.next_message()")


class _Handshaken:
    """Stands in for wsproto's handshake once the connection is open: the handshake is done
    with, yet wsproto keeps it (its h11 connection, the request's headers and two queues, about
    3 KiB a socket). Only ``events()`` is asked of it after the upgrade, and it has none."""

    __slots__ = ()

    def events(self):
        return iter(())


HANDSHAKEN = _Handshaken()


def server_options(options: dict) -> dict:
    """``options`` (SOCK_SERVER_OPTIONS) with nothing started beside each socket."""
    return {"thread_class": NoReaderThread, "event_class": NoWaiting, **options}


def forget_handshake(ws) -> None:
    """Let wsproto's finished handshake go (see _Handshaken). Data that came with the handshake
    request was handed to the open connection already."""
    if ws.ws.connection is not None:
        ws.ws.handshake = HANDSHAKEN


def _under_gevent() -> bool:
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover (gevent is a runtime dependency)
        return False
    return monkey.is_module_patched("socket")


def take_over(ws):
    """``(ws, True)``: a websocket of our own with the socket's descriptor, when the server is
    gunicorn's gevent worker; the request can then end while a greenlet of its own serves the
    socket (``serve_in_greenlet``). An idle socket then holds no request: not the request's
    greenlet with its deep stack (5.4 KiB saved while it waits), nor gunicorn's parsed request,
    the WSGI environ, Flask's request and session (about 8 KiB together), nor a place in
    gunicorn's pool of request greenlets (``worker_connections`` counts requests being
    answered, not open websockets). ``(ws, False)`` elsewhere (a threaded server): the
    request's thread serves the socket.

    The descriptor is detached from gunicorn's socket object, so gunicorn's close at the
    request's end closes nothing. The websocket handed back shares simple-websocket's protocol
    state with ``ws``; ``ws`` is marked closed, so flask-sock's ``close()`` once the view
    returns writes nothing, and flask-sock then ends the request without a response (its
    gunicorn mode)."""
    if getattr(ws, "mode", None) != "gunicorn" or not _under_gevent():
        return ws, False
    import copy

    mine = copy.copy(ws)
    mine.sock = socket.socket(fileno=ws.sock.detach())  # gevent's socket: patched
    mine.environ = None  # the request's, let go with it
    mine.input_buffer = []
    ws.connected = False
    return mine, True


def serve_in_greenlet(serve, *args) -> None:
    """Run ``serve(*args)`` in a raw greenlet: unlike gevent.spawn's Greenlet it records no
    spawning stack (taking that stack makes the spawner's frames objects) and no links."""
    import gevent

    gevent.spawn_raw(serve, *args)


# A browser's answer to the hub's ping (hub.PING_FRAME) as it arrives: FIN and opcode 0xA, the
# mask bit and no payload, then the 4-byte mask (RFC 6455 5.5.3). Each round, every idle socket
# reads one. Taken through wsproto (its parser's generator, a Frame, simple-websocket's event
# loop), a round's pongs from 2,000 sockets cost about 35 ms of CPU; recognized here, about
# 20 ms, most of it each reader's wake-up and recv (py-spy, as for hub.PING_FRAME).
CLIENT_PONG_HEAD, CLIENT_PONG_LENGTH = b"\x8a\x80", 6


def _between_frames(ws) -> bool:
    """Whether wsproto holds no part of a frame: a whole frame read alone is then a frame of its
    own (wsproto's frame decoder: ``connection._proto._frame_decoder``, its ``header`` and
    ``buffer``)."""
    decoder = ws.ws.connection._proto._frame_decoder
    return decoder.header is None and not len(decoder.buffer)


def next_message(ws):
    """The socket's next message, read in the caller's greenlet or thread; None once the peer
    has closed it, the connection broke, or ``stop_reading`` was called from elsewhere. A plain
    function, not a generator: resuming a generator takes a C frame of its own, which a
    greenlet waiting in it keeps in its saved stack (0.56 KiB a socket)."""
    while not ws.input_buffer:
        if not ws.connected:
            return None
        try:
            data = ws.sock.recv(ws.receive_bytes)
            if not data:
                raise ConnectionResetError("closed by the peer")
            if len(data) == CLIENT_PONG_LENGTH and data.startswith(CLIENT_PONG_HEAD) and \
                    _between_frames(ws):
                ws.pong_received = True  # what simple-websocket does with a pong
                continue
            ws.ws.receive_data(data)
            ws.connected = ws._handle_events()
        except (OSError, LocalProtocolError):
            ws.connected = False
    return ws.input_buffer.pop(0)


def stop_reading(ws) -> None:
    """Wake ``next_message`` after our close frame is written, rather than wait for the peer's
    answer (a peer that stopped answering pings never sends one). Shutting the socket down makes
    a waiting ``recv`` return at once, from a greenlet or another thread alike; the close frame,
    already written, goes out before the FIN."""
    sock = getattr(ws, "sock", None)  # None: a connection with no socket (the tests' own)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def close_socket(ws) -> None:
    """Close the socket once it is served: its request, which would have, has ended (take_over);
    simple-websocket's reader closed it too, when it ran."""
    sock = getattr(ws, "sock", None)
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
