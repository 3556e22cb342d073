from __future__ import annotations

from datetime import datetime

import enum

from sqlalchemy import (Boolean, ForeignKey, Index, Integer, String, Text, Time,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User, _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class NotificationType(str, enum.Enum):
    GROUP_CHAT_CREATED = "GROUP_CHAT_CREATED"
    ADDED_TO_GROUP = "ADDED_TO_GROUP"
    NEW_MESSAGE = "NEW_MESSAGE"
    INSTANT_CALL_STARTED = "INSTANT_CALL_STARTED"
    SESSION_SCHEDULED = "SESSION_SCHEDULED"
    SESSION_REMINDER = "SESSION_REMINDER"
    SESSION_LIVE = "SESSION_LIVE"
    SESSION_CANCELLED = "SESSION_CANCELLED"
    SESSION_RESCHEDULED = "SESSION_RESCHEDULED"
    SESSION_PROPOSED = "SESSION_PROPOSED"  # a group member proposed a session: to the owner
    PROPOSAL_APPROVED = "PROPOSAL_APPROVED"  # to the proposer
    PROPOSAL_DECLINED = "PROPOSAL_DECLINED"  # to the proposer, with the reason
    INVITATION_ANSWERED = "INVITATION_ANSWERED"  # accepted or declined, to the inviter
    INVITATION_REQUEST = "INVITATION_REQUEST"  # "ask for a new invitation" from an expired link
    CATCH_UP_ASSIGNED = "CATCH_UP_ASSIGNED"  # marked absent: what to catch up on, to the student
    CATCH_UP_UPDATED = "CATCH_UP_UPDATED"  # a teacher set or changed the work or due date
    LESSON_REPORT = "LESSON_REPORT"  # a tutor sent a lesson report (control center), to the student

    @property
    def label(self) -> str:
        return {
            "GROUP_CHAT_CREATED": "New group chats",
            "ADDED_TO_GROUP": "Added to a group",
            "NEW_MESSAGE": "New messages",
            "INSTANT_CALL_STARTED": "Instant calls",
            "SESSION_SCHEDULED": "Sessions scheduled",
            "SESSION_REMINDER": "Reminders before sessions",
            "SESSION_LIVE": "Sessions going live",
            "SESSION_CANCELLED": "Sessions cancelled",
            "SESSION_RESCHEDULED": "Sessions moved or changed",
            "SESSION_PROPOSED": "Sessions proposed in your groups",
            "PROPOSAL_APPROVED": "Your proposed sessions approved",
            "PROPOSAL_DECLINED": "Your proposed sessions declined",
            "INVITATION_ANSWERED": "Invitations accepted or declined",
            "INVITATION_REQUEST": "Requests for a new invitation",
            "CATCH_UP_ASSIGNED": "Catch-up work after a missed session",
            "CATCH_UP_UPDATED": "Catch-up work set or changed by a teacher",
            "LESSON_REPORT": "Lesson reports your tutors send you",
        }[self.value]

    @property
    def is_high_priority(self) -> bool:
        return self in HIGH_PRIORITY


HIGH_PRIORITY = {NotificationType.INSTANT_CALL_STARTED, NotificationType.SESSION_LIVE,
                 NotificationType.SESSION_REMINDER}


class Priority(str, enum.Enum):
    HIGH = "HIGH"
    NORMAL = "NORMAL"


class Notification(db.Model):
    """The in-app record of every event that concerns a user."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    type: Mapped[NotificationType] = mapped_column(_enum(NotificationType, "notification_type"))
    priority: Mapped[Priority] = mapped_column(_enum(Priority, "priority"))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(500), default="/")
    # Groups notifications of one subject (e.g. a thread) so a device shows only the latest.
    tag: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A push is owed from then on and no worker has taken it yet (None: nothing owed). Set in
    # the notifying transaction, cleared by the push job: a job that never reached Redis (down
    # at commit) is queued again by the push sweep.
    push_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)

    user: Mapped[User] = relationship()

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class NotificationPreference(db.Model):
    """A user's choice for one type; no row means the defaults (push on, email off)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    type: Mapped[NotificationType] = mapped_column(_enum(NotificationType, "notification_type"))
    push: Mapped[bool] = mapped_column(Boolean, default=True)
    email: Mapped[bool] = mapped_column(Boolean, default=False)


class QuietHours(db.Model):
    """Normal-priority pushes wait until quiet hours end (in the user's own zone)."""

    __tablename__ = "quiet_hours"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    start: Mapped[object] = mapped_column(Time)
    end: Mapped[object] = mapped_column(Time)


class PushSubscription(db.Model):
    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(100))
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    browser: Mapped[str] = mapped_column(String(40), default="")
    platform: Mapped[str] = mapped_column(String(40), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship()


class DeliveryStatus(str, enum.Enum):
    PENDING = "PENDING"
    SENDING = "SENDING"  # claimed by a job (claimed_at); a stale claim is a job that died
    SENT = "SENT"
    GONE = "GONE"  # the push service says the subscription no longer exists
    FAILED = "FAILED"  # gave up after retries, or refused for good


class PushDelivery(db.Model):
    """One notification to one device: the row that makes a retried job never send twice."""

    __tablename__ = "push_deliveries"
    __table_args__ = (UniqueConstraint("notification_id", "subscription_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int] = mapped_column(
        ForeignKey("notifications.id", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="CASCADE"), index=True)
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"),
                                                   default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReminderSent(db.Model):
    """Exactly one reminder per session, occurrence (by its start as reminded) and user: repeated
    sweeps, two workers or a restart never double-send; a moved occurrence has a new start and
    so gets a new reminder."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("session_id", "occurrence_start", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("video_sessions.id", ondelete="CASCADE"),
                                            index=True)
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class JobFailure(db.Model):
    """A background job that failed for good, shown to the center's admins with a retry."""

    __tablename__ = "job_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int | None] = mapped_column(ForeignKey("centers.id"), index=True,
                                                  nullable=True)
    job_id: Mapped[str] = mapped_column(String(100), index=True)
    func_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(300), default="")
    error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    retried_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
