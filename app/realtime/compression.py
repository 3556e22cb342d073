"""permessage-deflate (RFC 7692) without context takeover, for every /ws connection.

Browsers offer permessage-deflate on every websocket, and simple-websocket accepts it with
wsproto's defaults: context takeover both ways, so each connection keeps a zlib compressor (a
32 KiB window, 64 KiB of hash heads zeroed when it is made, ~256 KiB allocated) and a
decompressor for its whole life. Measured with flask-sock under gevent, 1,000 sockets that had
each received five 2 KB frames: 171 KiB of worker RSS per socket with the offer, 47 KiB without
it. Idle sockets are most of a worker's connections, so that state is wasted memory.

Without context takeover both sides start every message afresh: the compressor and the
decompressor are dropped when a message ends (wsproto does this when the parameters are
negotiated) and an idle socket holds neither: 48 KiB per socket in the same measurement.
Each message still compresses on its own (an HTML fragment repeats its markup within itself);
what is lost is only the back-references into earlier messages.

A server may answer with both parameters whatever the offer said (RFC 7692 §7.1.1.1, §7.1.1.2);
Chromium, which offers only ``client_max_window_bits``, accepts them (every browser test runs
over such a socket; tests/realtime/test_compression.py checks what is negotiated).
"""
from __future__ import annotations

import threading
import zlib
from collections import OrderedDict

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Opcode

# A compressed message depends only on its bytes once no context is taken over, so the hub's
# one frame for 2,000 sockets is compressed once, not 2,000 times.
COMPRESSED_KEPT = 256  # distinct recent messages
COMPRESSED_LARGEST = 64 * 1024  # bytes; larger ones (rare, never fanned out) are not kept
_compressed: OrderedDict[tuple[int, bytes], bytes] = OrderedDict()
_compressed_lock = threading.Lock()

# How each message is compressed. A fresh zlib stream with wsproto's settings (level 6, a
# 32 KiB window, memLevel 8) costs 61 us for a 2 KB fragment, most of it allocating and
# zeroing its tables; a 4 KiB window and memLevel 4 cost 9 us for the same 201 bytes out (a
# fragment's repeats are close together). A window smaller than the one negotiated is always
# valid: it only shortens the distances back-references use, which any inflater reads (a peer
# that asked for an even smaller one gets that).
LEVEL, WINDOW_BITS, MEM_LEVEL = 6, 12, 4


def _compress(data: bytes, window_bits: int) -> bytes:
    stream = zlib.compressobj(LEVEL, zlib.DEFLATED, -window_bits, MEM_LEVEL)
    # A message ends with an empty stored block whose 4 bytes are left off (RFC 7692 §7.2.1).
    return (stream.compress(data) + stream.flush(zlib.Z_SYNC_FLUSH))[:-4]


class DeflateWithoutContext(PerMessageDeflate):
    def __init__(self, **parameters) -> None:
        parameters.setdefault("server_no_context_takeover", True)
        parameters.setdefault("client_no_context_takeover", True)
        super().__init__(**parameters)

    def frame_outbound(self, proto, opcode, rsv, data, fin):
        whole_message = fin and opcode in (Opcode.TEXT, Opcode.BINARY) and not proto.client
        if not whole_message or not self.server_no_context_takeover:
            return super().frame_outbound(proto, opcode, rsv, data, fin)
        bits = min(WINDOW_BITS, self.server_max_window_bits)
        if len(data) > COMPRESSED_LARGEST:
            return rsv._replace(rsv1=True), _compress(data, bits)
        key = (bits, data)
        with _compressed_lock:
            compressed = _compressed.get(key)
            if compressed is not None:
                _compressed.move_to_end(key)
                return rsv._replace(rsv1=True), compressed
        compressed = _compress(data, bits)
        with _compressed_lock:
            _compressed[key] = compressed
            if len(_compressed) > COMPRESSED_KEPT:
                _compressed.popitem(last=False)
        return rsv._replace(rsv1=True), compressed


# Whole frames, header included, of recent text messages, by how the connection frames them
# (message_framing): the hub's one fragment for 2,000 sockets is framed once, not by wsproto
# for each (encode, compress-cache lookup, header, two copies: 4 us a socket).
FRAMES_KEPT = 256
FRAMED_LARGEST = 16 * 1024  # characters; larger ones (a burst joined for one socket) are not kept
_frames: OrderedDict[tuple, bytes] = OrderedDict()
_frames_lock = threading.Lock()


def message_framing(connection) -> tuple | None:
    """What a whole text message from the server depends on besides its text, on this wsproto
    ``connection``: the negotiated extensions' settings (an empty tuple without any), when none
    keeps state from one message to the next; None when one does, and every message must then
    be framed by wsproto itself. (wsproto keeps the negotiated extensions on its frame
    protocol, ``_proto.extensions``; app/realtime/reader.py names what else is used of it.)"""
    framing = []
    for extension in connection._proto.extensions:
        if type(extension) is not DeflateWithoutContext or \
                not extension.server_no_context_takeover:
            return None
        framing.append(min(WINDOW_BITS, extension.server_max_window_bits))
    return tuple(framing)


def framed_text(framing: tuple, text: str, frame_it) -> bytes:
    """The bytes of a server's text message ``text`` on a connection framing as ``framing``
    (message_framing): kept from another connection framing alike, or ``frame_it()``."""
    key = (framing, text)
    with _frames_lock:
        found = _frames.get(key)
        if found is not None:
            _frames.move_to_end(key)
            return found
    data = bytes(frame_it())
    if len(text) <= FRAMED_LARGEST:
        with _frames_lock:
            _frames[key] = data
            if len(_frames) > FRAMES_KEPT:
                _frames.popitem(last=False)
    return data


def use_for_websockets() -> None:
    """simple-websocket makes its extension from this module global when it accepts a
    handshake (flask-sock offers no option for it); idempotent."""
    import simple_websocket.ws

    simple_websocket.ws.PerMessageDeflate = DeflateWithoutContext
