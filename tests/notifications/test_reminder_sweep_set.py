"""The reminder sweep works on sets: its SQL statements do not grow with the number of
reminders (one INSERT … ON CONFLICT DO NOTHING … RETURNING claims a chunk's rows, one batch of
notifications for the people of the rows that came back), only the rows a sweep inserted are
notified, and a sweep that fails half-way leaves what it committed sent once and the rest to
the next sweep. Sessions are written as rows (as the bench does) so a thousand reminders take
no thousand scheduling calls to set up."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from app.accounts.models import Role, User
from app.extensions import db
from app.notifications import reminders
from app.notifications.models import (Notification, NotificationPreference, NotificationType,
                                      PushSubscription, ReminderSent)
from app.scheduling.models import (Frequency, ParticipantRole, SessionParticipant, SessionType,
                                   VideoSession)
from app.scheduling.services import refresh_bounds
from tests.notifications.conftest import queued_job_ids

UTC = timezone.utc
REMINDER = NotificationType.SESSION_REMINDER
STUDENTS_PER_SESSION = 4


def tomorrow_at(hour: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=1)).replace(hour=hour, minute=0, second=0,
                                                          microsecond=0)


def new_people(center, role: Role, how_many: int, label: str) -> list[User]:
    people = [User(center_id=center.id, role=role, name=f"{label} {n}",
                   email=f"{label.lower()}{n}@c{center.id}.example.com",
                   timezone=("America/New_York", "Asia/Tokyo", None)[n % 3],
                   password_hash="unusable") for n in range(how_many)]
    db.session.add_all(people)
    db.session.flush()
    return people


def due_sessions(center, how_many: int, start: datetime, label: str) -> list[VideoSession]:
    """``how_many`` one-time sessions starting at ``start``, each with its teacher and
    STUDENTS_PER_SESSION students of its own; a fifth of the people have a push device and a
    few turned reminder pushes off (so the notify path does all of its work)."""
    teachers = new_people(center, Role.TEACHER, how_many, f"{label}T")
    students = new_people(center, Role.STUDENT, how_many * STUDENTS_PER_SESSION, f"{label}S")
    sessions = []
    for n, teacher in enumerate(teachers):
        group = students[n * STUDENTS_PER_SESSION:(n + 1) * STUDENTS_PER_SESSION]
        session = VideoSession(center_id=center.id, teacher_id=teacher.id, title=f"Lesson {n}",
                               description="", type=SessionType.CLASS, timezone="UTC",
                               start_local=start.replace(tzinfo=None), duration_minutes=45,
                               frequency=Frequency.NONE, interval=1, by_weekday="")
        session.participants = [
            SessionParticipant(center_id=center.id, user_id=teacher.id,
                               role=ParticipantRole.INSTRUCTOR),
            *(SessionParticipant(center_id=center.id, user_id=s.id,
                                 role=ParticipantRole.LEARNER) for s in group)]
        refresh_bounds(session)
        db.session.add(session)
        sessions.append(session)
    people = teachers + students
    db.session.add_all(PushSubscription(center_id=center.id, user_id=u.id,
                                        endpoint=f"https://push.example.com/{label}/{u.id}",
                                        p256dh="B" + "A" * 86, auth="c2VjcmV0LWF1dGgtMTY")
                       for u in people[::5])
    db.session.add_all(NotificationPreference(user_id=u.id, type=REMINDER, push=False,
                                              email=False) for u in people[::10])
    db.session.commit()
    return sessions


def reminder_rows() -> int:
    return db.session.scalar(select(func.count(ReminderSent.id)))


def test_a_sweep_of_1000_costs_the_statements_of_a_sweep_of_10(app, make, count_queries):
    center = make.center()
    few_at, many_at = tomorrow_at(9), tomorrow_at(15)
    due_sessions(center, 2, few_at + timedelta(minutes=10), "Few")
    due_sessions(center, 200, many_at + timedelta(minutes=10), "Many")
    db.session.expire_all()

    counts = {}
    for label, now, expected in (("10", few_at, 10), ("1000", many_at, 1000)):
        with count_queries() as counter:
            result = reminders.sweep(now=now)
        db.session.expire_all()
        assert result["reminders"] == expected
        counts[label] = counter.count
        # The same minute again: everything is reminded already, nothing more is sent.
        with count_queries() as again:
            assert reminders.sweep(now=now + timedelta(seconds=30))["reminders"] == 0
        counts[f"{label} again"] = again.count
        db.session.expire_all()
    assert counts["10"] == counts["1000"], counts
    assert counts["10 again"] == counts["1000 again"], counts
    assert counts["1000"] <= 12, counts
    # A quiet minute (what the every-minute cron usually finds): the candidates and their
    # overrides are looked for, nothing else.
    with count_queries() as quiet:
        assert reminders.sweep(now=many_at + timedelta(hours=3)) == {"occurrences": 0,
                                                                      "reminders": 0}
    assert quiet.count <= 2, quiet.statements

    assert reminder_rows() == 1010
    notified = db.session.scalar(select(func.count(Notification.id))
                                 .where(Notification.type == REMINDER))
    linked = db.session.scalar(select(func.count(func.distinct(ReminderSent.notification_id))))
    assert notified == linked == 1010
    # A push job per reminder whose person has a device and did not turn reminder pushes off:
    # a fifth of the people have one, and a tenth of them (every other device) turned it off.
    with_push = db.session.scalar(select(func.count(Notification.id)).where(
        Notification.type == REMINDER, Notification.push_due_at.is_not(None)))
    assert len(queued_job_ids(app, "high")) == with_push == 1010 // 10


def test_only_the_rows_this_sweep_inserts_are_notified(make):
    """Rows another sweep committed first come back from nobody's INSERT but theirs: this one
    notifies only the rest."""
    center = make.center()
    now = tomorrow_at(9)
    [session] = due_sessions(center, 1, now + timedelta(minutes=5), "Owned")
    people = sorted(p.user_id for p in session.participants)
    start = now + timedelta(minutes=5)
    taken = people[:2]
    db.session.add_all(ReminderSent(session_id=session.id, occurrence_start=start, user_id=u)
                       for u in taken)
    db.session.commit()

    assert reminders.sweep(now=now) == {"occurrences": 1, "reminders": len(people) - 2}
    notified = sorted(db.session.scalars(select(Notification.user_id)
                                         .where(Notification.type == REMINDER)))
    assert notified == people[2:]
    assert reminder_rows() == len(people)
    assert reminders.sweep(now=now + timedelta(minutes=1))["reminders"] == 0


def test_one_person_in_two_occurrences_at_once_gets_both(make):
    center = make.center()
    now = tomorrow_at(9)
    first, second = due_sessions(center, 2, now + timedelta(minutes=10), "Both")
    # Someone in both lessons (a student booked into two rooms by mistake, a co-teacher...).
    student = first.participants[1].user_id
    second.participants.append(SessionParticipant(center_id=center.id, user_id=student,
                                                  role=ParticipantRole.LEARNER))
    db.session.commit()
    assert reminders.sweep(now=now)["reminders"] == 11
    titles = sorted(db.session.scalars(select(Notification.title).where(
        Notification.user_id == student, Notification.type == REMINDER)))
    assert titles == ["Lesson 0 starts in 10 min", "Lesson 1 starts in 10 min"]


def test_a_sweep_that_fails_half_way_keeps_what_it_committed_and_the_next_sends_the_rest(
        make, monkeypatch):
    """Chunks commit one by one: rows and notifications of a committed chunk are final; a chunk
    that fails rolls back its rows with its notifications, and the next sweep sends those, once."""
    center = make.center()
    now = tomorrow_at(9)
    due_sessions(center, 3, now + timedelta(minutes=10), "Half")  # 15 reminders
    monkeypatch.setattr(reminders, "CHUNK_ROWS", 4)
    real_record_each, calls = reminders.record_each, []

    def record_each_failing_on_the_third_chunk(type_, notices):
        calls.append(len(notices))
        if len(calls) == 3:
            raise RuntimeError("the worker lost its database connection")
        return real_record_each(type_, notices)

    monkeypatch.setattr(reminders, "record_each", record_each_failing_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        reminders.sweep(now=now)
    db.session.rollback()
    assert reminder_rows() == 8
    assert db.session.scalar(select(func.count(Notification.id))) == 8

    monkeypatch.setattr(reminders, "record_each", real_record_each)
    assert reminders.sweep(now=now + timedelta(minutes=1))["reminders"] == 7
    per_person = db.session.execute(select(Notification.user_id, func.count())
                                    .group_by(Notification.user_id)).all()
    assert len(per_person) == 15 and {count for _, count in per_person} == {1}
    assert reminder_rows() == 15
