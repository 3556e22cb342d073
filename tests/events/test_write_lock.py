"""SQLite has one write lock for the whole database, and a request now holds it from its first
write until its edge commits (app/transactions.py). What keeps concurrent requests from failing
with "database is locked" under that: savepoint() takes the lock at once (BEGIN IMMEDIATE) rather
than upgrading a read lock, which SQLite refuses without waiting while another connection
commits; and a page rendered while holding the lock does not wait on Redis for its health check.

On PostgreSQL there is no database-wide lock: the same steps simply succeed there."""
from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from app.accounts.models import Center
from app.extensions import db
from app.redis_conn import _health, redis_degraded
from app.transactions import SQLITE_BUSY_TIMEOUT_MS, holds_sqlite_write_lock, savepoint
from tests.conftest import commit


def _is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


def test_a_savepoint_that_reads_then_writes_waits_for_another_writer(app, school):
    """Another connection is in the middle of writing when a unit of work enters a savepoint
    that reads before it writes. The savepoint waits for the other writer's commit, then both
    rows are kept. (Begun DEFERRED, its read lock could not be upgraded while the other writer
    waited to commit: SQLite answers that at once with "database is locked".)"""
    other = db.engine.connect()
    other_transaction = other.begin()
    other.execute(Center.__table__.insert().values(name="Other writer", slug="other-writer",
                                                   timezone="Europe/London"))
    released = threading.Event()

    def commit_a_little_later():
        # Hold the lock until this unit of work is waiting on it (or, deferred, has read).
        time.sleep(0.5)
        other_transaction.commit()
        other.close()
        released.set()

    finisher = threading.Thread(target=commit_a_little_later)
    finisher.start()
    try:
        with savepoint():
            centers_before = db.session.scalar(select(func.count()).select_from(Center))
            db.session.add(Center(name="Mine", slug="mine", timezone="Europe/London"))
            db.session.flush()
        commit()
    finally:
        finisher.join()
    assert released.is_set()
    assert centers_before >= 1
    names = set(db.session.scalars(select(Center.name)))
    assert {"Other writer", "Mine"} <= names


def test_sqlite_connections_wait_long_for_the_write_lock(app):
    """Python's default wait (5 s) was reached on a busy machine with requests holding the lock
    until their edge commits; the app's connections wait longer."""
    with db.engine.connect() as connection:
        if _is_sqlite():
            waited = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            assert waited == SQLITE_BUSY_TIMEOUT_MS > 5000
        else:
            assert connection.dialect.name == "postgresql"


def test_the_redis_health_check_waits_until_the_sqlite_write_lock_is_released(app, school):
    """redis_degraded() pings Redis at most every few seconds. A page rendered after its request
    wrote, on SQLite, skips the ping (the last result stands) rather than yield to gevent with
    the database's write lock held; once the unit of work is committed it pings again."""
    state = _health(app)
    with app.test_request_context("/"):
        school.teacher.name = "Terry T. Teacher"
        db.session.flush()
        state["checked"] = 0.0  # a re-check is due
        assert redis_degraded(app) is False
        if _is_sqlite():
            assert holds_sqlite_write_lock()
            assert state["checked"] == 0.0, "pinged Redis while holding SQLite's write lock"
        else:
            assert not holds_sqlite_write_lock()
            assert state["checked"] > 0.0
        commit()
        assert not holds_sqlite_write_lock()
        state["checked"] = 0.0
        assert redis_degraded(app) is False
        assert state["checked"] > 0.0, "no ping once the write lock was released"
