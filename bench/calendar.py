"""Calendar benchmarks: a busy teacher's month view and feed, and recurrence at scale.

Everything runs against a throwaway database (PostgreSQL when DATABASE_URL is set, else SQLite)
and Redis (bench/common.py); the app's instance/ and the given database's data are never
touched. Figures only: no assertion here is about time. Printed in detail; not part of the
summary table.
"""
from __future__ import annotations

import math
import random
import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from bench.common import bench_app, course_with, database_kind, email, scale, slug

SCALE_RUNS = 5
SEED = 20261121
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney", "UTC"]
WEEKDAYS = ["MO", "TU", "WE", "TH", "FR"]


# --- measuring ----------------------------------------------------------------------------------

@dataclass
class Figures:
    label: str
    timings_ms: list[float]
    queries: int | None = None
    note: str = ""

    def line(self) -> str:
        ordered = sorted(self.timings_ms)
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        queries = "" if self.queries is None else f"  {self.queries:>3} queries"
        return (f"  {self.label:<52} median {statistics.median(ordered):8.1f} ms"
                f"  p95 {p95:8.1f} ms{queries}  {self.note}")


class QueryCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def _count(self, *args):
        self.count += 1

    @contextmanager
    def counting(self):
        from sqlalchemy import event

        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self._count)
        try:
            yield self
        finally:
            event.remove(self.engine, "before_cursor_execute", self._count)


def timed(fn, runs: int, counter: QueryCounter, before=None,
          warm_up: bool = True) -> tuple[list[float], int, object]:
    """Run ``fn`` ``runs`` times (after one warm-up run); timings in ms, the queries of the
    last run and its result."""
    result = fn() if warm_up else None
    timings = []
    queries = 0
    for _ in range(runs):
        if before:
            before()
        with counter.counting():
            started = time.perf_counter()
            result = fn()
            timings.append((time.perf_counter() - started) * 1000)
        queries = counter.count
    return timings, queries, result


# --- the data ---------------------------------------------------------------------------------

def next_month(today: date) -> date:
    return date(today.year + (today.month == 12), today.month % 12 + 1, 1)


def new_session(rng: random.Random, center_id: int, teacher, title: str, schedule,
                students=(), *, with_overrides: bool = False):
    """A session row as the services would write it (participants, derived bounds, and
    optionally a moved and a cancelled occurrence), without their per-call checks, which
    would dominate the set-up time and are not what is measured."""
    from app.scheduling import recurrence, services
    from app.scheduling.models import (ParticipantRole, SessionOverride, SessionParticipant,
                                       SessionType, VideoSession)

    session = VideoSession(center_id=center_id, teacher_id=teacher.id, title=title,
                           description="", type=SessionType.CLASS)
    services._apply_schedule(session, schedule)
    session.participants = [SessionParticipant(center_id=center_id, user_id=teacher.id,
                                               role=ParticipantRole.INSTRUCTOR)] + [
        SessionParticipant(center_id=center_id, user_id=s.id, role=ParticipantRole.LEARNER)
        for s in students]
    if with_overrides:
        first_ones = recurrence.original_starts_between(
            schedule, schedule.start_local, schedule.start_local + timedelta(days=60))
        if len(first_ones) >= 3:
            session.overrides = [
                SessionOverride(center_id=center_id, original_start_local=first_ones[1],
                                new_start_local=first_ones[1] + timedelta(days=1, hours=1),
                                sequence=1),
                SessionOverride(center_id=center_id, original_start_local=first_ones[2],
                                cancelled=True, sequence=1)]
            session.sequence = 2
    services.refresh_bounds(session)
    return session


