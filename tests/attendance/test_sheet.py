"""The occurrence sheet (issue 12): marks before, during and after the run, adopted by the run;
an absence marked ahead still owing its catch-up after the run ends; bulk and "only unmarked";
clearing; notes; who may read and mark (students see their own record only, other centers get
404, CSRF); and statements that do not grow with the people on the sheet."""
from __future__ import annotations

import itertools
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts.models import AuditLog, Role
from app.accounts.services import PermissionDenied, ValidationError
from app.attendance import services
from app.attendance.models import AttendanceRecord, CatchUp
from app.attendance.rules import AttendanceStatus as S
from app.db_types import utcnow
from app.extensions import db
from app.live import services as live
from app.live import session_runs
from app.live.models import LiveRole, Run, RunParticipant, Segment
from app.notifications.models import Notification, NotificationType
from app.scheduling import services as scheduling
from tests.attendance.test_compute import group_thread
from tests.conftest import commit
from tests.live.test_sessions_live import make_session


def occurrence_of(session, start):
    occ, = [o for o in scheduling.session_occurrences(session, start,
                                                      start + timedelta(seconds=1))]
    return occ


def sheet_path(session, start) -> str:
    return f"/sessions/{session.id}/occurrences/{start.replace(tzinfo=None).isoformat()}/attendance"


def go_live(session, start, teacher, started_at=None) -> Run:
    """What Start does for attendance: the run, and live's session_went_live receivers."""
    room = session_runs.room_for_session(session)
    run = Run(center_id=session.center_id, room_id=room.id, live_room_id=room.id,
              session_id=session.id, occurrence_start=start, started_by_id=teacher.id,
              started_at=started_at or start)
    db.session.add(run)
    db.session.flush()
    services.on_session_went_live(run)
    return run


_connections = itertools.count(1)


def attend(run, user, from_at, to_at):
    participant = db.session.scalar(select(RunParticipant).where(
        RunParticipant.run_id == run.id, RunParticipant.user_id == user.id))
    if participant is None:
        participant = RunParticipant(center_id=run.center_id, run_id=run.id, user_id=user.id,
                                     role=LiveRole.LEARNER, first_joined_at=from_at)
        db.session.add(participant)
        db.session.flush()
    db.session.add(Segment(center_id=run.center_id, run_id=run.id,
                           participant_id=participant.id, user_id=user.id,
                           connection_id=f"s{next(_connections)}", joined_at=from_at, last_seen_at=to_at,
                           left_at=to_at))
    db.session.flush()


def session_for_three(school, make, start):
    """A one-hour session of the school's teacher at ``start`` for its two students and a third,
    Nora Nocome, all added the day before (so none of them joined late to the series)."""
    s1, s2 = school.students
    s3 = make.user(school.center, Role.STUDENT, name="Nora Nocome")
    session = make_session(school.center, school.teacher, [s1, s2, s3], start=start)
    for p in session.participants:
        p.created_at = start - timedelta(days=1)
    return session, s3


@pytest.fixture
def lesson(school, make):
    """A one-hour lesson two hours ago for three learners (added the day before), no run."""
    teacher, (s1, s2) = school.teacher, school.students
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0, second=0)
    session, s3 = session_for_three(school, make, start)
    db.session.commit()
    return type("Lesson", (), dict(session=session, start=start, teacher=teacher, s1=s1, s2=s2,
                                   s3=s3, occ=occurrence_of(session, start)))


def catch_ups_of(session, start):
    return {c.user_id: c for c in db.session.scalars(select(CatchUp).where(
        CatchUp.session_id == session.id, CatchUp.occurrence_start == start))}


