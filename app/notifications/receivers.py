"""Every communication event that exists reaches the people it concerns, through record()
(notify() without loading the new rows back: no receiver uses them).

One receiver per domain event. Each makes one pass over the event's people: them in one query
(``users_by_id``; a new chat message's members are told by a job: notifications/messages.py), one
record() for all of them (one query for everyone's preference, devices and quiet hours, one
INSERT of the rows), and one wording per time zone where the wording names a time (``when``),
not one per person."""
from __future__ import annotations

from app.accounts.services import users_by_id
from app.chat import signals as chat_signals
from app.live import signals as live
from app.notifications.messages import queue_notices
from app.notifications.models import NotificationType
from app.notifications.services import Notice, mark_thread_read, record, record_each
from app.scheduling import signals as scheduling
from app.timezones import when


def _people(user_ids, actor=None) -> list:
    """The active people among ``user_ids``, without whoever made the change (they know)."""
    wanted = set(user_ids) - ({actor.id} if actor is not None else set())
    return sorted((u for u in users_by_id(wanted).values() if u.is_active), key=lambda u: u.id)


# --- chat ------------------------------------------------------------------------------------------

@chat_signals.message_posted.connect
def _new_message(thread, sender=None, message=None, user_ids=frozenset(), **_):
    # The members are told by a job (app/notifications/messages.py): the message was stored
    # owing their notices, and the job writes them once this request has committed.
    queue_notices(message.id, message.center_id)


@chat_signals.thread_read.connect
def _thread_read(thread, user=None, to_the_end=False, **_):
    # Read to its latest message: what the bell and the list say about the thread is read too.
    if to_the_end:
        mark_thread_read(user, thread.id)


@chat_signals.members_added.connect
def _added_to_group(thread, actor=None, user_ids=frozenset(), created=False, **_):
    type_ = NotificationType.GROUP_CHAT_CREATED if created else NotificationType.ADDED_TO_GROUP
    title = (f"{actor.name} created the group “{thread.name}”" if created
             else f"{actor.name} added you to “{thread.name}”")
    record(_people(user_ids, actor), type_, title, thread.description or "Open it to say hello.",
           f"/chat/threads/{thread.id}", tag=f"thread-{thread.id}")


# --- live ------------------------------------------------------------------------------------------

@live.call_started.connect
def _call_started(run, starter=None, thread=None, user_ids=frozenset(), **_):
    # High priority (push Urgency high, short TTL); the push's "Join" action opens the room.
    where = "a direct call" if thread.kind.value == "DIRECT" else f"in {thread.name}"
    record(_people(user_ids, starter), NotificationType.INSTANT_CALL_STARTED,
           f"{starter.name} is calling", f"Join the call {where}" if thread.kind.value != "DIRECT"
           else "Join the call", f"/live/rooms/{run.room_id}", tag=f"call-{run.id}")


@live.session_went_live.connect
def _session_went_live(run, session=None, starter=None, user_ids=frozenset(), **_):
    # High priority like a ringing call; the push's "Join" action opens the room.
    record(_people(user_ids, starter), NotificationType.SESSION_LIVE, f"{session.title} is live",
           f"{starter.name} started the session. Join now.", f"/live/rooms/{run.room_id}",
           tag=f"session-live-{run.id}")


# --- sessions --------------------------------------------------------------------------------------

# How a notification names a time, in each reader's zone (``when`` words it once per zone).
NOTICE_TIME = "%a %d %b, %H:%M {abbr}"


def _next_start(session):
    from app.scheduling.services import next_occurrences

    upcoming = next_occurrences(session, 1)
    return upcoming[0].start if upcoming else None


def _link(session) -> str:
    return f"/sessions/{session.id}"


def _tag(session) -> str:
    return f"session-{session.id}"


def _tell_each(session, people, type_, title: str, body_for, link: str | None = None) -> None:
    """One notify for all of ``people``, each with the body ``body_for(user)`` (their zone)."""
    record_each(type_, [Notice(user, title, body_for(user), link or _link(session), _tag(session))
                        for user in people])


def _announce_new(session, people) -> None:
    start = _next_start(session)
    repeat = " (repeats)" if session.is_recurring else ""
    teacher = session.teacher.name
    _tell_each(session, people, NotificationType.SESSION_SCHEDULED,
               f"New session: {session.title}",
               lambda user: (f"{when(start, user, NOTICE_TIME) if start else 'soon'}{repeat} "
                             f"with {teacher}"))


@scheduling.session_scheduled.connect
def _session_scheduled(session, actor=None, user_ids=frozenset(), announced_to=frozenset(), **_):
    _announce_new(session, _people(frozenset(user_ids) - frozenset(announced_to), actor))


