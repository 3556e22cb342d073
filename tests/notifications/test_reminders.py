"""Reminders: REMINDER_LEAD_MINUTES (15) before every occurrence, to the teacher and every
participant, exactly once: under repeated sweeps, and under two sweeps or two workers running at
the same time in separate processes against the same database. Cancelled occurrences and series
get none, nor do occurrences already under way; a moved occurrence is reminded at its new time;
the text reads in each person's own zone, across a DST change. Time is driven with
``reminders.sweep(now=...)``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time as clock
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from rq.job import JobStatus
from sqlalchemy import func, select

from app.accounts.models import Role
from app.extensions import db
from app.notifications import reminders
from app.notifications.models import (Notification, NotificationType, Priority, ReminderSent)
from app.scheduling import services as scheduling
from app.scheduling.services import SessionInput
from tests.conftest import commit
from tests.live import ROOT
from tests.notifications.conftest import queued_job_ids

UTC = timezone.utc
LEAD = timedelta(minutes=15)
REMINDER = NotificationType.SESSION_REMINDER


def next_weekday(weekday: int, after: date | None = None) -> date:
    after = after or date.today()
    return after + timedelta(days=(weekday - after.weekday()) % 7 or 7)


def session_input(students, day: date, at=time(16, 0), *, weekly=True, count=4,
                  title="Algebra", zone="Europe/London", duration=60) -> SessionInput:
    return SessionInput(title=title, type="CLASS", participant_ids=[s.id for s in students],
                        date=day, start_time=at, timezone=zone, duration_minutes=duration,
                        frequency="WEEKLY" if weekly else "NONE",
                        weekdays=["MO", "TU", "WE", "TH", "FR", "SA", "SU"][day.weekday():][:1]
                        if weekly else [], ends="count", count=count if weekly else None)


def schedule(school, students=None, **kwargs):
    students = school.students if students is None else students
    day = kwargs.pop("day", None) or next_weekday(0, date.today() + timedelta(days=1))
    return scheduling.schedule_session(school.teacher, session_input(students, day, **kwargs),
                                       allow_conflicts=True)


def starts(session, n=4):
    return [o.start for o in scheduling.next_occurrences(session, n)]


def reminded(session=None) -> list[tuple[int, datetime, int]]:
    stmt = select(ReminderSent.session_id, ReminderSent.occurrence_start, ReminderSent.user_id)
    if session is not None:
        stmt = stmt.where(ReminderSent.session_id == session.id)
    return sorted(db.session.execute(stmt).all())


def reminder_notices(user=None) -> list[Notification]:
    stmt = select(Notification).where(Notification.type == REMINDER).order_by(Notification.id)
    if user is not None:
        stmt = stmt.where(Notification.user_id == user.id)
    return list(db.session.scalars(stmt))


def everyone(school):
    return [school.teacher, *school.students]


# --- when, and to whom --------------------------------------------------------------------------

def test_a_reminder_goes_to_the_teacher_and_every_participant_before_each_occurrence(school):
    session = schedule(school)
    first, second = starts(session, 2)
    assert reminders.sweep(now=first - LEAD - timedelta(minutes=1)) == {"occurrences": 0,
                                                                          "reminders": 0}
    assert reminders.sweep(now=first - LEAD) == {"occurrences": 1, "reminders": 3}
    assert reminded(session) == sorted((session.id, first, u.id) for u in everyone(school))
    for user in everyone(school):
        [notice] = reminder_notices(user)
        assert notice.title == "Algebra starts in 15 min"
        assert notice.link == f"/sessions/{session.id}"
        assert notice.priority == Priority.HIGH
        assert notice.tag == f"session-{session.id}"
    assert reminder_notices(school.outsider) == [] and reminder_notices(school.admin) == []

    # The next week's occurrence gets its own.
    assert reminders.sweep(now=second - timedelta(minutes=5))["reminders"] == 3
    assert len(reminded(session)) == 6
    assert [n.title for n in reminder_notices(school.teacher)] == [
        "Algebra starts in 15 min", "Algebra starts in 5 min"]


def test_repeated_sweeps_remind_exactly_once(school):
    session = schedule(school)
    first = starts(session, 1)[0]
    results = [reminders.sweep(now=first - LEAD + timedelta(minutes=m)) for m in range(0, 15)]
    assert sum(r["reminders"] for r in results) == 3
    assert results[0]["reminders"] == 3
    assert len(reminded(session)) == 3
    assert len(reminder_notices()) == 3


def test_no_reminder_once_an_occurrence_has_started(school):
    session = schedule(school)
    first = starts(session, 1)[0]
    for now in (first, first + timedelta(minutes=1), first + timedelta(minutes=30)):
        assert reminders.sweep(now=now)["reminders"] == 0
    assert reminded(session) == []


def test_no_reminder_for_a_cancelled_occurrence(school):
    session = schedule(school)
    occurrences = scheduling.next_occurrences(session, 3)
    scheduling.cancel_occurrence(school.teacher, session, occurrences[1].original_start_local)
    assert reminders.sweep(now=occurrences[1].start - LEAD)["reminders"] == 0
    assert reminders.sweep(now=occurrences[2].start - LEAD)["reminders"] == 3
    assert {row[1] for row in reminded(session)} == {occurrences[2].start}


def test_no_reminder_for_a_cancelled_series(school):
    session = schedule(school)
    first = starts(session, 1)[0]
    scheduling.cancel_series(school.teacher, session)
    assert reminders.sweep(now=first - LEAD) == {"occurrences": 0, "reminders": 0}


def test_a_one_time_session_is_reminded_once(school):
    session = schedule(school, weekly=False)
    [start] = starts(session)
    assert reminders.sweep(now=start - LEAD)["reminders"] == 3
    assert reminders.sweep(now=start - timedelta(minutes=1))["reminders"] == 0


def test_a_moved_occurrence_is_reminded_at_its_new_time(school):
    session = schedule(school)
    occurrences = scheduling.next_occurrences(session, 3)
    target = occurrences[1]
    new_local = target.original_start_local + timedelta(days=1, hours=2)
    # The old time had already been reminded when the teacher moved it (an hour before).
    assert reminders.sweep(now=target.start - LEAD)["reminders"] == 3
    scheduling.move_occurrence(school.teacher, session, target.original_start_local, new_local,
                               allow_conflicts=True)
    moved = scheduling.find_occurrence(session, target.original_start_local)
    assert moved.moved and moved.start == target.start + timedelta(days=1, hours=2)

    assert reminders.sweep(now=target.start - LEAD + timedelta(minutes=1))["reminders"] == 0
    assert reminders.sweep(now=moved.start - LEAD)["reminders"] == 3
    assert reminders.sweep(now=moved.start - LEAD + timedelta(minutes=5))["reminders"] == 0
    assert sorted({row[1] for row in reminded(session)}) == [target.start, moved.start]
    [_, latest] = reminder_notices(school.students[0])
    assert "18:00" in latest.body  # its new time, on the reader's clock (London)


def test_someone_removed_or_deactivated_gets_no_reminder(school):
    s1, s2 = school.students
    session = schedule(school)
    first = starts(session, 1)[0]
    scheduling.remove_participant(school.teacher, session, s1.id)
    s2.is_active_flag = False
    db.session.commit()
    assert reminders.sweep(now=first - LEAD)["reminders"] == 1
    assert [row[2] for row in reminded(session)] == [school.teacher.id]


def test_the_lead_time_follows_the_configuration(app, school, monkeypatch):
    monkeypatch.setitem(app.config, "REMINDER_LEAD_MINUTES", 60)
    session = schedule(school)
    first = starts(session, 1)[0]
    assert reminders.sweep(now=first - timedelta(minutes=61))["reminders"] == 0
    assert reminders.sweep(now=first - timedelta(minutes=60))["reminders"] == 3
    assert reminder_notices(school.teacher)[0].title == "Algebra starts in 60 min"


def test_reminders_reach_devices_as_urgent_pushes(app, school, add_device, push_service,
                                                  run_worker):
    session = schedule(school)
    first = starts(session, 1)[0]
    phone = add_device(school.students[1])
    reminders.sweep(now=first - LEAD)
    assert len(queued_job_ids(app, "high")) == 1  # only the one person with a device
    run_worker()
    [request] = push_service.requests_for(phone)
    assert request.ok and request.status == 201
    assert request.headers["urgency"] == "high" and request.headers["ttl"] == "900"
    assert request.payload["title"] == "Algebra starts in 15 min"
    assert request.payload["url"] == f"/sessions/{session.id}"


# --- local time across a DST change -----------------------------------------------------------------

def next_london_spring_change() -> date:
    """The next last Sunday of March (UK clocks go forward) at least ten days away."""
    for year in (date.today().year, date.today().year + 1):
        last = date(year, 3, 31)
        change = last - timedelta(days=(last.weekday() + 1) % 7)
        if change > date.today() + timedelta(days=10):
            return change
    raise AssertionError("unreachable")


def test_the_reminder_reads_in_each_persons_zone_across_the_dst_change(school):
    """A weekly 16:00 London lesson: on the Monday before the UK change it is 16:00 GMT (16:00
    UTC) and 12:00 EDT (the US changed two weeks earlier); on the Monday after it is 16:00 BST
    (15:00 UTC) and 11:00 EDT."""
    london_teacher, new_york = school.teacher, school.students[1]
    assert (london_teacher.effective_timezone, new_york.effective_timezone) == (
        "Europe/London", "America/New_York")
    change = next_london_spring_change()
    before, after = change - timedelta(days=6), change + timedelta(days=1)
    session = schedule(school, [new_york], day=before, count=2)
    first, second = starts(session, 2)
    assert first == datetime.combine(before, time(16), tzinfo=UTC)
    assert second == datetime.combine(after, time(15), tzinfo=UTC)

    reminders.sweep(now=first - LEAD)
    reminders.sweep(now=second - LEAD)
    teacher_notes = [n.body for n in reminder_notices(london_teacher)]
    student_notes = [n.body for n in reminder_notices(new_york)]
    assert teacher_notes == [
        f"{before:%a %d %b}, 16:00 GMT · 60 min with Terry Teacher",
        f"{after:%a %d %b}, 16:00 BST · 60 min with Terry Teacher"]
    assert student_notes == [
        f"{before:%a %d %b}, 12:00 EDT · 60 min with Terry Teacher",
        f"{after:%a %d %b}, 11:00 EDT · 60 min with Terry Teacher"]


# --- two at once ------------------------------------------------------------------------------------

# A separate Python process: its own app, engine and connections on the same database and Redis.
_SWEEP = r"""
import json, os, sys, time
from datetime import datetime
from app import create_app
config, barrier, now = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
app = create_app(config)
with app.app_context():
    from sqlalchemy import text
    from app.extensions import db
    from app.notifications import reminders
    db.session.execute(text("SELECT 1"))  # connected before the starting line
    db.session.rollback()
    open(os.path.join(barrier, f"ready-{os.getpid()}"), "w").close()
    while not os.path.exists(os.path.join(barrier, "go")):
        time.sleep(0.0005)
    started = time.time()
    result = reminders.sweep(now=datetime.fromisoformat(now))
    print(json.dumps(dict(result, started=started, ended=time.time())))
