"""A Redis outage (a redis-server the test started, then stopped) is not an outage of Classhub
(issue 9, items 1 and 4): what people post and schedule is saved, logins work (rate limits fall
back to memory, with a log line), pages say that live updates are paused, and once Redis is back
the sweeps send every push and email that could not be queued, exactly once."""
from __future__ import annotations

import logging
import re
from datetime import timedelta

import requests
from sqlalchemy import func, select

from app.chat import services as chat
from app.chat.models import Message
from app.db_types import utcnow
from app.extensions import db
from app.mail.models import EmailOutbox, OutboxStatus
from app.mail.tasks import sweep_outbox
from app.notifications.models import Notification
from app.notifications.messages import requeue_owed_notices
from app.notifications.services import requeue_owed_pushes
from app.scheduling import services as scheduling
from tests.conftest import PASSWORD, _TOKEN_RE, commit
from tests.invites.conftest import weekly_input
from tests.live import LiveServer

PAUSED = "Live updates are paused"


def _token(html: str) -> str:
    return next(group for group in _TOKEN_RE.search(html).groups() if group)


def _eventually(check, attempts: int = 60, pause: float = 0.25) -> bool:
    """Whether ``check()`` holds within a bounded number of tries."""
    import time

    for _ in range(attempts):
        if check():
            return True
        time.sleep(pause)
    return False


def _age_outbox() -> None:
    """As if the outbox sweep ran well after the rows were written (it leaves fresh rows to
    their own jobs)."""
    db.session.execute(EmailOutbox.__table__.update().values(
        created_at=utcnow() - timedelta(hours=1)))
    db.session.commit()


def test_scheduling_while_redis_is_down_commits_and_the_sweeps_send_everything_once(
        app_on_own_redis, own_redis, school, make, add_device, push_service, smtp, run_worker,
        caplog):
    app = app_on_own_redis
    students = [make.user(school.center, name=f"Student {n}") for n in range(3)]
    make.course(school.center, teachers=[school.teacher], students=students)
    devices = {s.id: add_device(s) for s in students}
    own_redis.stop()

    with caplog.at_level(logging.WARNING, logger="app.redis_conn"):
        session = scheduling.schedule_session(school.teacher, weekly_input(students))
        commit()  # the request's edge: its enqueues find Redis down

    assert "Redis unavailable" in caplog.text
    db.session.expire_all()
    assert db.session.get(type(session), session.id) is not None  # committed all the same
    owed = db.session.scalars(select(Notification).where(Notification.push_due_at.is_not(None)))
    assert sorted(n.user_id for n in owed) == sorted(s.id for s in students)
    pending = db.session.scalar(select(func.count(EmailOutbox.id)).where(
        EmailOutbox.status == OutboxStatus.PENDING))
    assert pending == len(students) + 1

    own_redis.start()  # back, empty: every job it would have held is gone
    _age_outbox()
    assert sweep_outbox() == pending
    assert requeue_owed_pushes(utcnow() + timedelta(minutes=3)) == \
        {"queued": len(students), "waiting": 0, "given_up": 0}
    run_worker()
    for student in students:
        assert len(smtp.to(student.email)) == 1
        assert [p["title"] for p in push_service.delivered(devices[student.id])] == \
            [f"New session: {session.title}"]
    # Swept again and worked again: nothing more.
    assert sweep_outbox() == 0
    assert requeue_owed_pushes(utcnow() + timedelta(minutes=3))["queued"] == 0
    run_worker()
    for student in students:
        assert len(smtp.to(student.email)) == 1
        assert len(push_service.requests_for(devices[student.id])) == 1


def test_a_push_still_waiting_in_redis_is_not_queued_twice(app_on_own_redis, own_redis, school,
                                                           add_device, push_service, run_worker):
    from app.notifications.models import NotificationType
    from app.notifications.services import notify

    device = add_device(school.students[0])
    notify([school.students[0]], NotificationType.SESSION_SCHEDULED, "Waiting")
    db.session.commit()
    # The job is in its queue (a backlog, say): the sweep leaves it there.
    assert requeue_owed_pushes(utcnow() + timedelta(minutes=3)) == \
        {"queued": 0, "waiting": 1, "given_up": 0}
    run_worker()
    assert [p["title"] for p in push_service.delivered(device)] == ["Waiting"]
    assert requeue_owed_pushes(utcnow() + timedelta(minutes=3))["queued"] == 0


def test_login_and_posting_during_an_outage_work_and_say_what_is_degraded(
        app_on_own_redis, own_redis, app_config, database_url, test_dirs, school, add_device,
        push_service, run_worker):
    """Under gunicorn, as deployed: Redis stops; a student logs in (the rate limiter falls back
    to memory), sees that live updates are paused, and sends a message, which is saved, and its
    notices (the job telling the members, then their pushes) reach the teacher once Redis is
    back."""
    from app.chat.services import get_or_create_direct

    teacher, student = school.teacher, school.students[0]
    thread = get_or_create_direct(teacher, student)
    device = add_device(teacher)
    db.session.commit()
    server = LiveServer(database_url, own_redis.url, app_config["SECRET_KEY"],
                        test_dirs / "gunicorn-outage.log")
    try:
        own_redis.stop()
        browser = requests.Session()
        browser.trust_env = False
        login_page = browser.get(f"{server.url}/login", timeout=20)
        assert login_page.status_code == 200
        response = browser.post(f"{server.url}/login", allow_redirects=False, timeout=20,
                                data={"email": student.email, "password": PASSWORD,
                                      "csrf_token": _token(login_page.text)})
        assert response.status_code == 302, response.text[:300]
        dashboard = browser.get(f"{server.url}/", timeout=20)
        assert dashboard.status_code == 200 and PAUSED in dashboard.text

        page = browser.get(f"{server.url}/chat/threads/{thread.id}", timeout=20)
        assert page.status_code == 200
        key = re.search(r'name="client_key" value="([^"]+)"', page.text).group(1)
        response = browser.post(f"{server.url}/chat/threads/{thread.id}/messages", timeout=20,
                                headers={"HX-Request": "true"},
                                data={"body": "Sent while Redis was down", "client_key": key,
                                      "csrf_token": _token(page.text)})
        assert response.status_code == 200, response.text[:300]
        assert "Sent and saved. Live updates are paused" in response.text
        db.session.expire_all()
        stored = db.session.scalar(select(Message).where(Message.client_key == key))
        assert stored is not None and stored.body == "Sent while Redis was down"
        # Its notices are owed (the job that writes them could not be queued).
        assert stored.notices_due_at is not None

        log = server.log()
        # The rate limiter fails open to per-process memory, with a log line.
        assert "rate limits: Rate limit storage unreachable - falling back to in-memory" in log
        assert "Redis unavailable" in log
        assert "Traceback" not in log

        own_redis.start()
        assert requeue_owed_notices(utcnow() + timedelta(minutes=3))["queued"] == 1
        run_worker()  # the members told, the teacher's push queued and sent
        [told] = db.session.scalars(select(Notification).where(
            Notification.user_id == teacher.id))
        assert told.push_due_at is None  # taken by its push job
        assert [p["body"] for p in push_service.delivered(device)] == ["Sent while Redis was down"]
        # Redis is back: the pages stop saying it is away (checked again every few seconds).
        assert _eventually(lambda: PAUSED not in browser.get(f"{server.url}/", timeout=20).text)
    finally:
        server.stop()
