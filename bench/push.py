"""Web push throughput: how many pushes per second one RQ worker delivers.

    python -m bench.push

A throwaway SQLite database and embedded Redis in a temporary directory (REDIS_URL and
DATABASE_URL from the environment are not used), the real app worker (worker.build_worker, burst
mode) and the loopback push service of tests/interop in a process of its own, so its VAPID
verification and payload decryption do not share the worker's interpreter. Two shapes:

- fan-out: one notification to one user with 1,000 devices (one job, 1,000 pushes);
- many jobs: 300 notifications to 300 users with one device each (300 jobs), to show what a
  job costs on top of its pushes (kept smaller so the whole run stays within two minutes).

VAPID header caching: the app signs one Authorization header per push-service origin and reuses
it (app/notifications/vapid.py). Rather than change the app to switch the cache off, the
benchmark times the cached lookup against ``VapidKeys.sign_uncached`` (a fresh ES256 signature,
what an uncached sender pays on every push) and reports the throughput that difference implies.
Figures only: nothing here asserts a time.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import build_app

DEVICES = 1000  # the fan-out: one user's devices
SINGLES = 300  # the many-jobs shape: people with one device each
SIGN_CALLS = 2000
CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Mobile Safari/537.36")


# --- the push service, in its own process ---------------------------------------------------------

def _serve(conn) -> None:
    """Child process: run the loopback push service and answer the parent's requests."""
    from tests.interop.push_service import PushService

    service = PushService()
    try:
        while True:
            command, *args = conn.recv()
            if command == "devices":
                count, application_server_key = args
                conn.send([service.new_device(application_server_key).subscription_json()
                           for _ in range(count)])
            elif command == "stats":
                requests = service.all_requests()
                conn.send({"requests": len(requests),
                           "verified": sum(1 for r in requests if r.ok),
                           "accepted": sum(1 for r in requests if r.ok and r.status == 201),
                           "errors": sorted({e for r in requests for e in r.errors})[:5]})
            elif command == "stop":
                conn.send("bye")
                return
    finally:
        service.stop()


class RemotePushService:
    def __init__(self):
        context = multiprocessing.get_context("spawn")  # no copy of the parent's connections
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()

    def devices(self, count: int, application_server_key: str) -> list[dict]:
        self.conn.send(("devices", count, application_server_key))
        return self.conn.recv()

    def stats(self) -> dict:
        self.conn.send(("stats",))
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send(("stop",))
        self.conn.recv()
        self.process.join(timeout=10)


# --- set-up ------------------------------------------------------------------------------------


def seed_people(count: int):
    from app.accounts.models import Center, Role, User
    from app.extensions import db

    center = Center(name="Bench Push", slug="bench-push", timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    people = [User(center_id=center.id, email=f"p{i}@bench.example", name=f"Person {i}",
                   role=Role.STUDENT, password_hash="unusable") for i in range(count)]
    db.session.add_all(people)
    db.session.commit()
    return people


def subscribe(user, subscription: dict):
    from app.notifications.models import PushSubscription

    keys = subscription["keys"]
    return PushSubscription(center_id=user.center_id, user_id=user.id,
                            endpoint=subscription["endpoint"], p256dh=keys["p256dh"],
                            auth=keys["auth"], user_agent=CHROME, browser="Chrome",
                            platform="Android")


# --- measuring ---------------------------------------------------------------------------------

def run_worker(app) -> float:
    from worker import build_worker

    worker = build_worker(app)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="ERROR")
    return time.perf_counter() - started


def sent_count() -> int:
    from sqlalchemy import func, select

    from app.extensions import db
    from app.notifications.models import DeliveryStatus, PushDelivery

    db.session.remove()
    return db.session.scalar(select(func.count(PushDelivery.id)).where(
        PushDelivery.status == DeliveryStatus.SENT))


def per_call_us(fn, calls: int) -> float:
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        timings.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(timings)


