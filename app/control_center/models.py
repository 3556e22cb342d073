"""The Tutor Control Center's rows (DESIGN, "Control center"): per student and occurrence a plan
with its work items, help requests, tutor notes, timers and the lesson report.

Everything is keyed by the scheduled occurrence (session, occurrence start), not by the run, so
a tutor plans before the run exists; a help request also names the run it was raised in (the
one-open-per-student rule is per run). Flat and tenant-scoped: every row carries center_id."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (ForeignKey, Index, Integer, String, Text, UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User, _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class _Labelled(str, enum.Enum):
    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class PlanMode(_Labelled):
    TEACH = "TEACH"  # the tutor's audio goes to this student
    OBSERVE = "OBSERVE"  # the tutor watches, muted to them


class WorkStatus(_Labelled):
    TO_DO = "TO_DO"
    DOING = "DOING"
    DONE = "DONE"

    @property
    def label(self) -> str:
        return {"TO_DO": "To do", "DOING": "Working on it", "DONE": "Done"}[self.value]


class HelpPriority(_Labelled):
    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"
    URGENT = "URGENT"

    @property
    def rank(self) -> int:
        """Higher first in the queue."""
        return {"LOW": 0, "NORMAL": 1, "HIGH": 2, "URGENT": 3}[self.value]


class HelpStatus(_Labelled):
    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CANCELLED = "CANCELLED"

    @property
    def is_open(self) -> bool:
        return self in (HelpStatus.PENDING, HelpStatus.IN_PROGRESS)


OPEN_HELP_STATUSES = (HelpStatus.PENDING.value, HelpStatus.IN_PROGRESS.value)


class NoteVisibility(_Labelled):
    TUTOR_ONLY = "TUTOR_ONLY"
    SHARED = "SHARED"

    @property
    def label(self) -> str:
        return {"TUTOR_ONLY": "Tutors only", "SHARED": "Shared with the student"}[self.value]


class StudentPlan(db.Model):
    """What one student works on in one occurrence: subject and levels (shown "Grade 8 → Maths
    at Grade 5"), the goal, and whether the tutor teaches or observes them."""

    __tablename__ = "cc_student_plans"
    __table_args__ = (UniqueConstraint("session_id", "occurrence_start", "student_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("video_sessions.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Who wrote it: "copy last session's plan" looks for this tutor's earlier plans.
    tutor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(String(100), default="")
    current_level: Mapped[str] = mapped_column(String(60), default="")
    working_level: Mapped[str] = mapped_column(String(60), default="")
    goal: Mapped[str] = mapped_column(Text, default="")
    mode: Mapped[PlanMode] = mapped_column(_enum(PlanMode, "cc_plan_mode"),
                                           default=PlanMode.OBSERVE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    student: Mapped[User] = relationship(foreign_keys=[student_id])
    items: Mapped[list["WorkItem"]] = relationship(
        back_populates="plan", cascade="all, delete-orphan",
        order_by="(WorkItem.position, WorkItem.id)")

    @property
    def level_text(self) -> str:
        """"Grade 8 → Maths at Grade 5"; whatever part is known."""
        subject = self.subject or "Work"
        at = f"{subject} at {self.working_level}" if self.working_level else subject
        return f"{self.current_level} → {at}" if self.current_level else at

    @property
    def current_item(self) -> "WorkItem | None":
        return next((i for i in self.items if i.status == WorkStatus.DOING), None)


class WorkItem(db.Model):
    __tablename__ = "cc_work_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("cc_student_plans.id", ondelete="CASCADE"),
                                         index=True)
    title: Mapped[str] = mapped_column(String(200))
    link: Mapped[str] = mapped_column(String(500), default="")
    # An optional file, stored and checked as chat's attachments are (app/chat/attachments.py).
    # Not unique: "copy last session's plan" carries an unfinished item's file along, and no
    # work item is ever deleted, so a stored file outlives none of the items naming it.
    attachment_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    attachment_filename: Mapped[str] = mapped_column(String(200), default="")
    attachment_content_type: Mapped[str] = mapped_column(String(100), default="")
    attachment_size: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[WorkStatus] = mapped_column(_enum(WorkStatus, "cc_work_status"),
                                               default=WorkStatus.TO_DO)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0-100
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    plan: Mapped[StudentPlan] = relationship(back_populates="items")

    @property
    def has_attachment(self) -> bool:
        return bool(self.attachment_key)


class HelpRequest(db.Model):
    """A raised hand. At most one open (PENDING or IN_PROGRESS) per student per run: the partial
    unique index decides between two submits at the same moment, on SQLite as on PostgreSQL."""

    __tablename__ = "cc_help_requests"
    __table_args__ = (
        Index("uq_cc_help_requests_one_open", "run_id", "student_id", unique=True,
              sqlite_where=text("status IN ('PENDING', 'IN_PROGRESS')"),
              postgresql_where=text("status IN ('PENDING', 'IN_PROGRESS')")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("video_sessions.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id", ondelete="CASCADE"),
                                        index=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    priority: Mapped[HelpPriority] = mapped_column(_enum(HelpPriority, "cc_help_priority"),
                                                   default=HelpPriority.NORMAL)
    text: Mapped[str] = mapped_column(String(280), default="")
    status: Mapped[HelpStatus] = mapped_column(_enum(HelpStatus, "cc_help_status"),
                                               default=HelpStatus.PENDING)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    student: Mapped[User] = relationship(foreign_keys=[student_id])
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])


class TutorNote(db.Model):
    __tablename__ = "cc_tutor_notes"
    __table_args__ = (Index("ix_cc_tutor_notes_occurrence", "session_id", "occurrence_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("video_sessions.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    visibility: Mapped[NoteVisibility] = mapped_column(_enum(NoteVisibility, "cc_note_visibility"),
                                                       default=NoteVisibility.TUTOR_ONLY)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    author: Mapped[User] = relationship(foreign_keys=[author_id])


class Timer(db.Model):
    """Stored as its end: browsers count down themselves (no per-second pushes)."""

    __tablename__ = "cc_timers"
    __table_args__ = (Index("ix_cc_timers_occurrence", "session_id", "occurrence_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("video_sessions.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("live_runs.id", ondelete="CASCADE"),
                                               nullable=True)
    student_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)  # None: all
    label: Mapped[str] = mapped_column(String(120), default="")
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    student: Mapped[User | None] = relationship(foreign_keys=[student_id])


class LessonReport(db.Model):
    """Drafted at End from the plan, work, shared notes, attendance and help requests; edited by
    the tutor, then sent once (``sent_at`` is claimed by a conditional UPDATE)."""

    __tablename__ = "cc_lesson_reports"
    __table_args__ = (UniqueConstraint("session_id", "occurrence_start", "student_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("video_sessions.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    student_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    drafted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow,
                                                 nullable=False)

    student: Mapped[User] = relationship(foreign_keys=[student_id])
