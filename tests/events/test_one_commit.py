"""One commit per request or job (issue 10; DESIGN.md "One commit per request or job").

Services add and flush; the edge commits once (app/transactions.py): a request whose response
succeeds, a job that returns. These tests count the COMMITs the database receives (a SQLAlchemy
connection event) while one request or one job runs, and check that a request or job that fails
after a service flushed leaves no row behind and sends nothing: no job queued, no event
published."""
from __future__ import annotations

import io
import json
from contextlib import contextmanager
from datetime import datetime, time, timedelta

import pytest
from flask import abort, has_request_context
from sqlalchemy import event, func, select

from app.accounts.models import Course, Role, User
from app.chat import attachments
from app.chat import services as chat
from app.chat.models import Attachment, Message
from app.extensions import db
from app.jobs import QUEUE_NAMES, get_queue
from app.notifications.models import PushSubscription
from app.realtime.events import channel_for
from app.redis_conn import get_redis
from app.scheduling import services as scheduling
from app.scheduling.models import SessionOverride, SessionParticipant
from app.scheduling.services import SessionInput
from tests.conftest import commit


class Tally:
    def __init__(self):
        self.commits = 0
        self.rollbacks = 0


@contextmanager
def counting_commits():
    """Count the transactions the database commits (and rolls back) inside the block, in any
    session: the request's, the job's, the test's own."""
    tally = Tally()

    def on_commit(conn):
        tally.commits += 1

    def on_rollback(conn):
        tally.rollbacks += 1

    event.listen(db.engine, "commit", on_commit)
    event.listen(db.engine, "rollback", on_rollback)
    try:
        yield tally
    finally:
        event.remove(db.engine, "commit", on_commit)
        event.remove(db.engine, "rollback", on_rollback)


def fresh_count(model, *where) -> int:
    """What another session sees: only committed rows."""
    db.session.remove()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def queued_jobs(app) -> int:
    return sum(get_queue(name, app).count for name in QUEUE_NAMES)


def monday_in_january() -> datetime:
    day = datetime(datetime.now().year + 1, 1, 4)
    return day - timedelta(days=day.weekday()) + timedelta(weeks=1)


def weekly(students) -> SessionInput:
    start = monday_in_january()
    return SessionInput(title="Algebra", type="CLASS", participant_ids=[s.id for s in students],
                        date=start.date(), start_time=time(16, 0), timezone="Europe/London",
                        duration_minutes=60, frequency="WEEKLY", weekdays=["MO"], ends="count",
                        count=4)


@pytest.fixture
def group(school):
    """The teacher's group chat with both students; the first student has a push device, so a
    message queues a push job after its commit."""
    student = school.students[0]
    db.session.add(PushSubscription(center_id=school.center.id, user_id=student.id,
                                    endpoint=f"https://fcm.googleapis.com/fcm/send/s{student.id}",
                                    p256dh="B" * 87, auth="A" * 22, active=True))
    thread = chat.create_group(school.teacher, "Exam prep", "",
                               [s.id for s in school.students])
    commit()
    return thread


# --- a successful mutation request commits exactly once ------------------------------------------

def _post_message(school, as_user, group):
    browser = as_user(school.teacher)
    group_id = group.id

    def act():
        return browser.post(f"/chat/threads/{group_id}/messages",
                            data={"body": "Homework: page 12", "csrf_token": browser.csrf})

    return act, lambda: fresh_count(Message, Message.body == "Homework: page 12") == 1


def _schedule_session(school, as_user, group):
    browser = as_user(school.teacher)
    start = monday_in_january()
    data = {"title": "Quadratics", "description": "", "type": "CLASS",
            "participant_ids": [str(s.id) for s in school.students], "course_id": "",
            "date": start.date().isoformat(), "start_time": "16:00",
            "timezone": "Europe/London", "duration_minutes": "60", "frequency": "NONE",
            "ends": "count", "count": "10", "until_date": "", "csrf_token": browser.csrf}

    def act():
        return browser.post("/sessions", data=data)

    from app.scheduling.models import VideoSession

    return act, lambda: fresh_count(VideoSession, VideoSession.title == "Quadratics") == 1


def _rsvp(school, as_user, group):
    session = scheduling.schedule_session(school.teacher, weekly(school.students))
    commit()
    session_id, student_id = session.id, school.students[0].id
    browser = as_user(school.students[0])

    def act():
        return browser.post(f"/sessions/{session_id}/rsvp",
                            data={"answer": "ACCEPTED", "csrf_token": browser.csrf})

    return act, lambda: fresh_count(SessionParticipant, SessionParticipant.session_id == session_id,
                                    SessionParticipant.user_id == student_id,
                                    SessionParticipant.rsvp == "ACCEPTED") == 1


