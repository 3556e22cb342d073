"""Control center benchmark (issue 13): how many updates per second the ``cc:<run>`` topic
delivers to a tutor's page while five students post progress as fast as they can, against a
Flask-SocketIO peer measured the same way in the same run.

`python -m bench control_center` seeds, on a throwaway database (PostgreSQL when DATABASE_URL
is set; bench/common.py), one tutor, five students, a session under way with its run started
and one work item per student. Then, for each server (gunicorn, one gevent worker, as
bench/realtime.py runs them):

- Classhub (``bench.served:app``: wsgi.py plus the commit stamp): one websocket with the
  tutor's cookie subscribed as the control center page is (``user:<tutor>`` and ``cc:<run>``);
  each student posts ``progress`` to ``/control-center/items/<id>`` as the student box in the
  room does (htmx, CSRF header), the next POST as soon as the previous answers. Every POST
  publishes ``cc.changed`` on ``cc:<run>``; the tutor's socket gets that student's item row
  (the whole panel when the item's status changed; events waiting together in the hub are
  rendered once).
- The peer (``bench.peers.socketio_server:app``): one Socket.IO client joined to the session's
  room; each student POSTs to ``/rooms/<room>/progress/<student>`` (update a row, commit,
  ``emit`` to the room), as a developer would write the same feature with Flask-SocketIO.

Counted at the tutor's socket: the panel updates that really arrived (Classhub's frames may
join several parts into one websocket frame: each ``cc-panel`` part counts, and each work item
row pushed on its own when only its progress moved), over the posting
window plus the time the last one took to arrive. Latency is commit→frame: each update shows a
student's progress value; it is matched to the latest POST of that student and value that
committed before it arrived (values cycle 1..99 per student, so a match is never ambiguous).
Worker CPU per POST is the worker's CPU over the window (fan-out included) ÷ the POSTs.
Then the same again at a classroom's pace (each student two POSTs a second): flat out measures
throughput, where a saturated worker's latency is mostly queueing; paced gives the latency of a
server that keeps up. Figures only: nothing here asserts a time.
"""
from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo

from bench.common import (COMMIT_HEADER, RUN_TAG, Row, cpu_seconds, database_kind, percentile,
                          scale)

STUDENTS = 5
WINDOW_SECONDS = {"full": 20.0, "small": 4.0}  # students posting, per server
WARM_UP_POSTS = 3  # per student, before the window: templates, pools, the hub's subscriber
QUIET_SECONDS = 1.0  # no update for this long after the window: everything has arrived
# Then at a pace a class could keep up (each student two POSTs a second, ten in all), for the
# latency when the server is not saturated.
PACED_INTERVAL = 0.5
SUBSCRIBED = '<template data-realtime="subscribed"></template>'

_PANEL = re.compile(r'id="cc-panel-(\d+)"')
# A work item's row pushed on its own (only its progress moved), outside any panel.
_ROW = re.compile(r'<li [^>]*data-student-id="(\d+)" hx-swap-oob="true"')
_PROGRESS = re.compile(r'<progress class="cc-progress" max="100" value="(\d+)"')


# --- seeding --------------------------------------------------------------------------------------

@dataclass
class Lesson:
    run_id: int = 0
    tutor_id: int = 0
    student_ids: list[int] = field(default_factory=list)
    item_ids: dict[int, int] = field(default_factory=dict)  # student -> their work item