def main() -> None:
    from flask_migrate import upgrade
    from pywebpush import WebPusher

    from app.extensions import db
    from app.notifications import services
    from app.notifications.models import NotificationType
    from app.notifications.vapid import app_keys

    root = Path(tempfile.mkdtemp(prefix="chub-bench-"))  # short: unix socket paths are limited
    started = time.perf_counter()
    service = RemotePushService()
    try:
        app = build_app(root)
        with app.app_context():
            upgrade()
            keys = app_keys()
            setup = time.perf_counter()
            people = seed_people(SINGLES + 1)
            fan_out_user, singles = people[0], people[1:]
            subscriptions = service.devices(DEVICES + SINGLES, keys.public_key_b64)
            db.session.add_all([subscribe(fan_out_user, s) for s in subscriptions[:DEVICES]])
            db.session.add_all([subscribe(u, s) for u, s in zip(singles,
                                                                 subscriptions[DEVICES:])])
            db.session.commit()
            fan_out_id, single_ids = fan_out_user.id, [u.id for u in singles]
            setup = time.perf_counter() - setup

        print(f"Classhub web push benchmark (SQLite in {root}; one worker; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
        print(f"  set-up: {SINGLES + 1} people, {DEVICES + SINGLES} devices in {setup:.1f} s")
        results = []

        # 1. Fan-out: one notification, one job, 1,000 devices.
        with app.app_context():
            from app.accounts.models import User

            user = db.session.get(User, fan_out_id)
            services.notify([user], NotificationType.NEW_MESSAGE, "Terry Teacher",
                            "Quiz on Friday: bring a calculator.", "/chat/threads/1?at=1",
                            tag="thread-1")
            db.session.commit()
        elapsed = run_worker(app)
        with app.app_context():
            sent = sent_count()
        results.append(("1 notification x 1,000 devices (1 job)", sent, elapsed))

        # 2. Many jobs: one notification each to people with one device.
        with app.app_context():
            users = db.session.scalars(db.select(User).where(User.id.in_(single_ids))).all()
            for user in users:
                services.notify([user], NotificationType.SESSION_REMINDER,
                                "Algebra starts in 15 min", "Mon 30 Nov, 16:00 GMT · 60 min",
                                "/sessions/1", tag="session-1")
            db.session.commit()
        elapsed = run_worker(app)
        with app.app_context():
            sent_total = sent_count()
        results.append((f"{SINGLES} notifications x 1 device ({SINGLES} jobs)",
                        sent_total - sent, elapsed))

        stats = service.stats()
        for label, count, seconds in results:
            print(f"  {label:<46} {count:>5} pushes in {seconds:6.2f} s  "
                  f"{count / seconds:7.0f} pushes/s  {seconds / max(count, 1) * 1000:6.2f} ms/push")
        print(f"  push service: {stats['requests']} requests, {stats['verified']} with a valid "
              f"VAPID signature and a decryptable payload, {stats['accepted']} accepted"
              + (f"; errors: {stats['errors']}" if stats["errors"] else ""))

        # VAPID signing: the cached header against a fresh signature per push.
        with app.app_context():
            keys = app_keys()
            endpoint = subscriptions[0]["endpoint"]
            cached = per_call_us(lambda: keys.authorization(endpoint), SIGN_CALLS)
            uncached = per_call_us(lambda: keys.sign_uncached(endpoint), SIGN_CALLS)
            pusher = WebPusher(subscriptions[0])
            payload = b'{"title": "Algebra starts in 15 min", "body": "Mon 30 Nov"}'
            encrypt = per_call_us(lambda: pusher.encode(payload, "aes128gcm"), SIGN_CALLS // 4)
        print(f"  VAPID Authorization, cached per origin: {cached:8.1f} us/push")
        print(f"  VAPID Authorization, signed every push: {uncached:8.1f} us/push "
              f"(sign_uncached; ES256 over the JWT)")
        print(f"  payload encryption (aes128gcm, ECDH):  {encrypt:8.1f} us/push (either way)")
        for label, count, seconds in results:
            per_push = seconds / max(count, 1)
            without = 1 / (per_push + (uncached - cached) / 1e6)
            print(f"  without the cache, {label:<46} ~{without:7.0f} pushes/s "
                  f"({(uncached - cached) / 1e3 / (per_push * 1000) * 100:4.1f}% slower)")
        print(f"  total {time.perf_counter() - started:.1f} s")
    finally:
        service.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
