"""Realtime benchmark: Classhub's websockets against a Flask-SocketIO peer, measured the same way
in the same run.

`python -m bench realtime` builds, in a temporary directory, a throwaway database (PostgreSQL
when DATABASE_URL is set, else SQLite; bench/common.py) and Redis, then runs two servers one
after the other, each as gunicorn with one gevent worker (gunicorn.conf.py):

- Classhub: ``bench.served:app`` (wsgi.py plus a commit stamp: the POST's response says when
  the message's transaction committed, taken right after the commit and before the app
  publishes anything);
- the peer: ``bench.peers.socketio_server:app`` (insert a row, commit, emit to a room);
- then, for step 3 alone, the floor: ``bench.peers.secured_post:app``, the smallest POST that
  Classhub's own libraries give when it still checks who posts (login, CSRF, membership; an
  ORM insert, a Jinja answer, a publish; no fan-out): the lowest figure Classhub could reach
  without giving up one of its libraries.

Against each (sizes for BENCH_SCALE=full; bench/common.py):

1. 2,000 sockets are opened and subscribed as browser tabs on the big class "B"'s thread
   (Classhub: user, thread list and thread topics; the peer: its room), and stay OPEN until
   the end. Worker RSS before/after gives memory per idle socket; worker CPU over 30 s of
   quiet gives idle CPU.
2. 30 more sockets join class "A"; its teacher posts 20 messages, one at a time.
3. 50 teachers post 4 messages each to their own 30-member classes, all at once: POST
   round-trip p50/p99, and worker CPU per POST (its fan-out included).
4. "B"'s teacher posts 5 messages to its 2,000 members.
5. 1,000 of them also subscribe to class "C"; its teacher posts 5 messages.

Every socket offers permessage-deflate, as a browser's does (bench/clients.py).

Latency is commit→client: a frame's arrival (wall clock, this machine) minus the server's
commit stamp. Before the next message is sent, every socket must have had all the frames the
previous one causes: the first message of each step (not counted) is followed until no socket
has received anything for a while, which gives each socket's frame count; later messages wait
for those counts (then a short quiet period to catch any extra). "Settled" is the last frame of
any kind for a message, on any socket, minus its commit.

Everything is on loopback; clients share one asyncio loop in this process, so their receive
time is part of the figures. That process's own heap is frozen while its sockets are open
(common.freeze_client_heap): its full garbage collections, which walked 2,000 sockets' client
objects, paused it 100-200 ms and were counted as the server's latency. Figures only: nothing
here asserts a time.
"""
from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.clients import BROWSER_DEFLATE, Client, Tracker
from bench.common import (COMMIT_HEADER, RUN_TAG, Row, Scale, cpu_seconds, database_kind,
                          freeze_client_heap, percentile, rss_bytes, scale, thaw_client_heap)

ROOT = Path(__file__).resolve().parent.parent
# Sockets opening (and subscribing) at once: steady state, not a reconnect storm. Classhub's
# worker runs out of DB connections (pool 5 + 10, 30 s timeout) at 50 on PostgreSQL, and every
# subscription that fails then costs the bench a 30 s wait (issue 10, "Connection pool").
CONNECT_CONCURRENCY = 10
DELIVERY_TIMEOUT = 30.0  # seconds to wait for one message's frames
EXTRA_QUIET = 0.25  # seconds of silence after the expected frames, to catch any extra
WARM_UP_SOCKETS = 20


# --- servers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with one gevent worker, as gunicorn.conf.py runs Classhub."""

    def __init__(self, target: str, env: dict, log_path: Path, health_path: str,
                 connections: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = dict(os.environ, **env, PORT=str(self.port), BASE_URL=self.url,
                        ACCESS_LOG="", PYTHONUNBUFFERED="1", WEB_CONCURRENCY="1",
                        WORKER_CONNECTIONS=str(connections))
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "1",
             "--bind", f"127.0.0.1:{self.port}", target],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{target} exited:\n" + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.url + health_path, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{target} did not start:\n" + log_path.read_text()[-3000:])

    def worker_pid(self) -> int:
        import psutil

        children = psutil.Process(self.process.pid).children()
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {children}")
        return children[0].pid

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


# --- the two systems, behind one interface ------------------------------------------------------

