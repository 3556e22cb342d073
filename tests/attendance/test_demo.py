"""The demo's homework clinic: four past runs whose attendance was computed by the service the
end of a run calls, so the attendance pages have real data after `make run`."""
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.attendance.models import AttendanceRecord, CatchUp
from app.attendance.rules import AttendanceStatus as S
from app.db_types import utcnow
from app.demo import seed_demo
from app.extensions import db
from app.live.models import Run


def test_the_demo_clinic_has_four_runs_of_true_attendance_and_is_idempotent(app):
    first, again = seed_demo(), seed_demo()
    assert first["past runs"] == 4 and again["past runs"] == 0
    # The clinic's next lesson is being planned in its control center: three of five students.
    assert first["lesson plans"] == 3 and again["lesson plans"] == 0
    names = {u.id: u.email.split("@")[0] for u in db.session.scalars(select(User))}
    runs = list(db.session.scalars(select(Run).order_by(Run.started_at)))
    assert len(runs) == 4 and all(r.ended_at is not None for r in runs)
    sheet = []
    for run in runs:
        records = db.session.scalars(select(AttendanceRecord).where(
            AttendanceRecord.run_id == run.id))
        sheet.append({names[r.user_id]: (r.status, r.join_count, r.left_early)
                      for r in records})
    assert sheet[0]["student2"] == (S.PRESENT, 1, False)
    assert sheet[1]["student2"] == (S.LATE, 1, False)  # 12 minutes in, grace 5
    assert sheet[1]["student3"] == (S.ABSENT, 0, False)
    assert sheet[1]["student4"] == (S.PRESENT, 1, True)  # 15 of 45 minutes
    assert sheet[1]["student5"] == (S.PRESENT, 2, False)  # a rejoin
    assert sheet[2]["student1"] == (S.PRESENT, 1, False)  # overlapping tabs count once
    assert sheet[2]["student5"][0] == S.EXCUSED  # the teacher's mark, kept
    assert "teacher" not in sheet[0]
    owed = sorted((names[c.user_id], runs.index(db.session.get(Run, c.run_id)))
                  for c in db.session.scalars(select(CatchUp)))
    assert owed == [("student3", 1), ("student3", 3)]


@pytest.mark.parametrize("hour,minute", [(14, 0), (15, 20), (15, 45), (16, 0), (23, 30)])
def test_every_past_clinic_is_a_call_whatever_the_time_of_day(app, hour, minute):
    """The clinic meets at 15:00-15:45 London on the weekday `make run` was started: started
    after 15:45, today's is over and must be one of the four calls, or the grid's first column
    is a clinic nobody held (a full run at 16:00 found the README tour clicking into it)."""
    from app.attendance.demo import CLINIC_TITLE, CLINIC_ZONE
    from app.scheduling.services import session_occurrences
    from app.scheduling.models import VideoSession

    yesterday = utcnow().astimezone(CLINIC_ZONE).date() - timedelta(days=1)
    now = datetime.combine(yesterday, time(hour, minute), CLINIC_ZONE)
    made = seed_demo(now)
    assert made["past runs"] == 4 and made["lesson plans"] == 3
    clinic = db.session.scalar(select(VideoSession).where(VideoSession.title == CLINIC_TITLE))
    over = [o.start for o in session_occurrences(clinic, now - timedelta(weeks=10), now)
            if o.end <= now]
    held = sorted(db.session.scalars(select(Run.occurrence_start)))
    assert held == over and len(over) == 4
    nxt = [o for o in session_occurrences(clinic, now, now + timedelta(weeks=1)) if o.end > now]
    assert nxt[0].start.astimezone(CLINIC_ZONE).date() in (yesterday, yesterday + timedelta(days=7))
    assert nxt[0].start.weekday() == yesterday.weekday()  # the day it was seeded: on My Day