"""

_WORKER = r"""
import json, os, sys, time
from app import create_app
from worker import build_worker
config, barrier, name = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
app = create_app(config)
worker = build_worker(app, name)
open(os.path.join(barrier, f"ready-{os.getpid()}"), "w").close()
while not os.path.exists(os.path.join(barrier, "go")):
    time.sleep(0.0005)
started = time.time()
worker.work(burst=True, logging_level="WARNING")
print(json.dumps({"started": started, "ended": time.time()}))
"""


def in_processes(app_config, script: str, *arg_sets, **settings) -> list[dict]:
    """Run ``script`` in one process per argument set. Each gets ready (imports the app,
    connects), then all are let go at the same instant (a file barrier)."""
    commit()  # the setup is committed before other processes look (as its edge would)
    config = {k: app_config[k] for k in ("SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY",
                                         "INSTANCE_PATH", "TESTING", "BASE_URL")}
    config.update(settings)
    barrier = Path(tempfile.mkdtemp(prefix="chub-barrier-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = [subprocess.Popen([sys.executable, "-c", script, json.dumps(config),
                                   str(barrier), *args], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for args in arg_sets]
    try:
        deadline = clock.monotonic() + 90
        while len(list(barrier.glob("ready-*"))) < len(processes):
            assert clock.monotonic() < deadline, "the processes did not get ready"
            assert all(p.poll() is None for p in processes), \
                [p.communicate()[1][-3000:] for p in processes if p.poll() is not None]
            clock.sleep(0.01)
        (barrier / "go").touch()
        results = []
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err[-3000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        shutil.rmtree(barrier, ignore_errors=True)
    return results


def overlapped(results) -> bool:
    a, b = results
    return a["started"] < b["ended"] and b["started"] < a["ended"]


BUSY = 12


@pytest.fixture
def busy_hour(school, make):
    """BUSY one-time sessions of this teacher over a few hours, each with three students (some
    in New York): 4 x BUSY reminders due in one sweep, so two sweeps overlap for a while. (Not
    many more: on SQLite the second sweep waits for the first one's write lock, at most the
    driver's 5 s busy timeout.)"""
    students = [make.user(school.center, Role.STUDENT, name=f"Student {n}",
                          timezone="America/New_York" if n % 3 == 0 else None)
                for n in range(12)]
    make.course(school.center, "Big course", teachers=[school.teacher], students=students)
    day = next_weekday(2, date.today() + timedelta(days=1))
    sessions = [schedule(school, students[n % 4 * 3:n % 4 * 3 + 3], day=day,
                         at=time(10 + n // 4, 0), weekly=False, title=f"Lesson {n}")
                for n in range(BUSY)]
    return sessions


def test_two_sweeps_at_once_in_two_processes_remind_exactly_once(app_config, busy_hour):
    # They all start within a few hours: sweep with a lead that covers them all.
    first = min(starts(s, 1)[0] for s in busy_hour)
    now = (first - timedelta(minutes=1)).isoformat()
    results = in_processes(app_config, _SWEEP, [now], [now], REMINDER_LEAD_MINUTES=6 * 60)
    assert overlapped(results), results  # they did run at the same time
    expected = BUSY * 4  # teacher + 3 students each
    assert [r["occurrences"] for r in results] == [BUSY, BUSY]
    assert sum(r["reminders"] for r in results) == expected, results
    db.session.expire_all()
    rows = reminded()
    assert len(rows) == len(set(rows)) == expected
    per_user = db.session.execute(
        select(Notification.user_id, Notification.link, func.count())
        .where(Notification.type == REMINDER)
        .group_by(Notification.user_id, Notification.link)).all()
    assert len(per_user) == expected and {count for *_, count in per_user} == {1}
    # Every ReminderSent row points at its own notification.
    linked = db.session.scalar(select(func.count(func.distinct(ReminderSent.notification_id))))
    assert linked == expected


def test_two_workers_at_once_send_each_reminder_once(app, app_config, school, add_device,
                                                     push_service):
    """Two duplicate cron ticks on the queue and two worker processes started together: one
    set of reminders, one push per device."""
    from app.jobs import get_queue
    from app.notifications.tasks import sweep_reminders

    # Starting within the lead time, in real time (the cron job sweeps "now").
    soon = datetime.now(UTC).astimezone(school.teacher.tz) + timedelta(minutes=10)
    session = scheduling.schedule_session(
        school.teacher, session_input(school.students, soon.date(),
                                      at=soon.time().replace(second=0, microsecond=0),
                                      weekly=False), allow_conflicts=True)
    phones = [add_device(user) for user in everyone(school)]
    ticks = [get_queue("high").enqueue(sweep_reminders) for _ in range(4)]
    # The workers' own apps accept the loopback push service, as the test app does.
    in_processes(app_config, _WORKER, ["sweeper-a"], ["sweeper-b"],
                 PUSH_ALLOW_LOOPBACK_ENDPOINTS=True)
    for tick in ticks:
        tick.refresh()
        assert tick.get_status() == JobStatus.FINISHED, tick.latest_result()
    assert sum(tick.return_value()["reminders"] for tick in ticks) == 3
    db.session.expire_all()
    assert len(reminded(session)) == 3
    for phone in phones:
        [payload] = push_service.delivered(phone)
        assert payload["type"] == "SESSION_REMINDER" and payload["title"].startswith("Algebra")
