"""Exactly once when jobs overlap: a delivery is claimed (committed) before it is sent, so a
second job for the same notification running at the same time sends nothing; a claim left by a
job killed mid-send goes stale and the push sweep has it sent, once. And the job's statements
do not grow with the number of devices."""
from __future__ import annotations

from datetime import timedelta

from rq import Queue
from sqlalchemy import select, update

from app.db_types import utcnow
from app.extensions import db
from app.notifications import push, services, tasks
from app.notifications.models import DeliveryStatus, NotificationType, PushDelivery
from app.redis_conn import get_redis


def notify_one(user):
    [notification] = services.notify([user], NotificationType.SESSION_SCHEDULED, "New session",
                                     "Algebra, Mon 16:00", "/sessions/1", tag="session-1")
    db.session.commit()
    return notification


def statuses(notification) -> list[DeliveryStatus]:
    db.session.expire_all()
    return sorted(db.session.scalars(select(PushDelivery.status).where(
        PushDelivery.notification_id == notification.id)))


def test_a_job_finds_nothing_to_send_while_another_holds_the_claim(school, add_device,
                                                                  push_service):
    user = school.students[0]
    devices = [add_device(user) for _ in range(3)]
    notification = notify_one(user)
    # The first job has claimed and committed, and is still sending...
    first = push._claim_deliveries(notification.id, [d.subscription.id for d in devices])
    db.session.commit()
    assert len(first) == 3
    # ...when a duplicate job (the sweep, a retry, a second worker) runs: it sends nothing.
    assert tasks.send_push(notification.id)["skipped"] == 3
    assert push_service.all_requests() == []
    assert statuses(notification) == [DeliveryStatus.SENDING] * 3


def test_a_claim_left_by_a_killed_job_is_sent_once_by_the_sweep(app, school, add_device,
                                                                push_service, run_worker):
    user = school.students[0]
    devices = [add_device(user) for _ in range(2)]
    notification = notify_one(user)
    # A worker took the job, claimed both devices and was killed before it sent anything.
    db.session.execute(update(type(notification)).where(type(notification).id == notification.id)
                       .values(push_due_at=None))
    push._claim_deliveries(notification.id, [d.subscription.id for d in devices])
    db.session.commit()
    for name in ("default", "high"):
        Queue(name, connection=get_redis(app)).empty()  # the killed job is gone from Redis

    assert services.requeue_owed_pushes()["queued"] == 0  # a fresh claim may still be sending
    db.session.execute(update(PushDelivery).values(
        claimed_at=utcnow() - push.CLAIM_TIMEOUT - timedelta(seconds=1)))
    db.session.commit()
    assert services.requeue_owed_pushes()["queued"] == 1
    run_worker()

    for device in devices:
        assert len(push_service.requests_for(device)) == 1
    assert statuses(notification) == [DeliveryStatus.SENT] * 2
    assert services.requeue_owed_pushes()["queued"] == 0
    run_worker()
    for device in devices:
        assert len(push_service.requests_for(device)) == 1


def test_a_temporary_failure_leaves_the_delivery_claimable_by_the_retry(school, add_device,
                                                                       push_service):
    user = school.students[0]
    device = add_device(user)
    notification = notify_one(user)
    push_service.script(device, 503)  # then 201
    try:
        tasks.send_push(notification.id)
    except push.TemporaryPushError:
        pass
    else:
        raise AssertionError("a 503 must make the job retry")
    assert statuses(notification) == [DeliveryStatus.PENDING]
    assert tasks.send_push(notification.id)["sent"] == 1
    assert statuses(notification) == [DeliveryStatus.SENT]


def test_statements_do_not_grow_with_devices(school, add_device, push_service, count_queries):
    counts = []
    for user, how_many in ((school.students[0], 2), (school.students[1], 40)):
        for _ in range(how_many):
            add_device(user)
        notification = notify_one(user)
        db.session.expire_all()
        with count_queries() as counter:
            summary = tasks.send_push(notification.id)
        assert summary["sent"] == how_many
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


def test_an_endpoint_the_rules_refuse_is_never_sent_to(app, school, add_device, push_service):
    """A subscription saved before the endpoint rules (or whose host is no longer allowed) is
    switched off at send time instead of being sent to."""
    user = school.students[0]
    device = add_device(user)
    notification = notify_one(user)
    app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"] = False
    try:
        summary = tasks.send_push(notification.id)
    finally:
        app.config["PUSH_ALLOW_LOOPBACK_ENDPOINTS"] = True
    assert summary["failed"] == 1 and push_service.all_requests() == []
    db.session.expire_all()
    assert device.subscription.active is False
    assert statuses(notification) == [DeliveryStatus.FAILED]