def seed(app) -> Lesson:
    """A tutor, five students and a session under way with its run and one item each, written
    through the app's services as the pages write them (inside an app context)."""
    from werkzeug.security import generate_password_hash

    from app.accounts.models import Center, Role, User
    from app.chat import services as chat
    from app.control_center import services as cc
    from app.db_types import utcnow
    from app.extensions import db
    from app.live import session_runs
    from app.scheduling import services as scheduling
    from app.scheduling.models import (Frequency, ParticipantRole, SessionParticipant,
                                       SessionType, VideoSession)
    from bench.common import email, slug

    with app.test_request_context("/"):
        center = Center(name="Bench Tutoring", slug=slug("bench-tutoring"), timezone="UTC")
        db.session.add(center)
        db.session.flush()
        password = generate_password_hash("bench-password-not-used")
        tutor = User(center_id=center.id, role=Role.TEACHER, name="Bench Tutor",
                     email=email("cc-tutor"), password_hash=password)
        students = [User(center_id=center.id, role=Role.STUDENT, name=f"Bench Student {n}",
                         email=email(f"cc-student{n}"), password_hash=password)
                    for n in range(STUDENTS)]
        db.session.add_all([tutor, *students])
        db.session.flush()
        # Written directly (the service refuses a start in the past): under way for 5 minutes.
        start = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
        session = VideoSession(center_id=center.id, teacher_id=tutor.id, title="Bench tutoring",
                               description="", type=SessionType.CLASS, timezone="UTC",
                               start_local=start.astimezone(ZoneInfo("UTC")).replace(tzinfo=None),
                               duration_minutes=120, frequency=Frequency.NONE, interval=1,
                               by_weekday="", count=None)
        session.participants = [
            SessionParticipant(center_id=center.id, user_id=tutor.id,
                               role=ParticipantRole.INSTRUCTOR),
            *(SessionParticipant(center_id=center.id, user_id=s.id,
                                 role=ParticipantRole.LEARNER) for s in students)]
        scheduling.refresh_bounds(session)
        db.session.add(session)
        db.session.flush()
        chat.ensure_session_thread(session)
        db.session.commit()
        run, _ = session_runs.start_session_run(tutor, session)
        lesson = Lesson(run_id=run.id, tutor_id=tutor.id, student_ids=[s.id for s in students])
        for student in students:
            item = cc.add_work_item(tutor, session, run.occurrence_start, student.id,
                                    f"Exercise set for {student.name}")
            lesson.item_ids[student.id] = item.id
        db.session.commit()
    return lesson


# --- what arrives at the tutor's socket -------------------------------------------------------------

class Arrivals:
    """The tracker the bench clients hand every text frame to: the updates (student, value,
    arrival) the tutor's page got."""

    def __init__(self, parse):
        self.parse = parse
        self.updates: list[tuple[int, int, float]] = []
        self.frames = 0
        self.last = 0.0
        self.subscribed = asyncio.Event()

    def on_frame(self, client: int, text: str, now: float) -> None:
        if SUBSCRIBED in text:
            self.subscribed.set()
        found = self.parse(text)
        if found:
            self.frames += 1
            self.last = now
            self.updates += [(student, value, now) for student, value in found]

    async def quiet(self, seconds: float, limit: float = 30.0) -> None:
        began = time.time()
        while time.time() - max(self.last, began) < seconds and time.time() - began < limit:
            await asyncio.sleep(0.05)


def classhub_updates(text: str) -> list[tuple[int, int]]:
    """Each panel part, or item row pushed on its own, in a frame: (student, the progress its
    item shows)."""
    marks = sorted([*_PANEL.finditer(text), *_ROW.finditer(text)], key=lambda m: m.start())
    found = []
    for n, mark in enumerate(marks):
        end = marks[n + 1].start() if n + 1 < len(marks) else len(text)
        progress = _PROGRESS.search(text, mark.end(), end)
        if progress is not None:
            found.append((int(mark.group(1)), int(progress.group(1))))
    return found


def peer_updates(text: str) -> list[tuple[int, int]]:
    if not text.startswith('42["progress"'):
        return []
    data = json.loads(text[2:])[1]
    return [(int(data["student"]), int(data["progress"]))]


# --- the two systems --------------------------------------------------------------------------------

