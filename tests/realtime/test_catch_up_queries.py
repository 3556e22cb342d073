"""What a (re)subscribing page costs the server: the catch-ups run on every page load and every
reconnect, so their statements must not grow with the thread's length, the number of messages
the page lists, or the number of threads (DESIGN: query counts stay flat)."""
from __future__ import annotations

import time

from app.accounts.models import Role
from app.chat import services
from app.extensions import db
from app.realtime.events import CatchUp, catch_up_for
from app.realtime.hub import Connection
from tests.chat.conftest import bulk_messages

BOUND = 15


def _subscribe_cost(app, count_queries, user, topic, since) -> tuple[int, list[str], float]:
    # No sender: the frames stay queued for the test to read.
    conn = Connection(ws=None, user_id=user.id, session_id=user.get_id(),
                      start_sender=lambda drain: None)
    db.session.expire_all()
    with app.test_request_context("/", base_url=app.config["BASE_URL"]):
        started = time.perf_counter()
        with count_queries() as counter:
            catch_up_for(topic)(conn, user, int(topic.partition(":")[2]), since)
        elapsed = time.perf_counter() - started
    frames = list(conn.queued)
    return counter.count, frames, elapsed


def test_catch_ups_cost_a_fixed_number_of_statements(app, make, count_queries):
    costs = {}
    for size in (20, 300):
        center = make.center()
        teacher = make.user(center, Role.TEACHER)
        student = make.user(center, Role.STUDENT)
        make.course(center, teachers=[teacher], students=[student])
        groups = [services.create_group(teacher, f"Group {n}", "", [student.id])
                  for n in range(size // 10)]
        thread = groups[0]
        made = bulk_messages(thread, teacher, size, "line")
        page = [m.id for m in made[-200:]]  # what realtime.js sends: the newest 200 it shows
        missing = page[len(page) // 2]  # one of them never reached the page
        have = [i for i in page if i != missing]
        count, frames, _ = _subscribe_cost(app, count_queries, student, f"thread:{thread.id}",
                                           CatchUp(after=min(have), have=have))
        assert sum(f'id="message-{missing}"' in f for f in frames) == 1
        assert not any(f'id="message-{i}"' in f for f in frames for i in have)
        costs[("thread", size)] = count
        rows = {"kinds": ["DIRECT", "GROUP", "CLASS"], "rows": {}}  # stale: every row differs
        count, frames, _ = _subscribe_cost(app, count_queries, student, f"threads:{student.id}",
                                           CatchUp(have=rows))
        assert frames and all(f'id="thread-item-{g.id}"' in frames[0] for g in groups)
        costs[("threads", size)] = count
        count, frames, _ = _subscribe_cost(app, count_queries, student, f"user:{student.id}",
                                           CatchUp())
        assert any('id="chat-unread-badge"' in f for f in frames)
        costs[("user", size)] = count
    for kind in ("thread", "threads", "user"):
        small, large = costs[(kind, 20)], costs[(kind, 300)]
        assert small == large <= BOUND, costs
