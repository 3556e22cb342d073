"""Other domains' facts that change a My Day section, turned into ``myday.changed`` events for
the people concerned (after commit, in the commit's Redis pipeline: no statement, no query per
person). Nobody on My Day: the hub drops them unrendered."""
from __future__ import annotations

from app.my_day.realtime import announce


def on_session_went_live(run, *, user_ids, **_) -> None:
    announce(user_ids, "today")


def on_run_ended(run, *, user_ids, **_) -> None:
    """A session's call ended: its row turns over, and its attendance (computed in the same
    transaction) may leave something to confirm. The session's people, not only those who took
    part: a co-teacher who never joined still has the row."""
    if run.session_id is None:
        return
    from app.extensions import db
    from app.scheduling.models import VideoSession
    from app.scheduling.services import participant_ids

    session = db.session.get(VideoSession, run.session_id)
    people = set(user_ids) | (participant_ids(session) if session is not None else set())
    announce(people, "today", "confirm")


def on_message_posted(thread, *, sender, user_ids, **_) -> None:
    announce(set(user_ids) - {sender.id}, "chats")


def on_thread_read(thread, *, user, **_) -> None:
    announce({user.id}, "chats")


def on_attendance_changed(sheet, *, user_ids, **_) -> None:
    announce(user_ids, "confirm")


def on_catch_ups_changed(sender, *, user_ids, **_) -> None:
    announce(user_ids, "catch_ups")


def on_help_request(request, *, user_ids, **_) -> None:
    """Raised, claimed, resolved or cancelled: the tutors' open help requests."""
    announce(user_ids, "help")


def on_plan_changed(plan, *, user_ids, **_) -> None:
    """A plan gained work: today's row says how many plans are ready."""
    announce(user_ids, "today")


def connect() -> None:
    from app.attendance import signals as attendance
    from app.chat import signals as chat
    from app.control_center import signals as control_center
    from app.live import signals as live

    control_center.help_requested.connect(on_help_request)
    control_center.help_request_updated.connect(on_help_request)
    control_center.plan_changed.connect(on_plan_changed)

    live.session_went_live.connect(on_session_went_live)
    live.run_ended.connect(on_run_ended)
    chat.message_posted.connect(on_message_posted)
    chat.thread_read.connect(on_thread_read)
    attendance.attendance_changed.connect(on_attendance_changed)
    attendance.catch_ups_changed.connect(on_catch_ups_changed)