def test_marks_made_before_the_run_are_adopted_and_an_absence_marked_ahead_keeps_its_catch_up(
        lesson):
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    assert sheet.run is None
    assert services.roster_ids(sheet) == {lesson.s1.id, lesson.s2.id, lesson.s3.id}
    services.set_statuses(lesson.teacher, sheet, [lesson.s2.id], S.EXCUSED, "Dentist")
    services.set_statuses(lesson.teacher, sheet, [lesson.s3.id], S.ABSENT)
    commit()
    ahead = catch_ups_of(lesson.session, lesson.start)
    assert set(ahead) == {lesson.s3.id} and ahead[lesson.s3.id].run_id is None
    assert ahead[lesson.s3.id].missed_summary == \
        "You were marked absent before the session took place."
    records = {r.user_id: r for r in db.session.scalars(select(AttendanceRecord))}
    assert {u: (r.run_id, r.manual_status) for u, r in records.items()} == {
        lesson.s2.id: (None, S.EXCUSED), lesson.s3.id: (None, S.ABSENT)}

    run = go_live(lesson.session, lesson.start, lesson.teacher)
    attend(run, lesson.s1, lesson.start, lesson.start + timedelta(minutes=60))
    live._end(run, lesson.teacher, lesson.start + timedelta(minutes=60))
    commit()
    db.session.expire_all()
    records = {r.user_id: r for r in db.session.scalars(select(AttendanceRecord))}
    assert {u: (r.run_id, r.status, r.source) for u, r in records.items()} == {
        lesson.s1.id: (run.id, S.PRESENT, "auto"), lesson.s2.id: (run.id, S.EXCUSED, "manual"),
        lesson.s3.id: (run.id, S.ABSENT, "manual")}
    assert records[lesson.s2.id].note == "Dentist" and records[lesson.s2.id].auto_status == S.ABSENT
    owed = catch_ups_of(lesson.session, lesson.start)
    assert set(owed) == {lesson.s3.id}
    # The catch-up made ahead now belongs to the run and says what the run was.
    assert owed[lesson.s3.id].run_id == run.id
    assert owed[lesson.s3.id].missed_summary == "Nothing was posted in the chat during the call."
    # A week from whichever is later, the mark (made after the occurrence here) or the run's
    # end: a due date never moves earlier.
    assert owed[lesson.s3.id].due_at == ahead[lesson.s3.id].due_at
    assert owed[lesson.s3.id].due_at >= lesson.start + timedelta(minutes=60, days=7)
    # One notification for the one absence, not a second when the run ended.
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.type == NotificationType.CATCH_UP_ASSIGNED)) == 1


def test_a_pre_run_absent_without_a_catch_up_gets_one_when_the_run_ends(lesson):
    """A manual ABSENT whose catch-up was finished and removed... or never made (a record that
    came from elsewhere): the run's end makes sure every absence has its catch-up."""
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    services.set_statuses(lesson.teacher, sheet, [lesson.s3.id], S.ABSENT)
    db.session.execute(CatchUp.__table__.delete())
    commit()
    run = go_live(lesson.session, lesson.start, lesson.teacher)
    for learner in (lesson.s1, lesson.s2):
        attend(run, learner, lesson.start, lesson.start + timedelta(minutes=60))
    live._end(run, lesson.teacher, lesson.start + timedelta(minutes=60))
    commit()
    assert set(catch_ups_of(lesson.session, lesson.start)) == {lesson.s3.id}


def test_bulk_only_unmarked_clearing_and_notes_on_a_sheet_without_a_run(lesson):
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    services.set_statuses(lesson.teacher, sheet, [lesson.s1.id], S.LATE)
    marked = services.set_statuses(lesson.teacher, sheet, services.roster_ids(sheet), S.PRESENT,
                                   only_unmarked=True)
    assert sorted(marked) == sorted([lesson.s2.id, lesson.s3.id])
    rows = {r.user.id: r for r in services.sheet_rows(sheet)[0]}
    assert {u: r.status for u, r in rows.items()} == {lesson.s1.id: S.LATE,
                                                      lesson.s2.id: S.PRESENT,
                                                      lesson.s3.id: S.PRESENT}
    assert rows[lesson.s1.id].record.set_by.id == lesson.teacher.id
    # Bulk to ABSENT with a note: two catch-ups; then EXCUSED removes them.
    services.set_statuses(lesson.teacher, sheet, [lesson.s2.id, lesson.s3.id], S.ABSENT, "Flu")
    assert set(catch_ups_of(lesson.session, lesson.start)) == {lesson.s2.id, lesson.s3.id}
    services.set_statuses(lesson.teacher, sheet, [lesson.s2.id, lesson.s3.id], S.EXCUSED)
    assert catch_ups_of(lesson.session, lesson.start) == {}
    # Clearing: no automatic status before a run, so the person is unmarked again.
    services.set_statuses(lesson.teacher, sheet, [lesson.s1.id], None)
    rows = {r.user.id: r for r in services.sheet_rows(sheet)[0]}
    assert rows[lesson.s1.id].status is None and rows[lesson.s1.id].source is None
    assert services.cycle_status(lesson.teacher, sheet, lesson.s1.id) == S.PRESENT
    assert services.cycle_status(lesson.teacher, sheet, lesson.s1.id) == S.LATE
    services.set_note(lesson.teacher, sheet, lesson.s1.id, "  Bus was late ")
    assert services.sheet_rows(sheet, {lesson.s1.id})[0][0].note == "Bus was late"
    with pytest.raises(ValidationError):
        services.set_note(lesson.teacher, sheet, lesson.s1.id, "x" * 501)
    with pytest.raises(PermissionDenied):
        services.set_statuses(lesson.s1, sheet, [lesson.s2.id], S.EXCUSED)
    with pytest.raises(PermissionDenied):
        services.set_note(lesson.s1, sheet, lesson.s1.id, "I was there")
    actions = [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))
               if a.action.startswith("attendance.")]
    assert actions.count("attendance.note_changed") == 1
    audit = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "attendance.statuses_changed").order_by(AuditLog.id)).first()
    assert (audit.target_type, audit.target_id) == ("session", lesson.session.id)
    assert audit.details["occurrence"] == lesson.start.isoformat()


