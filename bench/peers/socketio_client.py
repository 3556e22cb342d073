"""A Socket.IO client for the peer server, on the same aiohttp websockets as Classhub's bench
clients (python-socketio's own client carries a task per connection more; with 2,000 of them in
the bench process the clients, not the servers, would be measured).

Engine.IO 4 over the websocket transport: the server opens with ``0{...}``, the client connects
to the default namespace with ``40`` and gets ``40{"sid": ...}``; the server pings with ``2``
and the client answers ``3``; events are ``42["name", data]``, with an ack id ``42<id>[...]``
answered by ``43<id>[...]``.
"""
from __future__ import annotations

import asyncio
import itertools
import json

from bench.clients import BROWSER_DEFLATE, Client, Tracker


class SocketIOClient(Client):
    def __init__(self, index: int, ws, tracker: Tracker):
        self._acks: dict[int, asyncio.Future] = {}
        self._ack_ids = itertools.count(1)
        super().__init__(index, ws, tracker)

    def on_text(self, text: str, now: float) -> None:
        if text == "2":  # ping: answer at once, as socket.io-client does
            asyncio.ensure_future(self.ws.send_str("3"))
            return
        if text.startswith("43"):
            ack_id = int("".join(itertools.takewhile(str.isdigit, text[2:])))
            future = self._acks.pop(ack_id, None)
            if future is not None and not future.done():
                future.set_result(now)
            return
        super().on_text(text, now)

    async def emit(self, event: str, data) -> None:
        """Emit and wait for the server's acknowledgement."""
        ack_id = next(self._ack_ids)
        future = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        await self.ws.send_str(f"42{ack_id}" + json.dumps([event, data]))
        await future


async def connect(session, base_url: str, index: int, tracker: Tracker) -> SocketIOClient:
    import aiohttp

    url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await session.ws_connect(url, max_msg_size=0, autoping=True,
                                  timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                                  compress=BROWSER_DEFLATE)
    opening = await ws.receive_str()
    if not opening.startswith("0"):
        raise RuntimeError(f"not an Engine.IO open packet: {opening[:100]}")
    await ws.send_str("40")
    connected = await ws.receive_str()
    if not connected.startswith("40"):
        raise RuntimeError(f"the namespace connect was answered {connected[:100]}")
    return SocketIOClient(index, ws, tracker)
