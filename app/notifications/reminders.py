"""Reminders before every occurrence (one-time or recurring, moved and cancelled honoured).

The sweep runs every minute from RQ's cron and works on sets, so its statements grow with
chunks of reminders, never one by one: the due occurrences are expanded from the candidate
sessions (one query, plus one for their overrides; app/scheduling/recurrence.py places them),
the people to remind are read in one query, and then, per chunk of CHUNK_ROWS reminders:

- one INSERT … ON CONFLICT DO NOTHING … RETURNING of the chunk's ReminderSent rows (unique per
  session, occurrence start and user). The rows that come back are exactly the reminders this
  sweep owns: a second sweep, a second worker or a restarted one gets nothing back for them
  (PostgreSQL makes a concurrent insert of the same key wait for the first one's commit), so
  nobody is reminded twice;
- one query for those people, one record_each (the in-app notifications in one batch, the
  pushes queued; the new rows come back as ids and columns, not as ORM objects), one batched
  UPDATE linking each row to its notification;
- one commit: the rows and their notifications are durable together, and the pushes and bell
  updates go out after it, in one Redis pipeline.

Rows are claimed in a fixed order (session, occurrence, user), so two sweeps at once take row
locks in the same order and never deadlock."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import Center, User
from app.bulk import insert_rows, one_of, update_rows
from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import NotificationType, ReminderSent
from app.notifications.services import Notice, Person, record_each
from app.scheduling.models import (SessionOverride, SessionParticipant, SessionStatus,
                                   VideoSession)
from app.scheduling.recurrence import Occurrence
from app.scheduling.services import occurrences_between
from app.transactions import commit_claim

# Reminders claimed, notified and committed together. A chunk's statements are a constant
# number (app/bulk writes 1,000 rows per statement, so more rows per chunk would only add
# statements there), and its transaction stays short.
CHUNK_ROWS = 1000


def lead_time() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("REMINDER_LEAD_MINUTES", 15)))


def due_occurrences(now: datetime, lead: timedelta) -> list[Occurrence]:
    """Occurrences that start after ``now`` and within ``lead`` of it (not cancelled), in
    (start, session) order. Two queries however many sessions there are."""
    horizon = now + lead
    candidates = (VideoSession.status.in_([SessionStatus.SCHEDULED, SessionStatus.LIVE]),
                  VideoSession.first_start_utc <= horizon,
                  or_(VideoSession.last_end_utc.is_(None), VideoSession.last_end_utc > now))
    sessions = list(db.session.scalars(select(VideoSession).where(*candidates)
                                       .options(joinedload(VideoSession.teacher))))
    if not sessions:
        return []
    # The overrides of every candidate in one query (a selectinload would send one per 500
    # sessions), handed to each session as its loaded collection.
    overrides: dict[int, list[SessionOverride]] = {s.id: [] for s in sessions}
    for override in db.session.scalars(select(SessionOverride).where(
            SessionOverride.session_id.in_(select(VideoSession.id).where(*candidates)))):
        overrides.setdefault(override.session_id, []).append(override)
    for session in sessions:
        set_committed_value(session, "overrides", overrides[session.id])
    # start > now: an occurrence that has already started gets no reminder.
    return [o for o in occurrences_between(sessions, now + timedelta(microseconds=1),
                                           horizon + timedelta(microseconds=1))
            if not o.cancelled]


class Due(NamedTuple):
    """What a reminder says about its occurrence, read before the first chunk commits (a
    commit expires the loaded sessions: reading them again would be a query per session)."""

    session_id: int
    start: datetime
    title: str
    teacher_name: str
    duration_minutes: int


def sweep(now: datetime | None = None) -> dict:
    now = now or utcnow()
    due, rows = _due_reminders(now)
    if not due:
        return {"occurrences": 0, "reminders": 0}
    sent = 0
    for first in range(0, len(rows), CHUNK_ROWS):
        owned = _claim(rows[first:first + CHUNK_ROWS])
        if owned:
            sent += _remind(owned, due, now)
        # Per chunk, not once per job: the chunk's ReminderSent rows are claims that must be
        # durable before its pushes are queued, and a sweep of 10,000 must not hold one
        # transaction (and its locks) for all of them.
        commit_claim()
    return {"occurrences": len(due), "reminders": sent}


def _due_reminders(now: datetime) -> tuple[dict, list]:
    """What is due as plain values: each occurrence's wording (``Due``) and the sorted
    (session, start, person) rows to claim. The sessions loaded to expand them are let go
    when this returns: kept, every chunk's commit expired them all again (3,000 sessions and
    their teachers, ten times over, was half the cost of a sweep with nothing new to send)."""
    occurrences = due_occurrences(now, lead_time())
    if not occurrences:
        return {}, []
    due = {(o.session_id, o.start): Due(o.session_id, o.start, o.session.title,
                                        o.session.teacher.name, o.duration_minutes)
           for o in occurrences}
    people = _active_people({o.session_id for o in occurrences})
    rows = sorted((occ.session_id, occ.start, user_id)
                  for occ in occurrences for user_id in people.get(occ.session_id, ()))
    return due, rows


def _active_people(session_ids) -> dict[int, list[int]]:
    """session id -> the ids of its active participants (the teacher is one), in one query."""
    people: dict[int, list[int]] = {}
    for session_id, user_id in db.session.execute(
            select(SessionParticipant.session_id, SessionParticipant.user_id)
            .join(User, User.id == SessionParticipant.user_id)
            .where(one_of(SessionParticipant.session_id, session_ids),
                   User.is_active_flag.is_(True))):
        people.setdefault(session_id, []).append(user_id)
    return people


def _claim(rows: list[tuple[int, datetime, int]]) -> list[tuple[int, int, datetime, int]]:
    """Insert the chunk's ReminderSent rows, skipping the ones that exist (one statement);
    returns (row id, session id, occurrence start, user id) of the rows this sweep inserted."""
    created_at = utcnow()
    table = ReminderSent.__table__
    return [tuple(row) for row in insert_rows(
        table, [{"session_id": session_id, "occurrence_start": start, "user_id": user_id,
                 "created_at": created_at} for session_id, start, user_id in rows],
        (table.c.id, table.c.session_id, table.c.occurrence_start, table.c.user_id),
        skip_duplicates_of=("session_id", "occurrence_start", "user_id"))]


def _recipients(user_ids) -> dict[int, Person]:
    return {row.id: Person(row.id, row.center_id, bool(row.is_active_flag),
                           ZoneInfo(row.timezone or row.center_timezone))
            for row in db.session.execute(
                select(User.id, User.center_id, User.is_active_flag, User.timezone,
                       Center.timezone.label("center_timezone"))
                .join(Center, Center.id == User.center_id)
                .where(one_of(User.id, user_ids)))}


def _remind(owned, due: dict, now: datetime) -> int:
    """Notify the people of the rows this sweep owns (one batch) and link each row to its
    notification. Returns how many were notified."""
    users = _recipients({user_id for *_, user_id in owned})
    notices, row_ids = [], []
    for row_id, session_id, start, user_id in owned:
        user = users.get(user_id)
        if user is None or not user.is_active:
            # Deactivated since the people were read: the row stays, unsent. (record_each
            # leaves inactive people out: filtered here, its rows line up with row_ids.)
            continue
        notices.append(_notice(due[(session_id, start)], user, now))
        row_ids.append(row_id)
    created = record_each(NotificationType.SESSION_REMINDER, notices)
    # One statement, however many rows.
    update_rows(ReminderSent.__table__, [{"id": row_id, "notification_id": notification.id}
                                         for row_id, notification in zip(row_ids, created)])
    return len(created)


def _notice(occurrence: Due, user: Person, now: datetime) -> Notice:
    minutes = max(1, round((occurrence.start - now).total_seconds() / 60))
    return Notice(user, f"{occurrence.title} starts in {minutes} min",
                  f"{_local_start(occurrence.start, user.tz)} · "
                  f"{occurrence.duration_minutes} min with {occurrence.teacher_name}",
                  f"/sessions/{occurrence.session_id}", tag=f"session-{occurrence.session_id}")


@lru_cache(maxsize=4096)
def _local_start(start: datetime, zone: ZoneInfo) -> str:
    """A start as people in ``zone`` read it: worded once per zone and start, not per person."""
    local = start.astimezone(zone)
    return f"{local.strftime('%a %d %b, %H:%M')} {local.tzname()}"
