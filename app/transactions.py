"""One commit per request or job: the edges that commit, and the one named exception.

Services add and flush; they never commit. The edge that called them commits once, when the
whole unit of work has succeeded, and then the work queued for after the commit (publishes,
enqueues) goes to Redis in one pipeline (app/after_commit.py). A unit that fails keeps nothing
and sends nothing: its transaction is rolled back, which drops its after-commit work too.

- A request (``init_app``): a response with status < 400 is committed before it is sent (GETs
  that write, such as marking a thread read, included); a 4xx/5xx response or an exception rolls
  back. A commit that fails becomes a clear error page instead of the view's success page, and
  the browser is never sent half of one. Websocket routes are left alone: the hub opens and
  returns its own short sessions for the life of a socket.
- A job (``CommittingJob``, the job class of worker.py's AppWorker): the job's function returns,
  then its work is committed; it raises, and its work is rolled back (RQ then retries it).
- CLI commands and the demo seeding commit once at their end (app/cli.py, app/demo.py).

``commit_claim`` is the only commit outside those edges, for the few places where exactly-once
needs a durable claim before an external side effect (a push sent, an email handed to SMTP, a
reminder chunk): see its docstring.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

import sqlite3

from flask import Flask, Response, request, session
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.extensions import db

log = logging.getLogger(__name__)


def commit_claim() -> None:
    """Commit now, in the middle of a job, because what follows acts outside the database.

    Only for a claim that must be durable before an external side effect, so that a duplicate
    job, a retry or a sweep running at the same moment finds it taken and never sends twice;
    or for an outcome that must outlive the exception the job is about to raise for RQ's retry.
    Everything else commits at its edge (request or job). Each caller says why in a comment."""
    db.session.commit()


# --- SQLite's one write lock ----------------------------------------------------------------------

# How long a SQLite connection waits for the database's write lock before giving up with
# "database is locked". Python's default is 5 s; a request now holds the lock from its first
# write until its edge commits (rendering included), and a gevent process cannot serve anything
# else while one of its connections waits, so on a busy machine 5 s was reached: waiting longer
# is slower, giving up is a lost request.
SQLITE_BUSY_TIMEOUT_MS = 20_000


@event.listens_for(Engine, "connect")
def _sqlite_waits_for_the_write_lock(dbapi_connection, _connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def holds_sqlite_write_lock() -> bool:
    """Whether this unit of work has begun writing to SQLite and so holds the database's one
    write lock until its edge commits or rolls back. Python's sqlite3 begins a transaction only
    before a write (or at savepoint()'s BEGIN IMMEDIATE), so an open one means a written one.

    Code that would wait on the network (a Redis call) checks this first: under gevent, a
    greenlet that yields while holding the lock leaves every other greenlet of its process that
    needs the lock blocking the whole process in SQLite's busy wait, itself included."""
    session = db.session()
    if not session.in_transaction():
        return False
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return False
    return connection.connection.dbapi_connection.in_transaction


@contextmanager
def savepoint():
    """``with savepoint():`` a part of the unit of work that may fail on its own (a duplicate
    key) without failing the rest: rolled back alone on an exception, kept for the edge's
    commit otherwise.

    On SQLite, Python's sqlite3 driver (before 3.12) opens a transaction only before a write,
    so a SAVEPOINT issued first would itself be the outermost transaction and its RELEASE would
    COMMIT at once, keeping the row even if the request then fails. Beginning the transaction
    explicitly first makes the savepoint a real nested one there too. It begins IMMEDIATE, taking
    the write lock (waiting for it, up to the busy timeout) at once: a deferred transaction that
    read first and then wrote would have to upgrade its read lock, and SQLite refuses that upgrade
    at once ("database is locked", no waiting) while another connection is committing."""
    session = db.session()
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if not raw.in_transaction:
            raw.execute("BEGIN IMMEDIATE")
    with session.begin_nested():
        yield


def roll_back() -> None:
    """Discard the unit of work. A connection broken mid-transaction cannot even roll back:
    the session is then dropped and the pool replaces its connection."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001
        db.session.remove()


# --- the request edge --------------------------------------------------------------------------

def _is_websocket() -> bool:
    return request.environ.get("HTTP_UPGRADE", "").lower() == "websocket"


def commit_request(response: Response) -> Response:
    """Commit the request's work if its response says it succeeded, else roll it back."""
    if _is_websocket():
        return response
    if response.status_code >= 400:
        roll_back()
        return response
    try:
        db.session.commit()
    except SQLAlchemyError as exc:
        log.exception("the request's commit failed; nothing it did was kept")
        roll_back()
        return _commit_failed(exc)
    return response


def _commit_failed(exc: SQLAlchemyError) -> Response:
    from flask import current_app

    from app.errors import render_error

    # The view's own success message ("Saved") would show on the next page: it was not saved.
    session.pop("_flashes", None)
    if isinstance(exc, IntegrityError):
        response = render_error(409, "Someone changed the same thing at the same moment, so "
                                     "nothing was saved. Reload the page and try again.")
    else:
        response = render_error(503, "The database could not save this just now, so nothing was "
                                     "saved. Try again in a moment.")
    return current_app.make_response(response)


def _roll_back_failed_request(exc: BaseException | None) -> None:
    # An exception no error handler turned into a response (tests propagate them): its work is
    # dropped here, before Flask-SQLAlchemy removes the session.
    if exc is not None and not _is_websocket():
        roll_back()


def init_app(app: Flask) -> None:
    """Call last in create_app: after_request functions run in reverse order of registration,
    so the commit runs before the others (security headers...), which then also dress the error
    page a failed commit turns into."""
    app.after_request(commit_request)
    app.teardown_request(_roll_back_failed_request)


# --- the job edge --------------------------------------------------------------------------------

class CommittingJob(Job):
    """An RQ job whose function's work is committed once when it returns (inside the job's
    timeout, before RQ records it finished), or rolled back when it raises. The worker runs it
    in its own app context (worker.AppWorker), so the session is the job's alone."""

    def _execute(self):
        try:
            result = super()._execute()
            db.session.commit()
        except BaseException:
            roll_back()
            raise
        return result
