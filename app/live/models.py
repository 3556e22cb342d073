"""Rooms, runs, the people in a run and their connection segments (DESIGN, "Live")."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.accounts.models import User, _enum
from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class LiveRole(str, enum.Enum):
    INSTRUCTOR = "INSTRUCTOR"
    LEARNER = "LEARNER"
    OBSERVER = "OBSERVER"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Room(db.Model):
    """Where a thread's (or a session's) calls happen; the thread is the room's chat."""

    __tablename__ = "live_rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="CASCADE"), unique=True, nullable=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), unique=True, nullable=True)
    # "mesh" or "janus": how media flows in this room's runs (chosen by size and config).
    engine: Mapped[str] = mapped_column(String(20), default="mesh")
    # The engine's own identifier for the room (Janus room number); None for the mesh.
    engine_room_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Run(db.Model):
    """One call that actually went live: an instant call, or one occurrence of a session."""

    __tablename__ = "live_runs"
    __table_args__ = (
        # A double-clicked Start makes one run: one per session occurrence ...
        UniqueConstraint("session_id", "occurrence_start"),
        # ... and one live instant run per room (``live_room_id`` is the room's id while the
        # run is live, NULL once it has ended; NULLs never collide).
        UniqueConstraint("live_room_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("live_rooms.id", ondelete="CASCADE"),
                                         index=True)
    live_room_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_sessions.id", ondelete="CASCADE"), nullable=True)
    occurrence_start: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The CALL message announcing the run in the room's thread (chat keeps it up to date).
    call_message_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    room: Mapped[Room] = relationship()
    started_by: Mapped[User | None] = relationship(foreign_keys=[started_by_id])

    @property
    def is_live(self) -> bool:
        return self.ended_at is None


class RunParticipant(db.Model):
    """Someone's place in a run: role, what a moderator turned off, and removal (no rejoin)."""

    __tablename__ = "live_run_participants"
    __table_args__ = (UniqueConstraint("run_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id", ondelete="CASCADE"),
                                        index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[LiveRole] = mapped_column(_enum(LiveRole, "live_role"))
    # Turned off by a moderator: the person may turn them back on only... never, until a
    # moderator allows it again (a moderator's mute is not a suggestion).
    audio_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    video_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the person chose themselves (shown on their tile to everyone).
    audio_off: Mapped[bool] = mapped_column(Boolean, default=False)
    video_off: Mapped[bool] = mapped_column(Boolean, default=False)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    first_joined_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None

    # --- what a media server engine knows the participant by (app/live/engines/janus.py) ---

    @property
    def engine_key(self) -> str:
        """Stable per run participant, not secret; feed ids on a media server start with it."""
        return f"p{self.id}"

    @property
    def display_name(self) -> str:
        return self.user.name

    @property
    def publish_kinds(self) -> frozenset[str]:
        """What the role may send, minus what a moderator turned off (a media server enforces
        it for the media already flowing)."""
        from app.live.permissions import publishable

        muted = {kind for kind, off in (("audio", self.audio_muted), ("video", self.video_muted))
                 if off}
        return publishable(self.role) - muted


class Segment(db.Model):
    """One stay of a connection in a run: opened on join, closed on leave or, when a page
    vanished, at its last heartbeat (the attendance time is the union of these). A page that
    leaves and joins again over the same socket opens a new segment (the time between is not
    presence, and it is a second join); at most one segment of a connection is open."""

    __tablename__ = "live_segments"
    __table_args__ = (Index("ix_live_segments_run_open", "run_id", "left_at"),
                      Index("uq_live_segments_open_connection", "run_id", "connection_id",
                            unique=True, sqlite_where=text("left_at IS NULL"),
                            postgresql_where=text("left_at IS NULL")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("live_runs.id", ondelete="CASCADE"))
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("live_run_participants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    connection_id: Mapped[str] = mapped_column(String(32))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    participant: Mapped[RunParticipant] = relationship()
