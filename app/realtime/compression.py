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
from collections import OrderedDict

from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import Opcode

# A compressed message depends only on its bytes and the window size once no context is taken
# over, so the hub's one frame for 2,000 sockets is compressed once, not 2,000 times (a fresh
# zlib stream costs ~40 us for a 2 KB fragment: 80 ms of a worker's time per such fan-out).
COMPRESSED_KEPT = 256  # distinct recent messages
COMPRESSED_LARGEST = 64 * 1024  # bytes; larger ones (rare, never fanned out) are not kept
_compressed: OrderedDict[tuple[int, bytes], bytes] = OrderedDict()
_compressed_lock = threading.Lock()


class DeflateWithoutContext(PerMessageDeflate):
    def __init__(self, **parameters) -> None:
        parameters.setdefault("server_no_context_takeover", True)
        parameters.setdefault("client_no_context_takeover", True)
        super().__init__(**parameters)

    def frame_outbound(self, proto, opcode, rsv, data, fin):
        whole_message = fin and opcode in (Opcode.TEXT, Opcode.BINARY) and not proto.client
        if not whole_message or not self.server_no_context_takeover \
                or len(data) > COMPRESSED_LARGEST:
            return super().frame_outbound(proto, opcode, rsv, data, fin)
        key = (self.server_max_window_bits, data)
        with _compressed_lock:
            compressed = _compressed.get(key)
            if compressed is not None:
                _compressed.move_to_end(key)
                return rsv._replace(rsv1=True), compressed
        rsv, compressed = super().frame_outbound(proto, opcode, rsv, data, fin)
        with _compressed_lock:
            _compressed[key] = compressed
            if len(_compressed) > COMPRESSED_KEPT:
                _compressed.popitem(last=False)
        return rsv, compressed


def use_for_websockets() -> None:
    """simple-websocket makes its extension from this module global when it accepts a
    handshake (flask-sock offers no option for it); idempotent."""
    import simple_websocket.ws

    simple_websocket.ws.PerMessageDeflate = DeflateWithoutContext
