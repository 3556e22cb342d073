"""RQ queues and enqueue-after-commit. Jobs take ids, reload from the DB and are safe to rerun."""
from __future__ import annotations

from flask import current_app
from rq import Queue

from app.after_commit import run_after_commit
from app.extensions import db
from app.redis_conn import get_redis

QUEUE_NAMES = ("high", "default", "low")


def get_queue(name: str = "default", app=None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(app or current_app))


def enqueue_after_commit(func, *args, queue: str = "default", **job_options) -> None:
    """Queue ``func(*args)`` when the current DB transaction commits; nothing if it rolls back."""
    app = current_app._get_current_object()
    run_after_commit(db.session(), lambda: get_queue(queue, app).enqueue(func, *args,
                                                                        **job_options))
