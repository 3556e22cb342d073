from __future__ import annotations

from datetime import datetime

import enum

from sqlalchemy import (Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User, _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class ThreadKind(str, enum.Enum):
    DIRECT = "DIRECT"
    GROUP = "GROUP"
    CLASS = "CLASS"
    SESSION = "SESSION"

    @property
    def label(self) -> str:
        return {"DIRECT": "Direct", "GROUP": "Group", "CLASS": "Class",
                "SESSION": "Session"}[self.value]


class MemberRole(str, enum.Enum):
    OWNER = "OWNER"
    MEMBER = "MEMBER"


class MessageKind(str, enum.Enum):
    TEXT = "TEXT"
    SYSTEM = "SYSTEM"
    CALL = "CALL"


class Thread(db.Model):
    __tablename__ = "threads"
    __table_args__ = (
        # One direct thread per pair, one class thread per course, one per session.
        UniqueConstraint("center_id", "direct_key"),
        UniqueConstraint("course_id"),
        UniqueConstraint("session_id"),
        Index("ix_threads_center_last_activity", "center_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    kind: Mapped[ThreadKind] = mapped_column(_enum(ThreadKind, "thread_kind"))
    name: Mapped[str] = mapped_column(String(120), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    direct_key: Mapped[str | None] = mapped_column(String(40), nullable=True)  # "12:34"
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"),
                                                  nullable=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    members: Mapped[list["ThreadMember"]] = relationship(back_populates="thread",
                                                         cascade="all, delete-orphan")
    last_message: Mapped["Message | None"] = relationship(
        primaryjoin="foreign(Thread.last_message_id) == Message.id", viewonly=True)


class ThreadMember(db.Model):
    """Membership and read state: one last-read pointer per member, not a row per message."""

    __tablename__ = "thread_members"
    __table_args__ = (UniqueConstraint("thread_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"),
                                           index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole, "member_role"),
                                             default=MemberRole.MEMBER)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    last_read_message_id: Mapped[int] = mapped_column(Integer, default=0)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    thread: Mapped[Thread] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_thread_id_id", "thread_id", "id"),
                      # One row per composed message: a retried POST (the browser resending
                      # after a worker died mid-request) carries the same key and finds it.
                      Index("uq_messages_thread_sender_client_key", "thread_id", "sender_id",
                            "client_key", unique=True),
                      Index("ix_messages_notices_due_at", "notices_due_at",
                            sqlite_where=text("notices_due_at IS NOT NULL"),
                            postgresql_where=text("notices_due_at IS NOT NULL")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    kind: Mapped[MessageKind] = mapped_column(_enum(MessageKind, "message_kind"),
                                              default=MessageKind.TEXT)
    body: Mapped[str] = mapped_column(Text, default="")
    # Rendered once at write time: markdown (HTML disabled) then sanitized with nh3.
    body_html: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Made by the composer for each message it sends, kept across retries (None: system rows).
    client_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The members' notifications for this message are owed: set when it is posted, cleared by
    # the job that writes them, in that job's transaction (notifications.messages). None: told,
    # or a message nobody is told of (system rows, calls).
    notices_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    sender: Mapped[User | None] = relationship()
    attachments: Mapped[list["Attachment"]] = relationship(back_populates="message",
                                                           cascade="all, delete-orphan")

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"),
                                            index=True)
    filename: Mapped[str] = mapped_column(String(200))  # sanitized display/download name
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(80), unique=True)  # random, never user input
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    message: Mapped[Message] = relationship(back_populates="attachments")

    @property
    def is_image(self) -> bool:
        return self.content_type in {"image/png", "image/jpeg", "image/gif", "image/webp"}
