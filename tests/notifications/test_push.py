"""Web push end to end: notify() -> RQ job after commit -> a real burst worker -> push_wire over
HTTP -> the loopback push service, which checks the VAPID signature and decrypts the payload
with the device's own keys. Deliveries are rows: retries never send a device the same
notification twice, gone subscriptions are switched off."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from rq.job import Job, JobStatus
from sqlalchemy import select

from app.extensions import db
from app.notifications import push, services, tasks
from app.notifications.models import (DeliveryStatus, JobFailure, NotificationType,
                                      PushDelivery, PushSubscription)
from app.notifications.vapid import REFRESH_MARGIN, TOKEN_LIFETIME, VapidKeys, app_keys
from app.redis_conn import get_redis
from tests.chat.conftest import chat  # noqa: F401
from tests.interop.push_service import public_key_b64, running, verify_vapid
from tests.notifications.conftest import (FIREFOX_WINDOWS, make_due, queued_job_ids,
                                          scheduled)

HIGH = [NotificationType.SESSION_REMINDER, NotificationType.INSTANT_CALL_STARTED,
        NotificationType.SESSION_LIVE]
JOIN_TYPES = {NotificationType.INSTANT_CALL_STARTED, NotificationType.SESSION_LIVE}


def another_key() -> str:
    """An application server key that is not the app's."""
    return public_key_b64(ec.generate_private_key(ec.SECP256R1()))


def delivery(notification, device) -> PushDelivery:
    return db.session.scalar(select(PushDelivery).where(
        PushDelivery.notification_id == notification.id,
        PushDelivery.subscription_id == device.subscription.id))


def notify_one(user, type_=NotificationType.NEW_MESSAGE, title="Sara in Algebra",
               body="Is the homework due on Friday?", link="/chat/threads/7?at=12",
               tag="thread-7"):
    [notification] = services.notify([user], type_, title, body, link, tag=tag)
    db.session.commit()
    return notification


# --- the round trip --------------------------------------------------------------------------------

@pytest.mark.parametrize("type_, ttl, urgency, queue_name", [
    *[(t, 900, "high", "high") for t in HIGH],
    (NotificationType.NEW_MESSAGE, 86400, "normal", "default"),
    (NotificationType.SESSION_SCHEDULED, 86400, "normal", "default"),
])
def test_every_device_gets_a_signed_decryptable_payload(app, school, add_device, push_service,
                                                        run_worker, type_, ttl, urgency,
                                                        queue_name):
    user = school.students[0]
    phone, laptop = add_device(user), add_device(user, agent=FIREFOX_WINDOWS)
    someone_else = add_device(school.students[1])
    notification = notify_one(user, type_, title="Algebra starts in 15 min",
                              body="Mon 16 Mar, 16:00 GMT · 60 min with Terry Teacher",
                              link="/sessions/42", tag="session-42")
    assert push_service.all_requests() == []  # nothing leaves before the worker runs
    assert len(queued_job_ids(app, queue_name)) == 1

    run_worker()

    for device in (phone, laptop):
        [request] = push_service.requests_for(device)
        assert request.ok, request.errors
        assert request.status == 201
        assert request.payload == {"title": "Algebra starts in 15 min",
                                   "body": "Mon 16 Mar, 16:00 GMT · 60 min with Terry Teacher",
                                   "url": "/sessions/42", "tag": "session-42",
                                   "type": type_.value, "id": notification.id,
                                   "badge": "/static/icons/badge-96.png",
                                   **({"actions": [{"action": "join", "title": "Join"}]}
                                      if type_ in JOIN_TYPES else {})}
        assert request.headers["ttl"] == str(ttl)
        assert request.headers["urgency"] == urgency
        assert request.headers["topic"] == "session-42"
        assert request.vapid["claims"]["aud"] == push_service.origin
        assert request.vapid["key"] == app_keys().public_key_b64
        row = delivery(notification, device)
        assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.SENT, 1, 201)
        assert row.sent_at is not None
        assert db.session.get(PushSubscription, device.subscription.id).last_success_at
    assert push_service.requests_for(someone_else) == []


def test_an_instant_call_push_carries_the_room_the_join_action_and_a_monochrome_badge(
        app, chat, add_device, push_service, run_worker):
    """Issue 11: the ringing push opens the room from its "Join" action, and Android's status
    bar gets a badge it can draw (white on transparency: only the alpha counts there)."""
    from pathlib import Path

    from app.live.services import start_call

    phone = add_device(chat.s1)
    run, _ = start_call(chat.teacher, chat.group)
    db.session.commit()
    run_worker()
    [request] = push_service.requests_for(phone)
    assert request.ok, request.errors
    payload = request.payload
    assert payload["type"] == "INSTANT_CALL_STARTED"
    assert payload["url"] == f"/live/rooms/{run.room_id}"
    assert payload["actions"] == [{"action": "join", "title": "Join"}]
    badge = Path(app.static_folder) / payload["badge"].removeprefix("/static/")
    assert badge.suffix == ".png" and badge.is_file()
    assert app.test_client().get(payload["badge"]).status_code == 200
    opaque, transparent, coloured = png_alpha_census(badge.read_bytes())
    assert opaque and transparent and not coloured, (opaque, transparent, coloured)