class Classhub:
    name = "Classhub"

    def __init__(self, server: Server, cookie_name: str, cookies: dict[int, str],
                 teachers: dict[str, tuple[str, str]], user_ids: list[int]):
        self.server, self.cookie_name, self.cookies = server, cookie_name, cookies
        self.teachers, self.user_ids = teachers, user_ids

    async def connect(self, session, person: int, tracker: Tracker) -> Client:
        import aiohttp

        ws = await session.ws_connect(
            self.server.url.replace("http://", "ws://") + "/ws",
            headers={"Cookie": f"{self.cookie_name}={self.cookies[person]}"},
            max_msg_size=0, autoping=True, timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            compress=BROWSER_DEFLATE)
        return Client(person, ws, tracker)

    async def join(self, client: Client, room, first: bool) -> None:
        """Subscribe as an open thread page does; the thread's welcome message, sent by the
        catch-up, proves the subscription is in place."""
        topic = f"thread:{room.thread_id}"
        topics = [f"threads:{self.user_ids[client.index]}", topic] if first else [topic]
        proof = client.expect(room.welcome_token)
        await client.ws.send_str(json.dumps({"type": "subscribe", "topics": topics,
                                             "after": {topic: room.welcome_id - 1}}))
        await asyncio.wait_for(proof, DELIVERY_TIMEOUT)

    async def post(self, session, room, body: str) -> float:
        """Post as the browser does (htmx, CSRF header); the commit instant, server-stamped."""
        cookie, csrf = self.teachers[room.key]
        async with session.post(f"{self.server.url}/chat/threads/{room.thread_id}/messages",
                                data={"body": body},
                                headers={"Cookie": f"{self.cookie_name}={cookie}",
                                         "X-CSRFToken": csrf, "HX-Request": "true"}) as response:
            answer = await response.text()
            if response.status != 200 or COMMIT_HEADER not in response.headers:
                raise RuntimeError(f"posting answered {response.status}: {answer[:300]}")
            return float(response.headers[COMMIT_HEADER])


class Peer:
    name = "Flask-SocketIO"

    def __init__(self, server: Server):
        self.server = server

    async def connect(self, session, person: int, tracker: Tracker) -> Client:
        from bench.peers import socketio_client

        return await socketio_client.connect(session, self.server.url, person, tracker)

    async def join(self, client, room, first: bool) -> None:
        await asyncio.wait_for(client.emit("join", {"room": room.key}), DELIVERY_TIMEOUT)

    async def post(self, session, room, body: str) -> float:
        async with session.post(f"{self.server.url}/rooms/{room.key}/messages",
                                data={"body": body}) as response:
            answer = await response.text()
            if response.status != 200:
                raise RuntimeError(f"the peer answered {response.status}: {answer[:300]}")
            return float(json.loads(answer)["committed_at"])


class Floor:
    """The smallest secured Flask POST (bench/peers/secured_post.py), measured on step 3 only:
    it has no sockets. Sender ``S<n>`` is its user ``n + 1``, posting to thread ``n + 1``."""

    name = "the floor"

    def __init__(self, server: Server):
        self.server = server
        self.logins: dict[str, tuple[str, str]] = {}  # room key -> (session cookie, CSRF token)

    async def log_in(self, session, rooms) -> None:
        for room in rooms:
            user = int(room.key[1:]) + 1
            async with session.post(f"{self.server.url}/login/{user}") as response:
                token = await response.text()
                if response.status != 200:
                    raise RuntimeError(f"the floor's login answered {response.status}: {token}")
                self.logins[room.key] = (response.cookies["session"].value, token)

    async def post(self, session, room, body: str) -> float:
        cookie, csrf = self.logins[room.key]
        async with session.post(f"{self.server.url}/threads/{int(room.key[1:]) + 1}/messages",
                                data={"body": body},
                                headers={"Cookie": f"session={cookie}", "X-CSRFToken": csrf,
                                         "HX-Request": "true"}) as response:
            answer = await response.text()
            if response.status != 200:
                raise RuntimeError(f"the floor answered {response.status}: {answer[:300]}")
            return time.time()  # not a commit stamp: step 3 times the round trip only


