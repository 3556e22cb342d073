"""Attendance per (run, person), the catch-up an absentee owes, and each center's attendance
settings (DESIGN, "Live ... Attendance"; issue 12)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User, _enum
from app.attendance.rules import AttendanceStatus
from app.db_types import UTCDateTime, utcnow
from app.extensions import db
from app.live.models import Run
from app.scheduling.models import VideoSession

DEFAULT_LATE_GRACE_MINUTES = 5
DEFAULT_LEFT_EARLY_PERCENT = 50


class AttendanceSettings(db.Model):
    """A center's attendance settings; a center without a row uses the defaults (a table of its
    own rather than columns on Center: attendance owns them and may grow more)."""

    __tablename__ = "attendance_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id", ondelete="CASCADE"),
                                           unique=True)
    late_grace_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_LATE_GRACE_MINUTES)
    left_early_percent: Mapped[int] = mapped_column(Integer, default=DEFAULT_LEFT_EARLY_PERCENT)


class AttendanceRecord(db.Model):
    """One person's attendance at one run: what their segments say (recomputed whenever the
    run ends) and what a teacher said (kept across recomputations: a manual status wins).

    A scheduled occurrence's records also carry its session and start, so a teacher can mark
    someone before the occurrence goes live (an absence excused in advance: ``run_id`` is NULL
    until the run starts and adopts the row) and the grids read a series or a course without
    going through runs. An instant call's records have only the run."""

    __tablename__ = "attendance_records"
    __table_args__ = (UniqueConstraint("run_id", "user_id"),
                      UniqueConstraint("session_id", "occurrence_start", "user_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("live_runs.id", ondelete="CASCADE"), index=True, nullable=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), nullable=True)
    occurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    first_join_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_leave_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    join_count: Mapped[int] = mapped_column(Integer, default=0)
    seconds_present: Mapped[int] = mapped_column(Integer, default=0)
    left_early: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the run's data gives (None: nothing, e.g. an unmarked person before the run ended).
    auto_status: Mapped[AttendanceStatus | None] = mapped_column(
        _enum(AttendanceStatus, "attendance_status"), nullable=True)
    manual_status: Mapped[AttendanceStatus | None] = mapped_column(
        _enum(AttendanceStatus, "attendance_status"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    set_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    set_by: Mapped[User | None] = relationship(foreign_keys=[set_by_id])

    @property
    def status(self) -> AttendanceStatus | None:
        """The status that counts: the teacher's when they set one, else the automatic one."""
        return self.manual_status or self.auto_status

    @property
    def source(self) -> str:
        return "manual" if self.manual_status is not None else "auto"


class CatchUp(db.Model):
    """What an absentee missed of one occurrence, and until when they should catch up.

    Like a record, a catch-up belongs to a run when the occurrence went live, and to the
    session's occurrence in any case (an absence marked on an occurrence held without a call
    owes a catch-up too: ``run_id`` NULL)."""

    __tablename__ = "attendance_catch_ups"
    __table_args__ = (UniqueConstraint("run_id", "user_id"),
                      UniqueConstraint("session_id", "occurrence_start", "user_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("live_runs.id", ondelete="CASCADE"), index=True, nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), nullable=True)
    occurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Plain text written when the catch-up is made (what was said in the session's chat during
    # the run; later the recording and the assigned work): the page escapes it.
    missed_summary: Mapped[str] = mapped_column(Text, default="")
    # What the teacher asked the student to do to catch up (plain text, escaped on the page),
    # and an optional link (a worksheet, a recording elsewhere).
    assigned_work: Mapped[str] = mapped_column(Text, default="")
    assigned_link: Mapped[str] = mapped_column(Text, default="")
    thread_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    user: Mapped[User] = relationship()
    # Loaded where a page names the session (lists eager-load it: one JOIN, not one per row).
    session: Mapped["VideoSession | None"] = relationship(viewonly=True)
    run: Mapped["Run | None"] = relationship(viewonly=True)

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    def is_overdue(self, now: datetime) -> bool:
        return self.done_at is None and self.due_at < now
