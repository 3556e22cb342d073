"""After-commit work (publishes, enqueues) runs when the outermost transaction commits, once;
never when a savepoint is released, and never after a rollback (issue 9, item 1).

Scheduling a session (invites/services.py writes each outbox row in a savepoint) and the reminder
sweep (reminders.py inserts each ReminderSent row in a savepoint) used to send their jobs to
Redis at every savepoint release, before the real commit: workers found their rows missing, and
pushes and emails were lost or only sent by the sweep. Here every push and email goes out at
once (one burst of a real RQ worker), exactly once (the sweeps and a second burst add nothing).
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import redis
from rq import Queue
from sqlalchemy import event, func, select

from app.after_commit import (pending_count, redis_after_commit, run_after_commit,
                              run_after_rollback)
from app.db_types import utcnow
from app.extensions import db
from app.mail.models import EmailOutbox, OutboxStatus
from app.mail.tasks import sweep_outbox
from app.jobs import QUEUE_NAMES
from app.notifications import reminders
from app.notifications.models import Notification, NotificationType, ReminderSent
from app.notifications.services import requeue_owed_pushes
from app.redis_conn import get_redis
from app.realtime.events import channel_for
from app.scheduling import services as scheduling
from tests.conftest import commit
from tests.invites.conftest import weekly_input


def queued_jobs(app) -> int:
    connection = get_redis(app)
    return sum(Queue(name, connection=connection).count for name in QUEUE_NAMES)


@pytest.fixture
def jobs_at_commit(app):
    """How many jobs were in Redis as each commit began (SQLAlchemy's before_commit: savepoint
    releases and the real commit): work queued inside the transaction must not be there yet."""
    seen = []

    def before_commit(session):
        seen.append(queued_jobs(app))

    event.listen(db.session(), "before_commit", before_commit)
    yield seen
    event.remove(db.session(), "before_commit", before_commit)


# --- the mechanism ---------------------------------------------------------------------------------

def test_a_released_savepoint_hands_its_work_to_the_commit(school):
    ran = []
    run_after_commit(db.session(), lambda: ran.append("before the savepoint"))
    with db.session.begin_nested():
        school.center.name = "Renamed"
        run_after_commit(db.session(), lambda: ran.append("inside the savepoint"))
    assert ran == []  # released, not committed
    with db.session.begin_nested():
        with db.session.begin_nested():
            run_after_commit(db.session(), lambda: ran.append("two savepoints deep"))
    assert ran == []
    db.session.commit()
    assert ran == ["before the savepoint", "inside the savepoint", "two savepoints deep"]
    db.session.commit()
    assert len(ran) == 3  # once


def test_a_rolled_back_savepoint_drops_only_its_own_work(school):
    ran = []
    run_after_commit(db.session(), lambda: ran.append("kept"))
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            run_after_commit(db.session(), lambda: ran.append("dropped"))
            with db.session.begin_nested():
                run_after_commit(db.session(), lambda: ran.append("dropped too"))
            raise RuntimeError("undo this savepoint")
    with db.session.begin_nested():
        run_after_commit(db.session(), lambda: ran.append("kept too"))
    assert pending_count(db.session()) == 2
    db.session.commit()
    assert ran == ["kept", "kept too"]


def test_undo_work_runs_for_what_is_rolled_back_and_never_for_what_is_committed(school):
    """run_after_rollback (an attachment's file): a rolled-back savepoint undoes its own work at
    once; a released one hands it to the enclosing transaction; the outermost transaction's
    rollback undoes everything left, its commit nothing."""
    undone = []
    school.center.name = "Renamed"
    run_after_rollback(db.session(), lambda: undone.append("outer"))
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            run_after_rollback(db.session(), lambda: undone.append("rolled-back savepoint"))
            raise RuntimeError("undo this savepoint")
    assert undone == ["rolled-back savepoint"]
    with db.session.begin_nested():
        run_after_rollback(db.session(), lambda: undone.append("released savepoint"))
    assert undone == ["rolled-back savepoint"]
    db.session.rollback()
    assert undone == ["rolled-back savepoint", "outer", "released savepoint"]

    school.center.name = "Renamed again"
    run_after_rollback(db.session(), lambda: undone.append("committed"))
    with db.session.begin_nested():
        run_after_rollback(db.session(), lambda: undone.append("committed, released"))
    db.session.commit()
    db.session.rollback()
    assert len(undone) == 3  # nothing committed was undone, then or later


def test_a_rollback_drops_everything_even_from_released_savepoints(school):
    ran = []
    school.center.name = "Renamed"
    run_after_commit(db.session(), lambda: ran.append("outer"))
    with db.session.begin_nested():
        run_after_commit(db.session(), lambda: ran.append("released"))
    db.session.rollback()
    db.session.commit()
    assert ran == [] and pending_count(db.session()) == 0


def test_a_session_closed_without_commit_drops_its_work(school):
    ran = []
    school.center.name = "Renamed"
    run_after_commit(db.session(), lambda: ran.append("never"))
    db.session.close()
    db.session.commit()
    assert ran == []


def test_redis_work_of_one_commit_goes_out_in_one_pipeline(app, school):
    """Publishes and enqueues of a commit go out as one MULTI ... EXEC (one round trip),
    watched with Redis's own MONITOR."""
    from tests.notifications.conftest import queue as rq_queue

    from app.jobs import enqueue_after_commit
    from app.notifications.tasks import sweep_pushes

    # RQ asks the server's version once per process, before the first enqueue: not counted.
    enqueue_after_commit(sweep_pushes, queue="low")
    db.session.commit()
    monitor = get_redis(app).monitor()
    # MONITOR shows every database of the server: others may share it (REDIS_URL's db number).
    own_db = get_redis(app).connection_pool.connection_kwargs.get("db", 0)
    commands = []

    def watch():
        with monitor as m:
            for command in m.listen():
                if command["db"] != own_db:
                    continue
                commands.append(command["command"].split()[0].upper())
                if command["command"].upper().startswith("EXEC"):
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.2)  # MONITOR sees only what comes after it started
    # Traffic on another database of the same server (a read: it changes nothing there).
    pool = get_redis(app).connection_pool
    neighbour = redis.Redis(connection_pool=redis.ConnectionPool(
        connection_class=pool.connection_class, **{**pool.connection_kwargs, "db": own_db + 1}))
    neighbour.exists("classhub-monitor-probe")
    neighbour.close()
    for n in range(3):
        redis_after_commit(db.session(), app,
                           lambda pipe, n=n: pipe.publish(channel_for(app), f"event {n}"))
    enqueue_after_commit(sweep_pushes, queue="low")
    enqueue_after_commit(sweep_pushes, queue="low")
    school.center.name = "Renamed"
    db.session.commit()
    watcher.join(timeout=10)
    assert commands[0] == "MULTI" and commands[-1] == "EXEC", commands
    assert commands.count("MULTI") == 1 and commands.count("PUBLISH") == 3
    assert rq_queue(app, "low").count == 3