def random_schedule(rng: random.Random, first_day: date, spread_days: int, zone: str,
                    frequency: str):
    from app.scheduling import recurrence

    start = datetime.combine(first_day + timedelta(days=rng.randint(0, spread_days)),
                             datetime.min.time().replace(hour=rng.randint(7, 19),
                                                         minute=rng.choice([0, 30])))
    weekdays: tuple[str, ...] = ()
    if frequency == "WEEKLY":
        weekdays = tuple(sorted(rng.sample(WEEKDAYS, rng.randint(1, 3)), key=WEEKDAYS.index))
        while recurrence.WEEKDAY_CODES[start.weekday()] not in weekdays:
            start += timedelta(days=1)  # DTSTART on a BYDAY day, as the services do
    ends = rng.choice(["count", "until", "never"]) if frequency != "NONE" else None
    return recurrence.Schedule(
        timezone=zone, start_local=start, duration_minutes=rng.choice([30, 45, 60, 90]),
        frequency=frequency, weekdays=weekdays,
        count=rng.randint(10, 200) if ends == "count" else None,
        until_local=(datetime.combine(start.date() + timedelta(days=rng.randint(30, 400)),
                                      datetime.max.time().replace(microsecond=0))
                     if ends == "until" else None))


def seed_busy_teacher(rng: random.Random, month: date):
    """A center, a teacher with 30 students in two courses, and 300 sessions around ``month``:
    100 weekly series (a third with a moved and a cancelled occurrence) and 200 one-time."""
    from werkzeug.security import generate_password_hash

    from app.accounts.models import Center, Role, User
    from app.extensions import db

    center = Center(name="Bench Academy", slug=slug("bench-academy"), timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    password_hash = generate_password_hash("bench-password")
    teacher = User(center_id=center.id, email=email("teacher"), name="Bench Teacher",
                   role=Role.TEACHER, password_hash=password_hash)
    students = [User(center_id=center.id, email=email(f"s{i}"), name=f"Student {i}",
                     role=Role.STUDENT, password_hash=password_hash,
                     timezone=rng.choice([None, "America/New_York", "Asia/Tokyo"]))
                for i in range(30)]
    db.session.add_all([teacher, *students])
    db.session.flush()
    for n, group in enumerate((students[:15], students[15:])):
        course_with(center.id, f"Course {n}", teacher.id, [s.id for s in group])
    for n in range(300):
        weekly = n < 100
        schedule = random_schedule(rng, month - timedelta(days=14 if weekly else 0),
                                   27, "Europe/London", "WEEKLY" if weekly else "NONE")
        db.session.add(new_session(rng, center.id, teacher,
                                   f"{'Weekly' if weekly else 'Lesson'} {n}", schedule,
                                   rng.sample(students, rng.randint(1, 4)),
                                   with_overrides=weekly and n % 3 == 0))
    db.session.commit()
    return teacher


def seed_series_at_scale(rng: random.Random, today: date, n: int = 1000) -> int:
    """``n`` recurring series (daily and weekly, five zones, COUNT/UNTIL/endless, a fifth with
    overrides) of another center."""
    from app.accounts.models import Center, Role, User
    from app.extensions import db

    center = Center(name="Bench Scale", slug=slug("bench-scale"), timezone="UTC")
    db.session.add(center)
    db.session.flush()
    teacher = User(center_id=center.id, email=email("scale"), name="Scale Teacher",
                   role=Role.TEACHER, password_hash="unusable")
    db.session.add(teacher)
    db.session.flush()
    for i in range(n):
        schedule = random_schedule(rng, today - timedelta(days=60), 120, rng.choice(ZONES),
                                   rng.choice(["DAILY", "WEEKLY", "WEEKLY"]))
        db.session.add(new_session(rng, center.id, teacher, f"Series {i}", schedule,
                                   with_overrides=i % 5 == 0))
    db.session.commit()
    return center.id


# --- the benchmarks ---------------------------------------------------------------------------

def month_view(app, counter, teacher_email: str, month: date, figures: list[Figures],
               runs: int):
    from app.extensions import db
    from app.scheduling import services

    client = app.test_client()
    response = client.post("/login", data={"email": teacher_email, "password": "bench-password"})
    if response.status_code != 302:
        figures.append(Figures("login failed", [0.0], note=f"HTTP {response.status_code}"))
        return
    path = f"/calendar?view=month&date={month.isoformat()}"
    probe = client.get(path)
    if probe.status_code == 404:
        print(f"  (skipped GET {path}: the calendar route answered 404)")
    else:
        timings, queries, response = timed(lambda: client.get(path), runs, counter)
        figures.append(Figures(f"GET {path}", timings, queries,
                               f"HTTP {response.status_code}, {len(response.data) // 1024} KiB"))

    with app.app_context():
        from app.accounts.models import User
        from sqlalchemy import select

        teacher_id = db.session.scalar(select(User.id).where(User.email == teacher_email))
        window_start = datetime.combine(month, datetime.min.time(), tzinfo=timezone.utc)
        window_end = datetime.combine(next_month(month), datetime.min.time(),
                                      tzinfo=timezone.utc)

        def visible():
            teacher = db.session.get(User, teacher_id)
            return services.visible_occurrences(teacher, window_start, window_end)

        timings, queries, occurrences = timed(visible, runs, counter, db.session.remove)
        figures.append(Figures("services.visible_occurrences (the month)", timings, queries,
                               f"{len(occurrences)} occurrences"))

        token = services.feed_token_for(db.session.get(User, teacher_id))
    timings, queries, response = timed(lambda: client.get(f"/calendar/feed/{token}.ics"),
                                       runs, counter)
    figures.append(Figures("GET /calendar/feed/<token>.ics (300 sessions)", timings, queries,
                           f"HTTP {response.status_code}, {len(response.data) // 1024} KiB"))


def expansion_at_scale(app, counter, center_id: int, today: date, figures: list[Figures]):
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from app.extensions import db
    from app.scheduling import recurrence, services
    from app.scheduling.models import VideoSession

    window_start = datetime.combine(today, datetime.min.time(), tzinfo=timezone.utc)
    window_end = window_start + timedelta(days=365)

    def load():
        return list(db.session.scalars(
            select(VideoSession).where(VideoSession.center_id == center_id)
            .options(selectinload(VideoSession.overrides))))

    with app.app_context():
        sessions = load()
        pure = [(services.schedule_of(s), services.changes_of(s), s.id) for s in sessions]

        def expand_all():
            return sum(len(recurrence.expand(schedule, changes, window_start, window_end,
                                             session_id=sid)) for schedule, changes, sid in pure)

        timings, queries, total = timed(expand_all, SCALE_RUNS, counter, warm_up=False)
        figures.append(Figures(f"recurrence.expand, {len(pure)} series x 1 year", timings,
                               queries, f"{total} occurrences, "
                               f"{statistics.median(timings) * 1000 / len(pure):.0f} us/series"))

        def through_services():
            return len(services.occurrences_between(load(), window_start, window_end))

        timings, queries, total = timed(through_services, SCALE_RUNS, counter, db.session.remove,
                                         warm_up=False)
        figures.append(Figures(f"load + services.occurrences_between, {len(sessions)} series",
                               timings, queries, f"{total} occurrences"))


def main() -> list:
    from app.db_types import utcnow
    from app.extensions import db

    sc = scale()
    rng = random.Random(SEED)
    started = time.perf_counter()
    # WTF_CSRF_ENABLED off: the bench logs in with a bare POST.
    with bench_app("calendar", WTF_CSRF_ENABLED=False,
                   LOGIN_RATE_LIMIT="1000 per minute") as (app, root):
        today = utcnow().date()
        month = next_month(today)
        with app.app_context():
            counter = QueryCounter(db.engine)
            setup = time.perf_counter()
            teacher = seed_busy_teacher(rng, month)
            teacher_email = teacher.email
            busy_setup = time.perf_counter() - setup
            setup = time.perf_counter()
            center_id = seed_series_at_scale(rng, today, sc.calendar_series)
            scale_setup = time.perf_counter() - setup
        print(f"Calendar ({database_kind()}, {sc.calendar_runs} runs, {SCALE_RUNS} at scale)")
        print(f"  set-up: 300 sessions (100 weekly) in {busy_setup:.1f} s, "
              f"{sc.calendar_series:,} series in {scale_setup:.1f} s")
        figures: list[Figures] = []
        month_view(app, counter, teacher_email, month, figures, sc.calendar_runs)
        expansion_at_scale(app, counter, center_id, today, figures)
        for figure in figures:
            print(figure.line())
    print(f"  (calendar ran in {time.perf_counter() - started:.1f} s)")
    return []


if __name__ == "__main__":
    main()