def test_a_live_run_shows_what_the_segments_say_so_far(lesson):
    run = go_live(lesson.session, lesson.start, lesson.teacher)
    attend(run, lesson.s1, lesson.start, lesson.start + timedelta(minutes=20))
    attend(run, lesson.s1, lesson.start + timedelta(minutes=30),
           lesson.start + timedelta(minutes=40))
    segment = Segment(center_id=run.center_id, run_id=run.id,
                      participant_id=db.session.scalar(select(RunParticipant.id).where(
                          RunParticipant.user_id == lesson.s1.id)), user_id=lesson.s1.id,
                      connection_id="open1", joined_at=lesson.start + timedelta(minutes=50),
                      last_seen_at=lesson.start + timedelta(minutes=55))
    db.session.add(segment)
    commit()
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    rows, span = services.sheet_rows(sheet, now=lesson.start + timedelta(minutes=60))
    row = next(r for r in rows if r.user.id == lesson.s1.id)
    assert (row.join_count, row.seconds_present, row.in_call) == (3, 35 * 60, True)
    assert [(b.left, b.width) for b in row.bars] == [(0.0, 33.33), (50.0, 16.67),
                                                      (83.33, 16.67)]  # open: drawn to now
    assert row.bars[-1].open and not row.bars[0].open
    assert row.status == S.PRESENT and row.record is None  # not stored until the run ends


# --- the pages ---------------------------------------------------------------------------------

def test_teachers_see_everyone_and_mark_with_one_tap(lesson, as_user):
    path = sheet_path(lesson.session, lesson.start)
    teacher = as_user(lesson.teacher)
    page = teacher.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for person in (lesson.s1, lesson.s2, lesson.s3):
        assert f'id="sheet-row-{person.id}"' in html and person.name in html
    assert "Europe/London" in html  # the viewer's zone is named
    answer = teacher.post(f"{path}/people/{lesson.s1.id}/cycle",
                          data={"csrf_token": teacher.csrf}, headers={"HX-Request": "true"})
    assert answer.status_code == 200
    row = answer.get_data(as_text=True)
    assert f'id="sheet-row-{lesson.s1.id}"' in row and 'data-status="PRESENT"' in row
    assert "Marked by Terry Teacher" in row and 'id="sheet-counts" hx-swap-oob="true"' in row
    # A note too long: 422, the row with the error and what was typed.
    long_note = "<b>" + "x" * 600
    answer = teacher.post(f"{path}/people/{lesson.s1.id}/note",
                          data={"csrf_token": teacher.csrf, "note": long_note})
    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert "at most 500 characters" in body and "&lt;b&gt;xxxx" in body and "<b>x" not in body
    # Bulk with nobody chosen: 422 and the note kept; then two people excused.
    answer = teacher.post(f"{path}/bulk", data={"csrf_token": teacher.csrf, "status": "EXCUSED",
                                                "note": "Trip"})
    assert answer.status_code == 422 and "Choose at least one person" in answer.get_data(
        as_text=True) and 'value="Trip"' in answer.get_data(as_text=True)
    answer = teacher.post(f"{path}/bulk", data={"csrf_token": teacher.csrf, "status": "EXCUSED",
                                                "note": "Trip",
                                                "people": [lesson.s2.id, lesson.s3.id]})
    assert answer.status_code == 200 and "2 people marked excused." in answer.get_data(
        as_text=True)
    answer = teacher.post(f"{path}/bulk", data={"csrf_token": teacher.csrf, "status": "BOGUS",
                                                "people": [lesson.s2.id]})
    assert answer.status_code == 422
    db.session.expire_all()
    assert {r.user_id: (r.manual_status, r.note) for r in db.session.scalars(
        select(AttendanceRecord))} == {lesson.s1.id: (S.PRESENT, ""),
                                       lesson.s2.id: (S.EXCUSED, "Trip"),
                                       lesson.s3.id: (S.EXCUSED, "Trip")}
    # The session page links to it.
    session_page = teacher.get(f"/sessions/{lesson.session.id}").get_data(as_text=True)
    assert path in session_page


