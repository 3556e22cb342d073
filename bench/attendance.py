"""Attendance benchmarks (issue 12), each against the peer a developer would write, measured in
the same run on the same data:

(a) computing one run's attendance for 200 people x 5 segments each: Classhub's
    ``compute_run_attendance`` (one query per kind of row, bulk INSERT/UPDATE) against a
    per-person ORM loop (each person's segments and record loaded one by one, each record saved
    on its own: the way Moodle's attendance plugin takes a session);
(b) the course grid for 100 students x 40 occurrences: the page rendered through the view
    with the test client (20 columns a page, rates over all 40) and the full CSV export (4,000
    rows), against the naive grid (one query per cell, then the rates), which renders nothing:
    the ratio favours the peer.

    python -m bench attendance

Each measurement is rolled back (a) or read-only (b), so every repetition starts from the same
data. Times are medians over the repetitions, after one warm-up; statements are counted with a
``before_cursor_execute`` listener.
"""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

from bench.common import Row, StatementCounter, bench_app, database_kind, email, scale, slug

RUN_PEOPLE, SEGMENTS_EACH = 200, 5
GRID_STUDENTS, GRID_OCCURRENCES = 100, 40


def _runs() -> int:
    return 5 if scale().name == "full" else 2


def _measure(fn, runs: int, counter: StatementCounter, after=None) -> tuple[float, int]:
    """Median milliseconds and the statements of the last repetition (after one warm-up)."""
    fn()
    if after:
        after()
    timings = []
    for _ in range(runs):
        with counter:
            started = time.perf_counter()
            fn()
            timings.append((time.perf_counter() - started) * 1000)
        if after:
            after()
    return statistics.median(timings), counter.count


# --- the data -----------------------------------------------------------------------------------

def _people(center, n: int, prefix: str):
    from app.accounts.models import Role, User

    return [User(center_id=center.id, role=Role.STUDENT, name=f"{prefix} {i:03d}",
                 email=email(f"{prefix.lower()}{i}"), password_hash="unusable")
            for i in range(n)]


