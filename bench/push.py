"""Web push throughput: one notification to a user with 1,000 devices, through Classhub's job on
one RQ worker, against the naive pywebpush loop (bench/peers/webpush_loop.py) in the same run.

    python -m bench push

A throwaway database (PostgreSQL when DATABASE_URL is set) and Redis (bench/common.py), the
real app worker (worker.build_worker, burst mode), and the loopback push service of
tests/interop in a process of its own (its VAPID verification and payload decryption must not
share the measured interpreter). Both senders push to devices of that service; it checks every
request, and the figures count only pushes it accepted. Figures only: nothing here asserts a
time.
"""
from __future__ import annotations

import multiprocessing
import time

from bench.common import Row, bench_app, database_kind, email, scale, slug

CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Mobile Safari/537.36")
PAYLOAD = {"title": "Terry Teacher", "body": "Quiz on Friday: bring a calculator.",
           "url": "/chat/threads/1?at=1", "tag": "thread-1"}


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


# --- Classhub ----------------------------------------------------------------------------------------

def seed_user_with_devices(subscriptions: list[dict]) -> int:
    from app.accounts.models import Center, Role, User
    from app.extensions import db
    from app.notifications.models import PushSubscription

    center = Center(name="Bench Push", slug=slug("bench-push"), timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    user = User(center_id=center.id, email=email("devices"), name="Many Devices",
                role=Role.STUDENT, password_hash="unusable")
    db.session.add(user)
    db.session.flush()
    db.session.add_all([PushSubscription(
        center_id=center.id, user_id=user.id, endpoint=s["endpoint"], p256dh=s["keys"]["p256dh"],
        auth=s["keys"]["auth"], user_agent=CHROME, browser="Chrome", platform="Android")
        for s in subscriptions])
    db.session.commit()
    return user.id


def classhub_fan_out(app, service: RemotePushService, devices: int
                     ) -> tuple[int, float, float]:
    """One notification to one user with ``devices`` devices: one job on one burst worker.
    Returns (pushes sent, seconds, the worker's CPU seconds)."""
    from sqlalchemy import func, select

    from app.accounts.models import User
    from app.extensions import db
    from app.notifications import services
    from app.notifications.models import DeliveryStatus, NotificationType, PushDelivery
    from app.notifications.vapid import app_keys
    from worker import build_worker

    with app.app_context():
        user_id = seed_user_with_devices(service.devices(devices, app_keys().public_key_b64))
        with app.test_request_context("/"):
            services.notify([db.session.get(User, user_id)], NotificationType.NEW_MESSAGE,
                            PAYLOAD["title"], PAYLOAD["body"], PAYLOAD["url"], tag=PAYLOAD["tag"])
            db.session.commit()
    worker = build_worker(app)
    # The worker runs its jobs in this process (RQ's SimpleWorker) and the job's sending
    # threads too: this process's CPU time is the sender's own, whatever else the machine runs
    # (the push service is another process).
    started, cpu = time.perf_counter(), time.process_time()
    worker.work(burst=True, logging_level="ERROR")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    with app.app_context():
        sent = db.session.scalar(select(func.count(PushDelivery.id)).where(
            PushDelivery.status == DeliveryStatus.SENT))
    return sent, elapsed, cpu


def main() -> list[Row]:
    from bench.peers import webpush_loop

    sc = scale()
    service = RemotePushService()
    try:
        # The loopback push service is not a public push service: allowed for this bench only.
        with bench_app("push", PUSH_ALLOW_LOOPBACK_ENDPOINTS=True) as (app, root):
            sent, seconds, cpu = classhub_fan_out(app, service, sc.push_devices)
        accepted_by_service = service.stats()["accepted"]
        vapid, public_key = webpush_loop.new_keys()
        peer_sent, peer_seconds = webpush_loop.send_all(
            service.devices(sc.push_devices, public_key), vapid, PAYLOAD)
        stats = service.stats()
    finally:
        service.stop()
    ours, peer = sent / seconds, peer_sent / peer_seconds
    print(f"Push ({database_kind()}): Classhub's job sent {sent:,} in {seconds:.2f} s "
          f"({ours:,.0f}/s; the service accepted {accepted_by_service:,}; the worker's CPU "
          f"{cpu:.2f} s: {cpu / max(1, sent) * 1000:.2f} ms per push, "
          f"{sent / max(cpu, 1e-9):,.0f} pushes per CPU-second); the naive loop "
          f"{peer_sent:,} in {peer_seconds:.2f} s ({peer:,.0f}/s)"
          + (f"; service errors: {stats['errors']}" if stats["errors"] else ""))
    return [Row(f"web push, 1 notification → {sc.push_devices:,} devices, one worker "
                "(pushes/s; the peer: a naive pywebpush loop)",
                f"{ours:,.0f} /s ({sent:,} sent)", f"{peer:,.0f} /s ({peer_sent:,} sent)",
                ours, peer)]


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
