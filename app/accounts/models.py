from __future__ import annotations

from datetime import datetime

import enum
from zoneinfo import ZoneInfo

from flask_login import UserMixin
from sqlalchemy import (JSON, Boolean, Enum, ForeignKey, Integer, String, Text, UniqueConstraint,
                        false, true)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class Role(str, enum.Enum):
    ADMIN = "ADMIN"
    TEACHER = "TEACHER"
    STUDENT = "STUDENT"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class CourseRole(str, enum.Enum):
    TEACHER = "TEACHER"
    STUDENT = "STUDENT"


def _enum(enum_cls, name):
    # Stored as VARCHAR + CHECK rather than a native PostgreSQL ENUM: adding a value later is a
    # plain migration on both databases.
    return Enum(enum_cls, name=name, native_enum=False, length=20, validate_strings=True)


class Center(db.Model):
    __tablename__ = "centers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Chat policy, set by the center's admins.
    students_may_message_each_other: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false())
    students_may_reply_in_class: Mapped[bool] = mapped_column(
        Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    # Email is unique across the installation: it is the login name, and the login form does not
    # ask which center (one person belonging to two centers uses two addresses).
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active_flag: Mapped[bool] = mapped_column("is_active", Boolean, default=True)
    # Bumped on password change and deactivation: invalidates every session and remember-me
    # cookie issued before (flask-login identifies users by get_id()).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    center: Mapped[Center] = relationship(lazy="joined", innerjoin=True)
    enrollments: Mapped[list["Enrollment"]] = relationship(back_populates="user")

    # flask-login
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return bool(self.is_active_flag)

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def effective_timezone(self) -> str:
        return self.timezone or self.center.timezone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.effective_timezone)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_teacher(self) -> bool:
        return self.role == Role.TEACHER

    @property
    def is_student(self) -> bool:
        return self.role == Role.STUDENT

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p]
        return "".join(p[0] for p in parts[:2]).upper() or "?"


class Course(db.Model):
    __tablename__ = "courses"
    __table_args__ = (UniqueConstraint("center_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    enrollments: Mapped[list["Enrollment"]] = relationship(
        back_populates="course", cascade="all, delete-orphan"
    )


class Enrollment(db.Model):
    """Who teaches and who takes a course. A course may have several teachers."""

    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[CourseRole] = mapped_column(_enum(CourseRole, "course_role"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    course: Mapped[Course] = relationship(back_populates="enrollments")
    user: Mapped[User] = relationship(back_populates="enrollments")


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(40))
    target_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False,
                                                 index=True)

    actor: Mapped[User | None] = relationship()


class PasswordReset(db.Model):
    """One emailed password-reset link: random token, only its SHA-256 stored, single use,
    with an expiry. ``requested_by_id`` is the admin who sent it (None: "Forgot password")."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    center_id: Mapped[int] = mapped_column(ForeignKey("centers.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