def png_alpha_census(data: bytes) -> tuple[int, int, int]:
    """(opaque pixels, fully transparent pixels, visible pixels that are not white) of an
    8-bit RGBA PNG."""
    import struct
    import zlib

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert (depth, colour) == (8, 6), "an 8-bit RGBA PNG (colour type 6)"
        elif kind == b"IDAT":
            idat += chunk
    raw, stride, previous, rows = zlib.decompress(idat), width * 4, bytearray(width * 4), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG row filters (None, Sub, Up, Average, Paeth)
            a, b = (line[i - 4] if i >= 4 else 0), previous[i]
            c = previous[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    pixels = [row[x * 4:x * 4 + 4] for row in rows for x in range(width)]
    return (sum(p[3] == 255 for p in pixels), sum(p[3] == 0 for p in pixels),
            sum(p[3] > 0 and min(p[:3]) < 250 for p in pixels))


def test_without_a_tag_the_notification_id_is_tag_and_topic(school, add_device, push_service,
                                                           run_worker):
    user = school.students[0]
    device = add_device(user)
    notification = notify_one(user, tag="")
    run_worker()
    [request] = push_service.requests_for(device)
    assert request.payload["tag"] == f"n{notification.id}"
    assert request.headers["topic"] == f"n{notification.id}"


def test_a_huge_body_still_fits_in_one_push(school, add_device, push_service, run_worker):
    user = school.students[0]
    device = add_device(user)
    # 1,000 emoji (the in-app record keeps 1,000 characters) are 4,000 bytes of UTF-8.
    notify_one(user, title="📚" * 300, body="Long message " + "😀" * 5000,
               link="/chat/threads/7?at=12")
    run_worker()
    [request] = push_service.requests_for(device)
    assert request.ok and request.status == 201, request.errors
    assert request.body_size <= 4096
    raw = json.dumps(request.payload, ensure_ascii=False).encode()
    assert push.MAX_PAYLOAD - 8 <= len(raw) <= push.MAX_PAYLOAD  # the body is cut, not dropped
    assert request.payload["body"].startswith("Long message 😀😀")
    assert request.payload["body"].endswith("…")
    assert request.payload["url"] == "/chat/threads/7?at=12"


def test_nothing_is_queued_for_someone_without_devices(app, school, add_device, push_service,
                                                       run_worker):
    add_device(school.students[1])
    notify_one(school.students[0])
    assert queued_job_ids(app, "default") == []
    run_worker()
    assert push_service.all_requests() == []


def test_a_rolled_back_notification_queues_nothing(app, school, add_device):
    user = school.students[0]
    add_device(user)
    services.notify([user], NotificationType.NEW_MESSAGE, "Never sent")
    db.session.rollback()
    assert queued_job_ids(app, "default") == []


def test_running_the_job_twice_sends_once(school, add_device, push_service, run_worker):
    user = school.students[0]
    device = add_device(user)
    notification = notify_one(user)
    run_worker()
    assert tasks.send_push(notification.id) == {"sent": 0, "gone": 0, "failed": 0,
                                                "skipped": 1, "temporary": 0, "deferred": 0}
    assert len(push_service.requests_for(device)) == 1


# --- subscriptions that are gone ------------------------------------------------------------------

@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_switched_off_and_skipped_later(app, school, add_device,
                                                              push_service, run_worker, status):
    user = school.students[0]
    gone, kept = add_device(user), add_device(user)
    push_service.script(gone, status)
    first = notify_one(user)
    run_worker()

    row = delivery(first, gone)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.GONE, 1, status)
    subscription = db.session.get(PushSubscription, gone.subscription.id)
    assert not subscription.active and str(status) in subscription.last_error
    assert delivery(first, kept).status == DeliveryStatus.SENT
    # Gone is final: not a failure to retry or to show to admins.
    assert scheduled(app, "default") == []
    assert db.session.scalar(select(JobFailure)) is None

    second = notify_one(user, body="A second message")
    run_worker()
    assert len(push_service.requests_for(gone)) == 1
    assert [p["body"] for p in push_service.delivered(kept)] == [
        "Is the homework due on Friday?", "A second message"]
    assert delivery(second, gone) is None


def test_subscribing_the_same_endpoint_again_switches_it_back_on(school, add_device,
                                                                 push_service, run_worker):
    user = school.students[0]
    device = add_device(user)
    push_service.script(device, 410)
    notify_one(user)
    run_worker()
    assert not db.session.get(PushSubscription, device.subscription.id).active
    services.save_subscription(user, device.subscription_json(), "Chrome")
    notify_one(user, body="After resubscribing")
    run_worker()
    assert [p["body"] for p in push_service.delivered(device)] == ["After resubscribing"]