class Classhub:
    name = "Classhub"
    parse = staticmethod(classhub_updates)

    def __init__(self, url, cookie_name, lesson: Lesson, logins: dict[int, tuple[str, str]]):
        self.url, self.cookie_name, self.lesson, self.logins = url, cookie_name, lesson, logins

    async def open_tutor_page(self, session, arrivals: Arrivals):
        import aiohttp

        from bench.clients import BROWSER_DEFLATE, Client

        cookie, _ = self.logins[self.lesson.tutor_id]
        # Offering permessage-deflate as the tutor's browser does: its compressing is part of
        # the figures.
        ws = await session.ws_connect(self.url.replace("http://", "ws://") + "/ws",
                                      headers={"Cookie": f"{self.cookie_name}={cookie}"},
                                      max_msg_size=0, compress=BROWSER_DEFLATE,
                                      timeout=aiohttp.ClientWSTimeout(ws_close=2.0))
        client = Client(0, ws, arrivals)
        await ws.send_str(json.dumps({"type": "subscribe", "topics": [
            f"user:{self.lesson.tutor_id}", f"cc:{self.lesson.run_id}"]}))
        await asyncio.wait_for(arrivals.subscribed.wait(), 30)
        return client

    async def post(self, session, student: int, progress: int) -> float:
        cookie, csrf = self.logins[student]
        item = self.lesson.item_ids[student]
        async with session.post(f"{self.url}/control-center/items/{item}",
                                data={"progress": str(progress)},
                                headers={"Cookie": f"{self.cookie_name}={cookie}",
                                         "X-CSRFToken": csrf, "HX-Request": "true"}) as response:
            answer = await response.text()
            if response.status != 200 or COMMIT_HEADER not in response.headers:
                raise RuntimeError(f"progress answered {response.status}: {answer[:300]}")
            return float(response.headers[COMMIT_HEADER])


class Peer:
    name = "Flask-SocketIO"
    parse = staticmethod(peer_updates)

    def __init__(self, url, lesson: Lesson):
        self.url, self.lesson = url, lesson
        self.room = f"cc-{lesson.run_id}"

    async def open_tutor_page(self, session, arrivals: Arrivals):
        from bench.peers import socketio_client

        client = await socketio_client.connect(session, self.url, 0, arrivals)
        await asyncio.wait_for(client.emit("join", {"room": self.room}), 30)
        return client

    async def post(self, session, student: int, progress: int) -> float:
        async with session.post(f"{self.url}/rooms/{self.room}/progress/{student}",
                                data={"progress": str(progress)}) as response:
            answer = await response.text()
            if response.status != 200:
                raise RuntimeError(f"the peer answered {response.status}: {answer[:300]}")
            return float(json.loads(answer)["committed_at"])


# --- measuring ----------------------------------------------------------------------------------------

@dataclass
class Figures:
    posts: int = 0
    window_s: float = 0.0
    updates: int = 0
    frames: int = 0
    delivery_s: float = 0.0  # first POST of the window until the last update arrived
    latencies_ms: list[float] = field(default_factory=list)
    unmatched: int = 0
    post_ms: list[float] = field(default_factory=list)
    cpu_ms_per_post: float = 0.0

    @property
    def updates_per_second(self) -> float:
        return self.updates / self.delivery_s if self.delivery_s else 0.0

    @property
    def posts_per_second(self) -> float:
        return self.posts / self.window_s if self.window_s else 0.0


def match_latencies(commits: dict[int, list[tuple[float, int]]], updates) -> tuple[list, int]:
    """Each update's latency from the commit of the value it shows: the latest POST of that
    student and value committed before it arrived."""
    by_value: dict[tuple[int, int], list[float]] = {}
    for student, posts in commits.items():
        for committed, value in posts:
            by_value.setdefault((student, value), []).append(committed)
    for stamps in by_value.values():
        stamps.sort()
    latencies, unmatched = [], 0
    for student, value, arrived in updates:
        stamps = by_value.get((student, value), [])
        at = bisect_right(stamps, arrived)
        if at == 0:
            unmatched += 1
            continue
        latencies.append((arrived - stamps[at - 1]) * 1000)
    return latencies, unmatched


