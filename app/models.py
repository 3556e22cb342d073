"""Imports every domain's models so SQLAlchemy and Alembic see the whole schema."""
from app.accounts.models import AuditLog, Center, Course, CourseRole, Enrollment, Role, User  # noqa: F401
from app.accounts.models import PasswordReset  # noqa: F401
from app.scheduling.models import CalendarFeed, SessionOverride, SessionParticipant, VideoSession  # noqa: F401
from app.scheduling.models import GroupSessionRules  # noqa: F401
from app.chat.models import Attachment, Message, Thread, ThreadMember  # noqa: F401
from app.notifications.models import (JobFailure, Notification, NotificationPreference,  # noqa: F401
                                      PushDelivery, PushSubscription, QuietHours, ReminderSent)
from app.mail.models import EmailOutbox  # noqa: F401
from app.invites.models import Invitation  # noqa: F401
from app.live.models import Room, Run, RunParticipant, Segment  # noqa: F401
from app.attendance.models import AttendanceRecord, AttendanceSettings, CatchUp  # noqa: F401
from app.control_center.models import (HelpRequest, LessonReport, StudentPlan, Timer,  # noqa: F401
                                       TutorNote, WorkItem)