def test_a_refusal_for_good_is_not_retried(app, school, push_service, run_worker):
    """403 (the subscription belongs to another application server key) cannot be fixed by
    retrying: the delivery fails, the subscription counts the failure, the job succeeds."""
    user = school.students[0]
    device = push_service.new_device(application_server_key=another_key())
    device.subscription = services.save_subscription(user, device.subscription_json(), "")
    notification = notify_one(user)
    run_worker()
    row = delivery(notification, device)
    assert (row.status, row.last_status_code) == (DeliveryStatus.FAILED, 403)
    subscription = db.session.get(PushSubscription, device.subscription.id)
    assert subscription.failures == 1 and subscription.active
    assert scheduled(app, "default") == []


def test_repeated_refusals_switch_the_device_off(school, push_service):
    user = school.students[0]
    device = push_service.new_device(application_server_key=another_key())
    device.subscription = services.save_subscription(user, device.subscription_json(), "")
    for n in range(push.DISABLE_AFTER_FAILURES):
        tasks.send_push(notify_one(user, body=f"message {n}").id)
    subscription = db.session.get(PushSubscription, device.subscription.id)
    assert subscription.failures == push.DISABLE_AFTER_FAILURES and not subscription.active
    notification = notify_one(user, body="not sent")
    tasks.send_push(notification.id)
    assert len(push_service.requests_for(device)) == push.DISABLE_AFTER_FAILURES


# --- temporary failures: RQ retries, what was sent is not sent again ---------------------------------

def test_500_then_201_is_retried_by_rq_and_sent_once_per_device(app, school, add_device,
                                                                push_service, run_worker):
    user = school.students[0]
    flaky, steady = add_device(user), add_device(user)
    push_service.script(flaky, 500)
    notification = notify_one(user)
    [job_id] = queued_job_ids(app, "default")

    before = datetime.now(timezone.utc)
    run_worker()
    row = delivery(notification, flaky)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    assert "500" in row.error
    assert delivery(notification, steady).status == DeliveryStatus.SENT
    # RQ holds the retry for its first backoff interval (10 s), with retries left.
    [(retry_id, when)] = scheduled(app, "default")
    assert retry_id == job_id
    assert before + timedelta(seconds=9) <= when <= datetime.now(timezone.utc) + \
        timedelta(seconds=11)
    job = Job.fetch(job_id, connection=get_redis(app))
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 3
    assert db.session.scalar(select(JobFailure)) is None

    assert make_due(app, "default") == 1
    run_worker(with_scheduler=True)
    row = delivery(notification, flaky)
    assert (row.status, row.attempts, row.last_status_code) == (DeliveryStatus.SENT, 2, 201)
    assert [r.status for r in push_service.requests_for(flaky)] == [500, 201]
    assert [r.status for r in push_service.requests_for(steady)] == [201]
    assert delivery(notification, steady).attempts == 1
    assert Job.fetch(job_id, connection=get_redis(app)).get_status() == JobStatus.FINISHED
    assert scheduled(app, "default") == []


# 429 and Retry-After (held per push service, retried when it says): test_push_retry_after.py


def test_an_unreachable_push_service_is_temporary(school, add_device):
    user = school.students[0]
    with running() as elsewhere:
        device = add_device(user, service=elsewhere)
    # The service is stopped: connections are refused.
    notification = notify_one(user)
    with pytest.raises(push.TemporaryPushError):
        tasks.send_push(notification.id)
    row = delivery(notification, device)
    assert row.status == DeliveryStatus.PENDING and row.last_status_code is None
    assert "network" in row.error
    assert db.session.get(PushSubscription, device.subscription.id).active


# --- VAPID headers: signed once per push-service origin --------------------------------------------

def test_one_authorization_per_push_service_origin(school, add_device, push_service, run_worker):
    alice, ben = school.students
    with running() as other_service:
        devices = [add_device(alice), add_device(ben), add_device(alice, service=other_service)]
        notify_one(alice)
        notify_one(ben)
        notify_one(alice, body="again")
        run_worker()
        here = [r for d in devices[:2] for r in push_service.requests_for(d)]
        there = other_service.requests_for(devices[2])
    assert len(here) == 3 and len(there) == 2
    assert all(r.ok for r in here + there)
    assert len({r.authorization for r in here}) == 1
    assert len({r.authorization for r in there}) == 1
    assert here[0].authorization != there[0].authorization
    assert there[0].vapid["claims"]["aud"] == other_service.origin


def test_a_cached_header_is_renewed_before_it_expires(app):
    keys = VapidKeys(app_keys().vapid, "mailto:ops@example.com")  # its own cache
    endpoint = "https://push.example.net/push/abc"
    start = datetime.now(timezone.utc).timestamp()
    first = keys.authorization(endpoint, now=start)
    assert keys.authorization("https://push.example.net/push/other", now=start + 60) == first
    assert keys.authorization("https://fcm.googleapis.com/fcm/send/x", now=start) != first
    later = start + TOKEN_LIFETIME - REFRESH_MARGIN + 1
    renewed = keys.authorization(endpoint, now=later)
    assert renewed != first
    checked = verify_vapid(renewed, "https://push.example.net", now=later)
    assert checked["claims"]["exp"] == int(later) + TOKEN_LIFETIME
    assert verify_vapid(first, "https://push.example.net", now=start)["claims"]["sub"] == \
        "mailto:ops@example.com"