async def _phase(system, session, arrivals: Arrivals, worker: int, window: float,
                 next_value, interval: float = 0.0) -> Figures:
    """Every student posts for ``window`` seconds: back to back (``interval`` 0), or one POST
    every ``interval`` seconds each (their starts spread over the interval); then the tutor's
    socket falls quiet and what arrived is counted."""
    figures = Figures()
    students = system.lesson.student_ids
    arrivals.updates.clear()
    arrivals.frames, arrivals.last = 0, 0.0
    commits: dict[int, list[tuple[float, int]]] = {s: [] for s in students}
    began = time.time()
    deadline = time.perf_counter() + window
    cpu_before = cpu_seconds(worker)

    async def student_loop(n: int, student: int):
        if interval:
            await asyncio.sleep(interval * n / len(students))
        while time.perf_counter() < deadline:
            value = next_value(student)
            sent = time.perf_counter()
            committed = await system.post(session, student, value)
            figures.post_ms.append((time.perf_counter() - sent) * 1000)
            commits[student].append((committed, value))
            if interval:
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - sent)))

    await asyncio.gather(*(student_loop(n, s) for n, s in enumerate(students)))
    figures.window_s = time.time() - began
    await arrivals.quiet(QUIET_SECONDS)
    figures.cpu_ms_per_post = (cpu_seconds(worker) - cpu_before) * 1000 / max(
        1, len(figures.post_ms))
    figures.posts = len(figures.post_ms)
    figures.updates, figures.frames = len(arrivals.updates), arrivals.frames
    figures.delivery_s = max(figures.window_s, (arrivals.last or began) - began)
    figures.latencies_ms, figures.unmatched = match_latencies(commits, arrivals.updates)
    p50, p99 = percentile(figures.latencies_ms, 50), percentile(figures.latencies_ms, 99)
    pace = f"every {interval:g} s each" if interval else "as fast as they can"
    print(f"  {system.name}, {pace}: {figures.posts:,} progress POSTs in "
          f"{figures.window_s:.1f} s ({figures.posts_per_second:.0f} /s); the tutor's page got "
          f"{figures.updates:,} updates in {figures.frames:,} frames "
          f"({figures.updates_per_second:.0f} /s); commit→frame p50 {p50:.1f} ms, p99 "
          f"{p99:.1f} ms; POST p50 {percentile(figures.post_ms, 50):.1f} ms; worker CPU "
          f"{figures.cpu_ms_per_post:.1f} ms per POST"
          + (f"; {figures.unmatched} updates unmatched" if figures.unmatched else ""))
    return figures


async def measure(system, worker: int, window: float) -> tuple[Figures, Figures]:
    """Flat out (the issue's figure), then at a classroom's pace (PACED_INTERVAL)."""
    import aiohttp

    arrivals = Arrivals(system.parse)
    students = system.lesson.student_ids
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     cookie_jar=aiohttp.DummyCookieJar()) as session:
        tutor = await system.open_tutor_page(session, arrivals)
        counter = {s: 0 for s in students}

        def next_value(student: int) -> int:
            counter[student] += 1
            return (counter[student] - 1) % 99 + 1  # 1..99: 100 would mark the item done

        for _ in range(WARM_UP_POSTS):
            await asyncio.gather(*(system.post(session, s, next_value(s)) for s in students))
        await arrivals.quiet(QUIET_SECONDS)
        flat_out = await _phase(system, session, arrivals, worker, window, next_value)
        paced = await _phase(system, session, arrivals, worker, window, next_value,
                             PACED_INTERVAL)
        await tutor.close()
    return flat_out, paced