async def measure_floor(server: Server, rooms: dict, sc: Scale) -> Figures:
    """Step 3 alone, after one warm-up post per sender (the other servers are warm by then)."""
    import aiohttp

    figures = Figures()
    floor = Floor(server)
    senders = [rooms[f"S{n}"] for n in range(sc.senders)]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=None, sock_connect=60),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        await floor.log_in(session, senders)
        await concurrent_senders(floor, session, Tracker(), senders, 1, server.worker_pid(),
                                 sc.quiet_seconds)
        figures.post_ms, figures.cpu_ms_per_post = await concurrent_senders(
            floor, session, Tracker(), senders, sc.posts_per_sender, server.worker_pid(),
            sc.quiet_seconds)
    print(f"  {floor.name}: {len(senders)} senders x {sc.posts_per_sender}: POST p50 "
          f"{percentile(figures.post_ms, 50):.0f} ms, p99 {percentile(figures.post_ms, 99):.0f}"
          f" ms, {figures.cpu_ms_per_post:.1f} ms worker CPU per POST")
    return figures


# --- measuring --------------------------------------------------------------------------------------

@dataclass
class Messages:
    """What one step's measured messages gave (the calibrating first one left out)."""

    recipients: int
    latencies_ms: list[float] = field(default_factory=list)  # commit -> the message's frame
    settled_ms: list[float] = field(default_factory=list)  # commit -> last frame, per message
    frames: list[int] = field(default_factory=list)  # text frames per message, all sockets
    expected: int = 0  # deliveries that should have happened
    posted: int = 0

    @property
    def delivered(self) -> int:
        return len(self.latencies_ms)

    @property
    def frames_per_recipient(self) -> float:
        return statistics.mean(self.frames) / self.recipients if self.frames else float("nan")


@dataclass
class Figures:
    sockets: int = 0
    opened_s: float = 0.0
    held: int = 0
    rss_per_socket: float = 0.0
    failures: list[str] = field(default_factory=list)  # sockets that could not open/subscribe
    idle_cpu_percent: float = 0.0
    small: Messages | None = None
    big: Messages | None = None
    settle: Messages | None = None
    post_ms: list[float] = field(default_factory=list)
    cpu_ms_per_post: float = 0.0


async def gather_limited(coroutines, limit: int = CONNECT_CONCURRENCY):
    """Results in order; a failure (refused, timed out) is returned as its exception."""
    gate = asyncio.Semaphore(limit)

    async def one(coroutine):
        async with gate:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines), return_exceptions=True)


async def open_and_join(system, session, tracker, people, room, first: bool,
                        failures: list[str]) -> list[Client]:
    """Open a socket per person and subscribe it to ``room``; the ones that failed are left out
    (and noted: a server that drops sockets under a burst shows up in the figures)."""
    opened = await gather_limited(system.connect(session, person, tracker) for person in people)
    clients = [c for c in opened if isinstance(c, Client)]
    failures += [f"connect: {type(e).__name__} {e}".strip() for e in opened
                 if not isinstance(e, Client)]
    return await join_all(system, clients, room, first, failures)


async def join_all(system, clients, room, first: bool, failures: list[str]) -> list[Client]:
    joined = await gather_limited(system.join(client, room, first) for client in clients)
    failed = [(c, e) for c, e in zip(clients, joined) if isinstance(e, BaseException)]
    failures += [f"subscribe to {room.key}: {type(e).__name__} {e}".strip() for _, e in failed]
    await asyncio.gather(*(c.close() for c, _ in failed), return_exceptions=True)
    return [c for c, e in zip(clients, joined) if not isinstance(e, BaseException)]


