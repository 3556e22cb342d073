"""Imports every domain's models so SQLAlchemy and Alembic see the whole schema."""
from app.accounts.models import AuditLog, Center, Course, CourseRole, Enrollment, Role, User  # noqa: F401
from app.scheduling.models import CalendarFeed, SessionOverride, SessionParticipant, VideoSession  # noqa: F401
