"""Sending one notification to each of its recipient's devices (RFC 8030/8291/8292).

Each (notification, device) pair has a PushDelivery row, claimed by one job before it is sent,
so a retried, duplicated or concurrent job never sends it twice. 404/410 mean the subscription is
gone (deactivated); 5xx and network errors are temporary (the job raises and RQ retries it with
backoff). 429 is about the whole push service: its Retry-After (seconds or an HTTP date) is
remembered per push-service origin in Redis, every job leaves that origin's deliveries PENDING
until then (other origins are sent as usual), and a follow-up job is scheduled for that moment
(RQ's scheduler) instead of RQ's fixed retry intervals."""
from __future__ import annotations

import itertools
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import and_, or_, select, update

from app.bulk import insert_rows, one_of
from app.db_types import utcnow
from app.extensions import db
from app.notifications import endpoints, push_wire
from app.notifications.models import (DeliveryStatus, Notification, NotificationType,
                                      Priority, PushDelivery, PushSubscription)
from app.notifications.services import push_job_id, push_options
from app.notifications.vapid import app_keys
from app.realtime.presence import present_users
from app.redis_conn import get_redis
from app.transactions import commit_claim

MAX_PAYLOAD = 3000  # bytes of JSON before encryption; FCM's effective limit is ~2.7-4 KB
DISABLE_AFTER_FAILURES = 5
REFUSED_HERE = 0  # the outcome "this server will not send there" (no HTTP status is 0)
SEND_TIMEOUT = 10  # seconds for one push service request
SEND_CONCURRENCY = 16  # pushes in flight at once from one job
# A claim older than this belongs to a job that died mid-send: longer than any job can take
# to send (SEND_TIMEOUT per request, SEND_CONCURRENCY at a time, 1,000 devices = ~11 min at
# worst), so a live job's claim is never taken from it.
CLAIM_TIMEOUT = timedelta(minutes=15)
# A 429 without a usable Retry-After still means "slow down": wait this long. A Retry-After
# longer than the cap is held to it (a reminder or a call an hour late is worth nothing more).
DEFAULT_BACKOFF = timedelta(seconds=60)
MAX_BACKOFF = timedelta(hours=1)
BACKOFF_KEY = "classhub:push:backoff"  # sorted set: push-service origin -> held until (epoch s)


class Device(NamedTuple):
    endpoint: str
    p256dh: str
    auth: str
    failures: int
    last_success_at: datetime | None


class TemporaryPushError(Exception):
    """Some devices could not be reached for now: RQ retries the job (sent ones are skipped)."""


class Outcome(NamedTuple):
    code: int | None  # HTTP status; None: no answer (network); REFUSED_HERE: not sent
    text: str
    retry_after: str | None = None  # the Retry-After header of a 429


# --- 429: back-off per push-service origin ----------------------------------------------------------

def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}".lower()


def retry_at(retry_after: str | None, now: datetime) -> datetime:
    """When a 429's Retry-After (delay-seconds or an HTTP date, RFC 9110 §10.2.3) lets us try
    again, between one second and MAX_BACKOFF from now."""
    delay = DEFAULT_BACKOFF
    value = (retry_after or "").strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    elif value:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            delay = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)) - now
    return now + min(max(delay, timedelta(seconds=1)), MAX_BACKOFF)


def held_origins(origins, app=None) -> dict[str, datetime]:
    """The origins among ``origins`` still in a push service's back-off, with its end. One
    round trip."""
    origins = sorted(origins)
    if not origins:
        return {}
    scores = get_redis(app or current_app).zmscore(BACKOFF_KEY, origins)
    now = time.time()
    return {origin: datetime.fromtimestamp(score, timezone.utc)
            for origin, score in zip(origins, scores) if score is not None and score > now}


def hold_origins(until: dict[str, datetime], app=None) -> None:
    """Remember each origin's back-off, for every job in every worker (never shortened: ZADD
    GT keeps the later end). Ends already past are swept out on the way. One round trip."""
    with get_redis(app or current_app).pipeline(transaction=False) as pipe:
        pipe.zadd(BACKOFF_KEY, {origin: when.timestamp() for origin, when in until.items()},
                  gt=True)
        pipe.zremrangebyscore(BACKOFF_KEY, "-inf", time.time())
        pipe.expire(BACKOFF_KEY, int(MAX_BACKOFF.total_seconds()) + 60)
        pipe.execute()


_pool: tuple[int, ThreadPoolExecutor] | None = None


def _send_pool() -> ThreadPoolExecutor:
    """The process's sending threads, kept across jobs (made anew in a forked child: threads
    do not survive a fork). They share push_wire's pooled keep-alive connections."""
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        _pool = (os.getpid(), ThreadPoolExecutor(max_workers=SEND_CONCURRENCY,
                                                 thread_name_prefix="push"))
    return _pool[1]