def _move_occurrence(school, as_user, group):
    session = scheduling.schedule_session(school.teacher, weekly(school.students))
    commit()
    session_id = session.id
    browser = as_user(school.teacher)
    first = monday_in_january().replace(hour=16)

    def act():
        return browser.post(f"/sessions/{session_id}/occurrences/{first.isoformat()}/move",
                            data={"date": (first + timedelta(days=1)).date().isoformat(),
                                  "start_time": "17:30", "duration_minutes": "90",
                                  "reason": "Room change", "csrf_token": browser.csrf})

    return act, lambda: fresh_count(SessionOverride, SessionOverride.session_id == session_id) == 1


def _admin_deactivates(school, as_user, group):
    browser = as_user(school.admin)
    student_id = school.outsider.id

    def act():
        return browser.post(f"/admin/users/{student_id}/active",
                            data={"active": "0", "csrf_token": browser.csrf})

    return act, lambda: fresh_count(User, User.id == student_id, User.is_active_flag.is_(False)) == 1


@pytest.mark.parametrize("setup", [_post_message, _schedule_session, _rsvp, _move_occurrence,
                                   _admin_deactivates],
                         ids=["post a message", "schedule a session", "RSVP",
                              "move an occurrence", "admin deactivates a person"])
def test_a_mutation_request_commits_exactly_once(school, as_user, group, setup):
    act, done = setup(school, as_user, group)
    db.session.remove()  # the test's own session holds nothing open during the request
    with counting_commits() as tally:
        response = act()
    assert response.status_code < 400, response.get_data(as_text=True)[:2000]
    assert tally.commits == 1, f"{tally.commits} commits for one request"
    assert done(), "the request's work is not visible to another session"


def test_a_get_that_writes_is_committed(school, as_user):
    """The first visit to the calendar page makes the person's feed address (a GET that
    writes, in a savepoint): the edge commits it, once."""
    from app.scheduling.models import CalendarFeed

    browser = as_user(school.teacher)
    teacher_id = school.teacher.id
    db.session.remove()
    with counting_commits() as tally:
        response = browser.get("/calendar")
    assert response.status_code == 200
    assert tally.commits == 1
    assert fresh_count(CalendarFeed, CalendarFeed.user_id == teacher_id) == 1


# --- a request that fails after a service flushed keeps nothing and sends nothing -----------------

def next_event(listener):
    """The next event published (after-commit publishes are sent before the request returns;
    the subscription's own confirmation comes first and is skipped)."""
    for _ in range(50):
        message = listener.get_message(timeout=0.2)
        if message is not None:
            return message
    raise AssertionError("nothing was published")


def _raise(*args, **kwargs):
    raise RuntimeError("the view failed after the service had flushed")


def _refuse(*args, **kwargs):
    abort(409)


@pytest.mark.parametrize("failure", [_raise, _refuse], ids=["exception", "error response"])
def test_a_request_failing_after_the_service_flushed_keeps_and_sends_nothing(
        app, school, as_user, group, monkeypatch, failure):
    browser = as_user(school.teacher)
    url = f"/chat/threads/{group.id}/messages"
    listener = get_redis(app).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(channel_for(app))
    before = fresh_count(Message)
    jobs_before = queued_jobs(app)

    # The view posts the message (the service flushes it, queues its push job and events for
    # after the commit), then fails before answering.
    import app.chat.views as chat_views

    monkeypatch.setattr(chat_views, "navigate_to", failure)
    db.session.remove()
    with counting_commits() as tally:
        if failure is _raise:
            with pytest.raises(RuntimeError):
                browser.post(url, data={"body": "Lost", "csrf_token": browser.csrf})
        else:
            response = browser.post(url, data={"body": "Lost", "csrf_token": browser.csrf})
            assert response.status_code == 409
    assert tally.commits == 0 and tally.rollbacks >= 1
    assert fresh_count(Message) == before
    assert queued_jobs(app) == jobs_before

    # The same request, succeeding: its push job is queued and its events published; the
    # first event on the channel is this message's, so the failed one published nothing.
    monkeypatch.undo()
    response = browser.post(url, data={"body": "Kept", "csrf_token": browser.csrf})
    assert response.status_code < 400
    kept = db.session.scalar(select(Message).where(Message.body == "Kept"))
    assert fresh_count(Message) == before + 1
    assert queued_jobs(app) == jobs_before + 1
    first_event = next_event(listener)
    payload = json.loads(first_event["data"])
    assert payload["data"].get("message_id") == kept.id, payload
    listener.close()


