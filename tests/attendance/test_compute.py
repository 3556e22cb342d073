"""Attendance computed when a run ends (live's run_ended), in the transaction that ended it:
seconds, join counts, statuses, catch-ups with their notification, the audit trail, manual
marks that survive recomputation, and statements that do not grow with the people."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.models import AuditLog, Role
from app.accounts.services import PermissionDenied, ValidationError
from app.attendance import services
from app.attendance.models import AttendanceRecord, AttendanceSettings, CatchUp
from app.attendance.rules import AttendanceStatus as S
from app.chat.models import Message, MessageKind, Thread
from app.db_types import utcnow
from app.extensions import db
from app.live import services as live
from app.live import session_runs
from app.live.models import LiveRole, Run, RunParticipant, Segment
from app.notifications.models import Notification, NotificationType
from app.scheduling.models import SessionParticipant
from tests.live.test_sessions_live import make_session


class World:
    """A session whose occurrence started at ``start`` (participants added a day before), its
    run, and helpers that write what live would have written as people came and went."""

    def __init__(self, center, teacher, learners, start: datetime, started_at=None):
        self.start = start
        self.session = make_session(center, teacher, learners, start=start, minutes=60)
        db.session.execute(update(SessionParticipant)
                           .where(SessionParticipant.session_id == self.session.id)
                           .values(created_at=start - timedelta(days=1)))
        room = session_runs.room_for_session(self.session)
        self.run = Run(center_id=center.id, room_id=room.id, live_room_id=room.id,
                       session_id=self.session.id, occurrence_start=start,
                       started_by_id=teacher.id, started_at=started_at or start)
        db.session.add(self.run)
        db.session.flush()
        self.participants = {}
        self._n = 0
        self.presence(teacher, 0, 60, role=LiveRole.INSTRUCTOR)

    def presence(self, user, from_min, to_min, role=LiveRole.LEARNER):
        participant = self.participants.get(user.id)
        if participant is None:
            participant = RunParticipant(center_id=self.run.center_id, run_id=self.run.id,
                                         user_id=user.id, role=role,
                                         first_joined_at=self.at(from_min))
            db.session.add(participant)
            db.session.flush()
            self.participants[user.id] = participant
        self._n += 1
        db.session.add(Segment(center_id=self.run.center_id, run_id=self.run.id,
                               participant_id=participant.id, user_id=user.id,
                               connection_id=f"c{self._n}", joined_at=self.at(from_min),
                               last_seen_at=self.at(to_min), left_at=self.at(to_min)))

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    def end(self, teacher, at_min=60):
        live._end(self.run, teacher, self.at(at_min))
        db.session.commit()

    def records(self) -> dict[int, AttendanceRecord]:
        db.session.expire_all()
        return {r.user_id: r for r in db.session.scalars(
            select(AttendanceRecord).where(AttendanceRecord.run_id == self.run.id))}


def catch_ups(run) -> dict[int, CatchUp]:
    return {c.user_id: c
            for c in db.session.scalars(select(CatchUp).where(CatchUp.run_id == run.id))}


@pytest.fixture
def trio(school, make):
    teacher = school.teacher
    s1, s2 = school.students
    s3 = make.user(school.center, Role.STUDENT, name="Nora Nocome")
    return teacher, s1, s2, s3


def test_run_end_computes_present_late_absent_with_seconds_joins_and_a_catch_up(school, trio):
    teacher, s1, s2, s3 = trio
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    world = World(school.center, teacher, [s1, s2, s3], start)
    db.session.add(Message(center_id=school.center.id, thread_id=db.session.scalar(
        select(Thread.id).where(Thread.session_id == world.session.id)), sender_id=teacher.id,
        body="Page 12 please", kind=MessageKind.TEXT, created_at=world.at(20)))
    world.presence(s1, -3, 25)    # in the lobby early, left, came back,
    world.presence(s1, 24, 40)    # a second tab overlapping the first by a minute,
    world.presence(s1, 45, 60)    # and back again after a break
    world.presence(s2, 7, 60)     # seven minutes late (grace is five)
    world.end(teacher)

    records = world.records()
    assert set(records) == {s1.id, s2.id, s3.id}  # the teacher is not on the sheet
    r1, r2, r3 = records[s1.id], records[s2.id], records[s3.id]
    assert (r1.auto_status, r1.seconds_present, r1.join_count) == (S.PRESENT, 55 * 60, 2)
    assert r1.first_join_at == world.at(-3) and r1.last_leave_at == world.at(60)
    assert not r1.left_early
    assert (r2.auto_status, r2.seconds_present, r2.join_count) == (S.LATE, 53 * 60, 1)
    assert (r3.auto_status, r3.seconds_present, r3.join_count, r3.first_join_at) == \
        (S.ABSENT, 0, 0, None)

    owed = catch_ups(world.run)
    assert set(owed) == {s3.id}
    assert owed[s3.id].missed_summary == "1 message posted in the chat during the call."
    assert owed[s3.id].due_at == world.at(60) + timedelta(days=7)
    notices = list(db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.CATCH_UP_ASSIGNED)))
    assert [(n.user_id, n.link) for n in notices] == [(s3.id, f"/catch-ups/{owed[s3.id].id}")]
    audit, = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "attendance.statuses_changed"))
    assert (audit.actor_id, audit.target_id, audit.details["source"]) == (None, world.run.id,
                                                                          "auto")
    assert sorted((c["user_id"], c["from"], c["to"]) for c in audit.details["changes"]) == \
        sorted([(s1.id, None, "PRESENT"), (s2.id, None, "LATE"), (s3.id, None, "ABSENT")])
    from app.accounts.audit import describe_entries

    who, what = describe_entries([audit])[audit.id]
    for person, status in ((s1, "present"), (s2, "late"), (s3, "absent")):
        assert f"{person.name} {status}" in what, what


def test_grace_is_the_centers_setting_and_left_early_its_share(school, trio):
    teacher, s1, s2, s3 = trio
    db.session.add(AttendanceSettings(center_id=school.center.id, late_grace_minutes=10,
                                      left_early_percent=80))
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    world = World(school.center, teacher, [s1, s2], start)
    world.presence(s1, 7, 60)   # late under a 5-minute grace, on time under 10
    world.presence(s2, 0, 45)   # 75 % of the run: left early under an 80 % share
    world.end(teacher)
    records = world.records()
    assert records[s1.id].auto_status == S.PRESENT and not records[s1.id].left_early
    assert records[s2.id].auto_status == S.PRESENT and records[s2.id].left_early


def test_people_added_after_the_start_are_not_absent_and_late_starts_move_lateness(school, trio):
    teacher, s1, s2, s3 = trio
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    # The teacher opened the class 10 minutes late.
    world = World(school.center, teacher, [s1, s2, s3], start, started_at=start +
                  timedelta(minutes=10))
    db.session.execute(update(SessionParticipant).where(
        SessionParticipant.session_id == world.session.id, SessionParticipant.user_id == s3.id)
        .values(created_at=world.at(30)))
    world.presence(s1, 14, 60)
    world.end(teacher)
    records = world.records()
    assert records[s1.id].auto_status == S.PRESENT
    assert records[s2.id].auto_status == S.ABSENT
    assert records[s3.id].auto_status is None  # on the sheet, but not missing from it
    assert set(catch_ups(world.run)) == {s2.id}


def test_a_manual_mark_wins_survives_recomputation_and_excused_removes_the_catch_up(
        school, trio):
    teacher, s1, s2, s3 = trio
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    world = World(school.center, teacher, [s1, s2, s3], start)
    world.presence(s1, 0, 60)
    # Roll call during the run: s2 marked present by hand before the run ends.
    services.set_statuses(teacher, world.run, [s2.id], S.PRESENT, "Came in person")
    world.end(teacher)
    records = world.records()
    assert records[s2.id].manual_status == S.PRESENT and records[s2.id].auto_status == S.ABSENT
    assert records[s2.id].status == S.PRESENT and records[s2.id].note == "Came in person"
    assert set(catch_ups(world.run)) == {s3.id}  # s2's mark counts: no catch-up for them

    run = db.session.get(Run, world.run.id)
    services.set_statuses(teacher, run, [s3.id, s2.id], S.EXCUSED, "Doctor")
    db.session.commit()
    assert catch_ups(run) == {}
    # Recomputed (the run restarted and ended again): the manual marks stay.
    services.compute_run_attendance(run)
    db.session.commit()
    records = world.records()
    assert {u: r.status for u, r in records.items()} == {s1.id: S.PRESENT, s2.id: S.EXCUSED,
                                                         s3.id: S.EXCUSED}
    assert catch_ups(run) == {}
    # Cleared: the automatic ABSENT counts again, and its catch-up comes back.
    services.set_statuses(teacher, run, [s3.id], None)
    db.session.commit()
    assert set(catch_ups(run)) == {s3.id}
    trail = [(c["from"], c["to"], a.details["source"], a.actor_id)
             for a in db.session.scalars(select(AuditLog).where(
                 AuditLog.action == "attendance.statuses_changed").order_by(AuditLog.id))
             for c in a.details["changes"] if c["user_id"] == s3.id]
    assert trail == [(None, "ABSENT", "auto", None), ("ABSENT", "EXCUSED", "manual", teacher.id),
                     ("EXCUSED", "ABSENT", "manual", teacher.id)]
    # Only unmarked: s3 has a status (ABSENT), nobody else changes.
    assert services.set_statuses(teacher, run, [s1.id, s2.id, s3.id], S.PRESENT,
                                 only_unmarked=True) == []


def test_only_teachers_mark_only_people_on_the_sheet_and_notes_are_bounded(school, trio, make):
    teacher, s1, s2, s3 = trio
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    world = World(school.center, teacher, [s1, s2], start)
    world.end(teacher)
    run = db.session.get(Run, world.run.id)
    with pytest.raises(PermissionDenied):
        services.set_statuses(s1, run, [s2.id], S.EXCUSED)
    other_teacher = make.user(make.center(), Role.TEACHER)
    with pytest.raises(PermissionDenied):
        services.set_statuses(other_teacher, run, [s2.id], S.EXCUSED)
    with pytest.raises(ValidationError):
        services.set_statuses(teacher, run, [school.outsider.id], S.EXCUSED)
    with pytest.raises(ValidationError):
        services.set_statuses(teacher, run, [s1.id], S.EXCUSED, "x" * 501)
    assert services.set_statuses(school.admin, run, [s1.id], S.EXCUSED, "x" * 500)
    assert services.can_view(s1, run) and not services.can_manage(s1, run)
    assert not services.can_view(school.outsider, run)


def test_an_instant_call_records_presence_and_no_absence(chat_world):
    thread, teacher, s1, s2 = chat_world
    room = live.room_where(thread.center_id, thread_id=thread.id)
    run = Run(center_id=thread.center_id, room_id=room.id, live_room_id=room.id,
              started_by_id=teacher.id, started_at=utcnow() - timedelta(minutes=30))
    db.session.add(run)
    db.session.flush()
    p = RunParticipant(center_id=run.center_id, run_id=run.id, user_id=s1.id,
                       role=LiveRole.LEARNER, first_joined_at=run.started_at)
    db.session.add(p)
    db.session.flush()
    db.session.add(Segment(center_id=run.center_id, run_id=run.id, participant_id=p.id,
                           user_id=s1.id, connection_id="x", joined_at=run.started_at +
                           timedelta(minutes=20), last_seen_at=utcnow(), left_at=utcnow()))
    live._end(run, teacher, utcnow())
    db.session.commit()
    records = {r.user_id: r for r in db.session.scalars(select(AttendanceRecord))}
    assert set(records) == {s1.id} and records[s1.id].auto_status == S.PRESENT
    assert catch_ups(run) == {}


def group_thread(school) -> Thread:
    """A group chat of the school's teacher (its owner) and its two students, added (not
    committed)."""
    from app.chat.models import MemberRole, ThreadKind, ThreadMember

    teacher, (s1, s2) = school.teacher, school.students
    thread = Thread(center_id=school.center.id, kind=ThreadKind.GROUP, name="Group",
                    description="", created_by_id=teacher.id)
    for user, role in ((teacher, MemberRole.OWNER), (s1, MemberRole.MEMBER),
                       (s2, MemberRole.MEMBER)):
        thread.members.append(ThreadMember(center_id=school.center.id, user_id=user.id,
                                           role=role, last_read_message_id=0))
    db.session.add(thread)
    return thread


@pytest.fixture
def chat_world(school):
    thread = group_thread(school)
    db.session.commit()
    return thread, school.teacher, *school.students


def _statements_to_end(make, count_queries, n: int) -> int:
    center = make.center()
    teacher = make.user(center, Role.TEACHER)
    learners = [make.user(center, Role.STUDENT, commit=False) for _ in range(n)]
    db.session.commit()
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    world = World(center, teacher, learners, start)
    for i, learner in enumerate(learners):
        if i % 3 == 0:
            continue  # absent: a catch-up and a notification each
        world.presence(learner, 6 if i % 3 == 1 else 0, 30)
        world.presence(learner, 29, 60)
    db.session.commit()
    run = db.session.get(Run, world.run.id)
    db.session.expire_all()
    with count_queries() as counter:
        services.compute_run_attendance(run)
        db.session.flush()
    db.session.rollback()
    return counter.count


def test_computing_a_run_is_flat_in_the_number_of_people(make, count_queries):
    small = _statements_to_end(make, count_queries, 6)
    large = _statements_to_end(make, count_queries, 60)
    assert large == small, (small, large)
    assert small <= 25, small