def send_all(send, subscription_ids: list[int]) -> list[Outcome]:
    """``send`` applied to every subscription, SEND_CONCURRENCY at a time; outcomes in order.
    Each sending thread takes the next device until none are left (one task per thread, not
    a future per device: with 1,000 devices the futures' locks cost more than the sends)."""
    if len(subscription_ids) <= 1:
        return [send(sid) for sid in subscription_ids]
    outcomes: list[Outcome | None] = [None] * len(subscription_ids)
    next_index = itertools.count().__next__  # atomic under the GIL: each index taken once

    def work() -> None:
        while (index := next_index()) < len(subscription_ids):
            outcomes[index] = send(subscription_ids[index])

    tasks = [_send_pool().submit(work)
             for _ in range(min(SEND_CONCURRENCY, len(subscription_ids)))]
    for task in tasks:
        task.result()  # re-raises what a thread raised (send itself returns every outcome)
    return outcomes


# Android shows a notification's badge in the status bar as a mask: only the alpha counts, so
# it is a white glyph on transparency (static/icons/badge-96.png), not the coloured app icon.
BADGE_ICON = "/static/icons/badge-96.png"
# A call that is ringing or a session that went live offers "Join" on the notification itself;
# static/js/sw.js opens the payload's url for it (the room).
JOIN_ACTION_TYPES = frozenset({NotificationType.INSTANT_CALL_STARTED, NotificationType.SESSION_LIVE})
JOIN_ACTION = {"action": "join", "title": "Join"}


def payload_for(notification: Notification) -> bytes:
    data = {"title": notification.title, "body": notification.body, "url": notification.link,
            "tag": notification.tag or f"n{notification.id}", "type": notification.type.value,
            "id": notification.id, "badge": BADGE_ICON}
    if notification.type in JOIN_ACTION_TYPES:
        data["actions"] = [JOIN_ACTION]
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


def is_reading(notification: Notification) -> bool:
    """A new message to someone who has the thread open right now needs no push: they see it
    arrive. Checked when the job runs, the moment that matters."""
    if notification.type != NotificationType.NEW_MESSAGE or not notification.tag.startswith("thread-"):
        return False
    from flask import current_app

    thread_id = notification.tag.removeprefix("thread-")
    return notification.user_id in present_users(current_app, f"thread:{thread_id}")


