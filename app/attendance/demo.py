"""Demo attendance: a weekly clinic whose last four occurrences went live, with the joins and
leaves a real term leaves behind (on time, late, a rejoin, left early, absent, excused), so the
attendance pages, grids, catch-ups and My Day have something true to show after `make run`.

The runs and segments are written as the live domain writes them, then attendance is computed
through the same service the end of a run calls. Idempotent: keyed on the session's title."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db

CLINIC_TITLE = "GCSE Mathematics: homework clinic"
CLINIC_STUDENTS = ["student1@example.com", "student2@example.com", "student3@example.com",
                   "student4@example.com", "student5@example.com"]

# Per past occurrence (oldest first), per student: the (joined, left) minutes into the run of
# each of their connections; None: never joined. Minute 0 is the run's start.
PRESENCE = [
    {"student1@example.com": [(0, 45)], "student2@example.com": [(1, 45)],
     "student3@example.com": [(0, 44)], "student4@example.com": [(2, 45)],
     "student5@example.com": [(0, 45)]},
    {"student1@example.com": [(0, 45)], "student2@example.com": [(12, 45)],
     "student3@example.com": None, "student4@example.com": [(0, 15)],
     "student5@example.com": [(0, 20), (23, 45)]},
    {"student1@example.com": [(0, 30), (28, 45)], "student2@example.com": [(0, 45)],
     "student3@example.com": [(0, 45)], "student4@example.com": [(1, 45)],
     "student5@example.com": None},
    {"student1@example.com": [(0, 45)], "student2@example.com": [(3, 45)],
     "student3@example.com": None, "student4@example.com": [(0, 45)],
     "student5@example.com": [(0, 45)]},
]
# What the teacher said in the session's chat during each of those calls.
SAID = ["Today: simplifying fractions. Worksheet 3.1 is in the class channel.",
        "We did equivalent fractions and common denominators, page 42.",
        "Homework check, then mixed numbers: exercises 3.3 on page 45.",
        "Dividing fractions: keep, change, flip. Exercise 3.4 is the homework."]
# The work the teacher set for someone who missed each call.
WORK = ["Worksheet 3.1, questions 1 to 10.",
        "Exercise 3.2, questions 1 to 8; bring your working next week.",
        "Exercise 3.3, questions 1 to 6.",
        "Exercise 3.4, questions 1 to 8; bring your working next week."]
# The teacher's own marks: Kenji told them in advance he would miss the third clinic.
EXCUSED = {2: ["student5@example.com"]}


CLINIC_ZONE = ZoneInfo("Europe/London")
CLINIC_START, CLINIC_MINUTES = time(15), 45


def _first_clinic_day(now: datetime) -> date:
    """The clinic meets on today's weekday (so My Day shows it), and exactly ``len(PRESENCE)``
    of its occurrences are over by ``now``: when today's has ended already it is the last of
    them, else the series starts a week earlier. Every past column of the grids is then a call
    with its attendance, whatever the time of day `make run` is started."""
    today = now.astimezone(CLINIC_ZONE).date()
    todays_end = datetime.combine(today, CLINIC_START, CLINIC_ZONE) + timedelta(
        minutes=CLINIC_MINUTES)
    weeks_back = len(PRESENCE) - 1 if now >= todays_end else len(PRESENCE)
    return today - timedelta(weeks=weeks_back)


def seed_attendance_demo(users: dict, now: datetime | None = None) -> int:
    """Returns the number of runs made (0 when the clinic exists already)."""
    from app.attendance import services as attendance
    from app.attendance.models import CatchUp
    from app.chat import services as chat
    from app.attendance.rules import AttendanceStatus
    from app.live.models import LiveRole, Run, RunParticipant, Segment
    from app.live.session_runs import room_for_session
    from app.scheduling import services as scheduling
    from app.scheduling.models import SessionParticipant, VideoSession
    from app.scheduling.services import SessionInput

    teacher = users["teacher@example.com"]
    if db.session.scalar(select(VideoSession.id).where(
            VideoSession.teacher_id == teacher.id, VideoSession.title == CLINIC_TITLE)):
        return 0
    now = now or utcnow()
    first_day = _first_clinic_day(now)
    weekday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"][first_day.weekday()]
    from app.accounts.models import Course

    course_id = db.session.scalar(select(Course.id).where(
        Course.center_id == teacher.center_id, Course.name == "GCSE Mathematics"))
    session = scheduling.schedule_session(teacher, SessionInput(
        title=CLINIC_TITLE, description="Bring the homework you are stuck on.",
        type="TUTORING", course_id=course_id, date=first_day, start_time=CLINIC_START,
        timezone=CLINIC_ZONE.key, duration_minutes=CLINIC_MINUTES, frequency="WEEKLY",
        weekdays=[weekday], ends="count", count=12,
        participant_ids=[users[e].id for e in CLINIC_STUDENTS]), allow_conflicts=True,
        allow_past=True)
    past = [occ for occ in scheduling.occurrences_between(
        [session], now - timedelta(weeks=len(PRESENCE) + 1), now) if occ.end <= now]
    # The students were in the clinic from its start (they are expected at every occurrence).
    for participant in db.session.scalars(select(SessionParticipant).where(
            SessionParticipant.session_id == session.id)):
        participant.created_at = past[0].start - timedelta(days=7)
    room = room_for_session(session)
    thread = chat.ensure_session_thread(session)
    made = 0
    for index, (occ, presence) in enumerate(zip(past[-len(PRESENCE):], PRESENCE)):
        run = Run(center_id=session.center_id, room_id=room.id, live_room_id=None,
                  session_id=session.id, occurrence_start=occ.start, started_by_id=teacher.id,
                  started_at=occ.start, ended_by_id=teacher.id, ended_at=occ.end)
        db.session.add(run)
        db.session.flush()
        db.session.add(RunParticipant(center_id=run.center_id, run_id=run.id, user_id=teacher.id,
                                      role=LiveRole.INSTRUCTOR, first_joined_at=occ.start))
        for email, spans in presence.items():
            if not spans:
                continue
            user = users[email]
            participant = RunParticipant(center_id=run.center_id, run_id=run.id,
                                         user_id=user.id, role=LiveRole.LEARNER,
                                         first_joined_at=occ.start + timedelta(minutes=spans[0][0]))
            db.session.add(participant)
            db.session.flush()
            for number, (joined, left) in enumerate(spans):
                db.session.add(Segment(
                    center_id=run.center_id, run_id=run.id, participant_id=participant.id,
                    user_id=user.id, connection_id=f"demo{run.id}x{user.id}x{number}",
                    joined_at=occ.start + timedelta(minutes=joined),
                    last_seen_at=occ.start + timedelta(minutes=left),
                    left_at=occ.start + timedelta(minutes=left)))
        db.session.flush()
        # What was said in the session's chat during the call (a catch-up shows it).
        posted = chat.post_message(teacher, thread, SAID[index])
        posted.created_at = occ.start + timedelta(minutes=10)
        db.session.flush()
        for email in EXCUSED.get(index, []):
            attendance.set_statuses(teacher, run, [users[email].id], AttendanceStatus.EXCUSED,
                                    "Told me in advance: family wedding.")
        attendance.compute_run_attendance(run)
        made += 1
    # The teacher set work for each clinic an absentee missed.
    for catch_up in db.session.scalars(select(CatchUp).where(CatchUp.session_id == session.id)):
        missed = next(i for i, occ in enumerate(past[-len(PRESENCE):])
                      if occ.start == catch_up.occurrence_start)
        catch_up.assigned_work = WORK[missed]
        catch_up.assigned_link = "https://example.org/gcse/fractions"
    return made
