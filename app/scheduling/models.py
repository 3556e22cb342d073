from __future__ import annotations

import enum
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import Course, User, _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class SessionType(str, enum.Enum):
    CLASS = "CLASS"
    ONE_ON_ONE = "ONE_ON_ONE"
    GROUP_MEETING = "GROUP_MEETING"
    # One tutor, one to five students each on their own work (the Tutor Control Center): its
    # call is a star, so students hear only the tutor, and only while the tutor teaches them.
    TUTORING = "TUTORING"
    INSTANT = "INSTANT"

    @property
    def label(self) -> str:
        return {"CLASS": "Class", "ONE_ON_ONE": "One-on-one", "GROUP_MEETING": "Group meeting",
                "TUTORING": "Tutoring", "INSTANT": "Instant call"}[self.value]


class SessionStatus(str, enum.Enum):
    # A session proposed by a group member, waiting for the group owner's approval: no
    # invitations, reminders, feeds or calendars until it becomes SCHEDULED.
    PENDING = "PENDING"
    # A proposal the owner declined (the reason is kept in ``cancel_reason``).
    DECLINED = "DECLINED"
    SCHEDULED = "SCHEDULED"
    LIVE = "LIVE"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"

    @property
    def label(self) -> str:
        return "Waiting for approval" if self.value == "PENDING" else self.value.capitalize()

    @property
    def is_proposal(self) -> bool:
        """Never announced: not in calendars, feeds, reminders or anyone's inbox."""
        return self in (SessionStatus.PENDING, SessionStatus.DECLINED)


class Frequency(str, enum.Enum):
    NONE = "NONE"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"


class ParticipantRole(str, enum.Enum):
    INSTRUCTOR = "INSTRUCTOR"
    LEARNER = "LEARNER"
    OBSERVER = "OBSERVER"


class Rsvp(str, enum.Enum):
    NEEDS_ACTION = "NEEDS_ACTION"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    TENTATIVE = "TENTATIVE"


WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class VideoSession(db.Model):
    """A scheduled session: one-time, or a series with a recurrence rule.

    The start is kept as local wall-clock time plus an IANA zone (``start_local`` is naive on
    purpose: it is 16:00 *in* ``timezone``, not an instant), so a weekly 16:00 lesson stays at
    16:00 across DST. ``first_start_utc``/``last_end_utc`` are derived bounds, kept up to date by
    the services, that let a calendar window be prefiltered in SQL.
    """

    __tablename__ = "video_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    teacher_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id", ondelete="SET NULL"),
                                                  nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[SessionType] = mapped_column(_enum(SessionType, "session_type"))
    status: Mapped[SessionStatus] = mapped_column(_enum(SessionStatus, "session_status"),
                                                  default=SessionStatus.SCHEDULED)
    timezone: Mapped[str] = mapped_column(String(64))
    start_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    # Recurrence (RFC 5545 RRULE subset: FREQ=DAILY|WEEKLY, BYDAY, COUNT or UNTIL).
    frequency: Mapped[Frequency] = mapped_column(_enum(Frequency, "frequency"),
                                                 default=Frequency.NONE)
    interval: Mapped[int] = mapped_column(Integer, default=1)
    by_weekday: Mapped[str] = mapped_column(String(30), default="")  # "MO,WE"
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Last local wall-clock instant an occurrence may start at (inclusive); None = no end date.
    until_local: Mapped[datetime | None] = mapped_column(DateTime(timezone=False), nullable=True)
    first_start_utc: Mapped[datetime] = mapped_column(UTCDateTime, index=True, nullable=False)
    # None: never ends.
    last_end_utc: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True, nullable=True)
    ical_uid: Mapped[str] = mapped_column(String(120), unique=True,
                                          default=lambda: f"{uuid.uuid4()}@classhub")
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    # "This and following" edits split a series; the new one remembers where it came from.
    split_from_id: Mapped[int | None] = mapped_column(ForeignKey("video_sessions.id"),
                                                      nullable=True)
    # The GROUP thread the session was made for (its rules applied), and who made it (the
    # teacher, an admin, a co-teacher or a member proposing it). use_alter: threads already
    # point at video_sessions (SESSION threads), so the pair of tables is a cycle.
    group_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL", use_alter=True), nullable=True, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    teacher: Mapped[User] = relationship(foreign_keys=[teacher_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    course: Mapped[Course | None] = relationship()
    participants: Mapped[list["SessionParticipant"]] = relationship(
        back_populates="session", cascade="all, delete-orphan")
    overrides: Mapped[list["SessionOverride"]] = relationship(
        back_populates="session", cascade="all, delete-orphan")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def is_recurring(self) -> bool:
        return self.frequency != Frequency.NONE

    @property
    def weekdays(self) -> list[str]:
        return [d for d in (self.by_weekday or "").split(",") if d]

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED


