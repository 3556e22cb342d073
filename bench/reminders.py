"""The reminder sweep at scale: one sweep with 10,000 reminders due, against the set-based
peer, one INSERT … ON CONFLICT DO NOTHING of the same 10,000 rows, on the same database.

    python -m bench reminders

A throwaway database (PostgreSQL when DATABASE_URL is set) and Redis (bench/common.py). The
data (BENCH_SCALE=full; small is a tenth):

- due: 2,000 one-time sessions starting within the sweep's 15 minutes, each with its teacher and
  four students: 2,000 occurrences, 10,000 reminders (10,000 distinct people; one in ten has a
  push device, so push jobs are queued after the commit);
- background the sweep must look at and skip: 1,000 endless weekly series of the same teachers
  at another hour (loaded and expanded on every sweep), and 3,000 one-time sessions on other
  days (filtered out by the query).

Three sweeps: the one that sends the reminders, the same minute again (everything already
reminded), and a quiet minute with nothing due (what the every-minute cron usually costs). SQL
statements are counted with a SQLAlchemy ``before_cursor_execute`` listener. Figures only:
nothing here asserts a time.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from bench.common import Row, StatementCounter, bench_app, database_kind, email, scale, slug

STUDENTS_PER_SESSION = 4
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


def seed(now: datetime, due_sessions: int) -> int:
    from app.accounts.models import Center, Role, User
    from app.extensions import db
    from app.notifications.models import PushSubscription
    from app.scheduling.recurrence import Schedule

    weekly_series, other_one_time = due_sessions // 2, due_sessions * 3 // 2
    center = Center(name="Bench Reminders", slug=slug("bench-reminders"),
                    timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    teachers = [User(center_id=center.id, email=email(f"t{i}"), name=f"Teacher {i}",
                     role=Role.TEACHER, password_hash="unusable", timezone=ZONES[i % 4])
                for i in range(due_sessions)]
    students = [User(center_id=center.id, email=email(f"s{i}"), name=f"Student {i}",
                     role=Role.STUDENT, password_hash="unusable", timezone=ZONES[(i + 1) % 4])
                for i in range(due_sessions * STUDENTS_PER_SESSION)]
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
        if i < weekly_series:
            # Every week at another hour, started two months ago, no end.
            start = (local_now - timedelta(days=63)).replace(hour=(local_now.hour + 6) % 24,
                                                             minute=0)
            weekly = Schedule(timezone=london, start_local=start, duration_minutes=45,
                              frequency="WEEKLY",
                              weekdays=(["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
                                        [start.weekday()],))
            db.session.add(new_session(center.id, teacher.id, f"Weekly {i}", weekly, group))
        if i < other_one_time // 3:
            for days in (2, 9, 30):
                other = Schedule(timezone="UTC", start_local=local_now + timedelta(days=days),
                                 duration_minutes=60)
                db.session.add(new_session(center.id, teacher.id, f"Later {i}-{days}", other,
                                           group))
    db.session.commit()
    return len(people)


def peer_insert(rows: list[tuple]) -> tuple[float, int, int]:
    """The set-based peer: the same (session, occurrence, user) rows in ONE INSERT … ON
    CONFLICT DO NOTHING into a table shaped like reminders_sent (same unique key). Returns
    (seconds including the commit, statements, rows inserted)."""
    import sqlalchemy as sa

    from app.extensions import db

    table = sa.Table(
        "peer_reminders_sent", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.Integer, nullable=False),
        sa.Column("occurrence_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.UniqueConstraint("session_id", "occurrence_start", "user_id"))
    table.create(db.engine)
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values([
        {"session_id": s, "occurrence_start": o, "user_id": u} for s, o, u in rows
    ]).on_conflict_do_nothing()
    with StatementCounter(db.engine) as counter, db.engine.connect() as conn:
        began = time.perf_counter()
        conn.execute(statement)
        conn.commit()
        elapsed = time.perf_counter() - began
    with db.engine.connect() as conn:
        inserted = conn.scalar(sa.select(sa.func.count()).select_from(table))
    return elapsed, counter.count, inserted


def main() -> list[Row]:
    from sqlalchemy import select

    from app.extensions import db
    from app.gc_tuning import tune_for_server
    from app.jobs import get_queue
    from app.notifications import reminders
    from app.notifications.models import ReminderSent

    sc = scale()
    started = time.perf_counter()
    # Tomorrow 09:00 UTC (the sweep is driven by ``now``; weekly series run at 15:00 London).
    now = (datetime.now(timezone.utc) + timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                                   microsecond=0)
    with bench_app("reminders") as (app, root):
        with app.app_context():
            setup = time.perf_counter()
            people = seed(now, sc.reminder_sessions)
            setup = time.perf_counter() - setup
        print(f"Reminders ({database_kind()}): {people:,} people, {sc.reminder_sessions:,} due "
              f"sessions x {1 + STUDENTS_PER_SESSION} people, {sc.reminder_sessions // 2:,} "
              f"weekly series, {sc.reminder_sessions * 3 // 2:,} later sessions; set up in "
              f"{setup:.1f} s")
        runs = [("the sweep that sends them", now),
                ("the same minute again (all reminded)", now + timedelta(seconds=30)),
                ("a quiet minute (nothing due)", now + timedelta(hours=3))]
        # The sweep runs as a cron job in an RQ worker, whose collector is tuned when it starts
        # (worker.py, app/gc_tuning.py): the same here, or the bench's own seeded objects and
        # the default thresholds would be measured instead of the sweep.
        tune_for_server()
        figures = []
        for label, at in runs:
            with app.app_context(), StatementCounter(db.engine) as counter:  # as the cron job
                began, cpu = time.perf_counter(), time.process_time()
                result = reminders.sweep(now=at)
                elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
            figures.append((elapsed, counter.count, result["reminders"]))
            # CPU: this process's (the sweep's own work; the database server's is not in it),
            # far less sensitive than the time to a machine shared with other work.
            print(f"  {label:<40} {elapsed * 1000:9.0f} ms  {cpu * 1000:6.0f} ms CPU  "
                  f"{counter.count:>6,} statements  "
                  f"{result['occurrences']:>5} occurrences  {result['reminders']:>6,} reminders")
        with app.app_context():
            sent_rows = db.session.execute(select(
                ReminderSent.session_id, ReminderSent.occurrence_start, ReminderSent.user_id)).all()
            queued = len(get_queue("high", app).get_job_ids())
            db.session.remove()
            peer_seconds, peer_statements, peer_rows = peer_insert([tuple(r) for r in sent_rows])
        print(f"  {len(sent_rows):,} ReminderSent rows; {queued:,} push jobs queued; the peer "
              f"inserted {peer_rows:,} rows in {peer_seconds * 1000:.0f} ms with "
              f"{peer_statements} statement(s)")
    print(f"  (reminders ran in {time.perf_counter() - started:.0f} s)")
    seconds, statements, sent = figures[0]
    return [Row(f"reminder sweep sending {sent:,} reminders: time, SQL statements (the peer: "
                f"one INSERT … ON CONFLICT DO NOTHING of the {peer_rows:,} rows)",
                f"{seconds:,.2f} s, {statements:,} statements",
                f"{peer_seconds:,.2f} s, {peer_statements} statement", seconds, peer_seconds)]


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
