"""Run callbacks once the current transaction has committed (and drop them on rollback).

DESIGN: enqueue jobs and publish realtime events after commit, never inside a transaction that
may still roll back: a worker or a websocket client must never see an id the DB does not have.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "classhub_after_commit"


def run_after_commit(session: Session, callback: Callable[[], None]) -> None:
    session.info.setdefault(_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_callbacks(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_callbacks(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction rolled back
        session.info.pop(_KEY, None)
