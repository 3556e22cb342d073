from __future__ import annotations

from datetime import datetime

import enum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class InvitationKind(str, enum.Enum):
    SESSION = "SESSION"  # join a session as a participant (role INSTRUCTOR/LEARNER/OBSERVER)
    GROUP = "GROUP"  # join a GROUP chat thread (role MEMBER)
    CENTER = "CENTER"  # get an account in the center (role STUDENT/TEACHER; admins only)


class InvitationStatus(str, enum.Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Invitation(db.Model):
    """An invitation by email to a session, a group or the center.

    The link's token is never stored: the row keeps a random nonce and the SHA-256 of the token
    derived from it with the app's secret (invitations.token_for), so a copy of the database
    alone opens nothing, while the inviter can still copy the link. A resend draws a new nonce:
    the old link stops working (its hash is kept in ``previous_token_hash`` only to say so)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    kind: Mapped[InvitationKind] = mapped_column(_enum(InvitationKind, "invitation_kind"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), nullable=True, index=True)
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), nullable=True, index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")  # a suggestion for a new account
    role: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")
    inviter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_nonce: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    previous_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[InvitationStatus] = mapped_column(
        _enum(InvitationStatus, "invitation_status"), default=InvitationStatus.PENDING)
    valid_days: Mapped[int] = mapped_column(Integer, default=7)
    send_count: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    declined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "Ask for a new invitation" from an expired link: when the invitee last asked.
    renewal_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    accepted_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    inviter = relationship("User", foreign_keys=[inviter_id])
    accepted_user = relationship("User", foreign_keys=[accepted_user_id])
