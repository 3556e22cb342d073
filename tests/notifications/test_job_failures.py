"""A push job that still fails after RQ's retries leaves a JobFailure row: the center's admins
see it on /admin/jobs (no one else does) and can put it back on its queue."""
from __future__ import annotations

import re

from rq.job import Job, JobStatus
from sqlalchemy import select

from app.accounts.models import Role
from app.extensions import db
from app.jobs import DEFAULT_RETRY
from app.notifications import services
from app.notifications.models import DeliveryStatus, JobFailure, NotificationType, PushDelivery
from app.redis_conn import get_redis
from tests.notifications.conftest import make_due, queued_job_ids, scheduled

ATTEMPTS = DEFAULT_RETRY.max + 1


def fail_for_good(app, push_service, run_worker, device, user):
    """A notification whose push answers 500 on every attempt RQ makes."""
    push_service.script(device, *[500] * ATTEMPTS)
    [notification] = services.notify([user], NotificationType.NEW_MESSAGE, "Ben",
                                      "Are we still on for tomorrow?", "/chat/threads/3",
                                      tag="thread-3")
    db.session.commit()
    [job_id] = queued_job_ids(app, "default")
    run_worker()
    for attempt in range(2, ATTEMPTS + 1):
        assert db.session.scalar(select(JobFailure)) is None, \
            f"recorded as failed for good with retries left (attempt {attempt - 1})"
        assert make_due(app, "default") == 1
        run_worker(with_scheduler=True)
    return notification, job_id


def test_a_job_that_fails_for_good_is_recorded_for_its_centers_admins(
        app, school, make, add_device, push_service, run_worker, as_user):
    user = school.students[1]
    device = add_device(user)
    notification, job_id = fail_for_good(app, push_service, run_worker, device, user)

    assert len(push_service.requests_for(device)) == ATTEMPTS
    assert scheduled(app, "default") == []
    job = Job.fetch(job_id, connection=get_redis(app))
    assert job.get_status() == JobStatus.FAILED
    [failure] = db.session.scalars(select(JobFailure)).all()
    assert failure.job_id == job_id
    assert failure.center_id == school.center.id
    assert failure.func_name == "app.notifications.tasks.send_push"
    assert "TemporaryPushError" in failure.error
    row = db.session.scalar(select(PushDelivery).where(
        PushDelivery.notification_id == notification.id))
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, ATTEMPTS)

    # The center's admin sees it ...
    admin = as_user(school.admin)
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert f"send_push({notification.id})" in page
    assert "TemporaryPushError" in page
    assert f'/admin/jobs/{failure.id}/retry' in page

    # ... another center's admin does not, and cannot retry it; teachers get no page at all.
    other_center = make.center("Elsewhere")
    other_admin = as_user(make.user(other_center, Role.ADMIN))
    other_page = other_admin.get("/admin/jobs").get_data(as_text=True)
    assert f"send_push({notification.id})" not in other_page
    assert "No failed jobs." in other_page
    refused = other_admin.post(f"/admin/jobs/{failure.id}/retry",
                               data={"csrf_token": other_admin.csrf})
    assert refused.status_code == 404
    assert as_user(school.teacher).get("/admin/jobs").status_code == 403
    assert queued_job_ids(app, "default") == []

    # Retry: the job goes back on its queue and, the push service being well again, delivers.
    response = admin.post(f"/admin/jobs/{failure.id}/retry", data={"csrf_token": admin.csrf})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/jobs")
    assert queued_job_ids(app, "default") == [job_id]
    db.session.expire_all()
    assert db.session.get(JobFailure, failure.id).retried_at is not None
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert re.search(r"Retried ", page) and f'/admin/jobs/{failure.id}/retry' not in page

    run_worker()
    assert [r.status for r in push_service.requests_for(device)] == [500] * ATTEMPTS + [201]
    row = db.session.scalar(select(PushDelivery).where(
        PushDelivery.notification_id == notification.id))
    assert (row.status, row.attempts) == (DeliveryStatus.SENT, ATTEMPTS + 1)
    assert Job.fetch(job_id, connection=get_redis(app)).get_status() == JobStatus.FINISHED


def test_a_job_the_queue_no_longer_keeps_cannot_be_retried(app, school, as_user):
    failure = JobFailure(center_id=school.center.id, job_id="gone-job-id",
                         func_name="app.notifications.tasks.send_push",
                         description="notifications.send_push(1)", error="TemporaryPushError")
    db.session.add(failure)
    db.session.commit()
    admin = as_user(school.admin)
    response = admin.post(f"/admin/jobs/{failure.id}/retry", data={"csrf_token": admin.csrf},
                          follow_redirects=True)
    assert "no longer kept by the queue" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(JobFailure, failure.id).retried_at is None
