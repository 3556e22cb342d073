"""Websocket clients for the realtime bench (Classhub's and the peer's share this) and the
tracker that notes every text frame each of them receives while one message is under way.

All clients live on one asyncio loop in the bench process; arrival times are wall-clock
(``time.time()``), the clock the servers stamp their commits with (same machine).
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter

# Every browser offers permessage-deflate on its websockets (aiohttp offers nothing unless
# asked): the clients offer it too, so what a server keeps per socket for it, and what it
# spends compressing, is part of the figures (app/realtime/compression.py).
BROWSER_DEFLATE = 15  # aiohttp's compress=: the window bits a browser offers


class Tracker:
    """Which clients got the frame carrying ``token`` (and when), and how many text frames
    each client got, from ``start`` until ``stop``."""

    def __init__(self):
        self.active = False
        self.last_frame = 0.0  # any text frame on any client, tracked or not
        self.counts: Counter = Counter()
        self.arrivals: dict[int, float] = {}
        self.first_frame = self.last_tracked = 0.0

    def start(self, token: str, recipients: set[int], expected: dict[int, int] | None):
        """``expected``: frames per client that make the message complete (None: only the
        token's frame at every recipient)."""
        self.token, self.recipients, self.expected = token, recipients, expected or {}
        self.counts = Counter()
        self.arrivals = {}
        self.first_frame = self.last_tracked = 0.0
        self._token_missing = len(recipients)
        self._frames_missing = sum(1 for n in self.expected.values() if n > 0)
        self.done = asyncio.Event()
        self.active = True

    def stop(self) -> None:
        self.active = False

    def on_frame(self, client: int, text: str, now: float) -> None:
        self.last_frame = now
        if not self.active:
            return
        self.counts[client] += 1
        self.last_tracked = now
        self.first_frame = self.first_frame or now
        if client in self.recipients and client not in self.arrivals and self.token in text:
            self.arrivals[client] = now
            self._token_missing -= 1
        if self.counts[client] == self.expected.get(client, 0):
            self._frames_missing -= 1
        if self._token_missing <= 0 and self._frames_missing <= 0:
            self.done.set()

    async def quiet(self, seconds: float, limit: float = 60.0) -> bool:
        """Wait until no client has received a text frame for ``seconds`` (at most ``limit``
        seconds in all); False when it never went quiet."""
        began = time.time()
        while True:
            now = time.time()
            gap = now - max(self.last_frame, began)
            if gap >= seconds:
                return True
            if now - began > limit:
                return False
            await asyncio.sleep(max(0.02, seconds - gap))


class Client:
    """One open websocket (a browser tab): hands every text frame to the tracker; a test may
    also wait for a frame containing some text (``expect``)."""

    def __init__(self, index: int, ws, tracker: Tracker):
        self.index = index  # which person (the bench's numbering)
        self.ws = ws
        self.tracker = tracker
        self._expected: dict[str, asyncio.Future] = {}
        self.task = asyncio.create_task(self._read())

    @property
    def closed(self) -> bool:
        return self.ws.closed

    def expect(self, text: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self._expected[text] = future
        return future

    async def _read(self):
        import aiohttp

        async for frame in self.ws:
            if frame.type == aiohttp.WSMsgType.TEXT:
                self.on_text(frame.data, time.time())

    def on_text(self, text: str, now: float) -> None:
        self.tracker.on_frame(self.index, text, now)
        for wanted in [w for w in self._expected if w in text]:
            future = self._expected.pop(wanted)
            if not future.done():
                future.set_result(now)

    async def close(self):
        await self.ws.close()
        self.task.cancel()
