"""Live calls benchmark (issue 11): how long joining a call takes until video shows, how many
signalling frames one web process relays per second, and what an active call costs that process.

`python -m bench live` (also part of `make bench`) re-runs itself inside a loopback-only network
namespace (``unshare -n``, as `make test-calls` runs the call tests; FIELD-NOTES "WebRTC"):
media can then only flow over the namespace's own interfaces. Inside it PostgreSQL is reached
through its unix socket (DATABASE_URL rewritten) and Redis is the embedded one. Janus never
gathers candidates on a loopback interface, so the namespace gets a veth pair with 10.99.0.1 (as
tests/janus does), gone with the namespace. Everything runs on a throwaway database
(bench/common.py); the app runs as gunicorn with one gevent worker (gunicorn.conf.py).

1. **Join → first remote frame**, in Debian's Chromium (fake camera and microphone, the flags of
   tests/calls): the teacher starts a call from a group chat (Start call, as a person does),
   everyone opens the room page; all but one join, one after another, each waiting until its
   videos show; then the last person's Join is clicked. Measured: from that click until every
   remote video that should show has presented its first frame, on the joiner's page and on the
   pages already in the call (the joiner's tile there): requestVideoFrameCallback, or the
   video's ``resize`` event (its videoWidth known), whichever fires first; Date.now() on this
   machine's clock in every page. Mesh with 2 and 4 people, a star (1 teacher + 5 learners: the
   learners connect only with the teacher) and Janus with 6 (a real Janus started here with
   app/live/janus_server.py; the app with CALL_ENGINE=janus). Median and max over the runs. No
   peer: the browser's own connection setup is most of it, and nothing comparable runs here.
2. **Signalling relayed per second** by one web process: pairs of websocket clients, each pair
   in a call of its own (joined through live.services.join with the connection id the socket
   was given, as the join view does), every client sending ICE-candidate frames addressed to its
   partner at the per-connection limit (app/live/signalling.py: a burst of 200, then 40 per
   second) so none is refused, with at most 8 frames in flight per client (sent, not yet
   received); the relayed frames the partners receive per second. The most the clients may
   offer (connections x 40/s) is above what one process relays, so the figure is the process's
   rate, not the limit's. Peer: bench/peers/signalling_relay.py (Flask-SocketIO,
   same gunicorn, Redis message queue, no checks at all), the same clients and pacing.
3. **Web process CPU per active call**: the worker's CPU time over 30 s with a 4-person mesh call
   and with a 6-person Janus call connected, minus the same pages open in the room before
   anyone joined (sockets subscribed, nobody in the call). Janus's own CPU is shown beside it.
   No peer.

Figures only; nothing here asserts a time.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import RUN_TAG, Row, course_with, cpu_seconds, database_kind, email, scale

ROOT = Path(__file__).resolve().parent.parent
INSIDE = "CLASSHUB_LIVE_BENCH_NAMESPACE"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# tests/browser/conftest.py's flags: fake camera and microphone, no prompt, loopback ICE.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--allow-loopback-in-peer-connection"]
JANUS_ICE_ADDRESS = "10.99.0.1"
# Signalling frames a client may have sent that its partner has not received yet: the offered
# load follows what the server relays instead of queueing without bound (in the server, and in
# Redis, which drops a pub/sub subscriber whose output buffer grows past its limit).
IN_FLIGHT = 8
MEDIA_TIMEOUT_MS = 60_000  # one join's videos; a run that takes longer is counted as failed
# An ICE candidate as Chromium sends one (the size of a typical signalling frame).
CANDIDATE = {"candidate": {
    "candidate": "candidate:842163049 1 udp 1677729535 192.0.2.10 50123 typ srflx raddr "
                 "0.0.0.0 rport 0 generation 0 ufrag Zx9q network-id 1 network-cost 10",
    "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "Zx9q"}}


@dataclass(frozen=True)
class LiveScale:
    runs: int  # joins measured per call shape
    cpu_seconds: float
    signal_pairs: int
    signal_seconds: float
    rate_per_connection: float  # signalling frames a client sends per second


FULL = LiveScale(runs=5, cpu_seconds=30, signal_pairs=100, signal_seconds=10,
                 rate_per_connection=40)
SMALL = LiveScale(runs=1, cpu_seconds=3, signal_pairs=10, signal_seconds=2,
                  rate_per_connection=40)


def live_scale() -> LiveScale:
    return FULL if scale().name == "full" else SMALL


# --- into the namespace -------------------------------------------------------------------------

def main() -> list[Row]:
    """Run inside a loopback-only network namespace (re-executing this module there) and return
    its rows."""
    if os.environ.get(INSIDE) == "1":
        return measure_all()
    try:
        namespace_ok = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0
    except FileNotFoundError:
        namespace_ok = False
    if not namespace_ok:
        # As make test-calls: a failure under CI, else said plainly (the other benches still run).
        message = "bench live: cannot create a network namespace (needs root and unshare)"
        if os.environ.get("CI") == "true":
            raise SystemExit(message)
        print(message + "; live calls NOT measured")
        return []
    env = dict(os.environ, **{INSIDE: "1"})
    env.pop("REDIS_URL", None)  # the machine's Redis is not reachable in the namespace
    given = env.get("DATABASE_URL", "")
    if given.startswith("postgres"):
        from sqlalchemy.engine import make_url

        url = make_url(given.replace("postgres://", "postgresql://", 1))
        env["DATABASE_URL"] = (f"postgresql:///{url.database}?host=/var/run/postgresql"
                               f"&user={url.username or 'postgres'}")
    else:
        env.pop("DATABASE_URL", None)
    with tempfile.NamedTemporaryFile(prefix="chub-live-", suffix=".json") as out:
        child = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" -m bench.live --rows "$1"',
             sys.executable, out.name], cwd=ROOT, env=env)
        try:
            code = child.wait()
        except BaseException:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=60)
            raise
        if code != 0:
            raise RuntimeError(f"bench live failed inside its namespace (exit {code})")
        return [Row(**row) for row in json.loads(Path(out.name).read_text())]


def add_janus_interface() -> str:
    """A veth pair with JANUS_ICE_ADDRESS in this (loopback-only) namespace: Janus skips
    loopback interfaces when gathering candidates. Gone with the namespace."""
    names = {name for _, name in socket.if_nameindex()}
    if "jns0" not in names:
        if names != {"lo"}:
            raise SystemExit("bench live: not in a loopback-only namespace; refusing to add "
                             "interfaces to this machine's network")
        for command in (["ip", "link", "add", "jns0", "type", "veth", "peer", "name", "jns1"],
                        ["ip", "addr", "add", f"{JANUS_ICE_ADDRESS}/24", "dev", "jns0"],
                        ["ip", "link", "set", "jns0", "up"], ["ip", "link", "set", "jns1", "up"]):
            subprocess.run(command, check=True)
    return JANUS_ICE_ADDRESS


# --- servers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebServer:
    """gunicorn with one gevent worker (gunicorn.conf.py), on a port chosen beforehand (Janus's
    event handler must know it before the app starts)."""

    def __init__(self, target: str, env: dict, log_path: Path, health_path: str,
                 port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "1",
             "--bind", f"127.0.0.1:{self.port}", target],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env=dict(os.environ, **env, PORT=str(self.port), BASE_URL=self.url, ACCESS_LOG="",
                     PYTHONUNBUFFERED="1", WEB_CONCURRENCY="1", WORKER_CONNECTIONS="2000"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{target} exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + health_path, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{target} did not start:\n{self.log_tail()}")

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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --- data -----------------------------------------------------------------------------------------

@dataclass
class Shape:
    """One call shape whose join is measured: ``people`` (the teacher first), who sees whom."""

    key: str
    label: str
    students: int
    star: bool = False
    janus: bool = False
    thread_id: int = 0

    @property
    def people(self) -> int:
        return 1 + self.students


SHAPES = [Shape("mesh2", "mesh, 2 people", 1), Shape("mesh4", "mesh, 4 people", 3),
          Shape("star", "star, 1 teacher + 5 learners", 5, star=True),
          Shape("janus6", "Janus, 6 people", 5, janus=True)]


@dataclass
class Pair:
    room_id: int
    user_ids: tuple[int, int]


@dataclass
class LiveData:
    teacher_id: int
    student_ids: list[int]
    pairs: list[Pair] = field(default_factory=list)


def seed(app, sc: LiveScale) -> LiveData:
    """A teacher and five students in one class, a group chat per call shape; and for the
    signalling bench, per pair a teacher and a student in a class of their own whose call the
    teacher started (through live.services, as the Start call view does)."""
    from werkzeug.security import generate_password_hash

    from app.accounts.models import Center, Course, Role, User
    from app.chat import services as chat
    from app.extensions import db
    from app.live import services as live

    center = Center(name="Live Bench Academy", slug=f"live-bench-{RUN_TAG}",
                    timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    password_hash = generate_password_hash("bench-password-not-used")

    def person(name: str, role) -> User:
        user = User(center_id=center.id, role=role, name=name,
                    email=email(name.lower().replace(" ", ".")), password_hash=password_hash)
        db.session.add(user)
        return user

    def course_of(teacher: User, students: list[User], name: str) -> Course:
        db.session.flush()  # the people's ids
        return course_with(center.id, name, teacher.id, [s.id for s in students])

    teacher = person("Tess Teacher", Role.TEACHER)
    students = [person(f"Student {n}", Role.STUDENT) for n in range(5)]
    db.session.flush()
    course_of(teacher, students, "Live class")
    db.session.commit()
    with app.test_request_context("/"):
        for shape in SHAPES:
            thread = chat.create_group(teacher, f"Call {shape.label}", "Benchmark calls",
                                       [s.id for s in students[:shape.students]])
            db.session.commit()
            shape.thread_id = thread.id
    data = LiveData(teacher.id, [s.id for s in students])
    with app.test_request_context("/"):
        for n in range(sc.signal_pairs):
            pair_teacher = person(f"Pair teacher {n}", Role.TEACHER)
            pair_student = person(f"Pair student {n}", Role.STUDENT)
            db.session.flush()
            thread = chat.ensure_class_thread(
                course_of(pair_teacher, [pair_student], f"Pair {n}"))
            run, _ = live.start_call(pair_teacher, thread)
            db.session.commit()
            data.pairs.append(Pair(run.room_id, (pair_teacher.id, pair_student.id)))
    return data


# --- 1. join -> first remote frame ----------------------------------------------------------------

# Every page notes the first presented frame of each remote video (by tile id) and whether the
# server has said hello on the room topic (the page has its connection id: Join can work).
WATCH_FRAMES = """
window.__bench = {frames: {}, hello: false};
document.addEventListener("htmx:wsBeforeMessage", function (evt) {
  var text = evt.detail.message;
  if (typeof text === "string" && text.indexOf('"type": "hello"') >= 0) window.__bench.hello = true;
});
function __benchWatch(video) {
  if (video.__benchWatched) return;
  video.__benchWatched = true;
  var id = video.parentNode.id;
  var note = function () { if (!(id in window.__bench.frames)) window.__bench.frames[id] = Date.now(); };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(note);
  video.addEventListener("resize", function () { if (video.videoWidth > 0) note(); });
}
new MutationObserver(function () {
  document.querySelectorAll(".video-tile:not(.local) video").forEach(__benchWatch);
}).observe(document, {childList: true, subtree: true});
// A video whose size becomes known without either firing (seen with Janus's streams, whose
// tracks arrive one by one) is still caught, within 20 ms.
setInterval(function () {
  document.querySelectorAll(".video-tile:not(.local) video").forEach(function (video) {
    var id = video.parentNode.id;
    if (video.videoWidth > 0 && !(id in window.__bench.frames)) window.__bench.frames[id] = Date.now();
  });
}, 20);
"""
FRAMES = "() => window.__bench.frames"


@dataclass
class JoinResult:
    shape: Shape
    seconds: list[float] = field(default_factory=list)  # click -> every expected remote frame
    joiner_first: list[float] = field(default_factory=list)  # click -> joiner's first frame
    failed: list[str] = field(default_factory=list)
    idle_cpu_percent: float | None = None
    call_cpu_percent: float | None = None
    janus_cpu_percent: float | None = None


def expected_remote(shape: Shape, index: int, present: int) -> int:
    """Remote videos person ``index`` (0: the teacher) sees with ``present`` people in."""
    if shape.star:
        return present - 1 if index == 0 else 1
    return present - 1


class Browser:
    def __init__(self):
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        self.chromium = self._playwright.chromium.launch(executable_path=CHROMIUM,
                                                         args=CHROMIUM_ARGS)

    def page(self, server: WebServer, cookie_name: str, cookie: str):
        context = self.chromium.new_context(base_url=server.url,
                                            viewport={"width": 1280, "height": 860})
        context.set_default_timeout(30_000)
        context.add_cookies([{"name": cookie_name, "value": cookie, "url": server.url}])
        context.add_init_script(WATCH_FRAMES)
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    def close(self):
        self.chromium.close()
        self._playwright.stop()


def wait_frames(page, tiles: int, excluding: list[str] = ()) -> None:
    try:
        page.wait_for_function(
            """([n, old]) => Object.keys(window.__bench.frames).filter(k => !old.includes(k)
                  && document.getElementById(k)).length >= n""",
            arg=[tiles, list(excluding)], timeout=MEDIA_TIMEOUT_MS)
    except Exception as error:
        state = page.evaluate("""() => [document.getElementById('room-status').textContent,
            window.__bench.frames, [...document.querySelectorAll('.video-tile:not(.local) video')]
            .map(v => v.parentNode.id + ':' + v.videoWidth)]""")
        raise RuntimeError(f"waiting for {tiles} remote video(s) on {page.url}: {state}") from error


def one_join(browser: Browser, server: WebServer, shape: Shape, cookie_name: str,
             cookies: list[str], result: JoinResult, sc: LiveScale, cpu: bool,
             janus_pid: int | None) -> None:
    """One call: started from the chat by the teacher, everyone but the last joins, then the
    measured Join. With ``cpu``: the worker's CPU before anyone joins and with everyone in."""
    pages = [browser.page(server, cookie_name, cookie) for cookie in cookies[:shape.people]]
    teacher = pages[0]
    try:
        teacher.goto(f"/chat/threads/{shape.thread_id}")
        teacher.wait_for_selector("html[data-realtime=open]")
        teacher.click("#start-call")
        teacher.wait_for_url("**/live/rooms/*")
        room_path = teacher.url.split(server.url, 1)[-1]
        for page in pages[1:]:
            page.goto(room_path)
        for page in pages:
            page.wait_for_function("() => window.__bench.hello")
        worker = server.worker_pid()
        if cpu:
            result.idle_cpu_percent = cpu_percent(worker, sc.cpu_seconds)
        for n, page in enumerate(pages[:-1]):  # the others, one after another, media settled
            page.click("#room-join")
            page.wait_for_selector("#room[data-joined=true]")
            for m, other in enumerate(pages[:n + 1]):
                wait_frames(other, expected_remote(shape, m, n + 1))
        before = [list(page.evaluate(FRAMES)) for page in pages]
        joiner = pages[-1]
        clicked = joiner.evaluate(
            "() => { const t = Date.now(); document.getElementById('room-join').click(); return t; }")
        try:
            wait_frames(joiner, expected_remote(shape, len(pages) - 1, len(pages)))
            watched = [(m, page) for m, page in enumerate(pages[:-1])
                       if not shape.star or m == 0]  # star: only the teacher sees the joiner
            for m, page in watched:
                wait_frames(page, 1, before[m])
        except Exception as error:  # noqa: BLE001 - a join that never showed video is a figure
            result.failed.append(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")
            return
        mine = joiner.evaluate(FRAMES).values()
        seen_by_others = [t for m, page in watched for k, t in page.evaluate(FRAMES).items()
                          if k not in before[m]]
        result.joiner_first.append((min(mine) - clicked) / 1000)
        result.seconds.append((max(list(mine) + seen_by_others) - clicked) / 1000)
        if cpu:
            janus_before = cpu_seconds(janus_pid) if janus_pid else 0.0
            result.call_cpu_percent = cpu_percent(worker, sc.cpu_seconds)
            if janus_pid:
                result.janus_cpu_percent = (cpu_seconds(janus_pid) - janus_before) \
                    / sc.cpu_seconds * 100
        teacher.click("#room-end")
        teacher.wait_for_url("**/chat/threads/*")
    finally:
        for page in pages:
            page.context.close()


def cpu_percent(pid: int, seconds: float) -> float:
    time.sleep(min(2.0, seconds))  # let the pages' last requests (catch-ups, joins) finish
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 100


def measure_joins(browser, server, shape, cookie_name, cookies, sc, cpu: bool,
                  janus_pid=None) -> JoinResult:
    result = JoinResult(shape)
    for run in range(sc.runs):
        one_join(browser, server, shape, cookie_name, cookies, result, sc,
                 cpu and run == sc.runs - 1, janus_pid)
    shown = (f"median {statistics.median(result.seconds):.2f} s, max {max(result.seconds):.2f} s"
             if result.seconds else "no run showed video")
    print(f"  join, {shape.label}: {shown} ({len(result.seconds)} of {sc.runs} runs; joiner's "
          f"first remote frame median "
          f"{statistics.median(result.joiner_first) if result.joiner_first else float('nan'):.2f} s)"
          + (f"; failed: {result.failed[0]}" if result.failed else ""))
    if result.call_cpu_percent is not None:
        print(f"  worker CPU, {shape.label}: {result.idle_cpu_percent:.2f} % of a core with the "
              f"pages open, {result.call_cpu_percent:.2f} % in the call"
              + (f"; Janus {result.janus_cpu_percent:.1f} %" if janus_pid else ""))
    return result


# --- 2. signalling relayed per second ---------------------------------------------------------------

@dataclass
class Relay:
    connections: int = 0
    sent: int = 0
    relayed: int = 0
    refused: int = 0
    seconds: float = 0.0
    worker_cpu_percent: float = 0.0
    client_cpu_percent: float = 0.0
    refusals: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.relayed / self.seconds if self.seconds else 0.0


class Counting:
    """What every client's reader counts: relayed frames and refusals (measuring or not); and
    per client the frames it may still send before its partner has received earlier ones."""

    def __init__(self, clients: int):
        self.measuring = False
        self.relayed = self.refused = self.sent = 0
        self.refusals: list[str] = []
        self.window = [asyncio.Semaphore(IN_FLIGHT) for _ in range(clients)]


async def read_frames(ws, index: int, counting: Counting, relayed_marker: str,
                      refused_marker: str | None):
    """Clients ``2k`` and ``2k + 1`` are partners: a frame relayed to one frees its partner's
    window."""
    import aiohttp

    async for frame in ws:
        if frame.type != aiohttp.WSMsgType.TEXT:
            continue
        text = frame.data
        if text == "2":  # Engine.IO ping
            await ws.send_str("3")
        elif refused_marker and refused_marker in text:
            counting.refused += counting.measuring
            counting.refusals.append(text[:200])
            counting.window[index].release()
        elif relayed_marker in text:
            counting.relayed += counting.measuring
            counting.window[index ^ 1].release()


async def paced_sender(ws, index: int, frame: str, rate: float, counting: Counting,
                       stop: asyncio.Event):
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not stop.is_set():
        await counting.window[index].acquire()
        next_at = max(next_at, loop.time() - 1 / rate)  # no catching up after a wait
        await ws.send_str(frame)
        counting.sent += counting.measuring
        next_at += 1 / rate
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def drive(sockets: list[tuple], counting: Counting, sc: LiveScale, worker: int) -> Relay:
    """Every client sends its frame at the paced rate; counted over sc.signal_seconds after a
    second of warming up."""
    import psutil

    stop = asyncio.Event()
    senders = [asyncio.create_task(paced_sender(ws, n, frame, sc.rate_per_connection, counting,
                                                stop))
               for n, (ws, frame) in enumerate(sockets)]
    await asyncio.sleep(1.0)
    me = psutil.Process()
    client_before, worker_before = sum(me.cpu_times()[:2]), cpu_seconds(worker)
    counting.measuring = True
    began = time.perf_counter()
    await asyncio.sleep(sc.signal_seconds)
    counting.measuring = False
    seconds = time.perf_counter() - began
    result = Relay(connections=len(sockets), sent=counting.sent, relayed=counting.relayed,
                   refused=counting.refused, seconds=seconds,
                   worker_cpu_percent=(cpu_seconds(worker) - worker_before) / seconds * 100,
                   client_cpu_percent=(sum(me.cpu_times()[:2]) - client_before) / seconds * 100,
                   refusals=counting.refusals[:3])
    stop.set()
    for sender in senders:
        sender.cancel()  # one may be waiting for its window
    await asyncio.gather(*senders, return_exceptions=True)
    return result


async def classhub_relay(app, server: WebServer, data: LiveData, cookies: dict[int, str],
                         sc: LiveScale) -> Relay:
    import aiohttp

    from app.accounts.models import User
    from app.extensions import db
    from app.live import services as live
    from app.live.models import Room

    cookie_name = app.config["SESSION_COOKIE_NAME"]
    counting = Counting(2 * len(data.pairs))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        sockets, readers, connection_of = [], [], {}
        for pair in data.pairs:
            for user_id in pair.user_ids:
                ws = await session.ws_connect(
                    server.url.replace("http://", "ws://") + "/ws", max_msg_size=0,
                    headers={"Cookie": f"{cookie_name}={cookies[user_id]}"})
                await ws.send_str(json.dumps({"type": "subscribe",
                                              "topics": [f"room:{pair.room_id}"]}))
                while (user_id, pair.room_id) not in connection_of:
                    text = (await ws.receive(timeout=30)).data
                    message = json.loads(text) if text.startswith("{") else {}
                    if message.get("type") == "hello":
                        connection_of[(user_id, pair.room_id)] = message["connection"]
                sockets.append((ws, user_id, pair))
        # Into each pair's call with the connection the socket was given, as the join view does.
        with app.app_context(), app.test_request_context("/"):
            for ws, user_id, pair in sockets:
                live.join(db.session.get(User, user_id), db.session.get(Room, pair.room_id),
                          connection_of[(user_id, pair.room_id)])
                db.session.commit()
        for n, (ws, _, _) in enumerate(sockets):
            readers.append(asyncio.create_task(
                read_frames(ws, n, counting, '"type": "signal"', '"signal-refused"')))
        await asyncio.sleep(0.5)  # the rosters the joins published
        frames = []
        for ws, user_id, pair in sockets:
            partner = next(u for u in pair.user_ids if u != user_id)
            frames.append((ws, json.dumps({"type": "signal", "room": pair.room_id,
                                           "to": connection_of[(partner, pair.room_id)],
                                           "data": CANDIDATE})))
        result = await drive(frames, counting, sc, server.worker_pid())
        for ws, _, _ in sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()
    return result


async def peer_relay(server: WebServer, sc: LiveScale) -> Relay:
    import aiohttp

    counting = Counting(2 * sc.signal_pairs)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        sockets, sids = [], []
        for _ in range(2 * sc.signal_pairs):
            ws = await session.ws_connect(
                server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket",
                max_msg_size=0)
            opening = await ws.receive_str()
            assert opening.startswith("0"), opening[:100]
            await ws.send_str("40")
            connected = await ws.receive_str()
            assert connected.startswith("40"), connected[:100]
            sockets.append(ws)
            sids.append(json.loads(connected[2:])["sid"])
        readers = [asyncio.create_task(read_frames(ws, n, counting, '["signal"', None))
                   for n, ws in enumerate(sockets)]
        frames = [(ws, "42" + json.dumps(["signal", {"to": sids[n ^ 1], "data": CANDIDATE}]))
                  for n, ws in enumerate(sockets)]
        result = await drive(frames, counting, sc, server.worker_pid())
        for ws in sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()
    return result


def print_relay(name: str, relay: Relay) -> None:
    print(f"  signalling, {name}: {relay.per_second:,.0f} relayed/s ({relay.relayed:,} of "
          f"{relay.sent:,} sent in {relay.seconds:.1f} s by {relay.connections} connections, "
          f"{relay.refused} refused); worker CPU {relay.worker_cpu_percent:.0f} % of a core, "
          f"clients {relay.client_cpu_percent:.0f} %"
          + (f"; e.g. {relay.refusals[0]}" if relay.refusals else ""))


# --- all of it --------------------------------------------------------------------------------------

def measure_all() -> list[Row]:
    from app.extensions import db
    from app.live.janus_server import JanusServer
    from bench.chat_data import session_cookies
    from bench.common import bench_app

    sys.stdout.reconfigure(line_buffering=True)
    sc = live_scale()
    started = time.perf_counter()
    with bench_app("live") as (app, root):
        with app.app_context():
            data = seed(app, sc)
            people = [data.teacher_id] + data.student_ids
            cookies = session_cookies(app, people + [u for p in data.pairs for u in p.user_ids])
            db.session.remove()
            db.engine.dispose()
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        call_cookies = [cookies[u] for u in people]
        env = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
               "REDIS_URL": app.config["REDIS_URL"], "SECRET_KEY": app.config["SECRET_KEY"]}
        print(f"Live calls: {database_kind()}, embedded Redis, in a loopback-only network "
              f"namespace; {sc.runs} run(s) per call shape; set up in "
              f"{time.perf_counter() - started:.0f} s")
        joins: dict[str, JoinResult] = {}
        browser = Browser()
        try:
            with WebServer("wsgi:app", dict(env, CALL_ENGINE="mesh"), root / "mesh.log",
                           "/login") as server:
                try:
                    for shape in SHAPES[:3]:
                        joins[shape.key] = measure_joins(browser, server, shape, cookie_name,
                                                         call_cookies, sc,
                                                         cpu=shape.key == "mesh4")
                except BaseException:
                    print(f"--- mesh server log (end) ---\n{server.log_tail()}", file=sys.stderr)
                    raise
            port = free_port()
            janus = JanusServer(webhook_url=f"http://127.0.0.1:{port}/live/janus/events",
                                workdir=root / "janus", ice_enforce_list=add_janus_interface())
            janus.start()
            try:
                with WebServer("wsgi:app", dict(env, CALL_ENGINE="janus", **janus.environment()),
                               root / "janus-app.log", "/login", port=port) as server:
                    try:
                        joins["janus6"] = measure_joins(browser, server, SHAPES[3], cookie_name,
                                                        call_cookies, sc, cpu=True,
                                                        janus_pid=janus.process.pid)
                    except BaseException:
                        print(f"--- janus app log (end) ---\n{server.log_tail()}\n--- janus ---\n"
                              f"{janus.log_tail()}", file=sys.stderr)
                        raise
            finally:
                janus.stop()
        finally:
            browser.close()
        # After the browser: Playwright's sync API keeps an event loop of its own in this thread.
        with WebServer("wsgi:app", dict(env, CALL_ENGINE="mesh"), root / "relay-app.log",
                       "/login") as server:
            try:
                ours = asyncio.run(classhub_relay(app, server, data, cookies, sc))
            except BaseException:
                print(f"--- relay app log (end) ---\n{server.log_tail()}", file=sys.stderr)
                raise
            print_relay("Classhub", ours)
        with WebServer("bench.peers.signalling_relay:app",
                       {"PEER_REDIS_URL": app.config["REDIS_URL"],
                        "PEER_CHANNEL": f"bench-relay-{RUN_TAG}"},
                       root / "relay.log", "/health") as server:
            peer = asyncio.run(peer_relay(server, sc))
            print_relay("Flask-SocketIO relay", peer)
    print(f"  (live ran in {time.perf_counter() - started:.0f} s)")
    return rows(sc, joins, ours, peer)