def test_a_student_sees_only_their_own_record_and_cannot_mark(lesson, as_user, make):
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    services.set_statuses(lesson.teacher, sheet, [lesson.s2.id], S.EXCUSED, "Secret reason")
    services.set_statuses(lesson.teacher, sheet, [lesson.s1.id], S.LATE, "Bus")
    commit()
    path = sheet_path(lesson.session, lesson.start)
    student = as_user(lesson.s1)
    page = student.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "My attendance" in html and 'data-status="LATE"' in html and "Bus" in html
    for other in (lesson.s2, lesson.s3):
        assert other.name not in html and f"sheet-row-{other.id}" not in html
    assert "Secret reason" not in html and "sheet-bulk" not in html and "/cycle" not in html
    for action, data in (("people/%d/cycle" % lesson.s2.id, {}),
                         ("people/%d/clear" % lesson.s1.id, {}),
                         ("people/%d/note" % lesson.s1.id, {"note": "hi"}),
                         ("bulk", {"status": "PRESENT", "people": [lesson.s1.id]})):
        answer = student.post(f"{path}/{action}", data={"csrf_token": student.csrf, **data})
        assert answer.status_code == 403, action
    session_page = student.get(f"/sessions/{lesson.session.id}").get_data(as_text=True)
    assert "My attendance" in session_page and path in session_page


def test_other_centers_outsiders_junk_and_missing_csrf(lesson, as_user, make, school):
    path = sheet_path(lesson.session, lesson.start)
    elsewhere = make.center()
    for person in (make.user(elsewhere, Role.ADMIN), make.user(elsewhere, Role.TEACHER),
                   school.outsider):
        browser = as_user(person)
        assert browser.get(path).status_code == 404
        assert browser.post(f"{path}/people/{lesson.s1.id}/cycle",
                            data={"csrf_token": browser.csrf}).status_code == 404
    teacher = as_user(lesson.teacher)
    for junk in ("2020-01-01T00:00:00", "not-a-date", "x" * 40,
                 (lesson.start + timedelta(minutes=1)).replace(tzinfo=None).isoformat()):
        assert teacher.get(f"/sessions/{lesson.session.id}/occurrences/{junk}/attendance"
                           ).status_code == 404
    assert teacher.post(f"{path}/people/{school.outsider.id}/cycle",
                        data={"csrf_token": teacher.csrf}).status_code == 404
    assert teacher.post(f"{path}/people/{lesson.s1.id}/cycle").status_code == 400
    assert db.session.scalar(select(func.count(AttendanceRecord.id))) == 0
    # The admin of the center takes attendance too.
    assert as_user(school.admin).get(path).status_code == 200


def test_an_instant_calls_sheet_and_the_call_messages_link(school, as_user):
    teacher, (s1, s2) = school.teacher, school.students
    thread = group_thread(school)
    commit()
    run, _ = live.start_call(teacher, thread)
    attend(run, s1, run.started_at, run.started_at + timedelta(minutes=5))
    live._end(run, teacher, run.started_at + timedelta(minutes=10))
    commit()
    run = db.session.get(Run, run.id)
    path = f"/runs/{run.id}/attendance"
    html = as_user(teacher).get(path).get_data(as_text=True)
    assert s1.name in html and 'data-status="PRESENT"' in html and "Instant call" in html
    assert s2.name not in html  # instant calls mark nobody absent: s2 is not on it
    student = as_user(s2)
    assert "No attendance is recorded for you here." in student.get(path).get_data(as_text=True)
    chat_html = student.get(f"/chat/threads/{thread.id}").get_data(as_text=True)
    link = f"/messages/{run.call_message_id}/attendance"
    assert link in chat_html
    assert student.get(link).headers["Location"].endswith(path)


