"""The outbox: every email Classhub sends is a row written in the transaction that caused it,
sent once by a job after the commit (app/mail/tasks.py). Other domains compose their emails
(iCal invitations, invitations by email, notifications, password resets) and hand the rows to
``queue_outbox_rows``; this module also composes the emails that are only a notification or an
account message."""
from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import select

from app.bulk import insert_rows
from app.db_types import utcnow
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.mail.models import EmailOutbox, OutboxStatus


def base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


def queue_outbox_rows(rows: list[dict], queue: str = "default") -> list[int]:
    """Insert outbox rows in bulk (app/bulk.py: one statement however many); a row whose dedup
    key exists already is skipped (that email went, or is going, out: exactly once). A send
    job per new row is queued after the commit. Returns the new rows' ids."""
    from app.mail import tasks

    created = insert_rows(EmailOutbox.__table__, rows,
                          returning=(EmailOutbox.id, EmailOutbox.center_id),
                          skip_duplicates_of=["dedup_key"])
    for row in sorted(created):
        enqueue_after_commit(tasks.send_email, row.id, queue=queue, center_id=row.center_id)
    return [row.id for row in created]


def outbox_for_center(center_id: int, limit: int = 200):
    return list(db.session.scalars(select(EmailOutbox).where(EmailOutbox.center_id == center_id)
                                   .order_by(EmailOutbox.created_at.desc(), EmailOutbox.id.desc())
                                   .limit(limit)))


def queue_notification_emails(notifications) -> None:
    """Notifications by email (their people chose email for the type): outbox rows in the
    notifying transaction, one INSERT for all, each sent by a job after commit, once (keyed by
    the notification). The text is the notification's, not the person's: rendered once per
    distinct notification text, not once per person."""
    notifications = list(notifications)
    if not notifications:
        return
    settings_url = f"{base_url()}/notifications/settings"
    rendered: dict[tuple, tuple[str, str]] = {}
    rows = []
    for notification in notifications:
        link = notification.link if notification.link.startswith("http") else \
            f"{base_url()}{notification.link}"
        key = (notification.type, notification.title, notification.body, link)
        if key not in rendered:
            context = dict(notification=notification, link=link, settings_url=settings_url)
            rendered[key] = (render_template("mail/notification_email.txt", **context),
                             render_template("mail/notification_email.html", **context))
        text_body, html_body = rendered[key]
        user = notification.user
        rows.append(dict(center_id=notification.center_id,
                         dedup_key=f"notification:{notification.id}", session_id=None,
                         recipient_user_id=user.id, recipient=user.email,
                         subject=notification.title[:300], text_body=text_body,
                         html_body=html_body, ics="", method="", status=OutboxStatus.PENDING,
                         attempts=0))
    queue_outbox_rows(rows)


def queue_notification_email(notification) -> None:
    queue_notification_emails([notification])


def queue_account_email(user, *, subject: str, text_body: str, html_body: str,
                        dedup_key: str) -> None:
    """An account email (a password-reset link) through the outbox: a row in the caller's
    transaction, sent once by a job after commit."""
    queue_account_emails([dict(user=user, subject=subject, text_body=text_body,
                               html_body=html_body, dedup_key=dedup_key)])


def queue_account_emails(emails: list[dict]) -> None:
    """Account emails (``user``, ``subject``, ``text_body``, ``html_body``, ``dedup_key`` each)
    through the outbox in one INSERT: sent once each by a job after commit."""
    queue_outbox_rows([
        dict(center_id=email["user"].center_id, dedup_key=email["dedup_key"][:200],
             recipient_user_id=email["user"].id, recipient=email["user"].email,
             subject=email["subject"][:300], text_body=email["text_body"],
             html_body=email["html_body"], ics="", method="", status=OutboxStatus.PENDING,
             attempts=0, created_at=utcnow())
        for email in emails], queue="high")
