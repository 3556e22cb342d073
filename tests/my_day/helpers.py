"""A tutor's day for the My Day tests and the bench: ``sessions`` occurrences spread over the
viewer's today around a fixed "now" (local noon), of every kind the page shows: over with
attendance left to confirm, over and complete, live, in its Join window, later, cancelled;
overdue catch-ups and unread chats that grow with the day."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from app.accounts.models import Center, Role, User
from app.attendance.models import AttendanceRecord, CatchUp
from app.attendance.rules import AttendanceStatus
from app.chat import services as chat
from app.control_center.models import HelpPriority, HelpRequest, StudentPlan, WorkItem
from app.extensions import db
from app.live.models import Room, Run
from app.scheduling import services as scheduling
from app.scheduling.models import (Frequency, ParticipantRole, Rsvp, SessionParticipant,
                                   SessionStatus, SessionType, VideoSession)

ZONE = "Europe/London"


@dataclass
class Day:
    center: Center
    teacher: User
    students: list[User]
    sessions: list[VideoSession]
    now: datetime


def local_noon(zone: str = ZONE, now: datetime | None = None) -> datetime:
    """Today's noon in ``zone`` as a UTC instant: a "now" with room before and after it."""
    tz = ZoneInfo(zone)
    today = (now or datetime.now(timezone.utc)).astimezone(tz).date()
    return datetime.combine(today, time(12), tzinfo=tz).astimezone(timezone.utc)


def add_session(center, teacher, learners, start: datetime, minutes: int, title: str,
                added_before: timedelta = timedelta(days=3)) -> VideoSession:
    """A one-time session written directly (the service refuses starts in the past), its
    participants added ``added_before`` its start, and its SESSION thread."""
    session = VideoSession(center_id=center.id, teacher_id=teacher.id, title=title,
                           description="", type=SessionType.CLASS, timezone=ZONE,
                           start_local=start.astimezone(ZoneInfo(ZONE)).replace(tzinfo=None),
                           duration_minutes=minutes, frequency=Frequency.NONE, interval=1,
                           by_weekday="", status=SessionStatus.SCHEDULED)
    added = start - added_before
    session.participants = [
        SessionParticipant(center_id=center.id, user_id=teacher.id,
                           role=ParticipantRole.INSTRUCTOR, created_at=added),
        *(SessionParticipant(center_id=center.id, user_id=u.id, role=ParticipantRole.LEARNER,
                             rsvp=(Rsvp.ACCEPTED, Rsvp.DECLINED, Rsvp.NEEDS_ACTION)[n % 3],
                             created_at=added)
          for n, u in enumerate(learners))]
    scheduling.refresh_bounds(session)
    db.session.add(session)
    db.session.flush()
    chat.ensure_session_thread(session)
    return session


def add_run(session: VideoSession, start: datetime, *, live: bool) -> Run:
    room = Room(center_id=session.center_id, session_id=session.id, engine="mesh")
    db.session.add(room)
    db.session.flush()
    run = Run(center_id=session.center_id, room_id=room.id, session_id=session.id,
              live_room_id=room.id if live else None, occurrence_start=start,
              started_by_id=session.teacher_id, started_at=start,
              ended_at=None if live else start + session.duration)
    db.session.add(run)
    db.session.flush()
    return run


def build_day(make, sessions: int, now: datetime | None = None) -> Day:
    """``sessions`` occurrences today (at least 1), cycling through the kinds: over with one
    learner unmarked, live now, in its Join window, later today, over and fully marked,
    cancelled. Each has three learners; each over one an overdue catch-up; each session's
    thread an unread message for the teacher."""
    now = now or local_noon()
    center = make.center("Day Center", timezone=ZONE)
    teacher = make.user(center, Role.TEACHER, name="Tess Tutor", timezone=ZONE)
    students = [make.user(center, Role.STUDENT, name=f"Learner {n:02d}", commit=False)
                for n in range(max(3, sessions))]
    db.session.commit()
    made = []
    for n in range(sessions):
        kind = n % 6
        learners = [students[(n + k) % len(students)] for k in range(3)]
        offset = {0: -150, 1: -20, 2: 5, 3: 90, 4: -240, 5: 60}[kind] + n  # minutes from now
        start = (now + timedelta(minutes=offset)).replace(second=0, microsecond=0)
        session = add_session(center, teacher, learners, start, 45, f"Lesson {n:02d}")
        # Every session of three learners has a control center: two of them planned.
        for learner in learners[:2]:
            plan = StudentPlan(center_id=center.id, session_id=session.id,
                               occurrence_start=start, student_id=learner.id,
                               tutor_id=teacher.id, subject="Maths")
            db.session.add(plan)
            db.session.flush()
            db.session.add(WorkItem(center_id=center.id, plan_id=plan.id, title="Worksheet"))
        if kind == 1:
            run = add_run(session, start, live=True)
            db.session.add(HelpRequest(center_id=center.id, session_id=session.id,
                                       occurrence_start=start, run_id=run.id,
                                       student_id=learners[0].id,
                                       priority=HelpPriority.HIGH, text=f"Stuck on {n}"))
        if kind in (0, 4):
            add_run(session, start, live=False)
            marked = learners if kind == 4 else learners[:2]
            db.session.add_all(AttendanceRecord(
                center_id=center.id, session_id=session.id, occurrence_start=start,
                user_id=u.id, auto_status=AttendanceStatus.PRESENT) for u in marked)
            db.session.add(CatchUp(center_id=center.id, session_id=session.id,
                                   occurrence_start=start - timedelta(days=10),
                                   user_id=learners[2].id, due_at=now - timedelta(days=2)))
        if kind == 5:
            session.status = SessionStatus.CANCELLED
        thread = chat.ensure_session_thread(session)
        chat.post_message(learners[0], thread, f"A question about lesson {n}")
        made.append(session)
    db.session.commit()
    return Day(center, teacher, students, made, now)