def test_a_failed_commit_answers_with_a_clear_error_and_keeps_nothing(school, as_user, group):
    """A commit the database refuses (here: a deferred uniqueness clash, found only at
    COMMIT/flush time) is a 409 page saying nothing was saved, not the view's success page."""
    from app.chat.models import Thread

    browser = as_user(school.teacher)
    other = school.students[1]
    existing = chat.get_or_create_direct(school.teacher, other)
    commit()
    taken_key, kind, url = existing.direct_key, existing.kind, f"/chat/threads/{group.id}/messages"
    center_id, teacher_id = school.center.id, school.teacher.id

    # A receiver that, inside the request's transaction, adds a second direct thread with the
    # same (unique) key just before the commit: the commit fails at the edge.
    @event.listens_for(db.session, "before_commit")
    def clash(session):
        if not has_request_context() or session.get_nested_transaction() is not None \
                or session.info.get("clash_done"):
            return  # the test's own commit, or a savepoint released: not the request's commit
        session.info["clash_done"] = True
        session.add(Thread(center_id=center_id, kind=kind, direct_key=taken_key,
                           created_by_id=teacher_id, name="", description=""))

    try:
        db.session.remove()
        response = browser.post(url, data={"body": "Never saved", "csrf_token": browser.csrf})
    finally:
        event.remove(db.session, "before_commit", clash)
    assert response.status_code == 409
    assert "nothing was saved" in response.get_data(as_text=True)
    assert fresh_count(Message, Message.body == "Never saved") == 0


def _clash_at_the_edge(school):
    """Make the next request's commit fail: a receiver adds, inside the request's transaction,
    a second direct thread with a taken (unique) key just before the commit."""
    from app.chat.models import Thread

    existing = chat.get_or_create_direct(school.teacher, school.students[1])
    commit()
    taken_key, kind = existing.direct_key, existing.kind
    center_id, teacher_id = school.center.id, school.teacher.id

    def clash(session):
        if not has_request_context() or session.get_nested_transaction() is not None \
                or session.info.get("clash_done"):
            return
        session.info["clash_done"] = True
        session.add(Thread(center_id=center_id, kind=kind, direct_key=taken_key,
                           created_by_id=teacher_id, name="", description=""))

    event.listen(db.session, "before_commit", clash)
    return lambda: event.remove(db.session, "before_commit", clash)


def _stored() -> set:
    root = attachments.storage_root()
    return set(root.iterdir()) if root.exists() else set()


@pytest.mark.parametrize("failure", ["the view raises", "the commit is refused"])
def test_a_request_that_keeps_nothing_leaves_no_attachment_file(school, as_user, group,
                                                                monkeypatch, failure):
    """post_message stores the upload's file before the request's edge commits: when the
    request then fails (after the service returned, or at its commit) the file goes with the
    rows, instead of staying on disk with no message naming it."""
    browser = as_user(school.teacher)
    url = f"/chat/threads/{group.id}/messages"
    content = b"Homework: page 12, questions 1-5\n"
    before = _stored()

    def post(body):
        return browser.post(url, content_type="multipart/form-data",
                            data={"body": body, "csrf_token": browser.csrf,
                                  "files": (io.BytesIO(content), "homework.txt")})

    if failure == "the view raises":
        import app.chat.views as chat_views

        monkeypatch.setattr(chat_views, "navigate_to", _raise)
        db.session.remove()
        with pytest.raises(RuntimeError):
            post("Lost")
        monkeypatch.undo()
    else:
        stop_clashing = _clash_at_the_edge(school)
        try:
            db.session.remove()
            assert post("Lost").status_code == 409
        finally:
            stop_clashing()
    assert fresh_count(Attachment) == 0
    assert _stored() == before, "the failed request's file was left behind"

    # The same upload in a request that succeeds: its file is kept, named by its row.
    assert post("Kept").status_code < 400
    [attachment] = db.session.scalars(select(Attachment))
    kept = attachments.path_for(attachment.storage_key)
    assert kept.read_bytes() == content
    assert _stored() == before | {kept}


# --- a job commits once ----------------------------------------------------------------------------

def create_course_job(center_id: int, name: str, fail: bool = False) -> None:
    """A job (run by the real worker) that writes, then returns or raises."""
    db.session.add(Course(center_id=center_id, name=name))
    db.session.flush()
    if fail:
        raise RuntimeError("the job failed after it wrote")


def test_a_job_commits_once_when_it_returns_and_keeps_nothing_when_it_raises(
        app, school, run_worker):
    center_id = school.center.id
    get_queue("default", app).enqueue(create_course_job, center_id, "Made by a job")
    commit()
    db.session.remove()
    with counting_commits() as tally:
        run_worker()
    assert tally.commits == 1
    assert fresh_count(Course, Course.name == "Made by a job") == 1

    get_queue("default", app).enqueue(create_course_job, center_id, "Never made", True)
    db.session.remove()
    with counting_commits() as tally:
        run_worker()
    assert tally.commits == 0 and tally.rollbacks >= 1
    assert fresh_count(Course, Course.name == "Never made") == 0
