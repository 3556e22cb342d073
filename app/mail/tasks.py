"""RQ jobs: sending one outbox email, and the sweep that re-queues anything left behind."""
from __future__ import annotations

from datetime import timedelta
from email.errors import MessageError

from sqlalchemy import or_, select, update

from app.db_types import utcnow
from app.extensions import db
from app.mail.mailer import (PermanentMailError, TemporaryMailError, build_message, deliver,
                             display_address)
from app.mail.models import EmailOutbox, OutboxStatus
from app.transactions import commit_claim

CLAIM_FOR = timedelta(minutes=2)
STALE_AFTER = timedelta(minutes=10)
MAX_ATTEMPTS = 12


def _claim(outbox_id: int) -> bool:
    """Take the row for this job (atomically): a second job for the same row gets nothing."""
    now = utcnow()
    result = db.session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.id == outbox_id, EmailOutbox.status == OutboxStatus.PENDING,
               or_(EmailOutbox.claimed_until.is_(None), EmailOutbox.claimed_until < now))
        .values(claimed_until=now + CLAIM_FOR, attempts=EmailOutbox.attempts + 1))
    commit_claim()  # durable before SMTP: a second job for the row finds it taken
    return result.rowcount == 1


def send_email(outbox_id: int) -> str:
    if not _claim(outbox_id):
        return "skipped (sent, failed for good, or being sent by another job)"
    row = db.session.get(EmailOutbox, outbox_id)
    from app.mail.mailer import sender_address

    try:
        message = build_message(mail_from=sender_address(), to=_to(row), subject=row.subject,
                                text=row.text_body, html=row.html_body, ics=row.ics,
                                method=row.method, message_id=row.message_id or None)
        where = deliver(message)
    except TemporaryMailError as exc:
        row.last_error, row.claimed_until = str(exc)[:2000], None
        row.message_id = message["Message-ID"]
        commit_claim()  # the error and claim release outlive the raise (the job edge rolls back)
        raise  # RQ retries with backoff; the cron sweep picks up what RQ gives up on
    except (PermanentMailError, MessageError, ValueError, TypeError, UnicodeError) as exc:
        # Refused for good, or a message that cannot even be built (it would fail the same way
        # on every retry): FAILED with the reason, shown in the outbox, instead of PENDING
        # forever.
        row.status, row.claimed_until = OutboxStatus.FAILED, None
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        return f"failed for good: {exc}"
    row.status, row.sent_at, row.last_error = OutboxStatus.SENT, utcnow(), ""
    row.message_id = message["Message-ID"]
    if not where.startswith("smtp://"):
        row.eml_path = where
    return where


def _to(row: EmailOutbox) -> str:
    from app.accounts.models import User

    user = db.session.get(User, row.recipient_user_id) if row.recipient_user_id else None
    return display_address(user.name if user else None, row.recipient)


def sweep_outbox() -> int:
    """Re-queue emails still pending well after they were written (their job was lost, or RQ
    ran out of retries while the mail server was down): nothing is lost, nothing sent twice."""
    from app.jobs import get_queue

    cutoff = utcnow() - STALE_AFTER
    # Out of attempts: say so (FAILED, with the last error) rather than stay PENDING for ever.
    db.session.execute(
        update(EmailOutbox)
        .where(EmailOutbox.status == OutboxStatus.PENDING, EmailOutbox.created_at < cutoff,
               EmailOutbox.attempts >= MAX_ATTEMPTS,
               or_(EmailOutbox.claimed_until.is_(None), EmailOutbox.claimed_until < utcnow()))
        .values(status=OutboxStatus.FAILED, claimed_until=None))
    rows = db.session.scalars(select(EmailOutbox.id).where(
        EmailOutbox.status == OutboxStatus.PENDING, EmailOutbox.created_at < cutoff,
        EmailOutbox.attempts < MAX_ATTEMPTS,
        or_(EmailOutbox.claimed_until.is_(None), EmailOutbox.claimed_until < utcnow()))).all()
    queue = get_queue("low")
    for outbox_id in rows:
        queue.enqueue(send_email, outbox_id)
    return len(rows)