def deliver(notification_id: int) -> dict:
    """Send one notification to each of its recipient's active devices, exactly once each.

    A fixed number of statements whatever the number of devices: the delivery rows are
    inserted up front (ON CONFLICT DO NOTHING), then claimed in one UPDATE … RETURNING and
    committed before anything leaves, so a second job running at the same moment (a
    duplicate, the push sweep, an RQ retry) finds nothing to claim; the sends run concurrently
    (SEND_CONCURRENCY threads) over pooled keep-alive connections (push_wire); the outcomes are
    written back in a statement or two per table (_write_back), loading and expiring nothing.
    A claim left by a job that died mid-send goes stale after CLAIM_TIMEOUT and is taken again
    (by a retry or the push sweep).
    Devices of a push service in its 429 back-off are not claimed; when any wait so, one more
    UPDATE marks the push owed until the back-off ends and a job is scheduled for then."""
    notification = db.session.get(Notification, notification_id)
    if notification is None:
        return {"sent": 0, "skipped": "notification gone"}
    if notification.push_due_at is not None:
        # Taken by a worker: the push sweep leaves it to this job and RQ's retries from now on.
        notification.push_due_at = None  # committed with the claim below, or at the job's end
    if is_reading(notification):
        return {"sent": 0, "skipped": "the recipient is reading the thread"}
    # Plain values, read before the claim's commit expires the ORM objects: the sending threads
    # must never touch the session (it belongs to this thread).
    # Columns, not ORM objects: nothing here is changed through the session.
    devices = {row.id: Device(row.endpoint, row.p256dh, row.auth, row.failures,
                              row.last_success_at)
               for row in db.session.execute(select(
                   PushSubscription.id, PushSubscription.endpoint, PushSubscription.p256dh,
                   PushSubscription.auth, PushSubscription.failures,
                   PushSubscription.last_success_at).where(
                   PushSubscription.user_id == notification.user_id,
                   PushSubscription.active.is_(True)))}
    summary = {"sent": 0, "gone": 0, "failed": 0, "skipped": 0, "temporary": 0, "deferred": 0}
    if not devices:
        return summary
    options = push_options(notification.type)
    payload = payload_for(notification)
    topic = topic_for(notification)
    keys = app_keys()
    follow_up = FollowUp(notification.id, "high" if notification.priority == Priority.HIGH
                         else "default", notification.center_id)
    # A push service that answered 429 is left alone until its Retry-After, by every job: its
    # deliveries stay PENDING for the follow-up job scheduled then.
    held = held_origins({origin_of(d.endpoint) for d in devices.values()})
    waiting = {sid for sid, d in devices.items() if origin_of(d.endpoint) in held}
    claimed = _claim_deliveries(notification.id, list(devices), hold=waiting)
    commit_claim()  # the claim is durable before anything is sent: a second job finds it taken
    summary["skipped"] = len(devices) - len(waiting) - len(claimed)
    summary["deferred"] = len(waiting)
    if not claimed:
        if waiting:
            _retry_when_released(follow_up, held)
        return summary

    allowed_hosts = endpoints.parse_host_patterns(current_app.config.get("PUSH_ENDPOINT_HOSTS"))
    allow_loopback = bool(current_app.config.get("PUSH_ALLOW_LOOPBACK_ENDPOINTS"))

    connections = push_wire.connection_pool(SEND_CONCURRENCY)
    ttl = str(options.ttl)

    def send(subscription_id: int) -> Outcome:
        device = devices[subscription_id]
        # Checked again at send time: a row saved before the rule (or a host that now resolves
        # to a private address, with PUSH_ENDPOINT_HOSTS='*') is never sent to.
        problem = endpoints.endpoint_problem(device.endpoint, allowed_hosts=allowed_hosts,
                                             allow_loopback=allow_loopback)
        if problem:
            return Outcome(REFUSED_HERE, problem)
        headers = {"Authorization": keys.authorization(device.endpoint), "TTL": ttl,
                   "Urgency": options.urgency, "Topic": topic,
                   "Content-Encoding": "aes128gcm"}
        try:
            body = push_wire.encrypt(payload, push_wire.device_keys(device.p256dh, device.auth))
            answer = connections.post(device.endpoint, body, headers, SEND_TIMEOUT)
        except (push_wire.PushConnectionError, OSError, ValueError) as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:500])
        return Outcome(answer.status, answer.text[:500], answer.retry_after)

    order = [subscription_id for _, subscription_id in claimed]
    outcomes = send_all(send, order)

    now = utcnow()
    slowed: dict[str, datetime] = {}  # origin -> end of the back-off its 429s asked for
    for subscription_id, outcome in zip(order, outcomes):
        if outcome.code == 429:
            origin = origin_of(devices[subscription_id].endpoint)
            slowed[origin] = max(slowed.get(origin, now), retry_at(outcome.retry_after, now))
    if slowed:
        hold_origins(slowed)  # at once: other jobs stop sending there now, not after our commit
        held.update(slowed)

    delivery_rows, subscription_rows = [], []
    for (delivery_id, subscription_id), (code, text, _) in zip(claimed, outcomes):
        device = devices[subscription_id]
        row = {"id": delivery_id, "last_status_code": code, "sent_at": None}
        if code is not None and 200 <= code < 300:
            row.update(status=DeliveryStatus.SENT, sent_at=now, error="")
            subscription_rows.append({"id": subscription_id, "last_success_at": now, "failures": 0,
                                      "last_error": "", "active": True})
            summary["sent"] += 1
        elif code in (404, 410):
            row.update(status=DeliveryStatus.GONE, error=text)
            subscription_rows.append({"id": subscription_id, "last_success_at": device.last_success_at,
                                      "failures": device.failures, "active": False,
                                      "last_error": f"{code}: subscription expired or unsubscribed"})
            summary["gone"] += 1
        elif code == REFUSED_HERE:
            row.update(status=DeliveryStatus.FAILED, error=f"not sent: {text}")
            subscription_rows.append({"id": subscription_id, "last_success_at": device.last_success_at,
                                      "failures": device.failures, "active": False,
                                      "last_error": f"not sent: {text}"[:500]})
            summary["failed"] += 1
        elif code == 429:
            # Back to PENDING: the follow-up job, when the push service's back-off ends.
            row.update(status=DeliveryStatus.PENDING, error=f"429: {text}")
            summary["deferred"] += 1
        elif code is None or code >= 500:
            # Back to PENDING: the RQ retry (TemporaryPushError below) claims it again.
            row.update(status=DeliveryStatus.PENDING, error=f"{code or 'network'}: {text}")
            summary["temporary"] += 1
        else:  # 400, 401, 403, 413...: retrying the same request cannot help
            row.update(status=DeliveryStatus.FAILED, error=f"{code}: {text}")
            failures = device.failures + 1
            subscription_rows.append({"id": subscription_id, "last_success_at": device.last_success_at,
                                      "failures": failures, "last_error": f"{code}: {text}"[:500],
                                      "active": failures < DISABLE_AFTER_FAILURES})
            summary["failed"] += 1
        delivery_rows.append(row)
    _write_back(PushDelivery, delivery_rows)
    _write_back(PushSubscription, subscription_rows)
    if summary["deferred"]:
        _retry_when_released(follow_up, held)
    if summary["temporary"]:
        # The outcomes (sent, gone, failures counted) must outlive the raise that asks RQ for a
        # retry: the job edge rolls back a job that raises.
        commit_claim()
        raise TemporaryPushError(f"{summary['temporary']} device(s) to retry: {summary}")
    return summary


