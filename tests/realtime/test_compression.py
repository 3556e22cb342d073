"""Websockets negotiate permessage-deflate without context takeover (app/realtime/compression.py):
an idle socket keeps no zlib state. Checked against a real gunicorn server with the offer
Chromium sends, over several messages each way."""
from __future__ import annotations

import json
import socket

from wsproto import WSConnection
from wsproto.events import AcceptConnection, Message, TextMessage
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Opcode

from app.extensions import db
from tests.chat.test_realtime import TIMEOUT, Person
from tests.realtime.raw_websocket import open_raw


def _events_until(raw: socket.socket, ws: WSConnection, done) -> list:
    seen = []
    while not done(seen):
        data = raw.recv(65536)
        assert data, f"closed; saw {seen}"
        ws.receive_data(data)
        seen += list(ws.events())
    return seen


def test_sockets_compress_each_message_on_its_own(chat, live_servers):
    db.session.commit()  # nothing of the test's left open while the server writes
    server = live_servers[0]
    sara = Person(server, chat.s1)
    offer = PerMessageDeflate()  # what Chromium offers: permessage-deflate; client_max_window_bits
    raw, ws = open_raw(server, sara, timeout=TIMEOUT, extensions=[offer])
    [accepted] = _events_until(raw, ws, lambda seen: seen)
    assert isinstance(accepted, AcceptConnection)
    [deflate] = accepted.extensions
    assert deflate.enabled()
    assert deflate.server_no_context_takeover and deflate.client_no_context_takeover

    for number in (1, 2, 3):  # each message compressed afresh, both ways, and still read
        marker = f"sync:{number}"
        raw.sendall(ws.send(Message(json.dumps(
            {"type": "subscribe", "topics": [f"user:{chat.s1.id}", marker]}))))
        frames = _events_until(raw, ws, lambda seen: any(
            isinstance(e, TextMessage) and f'data-topic="{marker}"' in e.data for e in seen))
        texts = "".join(e.data for e in frames if isinstance(e, TextMessage))
        assert 'id="chat-unread-badge"' in texts
    assert deflate._compressor is None and deflate._decompressor is None  # nothing kept
    raw.close()


def test_one_message_for_many_sockets_is_compressed_once(monkeypatch):
    """The hub queues the same frame for every socket that gets it: with no context taken over
    its compressed bytes are the same for all of them, so they are made once."""
    import zlib

    from wsproto.frame_protocol import FrameProtocol, RsvBits

    from app.realtime import compression

    made = []
    real = zlib.compressobj
    monkeypatch.setattr(zlib, "compressobj", lambda *a: made.append(a) or real(*a))
    monkeypatch.setattr(compression, "_compressed", type(compression._compressed)())
    frame = ('<div id="message-7" class="message">' + "Fractions, then decimals. " * 40
             + "</div>").encode()
    sockets = []
    for _ in range(50):
        deflate = compression.DeflateWithoutContext()
        deflate.finalize("permessage-deflate; server_no_context_takeover; "
                         "client_no_context_takeover")
        sockets.append((deflate, FrameProtocol(client=False, extensions=[deflate])))
    sent = {deflate.frame_outbound(proto, Opcode.TEXT, RsvBits(False, False, False), frame, True)
            for deflate, proto in sockets}
    [(rsv, payload)] = sent
    assert rsv.rsv1 and len(made) == 1 and len(payload) < len(frame) / 5
    assert zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") == frame
    other = b"<p>another frame</p>"
    _, small = sockets[0][0].frame_outbound(sockets[0][1], Opcode.TEXT,
                                            RsvBits(False, False, False), other, True)
    assert len(made) == 2 and zlib.decompressobj(-15).decompress(small + b"\x00\x00\xff\xff") == other
    assert all(deflate._compressor is None for deflate, _ in sockets)  # nothing kept per socket
    # A peer that asked for a window smaller than ours gets it: its inflater reads the frame.
    narrow = compression.DeflateWithoutContext()
    narrow.finalize("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
    _, payload = narrow.frame_outbound(FrameProtocol(client=False, extensions=[narrow]),
                                       Opcode.TEXT, RsvBits(False, False, False), frame, True)
    assert zlib.decompressobj(-9).decompress(payload + b"\x00\x00\xff\xff") == frame