# --- scheduling: invitations by email, "New session" pushes --------------------------------------

def test_scheduling_sends_every_invitation_and_push_at_once_exactly_once(
        app, school, make, add_device, push_service, smtp, run_worker, jobs_at_commit):
    students = [make.user(school.center, name=f"Student {n}") for n in range(6)]
    make.course(school.center, teachers=[school.teacher], students=students)
    devices = {s.id: add_device(s) for s in students}
    jobs_at_commit.clear()

    session = scheduling.schedule_session(school.teacher, weekly_input(students))
    commit()  # the request's edge

    # Nothing reached Redis at any savepoint release nor before the commit itself.
    assert jobs_at_commit and set(jobs_at_commit) == {0}
    emails = db.session.scalar(select(func.count(EmailOutbox.id)))
    assert emails == len(students) + 1  # the teacher's copy too
    assert queued_jobs(app) == emails + len(students)  # and a push to each student
    run_worker()
    for student in students:
        assert len(smtp.to(student.email)) == 1
        assert [p["title"] for p in push_service.delivered(devices[student.id])] == \
            [f"New session: {session.title}"]
    teacher_mail = len(smtp.to(school.teacher.email))
    assert db.session.scalar(select(func.count(EmailOutbox.id)).where(
        EmailOutbox.status != OutboxStatus.SENT)) == 0
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.push_due_at.is_not(None))) == 0

    # Exactly once: the sweeps (as if much later) and another burst send nothing more.
    db.session.execute(EmailOutbox.__table__.update().values(
        created_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert sweep_outbox() == 0
    assert requeue_owed_pushes(utcnow() + timedelta(hours=1))["queued"] == 0
    run_worker()
    for student in students:
        assert len(smtp.to(student.email)) == 1
        assert len(push_service.requests_for(devices[student.id])) == 1
    assert len(smtp.to(school.teacher.email)) == teacher_mail


# --- reminders --------------------------------------------------------------------------------------

def test_the_reminder_sweep_pushes_each_reminder_at_once_exactly_once(
        app, school, make, add_device, push_service, run_worker, jobs_at_commit):
    students = [make.user(school.center, name=f"Student {n}") for n in range(5)]
    make.course(school.center, teachers=[school.teacher], students=students)
    devices = {s.id: add_device(s) for s in students}
    soon = utcnow() + timedelta(days=2)
    session = scheduling.schedule_session(school.teacher, weekly_input(
        students, date=soon.date(), frequency="NONE", weekdays=[], count=None))
    run_worker()  # the "New session" pushes
    before = {s.id: len(push_service.requests_for(devices[s.id])) for s in students}
    jobs_at_commit.clear()

    start = scheduling.next_occurrences(session, 1)[0].start
    result = reminders.sweep(now=start - timedelta(minutes=10))

    assert result["reminders"] == len(students) + 1  # the teacher too (no device)
    assert jobs_at_commit and set(jobs_at_commit) == {0}
    assert queued_jobs(app) == len(students)
    run_worker()
    for student in students:
        pushes = push_service.delivered(devices[student.id])[before[student.id]:]
        assert [p["type"] for p in pushes] == ["SESSION_REMINDER"]
    # A second sweep of the same minute, the push sweep and another burst: nothing more.
    assert reminders.sweep(now=start - timedelta(minutes=10))["reminders"] == 0
    assert requeue_owed_pushes(utcnow() + timedelta(hours=1))["queued"] == 0
    run_worker()
    for student in students:
        assert len(push_service.requests_for(devices[student.id])) == before[student.id] + 1
    assert db.session.scalar(select(func.count(ReminderSent.id))) == len(students) + 1
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.type == NotificationType.SESSION_REMINDER)) == len(students) + 1
