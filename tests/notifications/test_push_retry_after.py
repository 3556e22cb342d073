"""429 Too Many Requests is about a whole push service: its Retry-After (seconds or an HTTP
date) holds every delivery to that service's origin until then, in every job, while the other
push services are sent to as usual; the job is not failed nor retried on RQ's fixed intervals
but queued again for the moment the push service named (RQ's scheduler), and then each held
delivery goes out once. Real loopback push services (two origins), a real RQ burst worker with
its scheduler; time is moved forward by moving the scheduled jobs and the held origins' ends
(waiting 30 s would only make the test slow: the path is the same)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from rq.job import Job, JobStatus
from sqlalchemy import select

from app.extensions import db
from app.notifications import push, services, tasks
from app.notifications.models import (DeliveryStatus, JobFailure, Notification,
                                      NotificationType, PushDelivery)
from app.redis_conn import get_redis
from tests.conftest import commit
from tests.interop.push_service import running
from tests.notifications.conftest import make_due, queued_job_ids, scheduled

UTC = timezone.utc


def notify_one(user, body="Algebra, Mon 16:00"):
    [notification] = services.notify([user], NotificationType.SESSION_SCHEDULED, "New session",
                                     body, "/sessions/1", tag="session-1")
    db.session.commit()
    return notification


def delivery(notification, device) -> PushDelivery:
    db.session.expire_all()
    return db.session.scalar(select(PushDelivery).where(
        PushDelivery.notification_id == notification.id,
        PushDelivery.subscription_id == device.subscription.id))


def held_until(app, service) -> datetime | None:
    score = get_redis(app).zscore(push.BACKOFF_KEY, service.origin)
    return None if score is None else datetime.fromtimestamp(score, UTC)


def release_every_origin(app) -> None:
    """The back-offs are over (as the scheduled jobs are, after make_due)."""
    client = get_redis(app)
    for origin, _ in client.zrange(push.BACKOFF_KEY, 0, -1, withscores=True):
        client.zadd(push.BACKOFF_KEY, {origin: datetime.now(UTC).timestamp() - 1})


def close_to(when: datetime, expected: datetime, slack=timedelta(seconds=3)) -> bool:
    return expected - slack <= when <= expected + slack


def test_retry_after_holds_that_push_service_only_and_the_job_comes_back_then(
        app, school, add_device, push_service, run_worker):
    alice, ben = school.students
    with running() as other_service:
        alice_busy, alice_other = add_device(alice), add_device(alice, service=other_service)
        push_service.script(alice_busy, (429, {"Retry-After": "30"}))
        first = notify_one(alice)
        [job_id] = queued_job_ids(app, "default")
        asked = datetime.now(UTC)
        run_worker()

        # The other push service got its push at once; the busy one got one request, a 429.
        assert [r.status for r in push_service.requests_for(alice_busy)] == [429]
        assert [r.status for r in other_service.requests_for(alice_other)] == [201]
        row = delivery(first, alice_busy)
        assert (row.status, row.last_status_code) == (DeliveryStatus.PENDING, 429)
        assert delivery(first, alice_other).status == DeliveryStatus.SENT
        # Not a failure, and no RQ retry in 10 s: one job scheduled when the service said.
        job = Job.fetch(job_id, connection=get_redis(app))
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value()["deferred"] == 1
        [(follow_up, when)] = scheduled(app, "default")
        assert follow_up.startswith(f"push-{first.id}-at-")
        assert close_to(when, asked + timedelta(seconds=30))
        assert close_to(held_until(app, push_service), when)
        assert held_until(app, other_service) is None
        assert close_to(db.session.get(Notification, first.id).push_due_at, when)

        # Within the back-off, another job leaves the busy service alone and sends elsewhere.
        ben_busy, ben_other = add_device(ben), add_device(ben, service=other_service)
        second = notify_one(ben)
        run_worker()
        assert push_service.requests_for(ben_busy) == []
        assert [r.status for r in other_service.requests_for(ben_other)] == [201]
        assert delivery(second, ben_busy).status == DeliveryStatus.PENDING
        assert delivery(second, ben_busy).attempts == 0  # never claimed, never sent
        assert sorted(job for job, _ in scheduled(app, "default")) == sorted(
            [follow_up, f"push-{second.id}-at-{int(when.timestamp())}"])

        # The back-off is over: each held delivery goes out once, nothing else is sent again.
        assert make_due(app, "default") == 2
        release_every_origin(app)
        run_worker(with_scheduler=True)
        assert [r.status for r in push_service.requests_for(alice_busy)] == [429, 201]
        assert [r.status for r in push_service.requests_for(ben_busy)] == [201]
        assert len(other_service.requests_for(alice_other)) == 1
        assert len(other_service.requests_for(ben_other)) == 1
    assert delivery(first, alice_busy).status == DeliveryStatus.SENT
    assert delivery(second, ben_busy).status == DeliveryStatus.SENT
    assert delivery(first, alice_busy).attempts == 2
    assert scheduled(app, "default") == []
    assert db.session.scalar(select(JobFailure)) is None
    assert db.session.get(Notification, first.id).push_due_at is None


def test_retry_after_as_an_http_date(app, school, add_device, push_service):
    user = school.students[0]
    device = add_device(user)
    until = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    push_service.script(device, (429, {"Retry-After": format_datetime(until, usegmt=True)}))
    notification = notify_one(user)
    summary = tasks.send_push(notification.id)  # returns: no exception, no RQ retry
    commit()  # the job's edge: its follow-up is enqueued after this commit
    assert (summary["deferred"], summary["temporary"], summary["sent"]) == (1, 0, 0)
    assert held_until(app, push_service) == until
    [(_, when)] = scheduled(app, "default")
    assert when == until

    # Run again before then (a duplicate job, the push sweep): nothing goes to that service.
    assert tasks.send_push(notification.id)["deferred"] == 1
    assert len(push_service.requests_for(device)) == 1


def test_a_lost_follow_up_job_is_queued_again_by_the_push_sweep(app, school, add_device,
                                                                push_service, run_worker):
    """The push stays owed (Notification.push_due_at = the end of the back-off): if the
    scheduled job is lost (Redis flushed, a worker gone with it), the push sweep queues it
    again, and it is sent once."""
    user = school.students[0]
    device = add_device(user)
    push_service.script(device, (429, {"Retry-After": "30"}))
    notification = notify_one(user)
    run_worker()
    [(follow_up, when)] = scheduled(app, "default")
    get_redis(app).delete(f"rq:job:{follow_up}")
    get_redis(app).zrem(f"rq:scheduled:default", follow_up)  # the job is gone

    assert services.requeue_owed_pushes(now=when)["queued"] == 0  # not overdue yet
    release_every_origin(app)
    after = when + services.PUSH_STALE_AFTER + timedelta(seconds=1)
    assert services.requeue_owed_pushes(now=after)["queued"] == 1
    run_worker()
    assert [r.status for r in push_service.requests_for(device)] == [429, 201]
    assert delivery(notification, device).status == DeliveryStatus.SENT
    assert services.requeue_owed_pushes(now=after)["queued"] == 0


def test_a_429_and_a_503_in_one_job_each_retried_their_own_way_and_sent_once(
        app, school, add_device, push_service, run_worker):
    user = school.students[0]
    with running() as flaky_service:
        busy, flaky = add_device(user), add_device(user, service=flaky_service)
        push_service.script(busy, (429, {"Retry-After": "30"}))
        flaky_service.script(flaky, 503)
        notification = notify_one(user)
        [job_id] = queued_job_ids(app, "default")
        run_worker()
        # RQ retries the job for the 503 (its backoff), the 429 has its own follow-up.
        assert sorted(job for job, _ in scheduled(app, "default")) == sorted(
            [job_id, f"push-{notification.id}-at-{int(held_until(app, push_service).timestamp())}"])
        assert make_due(app, "default") == 2
        run_worker(with_scheduler=True)  # the back-off is not over: only the 503 goes again
        assert [r.status for r in flaky_service.requests_for(flaky)] == [503, 201]
        assert [r.status for r in push_service.requests_for(busy)] == [429]
        release_every_origin(app)
        make_due(app, "default")
        run_worker(with_scheduler=True)
        assert [r.status for r in push_service.requests_for(busy)] == [429, 201]
        assert len(flaky_service.requests_for(flaky)) == 2
    assert delivery(notification, busy).status == DeliveryStatus.SENT
    assert delivery(notification, flaky).status == DeliveryStatus.SENT
    assert db.session.scalar(select(JobFailure)) is None


def test_a_later_429_never_shortens_a_back_off(app, push_service):
    """Two jobs side by side both get a 429: the longer wait stands, whichever lands last."""
    longer = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)
    push.hold_origins({push_service.origin: longer})
    push.hold_origins({push_service.origin: datetime.now(UTC) + timedelta(seconds=5)})
    assert held_until(app, push_service) == longer
    assert push.held_origins([push_service.origin, "https://fcm.googleapis.com"]) == {
        push_service.origin: longer}


@pytest.mark.parametrize("value, expected", [
    ("30", timedelta(seconds=30)),
    (" 120 ", timedelta(seconds=120)),
    ("0", timedelta(seconds=1)),  # at least a second: never a busy loop
    (None, push.DEFAULT_BACKOFF),  # a 429 without Retry-After still means slow down
    ("soon", push.DEFAULT_BACKOFF),
    ("-5", push.DEFAULT_BACKOFF),
    ("999999", push.MAX_BACKOFF),
    ("Wed, 21 Oct 2015 07:28:00 GMT", timedelta(seconds=1)),  # a date already past
])
def test_retry_after_values(value, expected):
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert push.retry_at(value, now) == now + expected


def test_retry_after_as_a_date_in_the_future():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert push.retry_at("Thu, 26 Nov 2026 12:05:00 GMT", now) == now + timedelta(minutes=5)