def _write_back(model, rows: list[dict]) -> None:
    """UPDATE ``model``'s rows (dicts with "id") in a few statements, however many: rows that
    get the same values (every device that took the push: SENT, sent now, no error) in one
    UPDATE … WHERE id = ANY(ids) per set of values; the rest (an error text of their own)
    in one ORM bulk UPDATE by primary key, an executemany. Nothing is loaded or expired."""
    alike: dict[tuple, list[int]] = {}
    for row in rows:
        alike.setdefault(tuple((k, v) for k, v in row.items() if k != "id"), []).append(row["id"])
    one_of_a_kind = []
    for values, ids in alike.items():
        if len(ids) == 1:
            one_of_a_kind.append({"id": ids[0], **dict(values)})
            continue
        db.session.execute(update(model).where(one_of(model.id, ids)).values(dict(values))
                           .execution_options(synchronize_session=False))
    if one_of_a_kind:
        db.session.execute(update(model), one_of_a_kind)


class FollowUp(NamedTuple):
    """How to queue a notification's push job again (read before a commit expires it)."""

    notification_id: int
    queue: str
    center_id: int


def _retry_when_released(follow_up: FollowUp, held: dict[str, datetime]) -> None:
    """Deliveries wait for a push service's back-off: run this notification's job again when
    the first one ends (RQ's scheduler), after this transaction commits. The job id names that
    moment, so two jobs deferring to the same end schedule one run. The notification owes its
    push from then on: if that job is lost, the push sweep queues it again
    (services.requeue_owed_pushes)."""
    from app.jobs import enqueue_after_commit
    from app.notifications import tasks

    from rq import get_current_job

    when = min(held.values())
    job_id = f"{push_job_id(follow_up.notification_id)}-at-{int(when.timestamp())}"
    running = get_current_job()
    if running is not None and running.id == job_id:
        # This is that job, run a moment early (another machine's clock): a second later, so
        # the new job is not this one's id (RQ would overwrite the job that is running).
        when += timedelta(seconds=1)
        job_id = f"{push_job_id(follow_up.notification_id)}-at-{int(when.timestamp())}"
    db.session.execute(update(Notification).where(Notification.id == follow_up.notification_id)
                       .values(push_due_at=when).execution_options(synchronize_session=False))
    enqueue_after_commit(tasks.send_push, follow_up.notification_id, queue=follow_up.queue,
                         at=when, center_id=follow_up.center_id, job_id=job_id)


def _claim_deliveries(notification_id: int, subscription_ids: list[int],
                      hold: set[int] = frozenset()) -> list[tuple[int, int]]:
    """Insert the missing delivery rows and claim the ones still to send (all but ``hold``,
    whose push service is in its back-off), in two statements. Returns (delivery id,
    subscription id) pairs this job now owns."""
    now = utcnow()
    table = PushDelivery.__table__
    insert_rows(table, [{"notification_id": notification_id, "subscription_id": subscription_id,
                         "status": DeliveryStatus.PENDING, "attempts": 0, "error": "",
                         "created_at": now} for subscription_id in subscription_ids],
                skip_duplicates_of=("notification_id", "subscription_id"))
    claim = (update(PushDelivery)
             .where(PushDelivery.notification_id == notification_id,
                    one_of(PushDelivery.subscription_id,
                           [sid for sid in subscription_ids if sid not in hold]),
                    or_(PushDelivery.status == DeliveryStatus.PENDING,
                        and_(PushDelivery.status == DeliveryStatus.SENDING,
                             PushDelivery.claimed_at < now - CLAIM_TIMEOUT)))
             .values(status=DeliveryStatus.SENDING, claimed_at=now,
                     attempts=PushDelivery.attempts + 1)
             .returning(PushDelivery.id, PushDelivery.subscription_id)
             .execution_options(synchronize_session=False))
    return sorted((row.id, row.subscription_id) for row in db.session.execute(claim))
