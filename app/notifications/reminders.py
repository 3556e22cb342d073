"""Reminders before every occurrence (one-time or recurring, moved and cancelled honoured).

The sweep runs every minute from RQ's cron. Each (session, occurrence start, user) gets one
ReminderSent row, inserted in a savepoint: a second sweep, a second worker or a restarted one
hits the unique constraint and sends nothing. The row and the in-app notification commit
together (one transaction per occurrence); the push goes out after the commit."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import NotificationType, ReminderSent
from app.notifications.services import notify
from app.scheduling.models import SessionParticipant, SessionStatus, VideoSession
from app.scheduling.services import occurrences_between


def lead_time() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("REMINDER_LEAD_MINUTES", 15)))


def due_occurrences(now: datetime, lead: timedelta):
    """Occurrences that start after ``now`` and within ``lead`` of it (not cancelled)."""
    horizon = now + lead
    sessions = db.session.scalars(
        select(VideoSession)
        .where(VideoSession.status.in_([SessionStatus.SCHEDULED, SessionStatus.LIVE]),
               VideoSession.first_start_utc <= horizon,
               or_(VideoSession.last_end_utc.is_(None), VideoSession.last_end_utc > now))
        .options(selectinload(VideoSession.overrides),
                 selectinload(VideoSession.participants).joinedload(SessionParticipant.user),
                 joinedload(VideoSession.teacher))).unique().all()
    # start > now: an occurrence that has already started gets no reminder.
    return [o for o in occurrences_between(sessions, now + timedelta(microseconds=1),
                                           horizon + timedelta(microseconds=1))
            if not o.cancelled]


def sweep(now: datetime | None = None) -> dict:
    now = now or utcnow()
    lead = lead_time()
    occurrences = due_occurrences(now, lead)
    if not occurrences:
        return {"occurrences": 0, "reminders": 0}
    keys = {(o.session_id, o.start) for o in occurrences}
    already = set(db.session.execute(
        select(ReminderSent.session_id, ReminderSent.occurrence_start, ReminderSent.user_id)
        .where(tuple_(ReminderSent.session_id, ReminderSent.occurrence_start).in_(list(keys))))
        .all()) if keys else set()
    sent = 0
    for occ in occurrences:
        session = occ.session
        # A fixed order (by user) so two concurrent sweeps take row locks in the same order.
        for participant in sorted(session.participants, key=lambda p: p.user_id):
            user = participant.user
            if (session.id, occ.start, user.id) in already or not user.is_active:
                continue
            try:
                with db.session.begin_nested():
                    row = ReminderSent(session_id=session.id, occurrence_start=occ.start,
                                       user_id=user.id)
                    db.session.add(row)
            except IntegrityError:
                continue  # another sweep got there first
            local = occ.start.astimezone(user.tz)
            minutes = max(1, round((occ.start - now).total_seconds() / 60))
            created = notify([user], NotificationType.SESSION_REMINDER,
                             f"{session.title} starts in {minutes} min",
                             f"{local.strftime('%a %d %b, %H:%M')} {local.tzname()} · "
                             f"{occ.duration_minutes} min with {session.teacher.name}",
                             f"/sessions/{session.id}", tag=f"session-{session.id}")
            row.notification_id = created[0].id if created else None
            sent += 1
        # One short transaction per occurrence: a big sweep never holds the write lock (SQLite)
        # for long, and what is committed is never sent again.
        db.session.commit()
    return {"occurrences": len(occurrences), "reminders": sent}
