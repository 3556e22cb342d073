"""Run by tests/realtime/test_socket_writes.py in a process of its own, patched by gevent as
gunicorn's gevent worker is: Connections over real socket pairs, the server's send buffer made
small so that the kernel takes part of a frame and then nothing. Prints what it saw, as JSON."""
from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402

import gevent  # noqa: E402
import simple_websocket.ws as simple_websocket  # noqa: E402
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import (AcceptConnection, CloseConnection, Ping, Request,  # noqa: E402
                            TextMessage)

from wsproto.extensions import PerMessageDeflate  # noqa: E402

from app.realtime import hub as hub_module  # noqa: E402
from app.realtime.compression import DeflateWithoutContext  # noqa: E402
from app.realtime.hub import Connection, senders_held  # noqa: E402

SEND_BUFFER = 4096  # bytes (the kernel doubles it); set, it is not tuned up


class Pair:
    """A server-side Connection and the client's end of its socket, the handshake done."""

    def __init__(self, send_buffer: int | None = None, deflate: bool = False):
        server_sock, self.client_sock = socket.socketpair()
        if send_buffer:
            server_sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        self.client = WSConnection(ConnectionType.CLIENT)
        server = WSConnection(ConnectionType.SERVER)
        offer = [PerMessageDeflate(client_max_window_bits=15)] if deflate else []
        server.receive_data(self.client.send(Request(host="test", target="/ws",
                                                     extensions=offer)))
        for event in server.events():
            if isinstance(event, Request):
                self.client.receive_data(server.send(AcceptConnection(
                    extensions=[DeflateWithoutContext()] if deflate else [])))
        assert any(isinstance(e, AcceptConnection) for e in self.client.events())
        ws = simple_websocket.Base.__new__(simple_websocket.Base)  # no handshake, no reader
        ws.sock, ws.ws, ws.connected, ws.pong_received = server_sock, server, True, True
        self.conn = Connection(ws, user_id=1)

    def read_all(self) -> tuple[list[str], list]:
        """Everything the client gets until the server closes or falls silent; wsproto parses
        every byte, so a frame cut short or interleaved with another fails here."""
        messages, others, parts = [], [], []
        self.client_sock.settimeout(0.5)
        while True:
            try:
                data = self.client_sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                break
            self.client.receive_data(data)
            for event in self.client.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        messages.append("".join(parts))
                        parts = []
                elif isinstance(event, CloseConnection):
                    others.append(["close", event.code, event.reason])
                elif isinstance(event, Ping):
                    others.append(["ping"])
        return messages, others


def frame(number: int) -> str:
    return f'<div id="f{number}">' + f"{number:06d}" * 1_000 + "</div>"  # 6 KB, distinct


senders = []
_start = hub_module._start


def counting_start(target):
    senders.append(target)
    _start(target)


hub_module._start = counting_start
result = {}

# 1. A reader that keeps up: every frame written by the caller, no sender greenlet started.
quick = Pair()
for number in range(20):
    quick.conn.send(frame(number))
    quick.conn.send(hub_module.PING)
messages, others = quick.read_all()
result["quick"] = {"messages": messages == [frame(n) for n in range(20)],
                   "pings": others.count(["ping"]), "senders": len(senders)}

# 2. A reader that reads nothing while 60 frames (360 KB) are sent: the socket takes part of
# a frame, the rest goes to a sender; later frames queue behind it and are joined.
senders.clear()
slow = Pair(SEND_BUFFER)
with senders_held():
    for number in range(3):  # held, then written by the caller at the batch's end
        slow.conn.send(frame(number))
rest_after_batch = type(slow.conn._outbox[0]).__name__ if slow.conn._outbox else None
for number in range(3, 60):
    slow.conn.send(frame(number))
gevent.sleep(0.05)
waiting = len(slow.conn.queued)
reader = gevent.spawn(slow.read_all)
messages, others = reader.get()
joined = "".join(messages)
result["slow"] = {"rest_after_batch": rest_after_batch, "waiting": waiting,
                  "senders": len(senders), "closed": slow.conn.closed,
                  "whole_in_order": joined == "".join(frame(n) for n in range(60)),
                  "messages": len(messages)}

# 3. Closed while the socket holds part of a frame: the frame is ended, then the close sent.
closing = Pair(SEND_BUFFER)
for number in range(30):
    closing.conn.send(frame(number))
closing.conn.close(1012, "server restarting")
reader = gevent.spawn(closing.read_all)
messages, others = reader.get()
result["closing"] = {"messages": len(messages),
                     "prefix": messages == [frame(n) for n in range(len(messages))],
                     "others": others}

# 4. A peer gone: the write fails, the connection is marked closed, nothing raised.
gone = Pair()
gone.client_sock.close()
for number in range(20):
    gone.conn.send(frame(number))
gevent.sleep(0.05)
result["gone"] = {"closed": gone.conn.closed, "queued": len(gone.conn.queued)}

# 5. The same messages to sockets that frame them differently (deflate or not, as each
# browser negotiated), interleaved: each gets frames it can read, its own framing's.
plain, compressed = Pair(), Pair(deflate=True)
for number in range(10):
    plain.conn.send(frame(number))
    compressed.conn.send(frame(number))
sent = [frame(n) for n in range(10)]
plain_messages, _ = plain.read_all()
compressed_messages, _ = compressed.read_all()
framed = []
_framed_text = hub_module.framed_text


def counting_framed_text(framing, text, frame_it):
    return _framed_text(framing, text, lambda: (framed.append(text), frame_it())[1])


hub_module.framed_text = counting_framed_text
others = [Pair() for _ in range(5)]
for number in range(100, 110):
    for pair in others:
        pair.conn.send(frame(number))
shared = all(pair.read_all()[0] == [frame(n) for n in range(100, 110)] for pair in others)
result["framings"] = {"plain": plain_messages == sent, "shared": shared,
                      "framed_by_wsproto": len(framed),
                      "compressed": compressed_messages == sent,
                      "compressed_on_the_wire": compressed.conn._framing != ()}

json.dump(result, sys.stdout)