def rows(sc: LiveScale, joins: dict[str, JoinResult], ours: Relay, peer: Relay) -> list[Row]:
    table = []
    for shape in SHAPES:
        result = joins[shape.key]
        if result.seconds:
            text = (f"{statistics.median(result.seconds):.2f} / {max(result.seconds):.2f} s "
                    f"({len(result.seconds)} of {sc.runs} runs)")
        else:
            text = f"no video within {MEDIA_TIMEOUT_MS // 1000} s ({sc.runs} runs)"
        table.append(Row(f"Join click → first frame of every remote video, both ways, "
                         f"{shape.label} (median / max)", text,
                         "– (no peer: the browser's own setup)",
                         statistics.median(result.seconds) if result.seconds else None))
    table.append(Row(
        f"signalling frames relayed per second, one web process ({ours.connections} "
        f"connections in pairs, each sending {sc.rate_per_connection:.0f}/s: the per-connection "
        "limit is a burst of 200, then 40/s)",
        f"{ours.per_second:,.0f} /s (worker CPU {ours.worker_cpu_percent:.0f} %; "
        f"{ours.refused} refused)",
        f"{peer.per_second:,.0f} /s (worker CPU {peer.worker_cpu_percent:.0f} %), "
        "Flask-SocketIO relay, no checks",
        ours.per_second, peer.per_second))
    for key, label in (("mesh4", "4-person mesh call"), ("janus6", "6-person Janus call")):
        result = joins[key]
        if result.call_cpu_percent is None:
            table.append(Row(f"web process CPU per active call, {label}", "not measured (the call "
                             "did not connect)"))
            continue
        extra = f"; Janus {result.janus_cpu_percent:.1f} %" if result.janus_cpu_percent is not None else ""
        table.append(Row(
            f"web process CPU per active call, {label} ({sc.cpu_seconds:.0f} s, minus the "
            "pages open before joining)",
            f"{result.call_cpu_percent - result.idle_cpu_percent:.2f} % of a core "
            f"({result.call_cpu_percent:.2f} in the call, {result.idle_cpu_percent:.2f} "
            f"before{extra})",
            "– (no peer)"))
    return table


def _interrupted(signum, frame):
    raise KeyboardInterrupt  # clean up: servers, Janus, the throwaway database


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rows"]:
        signal.signal(signal.SIGTERM, _interrupted)
        rows_out = measure_all()
        Path(sys.argv[2]).write_text(json.dumps([asdict(row) for row in rows_out]))
    else:
        from bench.common import format_table

        print(format_table(main()))
