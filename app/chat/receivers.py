"""Keeps CLASS threads in step with enrollments and SESSION threads with participants."""
from app.accounts.signals import course_members_changed
from app.chat import services
from app.scheduling import signals as scheduling


@course_members_changed.connect
def _sync_class_thread(course, **_):
    services.ensure_class_thread(course)


# A session's thread follows its title and its participants: made when the session is
# scheduled (a pending proposal has none yet), renamed with it, and its members synced.
@scheduling.session_scheduled.connect
@scheduling.session_updated.connect
@scheduling.participants_added.connect
@scheduling.participants_removed.connect
def _sync_session_thread(session, **_):
    services.ensure_session_thread(session)
