"""Fixtures for the emailed invitations (issue 6).

Mail goes to a real SMTP server on loopback (aiosmtpd's Controller, its handler keeps every
envelope it accepts and answers 550 for addresses a test marks as unknown). Send jobs run on a
real RQ worker (worker.build_worker, burst mode). Messages are read back with the email package
(policy.default) and their calendars with icalendar and recurring-ical-events.

The app fixture is session-scoped: SMTP_URL and MAIL_FROM are set here for one test and put back
afterwards.
"""
from __future__ import annotations

import email
import email.policy
import shutil
import socket
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db
from app.mail.models import EmailOutbox
from app.scheduling import services

MAIL_FROM_ADDRESS = "invites@classhub.test"
MAIL_FROM = f"Classhub Invitations <{MAIL_FROM_ADDRESS}>"


@pytest.fixture(autouse=True)
def _mail_settings(app):
    """MAIL_FROM set for every test here; SMTP_URL unset unless a test asks for the server;
    instance/mail emptied so each test sees only the .eml files it wrote."""
    saved = {key: app.config.get(key) for key in ("SMTP_URL", "MAIL_FROM")}
    app.config["MAIL_FROM"] = MAIL_FROM
    app.config["SMTP_URL"] = None
    shutil.rmtree(Path(app.instance_path) / "mail", ignore_errors=True)
    yield
    app.config.update(saved)
    shutil.rmtree(Path(app.instance_path) / "mail", ignore_errors=True)


# --- clients (each request in its own context, as in production) ------------------------------


# --- the SMTP server ----------------------------------------------------------------------------

@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.content, policy=email.policy.default)


class CollectingHandler:
    """aiosmtpd handler: keeps what it accepts; 550 for the addresses in ``refuse``."""

    def __init__(self):
        self.received: list[Received] = []
        self.refuse: set[str] = set()
        self._lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          bytes(envelope.content)))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """A loopback SMTP server on a fixed port that can be stopped and started again (what the
    app sees in between: nothing listening, connection refused)."""

    def __init__(self):
        self.port = free_port()
        self.handler = CollectingHandler()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self):
        assert self._controller is None
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return list(self.handler.received)

    def refuse(self, address: str):
        self.handler.refuse.add(address.lower())

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def clear(self):
        self.handler.received.clear()


@pytest.fixture
def smtp_server(app):
    """A server not yet started, with the app pointed at its port."""
    server = SmtpServer()
    app.config["SMTP_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server):
    """A running server with the app pointed at it."""
    smtp_server.start()
    return smtp_server


@pytest.fixture
def deliver(smtp, run_worker):
    """Run the queued jobs and return what the SMTP server received meanwhile."""

    def _deliver() -> list[Received]:
        before = len(smtp.received)
        run_worker()
        return smtp.received[before:]

    return _deliver


# --- sessions ------------------------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def next_monday(weeks_ahead: int = 1) -> date:
    today = utcnow().date()
    return today + timedelta(days=(7 - today.weekday()) + 7 * (weeks_ahead - 1))


def monday_before_next_london_dst_change(min_days_ahead: int = 22) -> date:
    """A Monday two weeks before the next change of London's UTC offset (at least a couple of
    weeks from today): a series from there crosses a DST change in both London and New York."""
    day = utcnow().date() + timedelta(days=min_days_ahead)
    while LONDON.utcoffset(datetime.combine(day, time(12))) == \
            LONDON.utcoffset(datetime.combine(day + timedelta(days=1), time(12))):
        day += timedelta(days=1)
    start = day - timedelta(days=14)
    return start - timedelta(days=start.weekday())


def weekly_input(students, **fields) -> services.SessionInput:
    data = services.SessionInput(
        title="Algebra", description="Chapter 3: linear equations", type="CLASS",
        participant_ids=[s.id for s in students], date=next_monday(2), start_time=time(16, 0),
        timezone="Europe/London", duration_minutes=60, frequency="WEEKLY",
        weekdays=["MO", "TH"], ends="count", count=10)
    for key, value in fields.items():
        setattr(data, key, value)
    return data


def originals(session, n: int | None = None) -> list[datetime]:
    from app.scheduling import recurrence

    starts = recurrence.original_starts_between(services.schedule_of(session),
                                                session.start_local, datetime.max)
    return starts if n is None else starts[:n]


# --- reading messages ------------------------------------------------------------------------------

def outbox_rows(**where) -> list[EmailOutbox]:
    stmt = select(EmailOutbox).order_by(EmailOutbox.id)
    for key, value in where.items():
        stmt = stmt.where(getattr(EmailOutbox, key) == value)
    return list(db.session.scalars(stmt))


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part


def calendar_of(message: EmailMessage) -> Calendar:
    return Calendar.from_ical(calendar_part(message).get_content())


def text_of(message: EmailMessage) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return part.get_content()


def html_of(message: EmailMessage) -> str:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/html"]
    return part.get_content()


def one_to(received: list[Received], address: str) -> EmailMessage:
    mine = [r for r in received if r.rcpt_tos == [address]]
    assert len(mine) == 1, (address, [r.rcpt_tos for r in received])
    return mine[0].message


def recipients(received: list[Received]) -> list[str]:
    return sorted(address for r in received for address in r.rcpt_tos)


def vevents(calendar: Calendar) -> list:
    return list(calendar.walk("VEVENT"))


# --- RQ's scheduled retries --------------------------------------------------------------------

def scheduled_job_ids(app, name="default") -> list[str]:
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from app.redis_conn import get_redis

    return ScheduledJobRegistry(queue=Queue(name, connection=get_redis(app))).get_job_ids()


def make_due(app, name="default") -> int:
    """Move every retry RQ holds for later (10 s and up) to now; a burst worker with its
    scheduler then runs them (the path through RQ is the same, without the wait)."""
    from datetime import timezone

    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from app.redis_conn import get_redis

    registry = ScheduledJobRegistry(queue=Queue(name, connection=get_redis(app)))
    job_ids = registry.get_job_ids()
    now = datetime.now(timezone.utc).timestamp() - 1
    for job_id in job_ids:
        get_redis(app).zadd(registry.key, {job_id: now})
    return len(job_ids)