def test_a_session_runs_address_leads_to_its_occurrence_and_the_room_links_to_it(
        lesson, as_user, school):
    run = go_live(lesson.session, lesson.start, lesson.teacher)
    commit()
    teacher = as_user(lesson.teacher)
    answer = teacher.get(f"/runs/{run.id}/attendance")
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(sheet_path(lesson.session, lesson.start))
    link = f"/runs/{run.id}/attendance"
    assert link in teacher.get(f"/live/rooms/{run.room_id}").get_data(as_text=True)
    assert link not in as_user(lesson.s1).get(f"/live/rooms/{run.room_id}").get_data(
        as_text=True)
    # While it runs, the sheet follows the room's topic for those who may (the teacher, a
    # learner for their own row), not for an admin outside the session's thread.
    topic = f'data-realtime-topic="room:{run.room_id}"'
    path = sheet_path(lesson.session, lesson.start)
    assert topic in teacher.get(path).get_data(as_text=True)
    assert topic in as_user(lesson.s1).get(path).get_data(as_text=True)
    assert topic not in as_user(school.admin).get(path).get_data(as_text=True)


# --- statements that do not grow with the people ----------------------------------------------

def _class_of(make, n):
    center = make.center()
    teacher = make.user(center, Role.TEACHER, name="Tess Teacher")
    learners = [make.user(center, Role.STUDENT, commit=False) for _ in range(n)]
    db.session.commit()
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0, second=0)
    session = make_session(center, teacher, learners, start=start)
    run = go_live(session, start, teacher)
    for i, learner in enumerate(learners):
        if i % 3:
            attend(run, learner, start + timedelta(minutes=i % 7), start + timedelta(minutes=30))
            attend(run, learner, start + timedelta(minutes=35), start + timedelta(minutes=60))
    live._end(run, teacher, start + timedelta(minutes=60))
    sheet = services.occurrence_sheet(session, occurrence_of(session, start))
    services.set_statuses(teacher, sheet, [learners[0].id, learners[1].id], S.EXCUSED, "Note")
    commit()
    return session, start, teacher, learners


def _page_statements(make, as_user, count_queries, n):
    session, start, teacher, learners = _class_of(make, n)
    browser = as_user(teacher)
    path = sheet_path(session, start)
    with count_queries() as counter:
        html = browser.get(path).get_data(as_text=True)
    assert len(re.findall(r'id="sheet-row-\d+"', html)) == n
    return counter.count


def test_the_sheet_page_is_flat_in_the_number_of_people(make, as_user, count_queries):
    small = _page_statements(make, as_user, count_queries, 5)
    large = _page_statements(make, as_user, count_queries, 50)
    assert small == large, (small, large)
    assert small <= 18, small  # 15 when written, login and session reads included


def _bulk_statements(make, as_user, count_queries, n):
    session, start, teacher, learners = _class_of(make, n)
    browser = as_user(teacher)
    path = sheet_path(session, start)
    people = [u.id for u in learners]
    with count_queries() as counter:
        answer = browser.post(f"{path}/bulk", data={
            "csrf_token": browser.csrf, "status": "ABSENT", "note": "Snow day",
            "people": people})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert len(catch_ups_of(session, start)) == n
    return counter.count


def test_a_bulk_mark_is_flat_in_the_number_of_people(make, as_user, count_queries):
    small = _bulk_statements(make, as_user, count_queries, 5)
    large = _bulk_statements(make, as_user, count_queries, 50)
    assert small == large, (small, large)
    # 23 when written: the marks, their audit row, a catch-up and a notification each (bulk
    # inserts), and the answer's rows.
    assert small <= 26, small


def test_an_upcoming_occurrence_can_be_excused_ahead_from_the_session_page(school, as_user):
    teacher, (s1, s2) = school.teacher, school.students
    start = (utcnow() + timedelta(days=2)).replace(microsecond=0, second=0)
    session = make_session(school.center, teacher, [s1, s2], start=start, weekly=True)
    path = sheet_path(session, start)
    browser = as_user(teacher)
    assert path in browser.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert path not in as_user(s1).get(f"/sessions/{session.id}").get_data(as_text=True)
    answer = browser.post(f"{path}/bulk", data={"csrf_token": browser.csrf, "status": "EXCUSED",
                                                "note": "Exam week", "people": [s1.id]})
    assert answer.status_code == 200
    record, = db.session.scalars(select(AttendanceRecord))
    assert (record.user_id, record.run_id, record.occurrence_start, record.manual_status,
            record.note) == (s1.id, None, start, S.EXCUSED, "Exam week")
