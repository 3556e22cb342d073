"""The reminder sweep at scale: how long one sweep takes when 10,000 reminders are due.

    python -m bench.reminders

A throwaway SQLite database and embedded Redis in a temporary directory. The data:

- due: 2,000 one-time sessions starting within the sweep's 15 minutes, each with its teacher and
  four students: 2,000 occurrences, 10,000 reminders (10,000 distinct people; one in ten has a
  push device, so 1,000 push jobs are queued after the commit);
- background the sweep must look at and skip: 1,000 endless weekly series of the same teachers
  at another hour (loaded and expanded on every sweep), and 3,000 one-time sessions on other
  days (filtered out by the query).

Three sweeps: the one that sends the 10,000 reminders, the same minute again (everything already
reminded), and a quiet minute with nothing due (what the every-minute cron usually costs).
Figures only: nothing here asserts a time.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.common import build_app

DUE_SESSIONS = 2000
STUDENTS_PER_SESSION = 4
WEEKLY_SERIES = 1000
OTHER_ONE_TIME = 3000
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", None]


def new_session(center_id, teacher_id, title, schedule, student_ids):
    """A session row as schedule_session writes it (participants, derived bounds), without
    its per-call checks, which would dominate the set-up and are not what is measured."""
    from app.scheduling import services
    from app.scheduling.models import (ParticipantRole, SessionParticipant, SessionType,
                                       VideoSession)

    session = VideoSession(center_id=center_id, teacher_id=teacher_id, title=title,
                           description="", type=SessionType.CLASS)
    services._apply_schedule(session, schedule)
    session.participants = [SessionParticipant(center_id=center_id, user_id=teacher_id,
                                               role=ParticipantRole.INSTRUCTOR)] + [
        SessionParticipant(center_id=center_id, user_id=s, role=ParticipantRole.LEARNER)
        for s in student_ids]
    services.refresh_bounds(session)
    return session


def seed(now: datetime) -> int:
    from app.accounts.models import Center, Role, User
    from app.extensions import db
    from app.notifications.models import PushSubscription
    from app.scheduling.recurrence import Schedule

    center = Center(name="Bench Reminders", slug="bench-reminders", timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    teachers = [User(center_id=center.id, email=f"t{i}@bench.example", name=f"Teacher {i}",
                     role=Role.TEACHER, password_hash="unusable", timezone=ZONES[i % 4])
                for i in range(DUE_SESSIONS)]
    students = [User(center_id=center.id, email=f"s{i}@bench.example", name=f"Student {i}",
                     role=Role.STUDENT, password_hash="unusable", timezone=ZONES[(i + 1) % 4])
                for i in range(DUE_SESSIONS * STUDENTS_PER_SESSION)]
    db.session.add_all(teachers + students)
    db.session.flush()
    people = teachers + students
    db.session.add_all([
        PushSubscription(center_id=center.id, user_id=u.id,
                         endpoint=f"https://fcm.googleapis.com/fcm/send/bench-{u.id}",
                         p256dh="B" + "A" * 86, auth="c2VjcmV0LWF1dGgtMTY")
        for u in people[::10]])

    london = "Europe/London"
    local_now = now.astimezone(timezone.utc).replace(tzinfo=None)  # the due ones are in UTC
    for i, teacher in enumerate(teachers):
        group = [s.id for s in students[i * STUDENTS_PER_SESSION:(i + 1) * STUDENTS_PER_SESSION]]
        due = Schedule(timezone="UTC", start_local=local_now + timedelta(minutes=1 + i % 14),
                       duration_minutes=60)
        db.session.add(new_session(center.id, teacher.id, f"Lesson {i}", due, group))
        if i < WEEKLY_SERIES:
            # Every week at another hour, started two months ago, no end.
            start = (local_now - timedelta(days=63)).replace(hour=(local_now.hour + 6) % 24,
                                                             minute=0)
            weekly = Schedule(timezone=london, start_local=start, duration_minutes=45,
                              frequency="WEEKLY",
                              weekdays=(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
                                        [start.weekday()],))
            db.session.add(new_session(center.id, teacher.id, f"Weekly {i}", weekly, group))
        if i < OTHER_ONE_TIME // 3:
            for days in (2, 9, 30):
                other = Schedule(timezone="UTC", start_local=local_now + timedelta(days=days),
                                 duration_minutes=60)
                db.session.add(new_session(center.id, teacher.id, f"Later {i}-{days}", other,
                                           group))
    db.session.commit()
    return len(people)


class QueryCounter:
    def __init__(self, engine):
        self.engine = engine
        self.count = 0

    def __call__(self, *args):
        self.count += 1

    def __enter__(self):
        from sqlalchemy import event

        self.count = 0
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self)


def main() -> None:
    from flask_migrate import upgrade
    from sqlalchemy import func, select

    from app.extensions import db
    from app.jobs import get_queue
    from app.notifications import reminders
    from app.notifications.models import ReminderSent

    root = Path(tempfile.mkdtemp(prefix="chub-bench-"))  # short: unix socket paths are limited
    started = time.perf_counter()
    # Tomorrow 09:00 UTC (the sweep is driven by ``now``; weekly series run at 15:00 London).
    now = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                                   microsecond=0)
    try:
        app = build_app(root)
        with app.app_context():
            upgrade()
            setup = time.perf_counter()
            people = seed(now)
            setup = time.perf_counter() - setup
            counter = QueryCounter(db.engine)
        print(f"Classhub reminder sweep benchmark (SQLite in {root}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        print(f"  set-up: {people:,} people, {DUE_SESSIONS:,} due sessions x "
              f"{1 + STUDENTS_PER_SESSION} people, {WEEKLY_SERIES:,} weekly series, "
              f"{OTHER_ONE_TIME:,} later sessions in {setup:.1f} s")

        runs = [("the sweep that sends them", now),
                ("the same minute again (all reminded)", now + timedelta(seconds=30)),
                ("a quiet minute (nothing due)", now + timedelta(hours=3))]
        for label, at in runs:
            with app.app_context(), counter:
                began = time.perf_counter()
                result = reminders.sweep(now=at)
                elapsed = (time.perf_counter() - began) * 1000
            print(f"  {label:<40} {elapsed:9.0f} ms  {counter.count:>6} queries  "
                  f"{result['occurrences']:>5} occurrences  {result['reminders']:>6} reminders"
                  + (f"  ({elapsed / result['reminders']:.2f} ms/reminder)"
                     if result["reminders"] else ""))
        with app.app_context():
            rows = db.session.scalar(select(func.count(ReminderSent.id)))
            queued = len(get_queue("high", app).get_job_ids())
        print(f"  {rows:,} ReminderSent rows; {queued:,} push jobs queued (one in ten has a device)")
        print(f"  total {time.perf_counter() - started:.1f} s")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
