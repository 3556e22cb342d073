"""Sending one notification to each of its recipient's devices (RFC 8030/8291/8292).

Each (notification, device) pair has a PushDelivery row, committed after every attempt, so a
retried or duplicated job skips what was already delivered. 404/410 mean the subscription is
gone (deactivated); 429 and 5xx are temporary (the job raises and RQ retries it with backoff)."""
from __future__ import annotations

import json
import re
import threading

import requests
from pywebpush import WebPusher
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import (DeliveryStatus, Notification, NotificationType,
                                      PushDelivery, PushSubscription)
from app.realtime.presence import present_users
from app.notifications.services import push_options
from app.notifications.vapid import app_keys

MAX_PAYLOAD = 3000  # bytes of JSON before encryption; FCM's effective limit is ~2.7-4 KB
DISABLE_AFTER_FAILURES = 5
_local = threading.local()


class TemporaryPushError(Exception):
    """Some devices could not be reached for now: RQ retries the job (sent ones are skipped)."""


def http_session() -> requests.Session:
    # One pooled session per worker thread (keep-alive to each push service), ignoring proxy
    # variables from the environment.
    if not hasattr(_local, "session"):
        session = requests.Session()
        session.trust_env = False
        _local.session = session
    return _local.session


def payload_for(notification: Notification) -> bytes:
    data = {"title": notification.title, "body": notification.body, "url": notification.link,
            "tag": notification.tag or f"n{notification.id}", "type": notification.type.value,
            "id": notification.id}
    raw = json.dumps(data, ensure_ascii=False).encode()
    while len(raw) > MAX_PAYLOAD and data["body"]:
        # Cut in bytes, not characters: one emoji is 4 bytes of UTF-8. (JSON escapes can make
        # the text longer still: loop until it fits; each turn drops at least the excess.)
        body = data["body"].encode()
        keep = len(body) - (len(raw) - MAX_PAYLOAD) - len("…".encode())
        data["body"] = body[:keep].decode("utf-8", "ignore") + "…" if keep > 0 else ""
        raw = json.dumps(data, ensure_ascii=False).encode()
    return raw


def topic_for(notification: Notification) -> str:
    # RFC 8030 Topic: up to 32 URL-safe base64 characters; a newer push with the same topic
    # replaces an undelivered older one (e.g. several messages in one thread).
    return re.sub(r"[^A-Za-z0-9_-]", "", notification.tag or f"n{notification.id}")[:32] or "classhub"


def _delivery_row(notification_id: int, subscription_id: int) -> PushDelivery:
    row = db.session.scalar(select(PushDelivery).where(
        PushDelivery.notification_id == notification_id,
        PushDelivery.subscription_id == subscription_id))
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = PushDelivery(notification_id=notification_id, subscription_id=subscription_id,
                               status=DeliveryStatus.PENDING, attempts=0)
            db.session.add(row)
    except IntegrityError:  # a concurrent job made it first
        row = db.session.scalar(select(PushDelivery).where(
            PushDelivery.notification_id == notification_id,
            PushDelivery.subscription_id == subscription_id))
    return row


def is_reading(notification: Notification) -> bool:
    """A new message to someone who has the thread open right now needs no push: they see it
    arrive. Checked when the job runs, the moment that matters."""
    if notification.type != NotificationType.NEW_MESSAGE or not notification.tag.startswith("thread-"):
        return False
    from flask import current_app

    thread_id = notification.tag.removeprefix("thread-")
    return notification.user_id in present_users(current_app, f"thread:{thread_id}")


def deliver(notification_id: int) -> dict:
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return {"sent": 0, "skipped": "notification gone"}
    if notification.push_due_at is not None:
        # Taken by a worker: the push sweep leaves it to this job and RQ's retries from now on.
        notification.push_due_at = None
        db.session.commit()
    if is_reading(notification):
        return {"sent": 0, "skipped": "the recipient is reading the thread"}
    subscriptions = list(db.session.scalars(select(PushSubscription).where(
        PushSubscription.user_id == notification.user_id, PushSubscription.active.is_(True))))
    options = push_options(notification.type)
    keys = app_keys()
    payload = payload_for(notification)
    summary = {"sent": 0, "gone": 0, "failed": 0, "skipped": 0, "temporary": 0}
    temporary = []
    for sub in subscriptions:
        delivery = _delivery_row(notification.id, sub.id)
        if delivery.status != DeliveryStatus.PENDING:
            summary["skipped"] += 1
            continue
        delivery.attempts += 1
        headers = {"Authorization": keys.authorization(sub.endpoint),
                   "Urgency": options.urgency, "Topic": topic_for(notification)}
        try:
            response = WebPusher({"endpoint": sub.endpoint,
                                  "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
                                 requests_session=http_session()).send(
                payload, headers=headers, ttl=options.ttl, timeout=10,
                content_encoding="aes128gcm")
            code, text = response.status_code, (response.text or "")[:500]
        except (requests.RequestException, ValueError) as exc:
            code, text = None, f"{type(exc).__name__}: {exc}"[:500]
        delivery.last_status_code = code
        if code is not None and 200 <= code < 300:
            delivery.status, delivery.sent_at, delivery.error = DeliveryStatus.SENT, utcnow(), ""
            sub.last_success_at, sub.failures, sub.last_error = utcnow(), 0, ""
            summary["sent"] += 1
        elif code in (404, 410):
            delivery.status, delivery.error = DeliveryStatus.GONE, text
            sub.active, sub.last_error = False, f"{code}: subscription expired or unsubscribed"
            summary["gone"] += 1
        elif code is None or code == 429 or code >= 500:
            delivery.error = f"{code or 'network'}: {text}"
            temporary.append(sub.endpoint)
            summary["temporary"] += 1
        else:  # 400, 401, 403, 413...: retrying the same request cannot help
            delivery.status, delivery.error = DeliveryStatus.FAILED, f"{code}: {text}"
            sub.failures += 1
            sub.last_error = f"{code}: {text}"[:500]
            if sub.failures >= DISABLE_AFTER_FAILURES:
                sub.active = False
            summary["failed"] += 1
        db.session.commit()  # record every attempt before the next: a crash never resends
    if temporary:
        raise TemporaryPushError(f"{len(temporary)} device(s) to retry: {summary}")
    return summary
