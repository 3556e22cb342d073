"""Fixtures for the notifications tests.

Pushes go to the loopback push service of tests/interop (real HTTP, real VAPID signatures
checked, real aes128gcm payloads decrypted with keys the test owns). Jobs run on a real RQ
worker (worker.build_worker, burst mode) against the test Redis; the worker runs each job in
its own app context, so the test re-reads rows afterwards (``db.session.expire_all``).

Clients run each request in its own app context (tests/conftest.py's IsolatedClient), as in
production.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification, NotificationType
from app.notifications.vapid import app_keys
from app.redis_conn import get_redis

CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Mobile Safari/537.36")
FIREFOX_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 "
                   "Firefox/133.0")


# --- clients -----------------------------------------------------------------------------------


# --- the push service and devices ----------------------------------------------------------------

# The loopback push service, the app told to accept its endpoints (one fixture for the suite).
from tests.interop.conftest import push_service  # noqa: E402,F401


@pytest.fixture
def add_device(app, push_service):
    """``add_device(user)``: a device (keys the test holds) subscribed for ``user`` through
    the service the app uses for the browser's subscription JSON."""

    def _add(user, service=None, agent=CHROME_ANDROID):
        device = (service or push_service).new_device(
            application_server_key=app_keys().public_key_b64)
        device.subscription = services.save_subscription(user, device.subscription_json(), agent)
        return device

    return _add


def queue(app, name="default") -> Queue:
    return Queue(name, connection=get_redis(app))


def queued_job_ids(app, name="default") -> list[str]:
    return queue(app, name).get_job_ids()


def scheduled(app, name="default") -> list[tuple[str, datetime]]:
    """(job id, when) in the queue's ScheduledJobRegistry (what enqueue_at and retries hold)."""
    registry = ScheduledJobRegistry(queue=queue(app, name))
    entries = get_redis(app).zrange(registry.key, 0, -1, withscores=True)
    return [(job_id.decode(), datetime.fromtimestamp(score, timezone.utc))
            for job_id, score in entries]


def make_due(app, name="default") -> int:
    """Move every job the queue's scheduler holds (e.g. a retry in 10 s) to now: the next burst
    worker with its scheduler enqueues them (waiting out RQ's backoff would only make the test
    slow, the path through RQ is the same)."""
    registry = ScheduledJobRegistry(queue=queue(app, name))
    job_ids = registry.get_job_ids()
    for job_id in job_ids:
        get_redis(app).zadd(registry.key, {job_id: datetime.now(timezone.utc).timestamp() - 1})
    return len(job_ids)


# --- reading notifications ----------------------------------------------------------------------

def notifications_of(user, type_: NotificationType | None = None) -> list[Notification]:
    stmt = select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if type_ is not None:
        stmt = stmt.where(Notification.type == type_)
    return list(db.session.scalars(stmt))


def count_notifications(user=None) -> int:
    stmt = select(func.count(Notification.id))
    if user is not None:
        stmt = stmt.where(Notification.user_id == user.id)
    return db.session.scalar(stmt)
