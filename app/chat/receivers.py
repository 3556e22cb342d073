"""Keeps CLASS threads in step with enrollments and SESSION threads with participants."""
from app.accounts.signals import course_members_changed
from app.chat import services
from app.live import signals as live
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


# An instant call is a CALL message in its thread: "Join" while it is live, the summary after.
@live.call_started.connect
def _post_call_message(run, starter=None, thread=None, **_):
    run.call_message_id = services.post_call_message(starter, thread).id


@live.run_ended.connect
def _summarize_call(run, duration_seconds=0, people=0, **_):
    if run.call_message_id is not None:
        services.end_call_message(run.call_message_id, duration_seconds, people)