def seed():
    """A center and teacher; a run that ended with 200 learners who came and went 5 times each
    (overlapping tabs, a late first join now and then); a course of 100 students with a daily
    series of 40 occurrences over, every cell marked."""
    from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
    from app.attendance.models import AttendanceRecord
    from app.attendance.rules import AttendanceStatus
    from app.bulk import insert_rows
    from app.chat import services as chat
    from app.db_types import utcnow
    from app.extensions import db
    from app.live.models import LiveRole, Run, RunParticipant, Segment
    from app.live.session_runs import room_for_session
    from app.scheduling import services as scheduling
    from app.scheduling.models import (Frequency, ParticipantRole, SessionParticipant,
                                       SessionType, VideoSession)

    center = Center(name="Bench Attendance", slug=slug("bench-attendance"),
                    timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    teacher = User(center_id=center.id, role=Role.TEACHER, name="Attendance Teacher",
                   email=email("attendance-teacher"), password_hash="unusable")
    learners = _people(center, RUN_PEOPLE, "Learner")
    pupils = _people(center, GRID_STUDENTS, "Pupil")
    db.session.add_all([teacher, *learners, *pupils])
    db.session.flush()
    now = utcnow().replace(second=0, microsecond=0)

    def series(title, first_local, count, people, course_id=None):
        session = VideoSession(center_id=center.id, teacher_id=teacher.id, title=title,
                               description="", type=SessionType.CLASS, timezone="UTC",
                               start_local=first_local, duration_minutes=60,
                               frequency=Frequency.DAILY if count > 1 else Frequency.NONE,
                               interval=1, by_weekday="", count=count if count > 1 else None,
                               course_id=course_id)
        added = now - timedelta(days=count + 5)
        session.participants = [SessionParticipant(
            center_id=center.id, user_id=teacher.id, role=ParticipantRole.INSTRUCTOR,
            created_at=added)] + [SessionParticipant(
                center_id=center.id, user_id=p.id, role=ParticipantRole.LEARNER,
                created_at=added) for p in people]
        scheduling.refresh_bounds(session)
        db.session.add(session)
        db.session.flush()
        chat.ensure_session_thread(session)
        return session

    # (a) one occurrence two hours ago, its run, 200 x 5 segments.
    start = now - timedelta(hours=2)
    lesson = series("Big lesson", start.replace(tzinfo=None), 1, learners)
    room = room_for_session(lesson)
    run = Run(center_id=center.id, room_id=room.id, live_room_id=None, session_id=lesson.id,
              occurrence_start=start, started_by_id=teacher.id, started_at=start,
              ended_by_id=teacher.id, ended_at=start + timedelta(minutes=60))
    db.session.add(run)
    db.session.flush()
    participants = [RunParticipant(center_id=center.id, run_id=run.id, user_id=p.id,
                                   role=LiveRole.LEARNER) for p in learners]
    db.session.add_all(participants)
    db.session.flush()
    segments = []
    for i, participant in enumerate(participants):
        late = 7 if i % 10 == 0 else 0  # a tenth come after the grace
        for k in range(SEGMENTS_EACH):
            joined = start + timedelta(minutes=late + k * 11)
            # Overlaps (two tabs) every other segment, gaps (a rejoin) otherwise.
            left = joined + timedelta(minutes=12 if k % 2 else 9)
            segments.append(dict(center_id=center.id, run_id=run.id,
                                 participant_id=participant.id, user_id=participant.user_id,
                                 connection_id=f"c{i}-{k}", joined_at=joined,
                                 last_seen_at=left, left_at=left))
    insert_rows(Segment.__table__, segments)

    # (b) a course, 100 students, a daily series of 40 over, every cell marked.
    course = Course(center_id=center.id, name=slug("Bench course"))
    db.session.add(course)
    db.session.flush()
    db.session.add_all([Enrollment(center_id=center.id, course_id=course.id, user_id=teacher.id,
                                   role=CourseRole.TEACHER)] + [
        Enrollment(center_id=center.id, course_id=course.id, user_id=p.id,
                   role=CourseRole.STUDENT) for p in pupils])
    first = (now - timedelta(days=GRID_OCCURRENCES)).replace(hour=9, minute=0, tzinfo=None)
    course_series = series("Course lesson", first, GRID_OCCURRENCES, pupils, course.id)
    starts = [o.start for o in scheduling.session_occurrences(
        course_series, now - timedelta(days=GRID_OCCURRENCES + 2), now)]
    statuses = list(AttendanceStatus)
    insert_rows(AttendanceRecord.__table__, [
        dict(center_id=center.id, session_id=course_series.id, occurrence_start=s,
             user_id=p.id, run_id=None, manual_status=None,
             auto_status=statuses[(i + j) % 4], left_early=(i + j) % 9 == 0,
             seconds_present=3000, join_count=1, note="", first_join_at=s,
             last_leave_at=s + timedelta(minutes=50), set_by_id=None, set_at=None)
        for i, p in enumerate(pupils) for j, s in enumerate(starts)])
    db.session.commit()
    return dict(teacher_id=teacher.id, run_id=run.id, course_id=course.id,
                series_id=course_series.id, occurrences=len(starts),
                first_day=(now - timedelta(days=GRID_OCCURRENCES + 1)).date(),
                last_day=now.date())


# --- the peers ------------------------------------------------------------------------------------

def per_person_attendance(run) -> None:
    """The run's attendance one person at a time: the roster, then for each person their
    segments and their record, each loaded on its own, the record saved on its own. The rules
    are Classhub's own pure functions: only the data access differs."""
    from sqlalchemy import select

    from app.attendance import rules
    from app.attendance.models import AttendanceRecord
    from app.attendance.services import settings_for, window_of
    from app.extensions import db
    from app.live.models import Segment
    from app.scheduling.models import ParticipantRole, SessionParticipant

    window = window_of(run)
    settings = settings_for(run.center_id)
    roster = db.session.scalars(select(SessionParticipant).where(
        SessionParticipant.session_id == run.session_id,
        SessionParticipant.role == ParticipantRole.LEARNER)).all()
    for participant in roster:
        segments = db.session.scalars(select(Segment).where(
            Segment.run_id == run.id, Segment.user_id == participant.user_id)).all()
        record = db.session.scalar(select(AttendanceRecord).where(
            AttendanceRecord.run_id == run.id, AttendanceRecord.user_id == participant.user_id))
        intervals = [(s.joined_at, s.left_at or s.last_seen_at) for s in segments]
        first = min((a for a, _ in intervals), default=None)
        seconds = rules.seconds_present(intervals, window.started_at, window.ended_at)
        if record is None:
            record = AttendanceRecord(center_id=run.center_id, run_id=run.id,
                                      session_id=run.session_id,
                                      occurrence_start=run.occurrence_start,
                                      user_id=participant.user_id, note="")
            db.session.add(record)
        record.first_join_at = first
        record.last_leave_at = max((b for _, b in intervals), default=None)
        record.seconds_present = seconds
        record.join_count = len(rules.clipped_union(intervals, window.started_at,
                                                    window.ended_at))
        record.left_early = first is not None and rules.left_early(
            seconds, window, settings.left_early_percent)
        record.auto_status = rules.auto_status(
            first, is_expected=rules.expected(participant.created_at, window), window=window,
            grace=settings.late_grace)
        db.session.flush()  # saved person by person, as a per-row insert/update does


def per_cell_grid(course_id: int, first_day, last_day, now) -> dict:
    """The course grid the naive way: the students, the occurrences, then one query per cell,
    then each student's rate. Nothing is rendered."""
    from datetime import datetime, time as wall, timezone

    from sqlalchemy import select

    from app.accounts.models import CourseRole, Enrollment, User
    from app.attendance.models import AttendanceRecord
    from app.attendance.rules import AttendanceStatus as S
    from app.extensions import db
    from app.scheduling import services as scheduling
    from app.scheduling.models import VideoSession

    enrollments = db.session.scalars(select(Enrollment).where(
        Enrollment.course_id == course_id, Enrollment.role == CourseRole.STUDENT)).all()
    students = [db.session.get(User, e.user_id) for e in enrollments]
    sessions = db.session.scalars(select(VideoSession).where(
        VideoSession.course_id == course_id)).all()
    lo = datetime.combine(first_day, wall(), timezone.utc)
    hi = min(datetime.combine(last_day + timedelta(days=1), wall(), timezone.utc), now)
    occurrences = scheduling.occurrences_between(sessions, lo, hi)
    grid = {}
    for student in students:
        came = counted = 0
        for occ in occurrences:
            record = db.session.scalar(select(AttendanceRecord).where(
                AttendanceRecord.session_id == occ.session_id,
                AttendanceRecord.occurrence_start == occ.start,
                AttendanceRecord.user_id == student.id))
            status = record.status if record else None
            came += status in (S.PRESENT, S.LATE)
            counted += status in (S.PRESENT, S.LATE, S.ABSENT)
            grid[(student.id, occ.key)] = status
        grid[student.id] = came / counted if counted else None
    return grid


# --- the benchmarks -----------------------------------------------------------------------------

def _outcome(run) -> dict:
    """What a computation wrote: records by status, and the seconds present in all (the two
    computations are compared on it, so the faster one is not faster by doing less)."""
    from sqlalchemy import func, select

    from app.attendance.models import AttendanceRecord
    from app.extensions import db

    found = {status.value: n for status, n in db.session.execute(
        select(AttendanceRecord.auto_status, func.count()).where(
            AttendanceRecord.run_id == run.id).group_by(AttendanceRecord.auto_status))}
    found["seconds"] = db.session.scalar(select(func.sum(AttendanceRecord.seconds_present))
                                         .where(AttendanceRecord.run_id == run.id))
    return found


def compute_run(app, ids, counter, runs) -> list[Row]:
    from app.attendance.services import compute_run_attendance
    from app.extensions import db
    from app.live.models import Run

    rows = []
    with app.test_request_context("/"):
        run = db.session.get(Run, ids["run_id"])

        def reset():
            db.session.rollback()

        ours_ms, ours_sql = _measure(lambda: compute_run_attendance(run), runs, counter, reset)
        peer_ms, peer_sql = _measure(lambda: per_person_attendance(run), runs, counter, reset)
        outcomes = {}
        for name, compute in (("Classhub", compute_run_attendance),
                              ("peer", per_person_attendance)):
            compute(run)
            outcomes[name] = _outcome(run)
            reset()
        db.session.remove()
    if outcomes["Classhub"] != outcomes["peer"]:
        raise RuntimeError(f"the two computations disagree: {outcomes}")
    print(f"  (a) one run, {RUN_PEOPLE} people x {SEGMENTS_EACH} segments, "
          f"median of {runs} (both give {outcomes['peer']}):")
    print(f"      compute_run_attendance   {ours_ms:8.1f} ms  {ours_sql:5d} statements")
    print(f"      per-person ORM loop      {peer_ms:8.1f} ms  {peer_sql:5d} statements")
    rows.append(Row(f"attendance of one run, {RUN_PEOPLE} people x {SEGMENTS_EACH} segments, ms",
                    f"{ours_ms:.1f}", f"{peer_ms:.1f} (per-person ORM loop)", ours_ms, peer_ms))
    rows.append(Row("  same, SQL statements", str(ours_sql), str(peer_sql), ours_sql, peer_sql))
    return rows


def course_grid(app, ids, counter, runs) -> list[Row]:
    from app.accounts.models import User
    from app.db_types import utcnow
    from app.extensions import db

    client = app.test_client()
    with app.app_context():
        teacher = db.session.get(User, ids["teacher_id"])
        with client.session_transaction() as session:
            session["_user_id"] = teacher.get_id()
            session["_fresh"] = True
        db.session.remove()
    query = f"from={ids['first_day']}&to={ids['last_day']}"
    page = f"/courses/{ids['course_id']}/attendance?{query}"
    export = f"/courses/{ids['course_id']}/attendance.csv?{query}"
    sizes = {}

    def get(path):
        response = client.get(path)
        body = response.get_data()
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code}")
        sizes[path] = (len(body), body.count(b"\n"))

    page_ms, page_sql = _measure(lambda: get(page), runs, counter)
    csv_ms, csv_sql = _measure(lambda: get(export), runs, counter)
    now = utcnow()
    with app.app_context():
        def peer():
            per_cell_grid(ids["course_id"], ids["first_day"], ids["last_day"], now)
            db.session.remove()  # a fresh identity map each time, as a new request has

        peer_ms, peer_sql = _measure(peer, runs, counter)
    cells = GRID_STUDENTS * ids["occurrences"]
    print(f"  (b) course grid, {GRID_STUDENTS} students x {ids['occurrences']} occurrences "
          f"({cells:,} cells), median of {runs}:")
    print(f"      GET the page (20 columns, rates over all)  {page_ms:8.1f} ms  {page_sql:5d} "
          f"statements  {sizes[page][0] // 1024} KiB")
    print(f"      GET the CSV export (every cell)            {csv_ms:8.1f} ms  {csv_sql:5d} "
          f"statements  {sizes[export][1] - 1:,} rows")
    print(f"      per-cell queries, no rendering (peer)      {peer_ms:8.1f} ms  {peer_sql:5d} "
          f"statements")
    return [
        Row(f"course grid page, {GRID_STUDENTS} x {ids['occurrences']}, ms", f"{page_ms:.1f}",
            f"{peer_ms:.1f} (per-cell queries)", page_ms, peer_ms),
        Row(f"course grid CSV ({cells:,} rows), ms", f"{csv_ms:.1f}",
            f"{peer_ms:.1f} (per-cell queries)", csv_ms, peer_ms),
        Row("  page / CSV / peer, SQL statements", f"{page_sql} / {csv_sql}", str(peer_sql),
            csv_sql, peer_sql),
    ]


def main() -> list[Row]:
    from app.extensions import db

    runs = _runs()
    started = time.perf_counter()
    with bench_app("attendance") as (app, root):
        with app.app_context():
            setup = time.perf_counter()
            ids = seed()
            counter = StatementCounter(db.engine)
            db.session.remove()
        print(f"Attendance ({database_kind()}, scale {scale().name}); set-up "
              f"{time.perf_counter() - setup:.1f} s")
        rows = compute_run(app, ids, counter, runs) + course_grid(app, ids, counter, runs)
    print(f"  (attendance ran in {time.perf_counter() - started:.1f} s)")
    return rows


if __name__ == "__main__":
    main()