class SessionOverride(db.Model):
    """One occurrence of a series with its own time or duration, or cancelled.

    ``original_start_local`` names the occurrence (RECURRENCE-ID) in the series' wall-clock time.
    """

    __tablename__ = "session_overrides"
    __table_args__ = (UniqueConstraint("session_id", "original_start_local"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), index=True)
    original_start_local: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    new_start_local: Mapped[datetime | None] = mapped_column(DateTime(timezone=False),
                                                             nullable=True)
    new_duration_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    # Each moved occurrence is its own VEVENT (RECURRENCE-ID) with its own SEQUENCE.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    session: Mapped[VideoSession] = relationship(back_populates="overrides")


class SessionParticipant(db.Model):
    __tablename__ = "session_participants"
    __table_args__ = (UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[ParticipantRole] = mapped_column(_enum(ParticipantRole, "participant_role"),
                                                  default=ParticipantRole.LEARNER)
    rsvp: Mapped[Rsvp] = mapped_column(_enum(Rsvp, "rsvp"), default=Rsvp.NEEDS_ACTION)
    rsvp_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    session: Mapped[VideoSession] = relationship(back_populates="participants")
    user: Mapped[User] = relationship()


class CalendarFeed(db.Model):
    """A user's secret calendar feed URL token (reset by making a new one)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user: Mapped[User] = relationship()


class GroupCreators(str, enum.Enum):
    """Who of a group may create (or propose) its sessions."""

    OWNER = "OWNER"
    CO_TEACHERS = "CO_TEACHERS"  # the owner and the group's co-teachers
    MEMBERS = "MEMBERS"  # every member, students included

    @property
    def label(self) -> str:
        return {"OWNER": "The owner only", "CO_TEACHERS": "The owner and co-teachers",
                "MEMBERS": "All members"}[self.value]


class GroupSessionRules(db.Model):
    """A GROUP thread's session rules (one row per group; none: the defaults of
    ``app.scheduling.group_rules``). ``slots`` maps weekday codes to [start, end] minute pairs
    on the group's wall clock: {"MO": [[900, 1140]], ...}; empty: any time."""

    __tablename__ = "group_session_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"),
                                           unique=True)
    scheduled_by: Mapped[GroupCreators] = mapped_column(_enum(GroupCreators, "group_creators"),
                                                        default=GroupCreators.OWNER)
    instant_calls_by: Mapped[GroupCreators] = mapped_column(
        _enum(GroupCreators, "group_creators"), default=GroupCreators.MEMBERS)
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    min_notice_hours: Mapped[int] = mapped_column(Integer, default=0)
    slots: Mapped[dict] = mapped_column(JSON, default=dict)
    timezone: Mapped[str] = mapped_column(String(64))
    default_duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    default_type: Mapped[SessionType] = mapped_column(_enum(SessionType, "session_type"),
                                                      default=SessionType.GROUP_MEETING)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 nullable=False)
