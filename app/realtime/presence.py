"""Who is looking at a topic right now, across every web process (Redis sorted sets).

Each open connection subscribed to a thread is a member "<user id>:<connection id>" scored with
the time it was last seen; the hub refreshes every connection's entries on one timer (sockets
never wake up for it), so a dead process's entries age out."""
from __future__ import annotations

import time

from app.redis_conn import get_redis

FRESH_FOR = 75  # seconds; sockets refresh every ~25 s


def _key(topic: str) -> str:
    return f"classhub:presence:{topic}"


def mark_present(app, topic: str, user_id: int, connection_id: str) -> None:
    client = get_redis(app)
    with client.pipeline() as pipe:
        pipe.zadd(_key(topic), {f"{user_id}:{connection_id}": time.time()})
        pipe.expire(_key(topic), FRESH_FOR * 2)
        pipe.execute()


def mark_many_present(app, entries) -> None:
    """``mark_present`` for many (topic, user id, connection id) at once: one round trip."""
    now = time.time()
    by_topic: dict[str, dict[str, float]] = {}
    for topic, user_id, connection_id in entries:
        by_topic.setdefault(topic, {})[f"{user_id}:{connection_id}"] = now
    with get_redis(app).pipeline(transaction=False) as pipe:
        for topic, members in by_topic.items():
            pipe.zadd(_key(topic), members)
            pipe.expire(_key(topic), FRESH_FOR * 2)
        pipe.execute()


def mark_absent(app, topic: str, user_id: int, connection_id: str) -> None:
    get_redis(app).zrem(_key(topic), f"{user_id}:{connection_id}")


def present_users(app, topic: str) -> set[int]:
    members = get_redis(app).zrangebyscore(_key(topic), time.time() - FRESH_FOR, "+inf")
    return {int(m.split(b":", 1)[0]) for m in members}
