"""The app as the realtime benches serve it: ``gunicorn bench.served:app`` is wsgi.py plus a
commit stamp, so latency can be taken from the instant a chat message (bench/realtime.py) or a
work item's progress (bench/control_center.py) is committed.

A SQLAlchemy ``after_commit`` listener, placed first (before the app's after-commit callbacks
publish anything), notes the wall-clock time of a commit whose transaction inserted a chat
message or changed a control center work item;
an ``after_request`` hook returns it as ``X-Bench-Committed-At`` (seconds since the epoch, this
machine's clock, which the bench's clients share). The app itself is unchanged.
"""
from __future__ import annotations

import time

from flask import g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from app import create_app
from app.chat.models import Message
from app.control_center.models import WorkItem
from app.extensions import db
from bench.common import COMMIT_HEADER
_FLAG = "bench_message_flushed"
_MESSAGE_INSERT = f"INSERT INTO {Message.__tablename__} "

app = create_app()


@event.listens_for(Session, "after_flush")
def _note_stamped_write(session, flush_context):
    # after_flush still sees the flush's dirty objects (they are reset after it).
    if any(isinstance(obj, WorkItem) for obj in session.dirty):
        session.info[_FLAG] = True


@event.listens_for(Engine, "after_cursor_execute")
def _note_message_insert(conn, cursor, statement, parameters, context, executemany):
    # Posting INSERTs the message with a statement of its own (on PostgreSQL inside a WITH),
    # not through a flush.
    if _MESSAGE_INSERT in statement and has_request_context():
        db.session().info[_FLAG] = True


def _stamp_commit(session):
    # after_commit also runs when a savepoint is released (the session still points at it
    # then): that is not the commit. Nothing is visible to anyone else until the outermost
    # transaction commits, the edge's COMMIT.
    if session.get_nested_transaction() is not None:
        return
    if session.info.pop(_FLAG, False) and has_request_context():
        g.bench_committed_at = time.time()


# insert=True: before app/after_commit.py's listener runs the publishes.
event.listen(Session, "after_commit", _stamp_commit, insert=True)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session, previous_transaction):
    if previous_transaction.parent is None:
        session.info.pop(_FLAG, None)


def _commit_header(response):
    committed_at = g.get("bench_committed_at")
    if committed_at is not None:
        response.headers[COMMIT_HEADER] = repr(committed_at)
    return response


# First in the list: after_request functions run in reverse order, so this one runs last, after
# the request edge's commit (app/transactions.py), which most views leave to it.
app.after_request_funcs.setdefault(None, []).insert(0, _commit_header)