@scheduling.participants_added.connect
def _participants_added(session, actor=None, user_ids=frozenset(), **_):
    _announce_new(session, _people(user_ids, actor))


@scheduling.session_updated.connect
def _session_updated(session, actor=None, user_ids=frozenset(), schedule_changed=False, **_):
    if not schedule_changed:
        return  # a new title or description: the session page and calendar say it
    start = _next_start(session)
    _tell_each(session, _people(user_ids, actor), NotificationType.SESSION_RESCHEDULED,
               f"{session.title} has a new schedule",
               lambda user: ("Next: " + (when(start, user, NOTICE_TIME) if start
                                         else "no upcoming occurrence")))


@scheduling.occurrence_moved.connect
def _occurrence_moved(session, actor=None, user_ids=frozenset(), override=None, **_):
    from app.scheduling import recurrence

    old = recurrence.local_to_utc(override.original_start_local, session.tz)
    new = recurrence.local_to_utc(override.new_start_local, session.tz)
    reason = f" · {override.reason}" if override.reason else ""
    _tell_each(session, _people(user_ids, actor), NotificationType.SESSION_RESCHEDULED,
               f"{session.title} was moved",
               lambda user: (f"{when(old, user, NOTICE_TIME)} → "
                             f"{when(new, user, NOTICE_TIME)}{reason}"))


@scheduling.occurrence_cancelled.connect
def _occurrence_cancelled(session, actor=None, user_ids=frozenset(), override=None, **_):
    from app.scheduling import recurrence

    start = recurrence.local_to_utc(override.new_start_local or override.original_start_local,
                                    session.tz)
    body = override.reason or "The rest of the series goes ahead."
    record_each(NotificationType.SESSION_CANCELLED, [
        Notice(user, f"{session.title} on {when(start, user, NOTICE_TIME)} is cancelled", body,
               _link(session), _tag(session)) for user in _people(user_ids, actor)])


@scheduling.occurrence_restored.connect
def _occurrence_restored(session, actor=None, user_ids=frozenset(), original_start_local=None,
                         **_):
    from app.scheduling.services import find_occurrence

    start = find_occurrence(session, original_start_local).start
    record_each(NotificationType.SESSION_RESCHEDULED, [
        Notice(user, f"{session.title} on {when(start, user, NOTICE_TIME)} is back on",
               "It had been cancelled; it takes place after all.", _link(session), _tag(session))
        for user in _people(user_ids, actor)])


@scheduling.series_cancelled.connect
def _series_cancelled(session, actor=None, user_ids=frozenset(), **_):
    record(_people(user_ids, actor), NotificationType.SESSION_CANCELLED,
           f"{session.title} is cancelled",
           session.cancel_reason or "All its occurrences are cancelled.", _link(session),
           tag=_tag(session))


@scheduling.participants_removed.connect
def _participants_removed(session, actor=None, user_ids=frozenset(), **_):
    record(_people(user_ids, actor), NotificationType.SESSION_CANCELLED,
           f"You were removed from {session.title}", "It no longer appears in your calendar.",
           "/calendar", tag=_tag(session))


# --- group proposals -------------------------------------------------------------------------------

def _proposed_when(session):
    """(user) -> when the proposed session (next) takes place, as that user reads it."""
    from app.scheduling import recurrence

    start = _next_start(session) or recurrence.local_to_utc(session.start_local, session.tz)
    repeat = " (repeats)" if session.is_recurring else ""
    return lambda user: when(start, user, "%a %-d %b, %H:%M {abbr}") + repeat


@scheduling.proposal_submitted.connect
def _proposal_submitted(session, actor=None, group=None, user_ids=frozenset(), **_):
    from app.scheduling.group_services import sessions_link

    proposed_when = _proposed_when(session)
    _tell_each(session, _people(user_ids, actor), NotificationType.SESSION_PROPOSED,
               f"{actor.name} proposes “{session.title}”",
               lambda user: f"{proposed_when(user)} in {group.name}. Approve or decline it.",
               link=sessions_link(group.id))


@scheduling.proposal_approved.connect
def _proposal_approved(session, actor=None, user_ids=frozenset(), **_):
    proposed_when = _proposed_when(session)
    _tell_each(session, _people(user_ids, actor), NotificationType.PROPOSAL_APPROVED,
               f"“{session.title}” was approved",
               lambda user: f"{proposed_when(user)} · {actor.name} approved your proposal.")


@scheduling.proposal_declined.connect
def _proposal_declined(session, actor=None, group=None, user_ids=frozenset(), reason="", **_):
    from app.scheduling.group_services import sessions_link

    record(_people(user_ids, actor), NotificationType.PROPOSAL_DECLINED,
           f"“{session.title}” was declined", f"{actor.name}: {reason}", sessions_link(group.id),
           tag=_tag(session))
