"""My Day's render time (issue 13): GET /my-day for a tutor with 1 and with 20 sessions today
(each with three learners and their answers, runs live and over, attendance records, overdue
catch-ups and an unread message), side by side with the peer a developer would write first
(bench/peers/my_day_naive.py: the same objects and template, read with lazy loading and queries
in loops), in the same run on the same data, through the same test client.

    python -m bench my_day

Figures only, no assertion about time. PostgreSQL when DATABASE_URL is set (bench/common.py).
"""
from __future__ import annotations

import statistics
import time

from bench.common import (Row, StatementCounter, bench_app, database_kind, email, percentile,
                          scale, slug)

SIZES = (1, 20)


class Factory:
    """What tests/my_day/helpers.build_day asks of the tests' factory, for the bench's data."""

    def __init__(self):
        self.n = 0

    def center(self, name="Bench", timezone="Europe/London"):
        from app.accounts.models import Center
        from app.extensions import db

        self.n += 1
        center = Center(name=f"{name} {self.n}", slug=slug(f"myday-{self.n}"), timezone=timezone)
        db.session.add(center)
        db.session.commit()
        return center

    def user(self, center, role, name=None, email_=None, timezone=None, commit=True, **_):
        from app.accounts.models import User
        from app.extensions import db

        self.n += 1
        user = User(center_id=center.id, role=role, name=name or f"Person {self.n}",
                    email=email(f"myday{self.n}"), timezone=timezone,
                    password_hash=PASSWORD_HASH)
        db.session.add(user)
        if commit:
            db.session.commit()
        return user


PASSWORD = "bench-password"
PASSWORD_HASH = None


def measure(client, paths: tuple[str, str], runs: int, engine):
    """For each path: timings (ms) of ``runs`` GETs after a warm-up, the statements of one GET,
    its size. The two pages take turns, so a change in the machine's load reaches both."""
    results = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        results[path] = ([], 0, len(response.data))
    for _ in range(runs):
        for path in paths:
            with StatementCounter(engine) as counter:
                started = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200
            timings, _, size = results[path]
            timings.append(elapsed)
            results[path] = (timings, counter.count, size)
    return [results[path] for path in paths]


def main() -> list[Row]:
    global PASSWORD_HASH
    from werkzeug.security import generate_password_hash

    from app.extensions import db
    from bench.peers import my_day_naive
    from tests.my_day.helpers import build_day

    PASSWORD_HASH = generate_password_hash(PASSWORD)
    runs = 50 if scale().name == "full" else 10
    figures = {}
    with bench_app("myday", WTF_CSRF_ENABLED=False,
                   LOGIN_RATE_LIMIT="1000 per minute") as (app, root):
        my_day_naive.register(app)
        factory = Factory()
        for size in SIZES:
            with app.app_context():
                day = build_day(factory, size)
                teacher_email = day.teacher.email
                db.session.remove()
            client = app.test_client()
            response = client.post("/login", data={"email": teacher_email, "password": PASSWORD})
            assert response.status_code == 302 and response.location == "/my-day", response
            with app.app_context():
                engine = db.engine
            figures[size] = measure(client, ("/my-day", "/bench/my-day-naive"), runs, engine)
    print(f"My Day ({database_kind()}, {runs} GETs each after a warm-up, scale {scale().name})")
    rows = []
    for size in SIZES:
        (ours_t, ours_q, ours_b), (peer_t, peer_q, peer_b) = figures[size]
        line = (f"  {size:>2} session{'s' if size != 1 else ' '} today: Classhub median "
                f"{statistics.median(ours_t):6.1f} ms p95 {percentile(ours_t, 95):6.1f} ms "
                f"{ours_q:>3} statements {ours_b // 1024} KiB | naive peer median "
                f"{statistics.median(peer_t):6.1f} ms p95 {percentile(peer_t, 95):6.1f} ms "
                f"{peer_q:>3} statements {peer_b // 1024} KiB")
        print(line)
        rows.append(Row(f"My Day GET /my-day, {size} session{'s' if size != 1 else ''} today "
                        f"(median ms; statements)",
                        f"{statistics.median(ours_t):.1f} ms; {ours_q}",
                        f"{statistics.median(peer_t):.1f} ms; {peer_q}",
                        statistics.median(ours_t), statistics.median(peer_t)))
    return rows


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