async def send_messages(system, session, tracker: Tracker, room, count: int,
                        quiet: float, members: set[int]) -> Messages:
    """``count`` measured messages to ``room``, each after the previous one's frames reached
    every subscribed member (``members``)."""
    result = Messages(recipients=len(members))
    expected: dict[int, int] | None = None
    for number in range(count + 1):  # number 0 calibrates the frames each socket gets
        token = f"bench-{RUN_TAG}-{room.key}-{number}"
        tracker.start(token, members, expected)
        sent = time.time()
        committed = await system.post(session, room, f"Benchmark message {token}")
        try:
            await asyncio.wait_for(tracker.done.wait(), DELIVERY_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        if expected is None:
            await tracker.quiet(max(quiet, (time.time() - sent) / 2), DELIVERY_TIMEOUT)
        else:
            await tracker.quiet(EXTRA_QUIET, DELIVERY_TIMEOUT)
        tracker.stop()
        counts = dict(tracker.counts)
        if number == 0 or counts != expected:
            expected = counts  # (again, when a message brought more frames than the first)
        if number == 0:
            continue
        result.posted += 1
        result.expected += len(members)
        result.latencies_ms += [(t - committed) * 1000 for t in tracker.arrivals.values()]
        result.settled_ms.append((tracker.last_tracked - committed) * 1000)
        result.frames.append(sum(counts.values()))
    return result


async def concurrent_senders(system, session, tracker: Tracker, rooms, posts_each: int,
                             worker: int, quiet: float) -> tuple[list[float], float]:
    """Every sender posts ``posts_each`` messages back to back, all senders at once. Worker CPU
    is taken until the sockets fall quiet again (the posts' fan-out is part of their cost)."""
    latencies: list[float] = []

    async def sender(room):
        for number in range(posts_each):
            began = time.perf_counter()
            await system.post(session, room, f"Benchmark message from {room.key}, {number}")
            latencies.append((time.perf_counter() - began) * 1000)

    cpu_before = cpu_seconds(worker)
    await asyncio.gather(*(sender(room) for room in rooms))
    await tracker.quiet(quiet)
    cpu_ms = (cpu_seconds(worker) - cpu_before) * 1000
    return latencies, cpu_ms / max(1, len(latencies))


async def measure(system, worker: int, rooms: dict, sc: Scale) -> Figures:
    import aiohttp

    figures = Figures()
    tracker = Tracker()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        # Warm the worker up (its hub, Redis subscriber, templates, pools) before the baseline.
        warm = await open_and_join(system, session, tracker,
                                   rooms["B"].members[:WARM_UP_SOCKETS], rooms["B"], True, [])
        await asyncio.gather(*(client.close() for client in warm), return_exceptions=True)
        await asyncio.sleep(min(2.0, sc.idle_cpu_seconds))
        rss_before = rss_bytes(worker)

        # 1. The idle sockets (the big class's members, on its quiet thread), open to the end.
        started = time.perf_counter()
        idle = await open_and_join(system, session, tracker, rooms["B"].members, rooms["B"],
                                   True, figures.failures)
        figures.opened_s = time.perf_counter() - started
        figures.sockets = len(idle)
        freeze_client_heap()  # this process's own pauses are not the server's latency
        await tracker.quiet(sc.quiet_seconds)
        await asyncio.sleep(1)
        figures.rss_per_socket = (rss_bytes(worker) - rss_before) / max(1, len(idle))
        cpu_before = cpu_seconds(worker)
        await asyncio.sleep(sc.idle_cpu_seconds)
        figures.idle_cpu_percent = (cpu_seconds(worker) - cpu_before) / sc.idle_cpu_seconds * 100
        figures.held = sum(1 for client in idle if not client.closed)
        if figures.failures:
            print(f"  {system.name}: {len(figures.failures):,} sockets failed to open or "
                  f"subscribe, e.g. {figures.failures[0]}")
        print(f"  {system.name}: {figures.sockets:,} sockets opened and subscribed in "
              f"{figures.opened_s:.1f} s; {figures.held:,} open after {sc.idle_cpu_seconds:.0f} s "
              f"idle; {figures.rss_per_socket / 1024:.0f} KiB each; idle CPU "
              f"{figures.idle_cpu_percent:.2f} % of a core")

        # 2. A small class while the others idle.
        small = await open_and_join(system, session, tracker, rooms["A"].members, rooms["A"],
                                    True, figures.failures)
        await tracker.quiet(sc.quiet_seconds)
        figures.small = await send_messages(system, session, tracker, rooms["A"],
                                            sc.small_class_messages, sc.quiet_seconds,
                                            {c.index for c in small})
        print(f"  {system.name}: class of {len(small)}, {figures.small.posted} messages: "
              f"p50 {percentile(figures.small.latencies_ms, 50):.1f} ms, p99 "
              f"{percentile(figures.small.latencies_ms, 99):.1f} ms")

        # 3. Concurrent senders.
        senders = [rooms[f"S{n}"] for n in range(sc.senders)]
        figures.post_ms, figures.cpu_ms_per_post = await concurrent_senders(
            system, session, tracker, senders, sc.posts_per_sender, worker, sc.quiet_seconds)
        print(f"  {system.name}: {len(senders)} senders x {sc.posts_per_sender}: POST p50 "
              f"{percentile(figures.post_ms, 50):.0f} ms, p99 {percentile(figures.post_ms, 99):.0f}"
              f" ms, {figures.cpu_ms_per_post:.1f} ms worker CPU per POST")

        # 4. The big class: every idle socket is a recipient.
        await tracker.quiet(sc.quiet_seconds)
        figures.big = await send_messages(system, session, tracker, rooms["B"],
                                          sc.big_class_messages, sc.quiet_seconds,
                                          {c.index for c in idle})
        print(f"  {system.name}: class of {len(idle):,}, {figures.big.posted} messages: p99 "
              f"{percentile(figures.big.latencies_ms, 99):.0f} ms, delivered "
              f"{figures.big.delivered:,} of {figures.big.expected:,}")

        # 5. Settling: part of them also open class C's thread.
        in_c = set(rooms["C"].members)
        settling = await join_all(system, [c for c in idle if c.index in in_c], rooms["C"],
                                  False, figures.failures)
        await tracker.quiet(sc.quiet_seconds)
        figures.settle = await send_messages(system, session, tracker, rooms["C"],
                                             sc.big_class_messages, sc.quiet_seconds,
                                             {c.index for c in settling})
        print(f"  {system.name}: class of {len(settling):,}: settled in "
              f"{statistics.median(figures.settle.settled_ms):.0f} ms (median of "
              f"{figures.settle.posted}), {figures.settle.frames_per_recipient:.1f} frames per "
              f"recipient")
        await asyncio.gather(*(client.close() for client in idle + small),
                             return_exceptions=True)
    thaw_client_heap()
    return figures


def rows(sc: Scale, ours: Figures, peer: Figures, floor: Figures) -> list[Row]:
    def p(values, q):
        return percentile(values, q)

    return [
        Row(f"a message to a {sc.small_class}-member class while {sc.idle_sockets:,} other "
            "sockets idle, commit→client p50 / p99",
            f"{p(ours.small.latencies_ms, 50):.1f} / {p(ours.small.latencies_ms, 99):.1f} ms",
            f"{p(peer.small.latencies_ms, 50):.1f} / {p(peer.small.latencies_ms, 99):.1f} ms",
            p(ours.small.latencies_ms, 99), p(peer.small.latencies_ms, 99)),
        Row(f"a message to {sc.idle_sockets:,} recipients, commit→client p99 "
            "(delivered)",
            f"{p(ours.big.latencies_ms, 99):,.0f} ms ({ours.big.delivered:,} of "
            f"{ours.big.expected:,})",
            f"{p(peer.big.latencies_ms, 99):,.0f} ms ({peer.big.delivered:,} of "
            f"{peer.big.expected:,})",
            p(ours.big.latencies_ms, 99), p(peer.big.latencies_ms, 99)),
        Row(f"all frames for one message settled, {sc.settle_class:,} recipients (median)",
            f"{statistics.median(ours.settle.settled_ms):,.0f} ms "
            f"({ours.settle.frames_per_recipient:.1f} frames per recipient; message delivered "
            f"{ours.settle.delivered:,} of {ours.settle.expected:,})",
            f"{statistics.median(peer.settle.settled_ms):,.0f} ms "
            f"({peer.settle.frames_per_recipient:.1f})",
            statistics.median(ours.settle.settled_ms), statistics.median(peer.settle.settled_ms)),
        Row(f"POST a message, {sc.senders} concurrent senders, p50 / p99; worker CPU per POST",
            f"{p(ours.post_ms, 50):,.0f} / {p(ours.post_ms, 99):,.0f} ms; "
            f"{ours.cpu_ms_per_post:.1f} ms",
            f"{p(peer.post_ms, 50):,.0f} / {p(peer.post_ms, 99):,.0f} ms; "
            f"{peer.cpu_ms_per_post:.1f} ms",
            p(ours.post_ms, 50), p(peer.post_ms, 50)),
        Row("the same POST, worker CPU per POST (p50 / p99), against the floor of Classhub's "
            "stack: Flask-Login, Flask-WTF's CSRF, a membership SELECT, an ORM INSERT, a Jinja "
            "answer, a PUBLISH, no fan-out (bench/peers/secured_post.py)",
            f"{ours.cpu_ms_per_post:.1f} ms ({p(ours.post_ms, 50):,.0f} / "
            f"{p(ours.post_ms, 99):,.0f} ms)",
            f"{floor.cpu_ms_per_post:.1f} ms ({p(floor.post_ms, 50):,.0f} / "
            f"{p(floor.post_ms, 99):,.0f} ms)",
            ours.cpu_ms_per_post, floor.cpu_ms_per_post),
        Row(f"idle CPU with {ours.sockets:,} sockets ({sc.idle_cpu_seconds:.0f} s)",
            f"{ours.idle_cpu_percent:.2f} % of a core", f"{peer.idle_cpu_percent:.2f} %",
            ours.idle_cpu_percent, peer.idle_cpu_percent),
        Row("memory per idle socket (worker RSS)", f"{ours.rss_per_socket / 1024:.0f} KiB",
            f"{peer.rss_per_socket / 1024:.0f} KiB", ours.rss_per_socket, peer.rss_per_socket),
        Row(f"sockets that failed to open or subscribe (of {sc.idle_sockets + sc.small_class:,}, "
            f"{CONNECT_CONCURRENCY} at a time)", f"{len(ours.failures):,}",
            f"{len(peer.failures):,}"),
    ]


# --- setting up ---------------------------------------------------------------------------------

def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise SystemExit(f"need {needed} open files, the limit is {soft} (ulimit -n)")


def served(server: Server, measuring) -> Figures:
    """``measuring()``'s figures (a coroutine, run here), then the server stopped; its log's
    end printed if measuring failed."""
    try:
        return asyncio.run(measuring())
    except BaseException:
        print(f"--- {server.log_path.name} (end) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


def run_against(make_system, server: Server, rooms, sc: Scale) -> Figures:
    return served(server, lambda: measure(make_system(server), server.worker_pid(), rooms, sc))


def main() -> list[Row]:
    from app.extensions import db
    from bench import chat_data
    from bench.common import bench_app, on_postgresql

    sys.stdout.reconfigure(line_buffering=True)
    sc = scale()
    people = sc.idle_sockets + sc.small_class
    # Both ends of every socket live on this machine: this process and the worker (which
    # inherits the limit).
    raise_file_limit(2 * people + 500)
    connections = people + 500
    started = time.perf_counter()
    with bench_app("realtime") as (app, root):
        with app.app_context():
            data = chat_data.build(sc)
            cookies = chat_data.session_cookies(app, data.user_ids)
            by_person = {n: cookies[user_id] for n, user_id in enumerate(data.user_ids)}
            teachers = {key: chat_data.logged_in_with_csrf(app, room.teacher_id)
                        for key, room in data.rooms.items()}
            db.session.remove()
            db.engine.dispose()
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        redis_url = app.config["REDIS_URL"]
        peer_database = database_url if on_postgresql() else f"sqlite:///{root / 'peer.db'}"
        print(f"Realtime: {database_kind()}, {'Redis at REDIS_URL' if on_postgresql() and os.environ.get('REDIS_URL') else 'embedded Redis'}; "
              f"{people:,} people; set up in {time.perf_counter() - started:.0f} s")
        ours = run_against(
            lambda server: Classhub(server, app.config["SESSION_COOKIE_NAME"], by_person,
                                    teachers, data.user_ids),
            Server("bench.served:app", {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                        "SECRET_KEY": app.config["SECRET_KEY"],
                                        # the limiter still runs, it just never refuses here
                                        "CHAT_MESSAGE_RATE_LIMIT": "10000 per minute"},
                   root / "classhub.log", "/login", connections),
            data.rooms, sc)
        peer = run_against(
            Peer,
            Server("bench.peers.socketio_server:app",
                   {"PEER_DATABASE_URL": peer_database, "PEER_REDIS_URL": redis_url,
                    "PEER_CHANNEL": f"bench-peer-{RUN_TAG}"},
                   root / "peer.log", "/health", connections),
            data.rooms, sc)
        floor_server = Server("bench.peers.secured_post:app",
                              {"PEER_DATABASE_URL": peer_database, "PEER_REDIS_URL": redis_url,
                               "PEER_CHANNEL": f"bench-floor-{RUN_TAG}",
                               "SECRET_KEY": app.config["SECRET_KEY"],
                               "FLOOR_SENDERS": str(sc.senders)},
                              root / "floor.log", "/health", connections)
        floor = served(floor_server, lambda: measure_floor(floor_server, data.rooms, sc))
    print(f"  (realtime ran in {time.perf_counter() - started:.0f} s)")
    return rows(sc, ours, peer, floor)


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
