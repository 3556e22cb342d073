"""Every communication event that exists reaches the people it concerns, through notify()."""
from __future__ import annotations

from app.chat import signals as chat_signals
from app.chat.formatting import preview_text
from app.notifications.models import NotificationType
from app.notifications.services import mark_thread_read, notify
from app.scheduling.signals import session_changed


@chat_signals.message_posted.connect
def _new_message(thread, sender=None, message=None, **_):
    from app.chat.services import thread_title

    recipients = [m.user for m in thread.members if m.user_id != sender.id and not m.muted]
    if not recipients:
        return
    # Whoever is reading the thread when the push job runs gets no push (push.deliver checks
    # presence then: no Redis call inside this transaction, which holds SQLite's write lock).
    body = preview_text(message.body, 140) or "Sent an attachment"
    link = f"/chat/threads/{thread.id}?at={message.id}"
    direct = thread.kind.value == "DIRECT"
    # One notify() per distinct title (a group's title is the same for everyone): its
    # preference, device and quiet-hours lookups are batched over the recipients.
    by_title: dict[str, list] = {}
    for user in recipients:
        title = sender.name if direct else f"{sender.name} in {thread_title(thread, user)}"
        by_title.setdefault(title, []).append(user)
    for title, users in by_title.items():
        notify(users, NotificationType.NEW_MESSAGE, title, body, link, tag=f"thread-{thread.id}")


@chat_signals.thread_read.connect
def _thread_read(thread, user=None, to_the_end=False, **_):
    # Read to its latest message: what the bell and the list say about the thread is read too.
    if to_the_end:
        mark_thread_read(user, thread.id)


@chat_signals.members_added.connect
def _added_to_group(thread, actor=None, user_ids=(), created=False, **_):
    recipients = [m.user for m in thread.members if m.user_id in set(user_ids)]
    type_ = NotificationType.GROUP_CHAT_CREATED if created else NotificationType.ADDED_TO_GROUP
    title = (f"{actor.name} created the group “{thread.name}”" if created
             else f"{actor.name} added you to “{thread.name}”")
    notify(recipients, type_, title, thread.description or "Open it to say hello.",
           f"/chat/threads/{thread.id}", tag=f"thread-{thread.id}")


def _when(occurrence_start, user) -> str:
    local = occurrence_start.astimezone(user.tz)
    return f"{local.strftime('%a %d %b, %H:%M')} {local.tzname()}"


@session_changed.connect
def _session_event(session, actor=None, change=None, **details):
    from app.scheduling import recurrence
    from app.scheduling.services import next_occurrences

    people = [p.user for p in session.participants if actor is None or p.user_id != actor.id]
    link = f"/sessions/{session.id}"
    tag = f"session-{session.id}"
    if change in ("scheduled", "participants_added"):
        if change == "participants_added":
            ids = set(details.get("user_ids") or ())
            people = [p for p in people if p.id in ids]
        upcoming = next_occurrences(session, 1)
        for user in people:
            when = _when(upcoming[0].start, user) if upcoming else "soon"
            repeat = " (repeats)" if session.is_recurring else ""
            notify([user], NotificationType.SESSION_SCHEDULED, f"New session: {session.title}",
                   f"{when}{repeat} with {session.teacher.name}", link, tag=tag)
    elif change == "updated" and details.get("schedule_changed"):
        upcoming = next_occurrences(session, 1)
        for user in people:
            when = _when(upcoming[0].start, user) if upcoming else "no upcoming occurrence"
            notify([user], NotificationType.SESSION_RESCHEDULED, f"{session.title} has a new schedule",
                   f"Next: {when}", link, tag=tag)
    elif change == "occurrence_moved":
        override = details["override"]
        old = recurrence.local_to_utc(override.original_start_local, session.tz)
        new = recurrence.local_to_utc(override.new_start_local, session.tz)
        for user in people:
            notify([user], NotificationType.SESSION_RESCHEDULED, f"{session.title} was moved",
                   f"{_when(old, user)} → {_when(new, user)}"
                   + (f" · {override.reason}" if override.reason else ""), link, tag=tag)
    elif change == "occurrence_cancelled":
        override = details["override"]
        start = recurrence.local_to_utc(override.new_start_local or override.original_start_local,
                                        session.tz)
        for user in people:
            notify([user], NotificationType.SESSION_CANCELLED,
                   f"{session.title} on {_when(start, user)} is cancelled",
                   override.reason or "The rest of the series goes ahead.", link, tag=tag)
    elif change == "occurrence_restored":
        from app.scheduling.services import find_occurrence

        occurrence = find_occurrence(session, details["original_start_local"])
        for user in people:
            notify([user], NotificationType.SESSION_RESCHEDULED,
                   f"{session.title} on {_when(occurrence.start, user)} is back on",
                   "It had been cancelled; it takes place after all.", link, tag=tag)
    elif change == "cancelled":
        notify(people, NotificationType.SESSION_CANCELLED, f"{session.title} is cancelled",
               session.cancel_reason or "All its occurrences are cancelled.", link, tag=tag)
    elif change == "participant_removed":
        from app.accounts.models import User
        from app.extensions import db

        removed = [db.session.get(User, i) for i in details.get("user_ids") or ()]
        notify(removed, NotificationType.SESSION_CANCELLED,
               f"You were removed from {session.title}", "It no longer appears in your calendar.",
               "/calendar", tag=tag)
