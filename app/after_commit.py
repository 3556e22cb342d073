"""Work that runs once the outermost transaction has committed, and never if it rolls back.

DESIGN: enqueue jobs and publish realtime events after commit, never inside a transaction that
may still roll back: a worker or a websocket client must never see an id the DB does not have.

SQLAlchemy's ``after_commit`` event also fires when a savepoint (``begin_nested()``) is
released, which is not a commit at all: work queued before the savepoint would go out while
the real transaction is still open, and be sent for rows that may yet roll back. So each piece of
work belongs to the transaction that was innermost when it was queued:

- a savepoint released: its work now belongs to the enclosing transaction;
- a savepoint rolled back: its own work is dropped, the rest stays;
- the outermost transaction committed: everything runs, once;
- the outermost transaction rolled back (or the session closed without committing): dropped.

Redis work of one commit (publishes and enqueues) goes out in one pipeline: one round trip
however many events and jobs a commit makes. Nothing that happens after the commit reaches the
caller: the data is committed, so a Redis outage is logged and the request still succeeds.
Nothing is lost: every job has a durable row its sweep picks up again (EmailOutbox.status,
Notification.push_due_at), and a websocket client catches up from the database.

The mirror image, ``run_after_rollback``: undoing what a unit of work did outside the database
(a stored attachment file) when its transaction, or the savepoint it was made in, is rolled
back instead of committed - including a commit the database refuses at the edge.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_KEY = "classhub_after_commit"
_UNDO_KEY = "classhub_after_rollback"


@dataclass
class _Pending:
    owner: SessionTransaction | None  # None: queued before any transaction began
    run: Callable  # () -> None, or (pipeline) -> None for Redis work
    app: object = None  # the Flask app whose Redis the work goes to (Redis work only)


def run_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback()`` after the outermost transaction commits."""
    session.info.setdefault(_KEY, []).append(_Pending(_innermost(session), callback))


def redis_after_commit(session: Session, app, add: Callable) -> None:
    """Call ``add(pipeline)`` after the outermost transaction commits; whatever it queues on
    the pipeline goes to Redis with the rest of that commit's Redis work, in one round trip."""
    session.info.setdefault(_KEY, []).append(_Pending(_innermost(session), add, app))


def run_after_rollback(session: Session, callback: Callable[[], None]) -> None:
    """Call ``callback()`` if the transaction innermost now (a savepoint, or the outermost
    transaction) is rolled back or closed without committing; forget it once the outermost
    transaction commits. For work done outside the database that only the rows being written
    give a meaning to, such as an attachment's file: rolled back, it would be an orphan."""
    session.info.setdefault(_UNDO_KEY, []).append(_Pending(_innermost(session), callback))


def pending_count(session: Session) -> int:
    return len(session.info.get(_KEY, ()))


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _on_commit(session: Session) -> None:
    if not session.info.get(_KEY) and not session.info.get(_UNDO_KEY):
        return
    savepoint = session.get_nested_transaction()
    if savepoint is not None:
        # A savepoint was released (during this event the session still points at it): its
        # work, and what would undo it, now wait on the enclosing transaction.
        for key in (_KEY, _UNDO_KEY):
            for item in session.info.get(key, ()):
                if item.owner is savepoint:
                    item.owner = savepoint.parent
        return
    session.info.pop(_UNDO_KEY, None)  # committed: nothing to undo
    pending = session.info.pop(_KEY, None)
    if pending:
        run_pending(pending)


@event.listens_for(Session, "after_transaction_end")
def _on_end(session: Session, transaction: SessionTransaction) -> None:
    _undo_rolled_back(session, transaction)
    pending = session.info.get(_KEY)
    if not pending:
        return
    if transaction.parent is None:
        # The outermost transaction ended without its commit running the work (a commit
        # empties the list first): rolled back or closed. Work queued before it began
        # (owner None) goes with it too: it was meant for this transaction's commit.
        session.info.pop(_KEY, None)
    elif transaction.nested:
        # A savepoint ended. Released, its work was handed up already; rolled back, what it
        # (or a savepoint inside it) queued is dropped.
        session.info[_KEY] = [item for item in pending
                              if item.owner is None or not _within(item.owner, transaction)]


def _undo_rolled_back(session: Session, transaction: SessionTransaction) -> None:
    undo = session.info.get(_UNDO_KEY)
    if not undo:
        return
    if transaction.parent is None:
        # The outermost transaction ended and its commit did not empty the list: rolled back.
        rolled_back = session.info.pop(_UNDO_KEY)
    elif transaction.nested:
        # A savepoint ended. Released, its items were handed up already; rolled back, what
        # was done inside it is undone now, the rest waits.
        rolled_back = [item for item in undo
                       if item.owner is not None and _within(item.owner, transaction)]
        undone = {id(item) for item in rolled_back}
        session.info[_UNDO_KEY] = [item for item in undo if id(item) not in undone]
    else:
        return
    for item in rolled_back:
        try:
            item.run()
        except Exception:
            log.exception("undoing the work of a rolled-back transaction failed")


def run_pending(pending: list[_Pending]) -> None:
    """Run committed work: Redis work in one pipeline per Redis server, then the rest. A failure
    is logged, never raised: the transaction it follows has committed."""
    by_app: dict[int, list[_Pending]] = {}
    for item in pending:
        if item.app is not None:
            by_app.setdefault(id(item.app), []).append(item)
    for items in by_app.values():
        _send_pipeline(items[0].app, items)
    for item in pending:
        if item.app is None:
            try:
                item.run()
            except Exception:
                log.exception("after-commit work failed (the transaction had committed)")


def _send_pipeline(app, items: list[_Pending]) -> None:
    from app.redis_conn import mark_redis_available, mark_redis_unavailable, web_redis

    try:
        pipeline = web_redis(app).pipeline()
        pipeline.multi()  # RQ's enqueue expects a pipeline already in MULTI
        for item in items:
            item.run(pipeline)
        pipeline.execute()
    except Exception as exc:
        # Redis is down or hung: the commit stands. Events are caught up from the database by
        # clients; jobs are queued again by the sweeps from their durable rows.
        mark_redis_unavailable(app, f"{len(items)} after-commit publish/enqueue(s) not sent: "
                                    f"{type(exc).__name__}: {exc}")
        return
    mark_redis_available(app)
