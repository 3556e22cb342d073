"""A burst of reconnecting pages must not drain the DB pool (issue 10, "Connection pool": 2,000
reconnects to one worker exhausted it and dropped sockets). Subscribes with their catch-ups take
turns under the hub's semaphore, each in a short session returned at once, so however many
sockets subscribe together they never hold more than ``DB_WORKERS`` connections."""
from __future__ import annotations

import json
import threading

from sqlalchemy import event

from app.accounts.models import Role
from app.chat import services
from app.extensions import db
from app.realtime import views
from app.realtime.hub import DB_WORKERS, Connection

SOCKETS = 24


class CheckedOut:
    """The most DB connections checked out of the pool at once."""

    def __init__(self):
        self.now = self.most = 0
        self._lock = threading.Lock()

    def checkout(self, *args):
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def checkin(self, *args):
        with self._lock:
            self.now -= 1


def test_a_burst_of_subscribes_holds_fewer_db_connections_than_the_pool(app, make):
    center = make.center()
    teacher = make.user(center, Role.TEACHER)
    students = [make.user(center, Role.STUDENT) for _ in range(SOCKETS)]
    make.course(center, teachers=[teacher], students=students)
    group = services.create_group(teacher, "Everyone", "", [s.id for s in students])
    welcome = services.post_message(teacher, group, "welcome")
    db.session.commit()
    topic = f"thread:{group.id}"
    connections = [Connection(ws=None, user_id=s.id, session_id=s.get_id(),
                              start_sender=lambda drain: None) for s in students]
    raws = [json.dumps({"type": "subscribe", "topics": [f"user:{s.id}", f"threads:{s.id}", topic],
                        "after": {topic: welcome.id - 1},
                        "have": {f"threads:{s.id}": {"kinds": ["GROUP"], "rows": {}}}})
            for s in students]
    db.session.remove()  # the test holds no connection of its own meanwhile
    db.engine.dispose()
    start = threading.Barrier(SOCKETS)

    def reconnect(conn, raw):
        # As the socket's greenlet does: its own request context (and so its own DB session).
        with app.test_request_context("/", base_url=app.config["BASE_URL"]):
            start.wait()
            views.handle_client_message(conn, raw)

    pool = CheckedOut()
    event.listen(db.engine, "checkout", pool.checkout)
    event.listen(db.engine, "checkin", pool.checkin)
    try:
        threads = [threading.Thread(target=reconnect, args=pair)
                   for pair in zip(connections, raws)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(db.engine, "checkout", pool.checkout)
        event.remove(db.engine, "checkin", pool.checkin)
    for conn in connections:  # every one subscribed and caught up
        frames = list(conn.queued)
        assert frames[-1] == views.SUBSCRIBED_FRAME
        assert any(f'id="message-{welcome.id}"' in f for f in frames)
        assert any('id="thread-list"' in f for f in frames)
        assert not conn.closed
    assert pool.now == 0  # nothing kept once subscribed
    assert 0 < pool.most <= DB_WORKERS