def run_against(make_system, server, window: float) -> tuple[Figures, Figures]:
    try:
        return asyncio.run(measure(make_system(server), server.worker_pid(), window))
    except BaseException:
        print(f"--- {server.log_path.name} (end) ---\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()


def rows(ours: tuple[Figures, Figures], peer: tuple[Figures, Figures]) -> list[Row]:
    def p(values, q):
        return percentile(values, q)

    (ours_out, ours_paced), (peer_out, peer_paced) = ours, peer
    per_student = 1 / PACED_INTERVAL
    return [
        Row(f"control center: updates/s reaching a tutor's page (cc:<run>) while {STUDENTS} "
            "students post progress as fast as they can (delivered of posted)",
            f"{ours_out.updates_per_second:,.0f} /s ({ours_out.updates:,} of "
            f"{ours_out.posts:,})",
            f"{peer_out.updates_per_second:,.0f} /s ({peer_out.updates:,} of "
            f"{peer_out.posts:,}), emit to a room per POST",
            ours_out.updates_per_second, peer_out.updates_per_second),
        Row("control center: progress commit→tutor frame p50 / p99, as fast as they can",
            f"{p(ours_out.latencies_ms, 50):,.1f} / {p(ours_out.latencies_ms, 99):,.1f} ms",
            f"{p(peer_out.latencies_ms, 50):,.1f} / {p(peer_out.latencies_ms, 99):,.1f} ms",
            p(ours_out.latencies_ms, 99), p(peer_out.latencies_ms, 99)),
        Row(f"control center: progress commit→tutor frame p50 / p99, {per_student:g} POSTs/s "
            f"per student ({ours_paced.posts_per_second:.0f} /s in all; delivered of posted)",
            f"{p(ours_paced.latencies_ms, 50):,.1f} / {p(ours_paced.latencies_ms, 99):,.1f} ms "
            f"({ours_paced.updates:,} of {ours_paced.posts:,})",
            f"{p(peer_paced.latencies_ms, 50):,.1f} / {p(peer_paced.latencies_ms, 99):,.1f} ms "
            f"({peer_paced.updates:,} of {peer_paced.posts:,})",
            p(ours_paced.latencies_ms, 99), p(peer_paced.latencies_ms, 99)),
        Row(f"control center: progress POST p50 / p99 ({STUDENTS} at once, flat out); worker "
            "CPU per POST",
            f"{p(ours_out.post_ms, 50):.1f} / {p(ours_out.post_ms, 99):.1f} ms; "
            f"{ours_out.cpu_ms_per_post:.1f} ms",
            f"{p(peer_out.post_ms, 50):.1f} / {p(peer_out.post_ms, 99):.1f} ms; "
            f"{peer_out.cpu_ms_per_post:.1f} ms",
            p(ours_out.post_ms, 50), p(peer_out.post_ms, 50)),
    ]


def main() -> list[Row]:
    from app.extensions import db
    from bench import chat_data
    from bench.common import bench_app, on_postgresql
    from bench.realtime import Server

    sys.stdout.reconfigure(line_buffering=True)
    window = WINDOW_SECONDS[scale().name]
    started = time.perf_counter()
    with bench_app("cc") as (app, root):
        with app.app_context():
            lesson = seed(app)
            logins = {user_id: chat_data.logged_in_with_csrf(app, user_id)
                      for user_id in [lesson.tutor_id, *lesson.student_ids]}
            db.session.remove()
            db.engine.dispose()
        database_url = app.config["SQLALCHEMY_DATABASE_URI"]
        redis_url = app.config["REDIS_URL"]
        peer_database = database_url if on_postgresql() else f"sqlite:///{root / 'peer.db'}"
        print(f"Control center: {database_kind()}; 1 tutor, {STUDENTS} students posting for "
              f"{window:.0f} s flat out, then {window:.0f} s paced, per server; set up in "
              f"{time.perf_counter() - started:.0f} s")
        ours = run_against(
            lambda server: Classhub(server.url, app.config["SESSION_COOKIE_NAME"], lesson,
                                    logins),
            Server("bench.served:app", {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                                        "SECRET_KEY": app.config["SECRET_KEY"]},
                   root / "classhub.log", "/login", 100),
            window)
        peer = run_against(
            lambda server: Peer(server.url, lesson),
            Server("bench.peers.socketio_server:app",
                   {"PEER_DATABASE_URL": peer_database, "PEER_REDIS_URL": redis_url,
                    "PEER_CHANNEL": f"bench-peer-cc-{RUN_TAG}"},
                   root / "peer.log", "/health", 100),
            window)
    print(f"  (control center ran in {time.perf_counter() - started:.0f} s)")
    return rows(ours, peer)


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
