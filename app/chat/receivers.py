"""Keeps CLASS threads in step with enrollments and SESSION threads with participants."""
from app.accounts.signals import course_members_changed
from app.chat import services
from app.scheduling.signals import session_changed


@course_members_changed.connect
def _sync_class_thread(course, **_):
    services.ensure_class_thread(course)


@session_changed.connect
def _sync_session_thread(session, change=None, **_):
    if change in {"scheduled", "updated", "participants_added", "participant_removed"}:
        services.ensure_session_thread(session)
