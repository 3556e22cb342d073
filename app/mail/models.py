"""The email outbox: every email Classhub sends, as a row written in the transaction that
caused it (table ``email_outbox``)."""
from __future__ import annotations

from datetime import datetime

import enum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.accounts.models import _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class OutboxStatus(str, enum.Enum):
    PENDING = "PENDING"  # queued, or waiting for a retry after a temporary failure
    SENT = "SENT"
    FAILED = "FAILED"  # refused for good (e.g. 550 no such mailbox)


class EmailOutbox(db.Model):
    """Every email Classhub sends, written in the transaction that caused it. The unique dedup
    key (session, recipient, SEQUENCE, method, scope, content, and the row it follows for that
    recipient) makes a retried or duplicated job never send the same invitation twice."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="SET NULL"), nullable=True, index=True)
    recipient_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    ics: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(20), default="")  # REQUEST | CANCEL | ""
    status: Mapped[OutboxStatus] = mapped_column(_enum(OutboxStatus, "outbox_status"),
                                                 default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    eml_path: Mapped[str] = mapped_column(String(300), default="")  # when written to instance/mail
    # A sending job claims the row until then: two jobs for one row never both send.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
