"""Scheduled sessions going live (issue 11): the Join window (edges, time zones, cancelled and
moved occurrences), the teacher's Start (one run however often it is pressed), who may join
and with which role, the SESSION_LIVE notification, the lobby told on room:<id> that the run
started, and the run ending by itself (empty for a while, or the occurrence over)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.accounts.models import Role
from app.chat import services as chat_services
from app.db_types import utcnow
from app.extensions import db
from app.live import services, session_runs
from app.live.models import Room, Run, RunParticipant, Segment
from app.notifications.models import Notification, NotificationType
from app.realtime.events import can_subscribe
from app.scheduling import services as scheduling
from app.scheduling.models import (Frequency, ParticipantRole, SessionOverride,
                                   SessionParticipant, SessionStatus, SessionType, VideoSession)
from tests.conftest import commit

UTC = timezone.utc


def make_session(center, teacher, learners=(), *, start, minutes=60, tz="UTC", weekly=False,
                 co_teachers=(), observers=(), title="Algebra lesson",
                 type=SessionType.CLASS) -> VideoSession:
    """A session row starting at ``start`` (an aware instant, kept as wall-clock time in
    ``tz``), with its SESSION thread: written directly, since the service refuses a start in
    the past and these tests need occurrences already under way."""
    session = VideoSession(center_id=center.id, teacher_id=teacher.id, title=title,
                           description="", type=type, timezone=tz,
                           start_local=start.astimezone(ZoneInfo(tz)).replace(tzinfo=None),
                           duration_minutes=minutes,
                           frequency=Frequency.WEEKLY if weekly else Frequency.NONE, interval=1,
                           by_weekday="", count=10 if weekly else None)
    session.participants = [
        SessionParticipant(center_id=center.id, user_id=teacher.id,
                           role=ParticipantRole.INSTRUCTOR),
        *(SessionParticipant(center_id=center.id, user_id=u.id, role=ParticipantRole.INSTRUCTOR)
          for u in co_teachers),
        *(SessionParticipant(center_id=center.id, user_id=u.id, role=ParticipantRole.LEARNER)
          for u in learners),
        *(SessionParticipant(center_id=center.id, user_id=u.id, role=ParticipantRole.OBSERVER)
          for u in observers)]
    scheduling.refresh_bounds(session)
    db.session.add(session)
    db.session.flush()
    chat_services.ensure_session_thread(session)
    db.session.commit()
    return session


def now_plus(minutes: float) -> datetime:
    return (utcnow() + timedelta(minutes=minutes)).replace(microsecond=0)


def start(browser, session_id):
    return browser.post(f"/live/sessions/{session_id}/start", data={"csrf_token": browser.csrf})


def enter(browser, session_id):
    return browser.post(f"/live/sessions/{session_id}/join", data={"csrf_token": browser.csrf})


def join(browser, room_id, connection):
    return browser.post(f"/live/rooms/{room_id}/join", json={"connection": connection},
                        headers={"X-CSRFToken": browser.csrf})


def leave(browser, room_id, connection):
    return browser.post(f"/live/rooms/{room_id}/leave", json={"connection": connection},
                        headers={"X-CSRFToken": browser.csrf})


def runs() -> list[Run]:
    db.session.expire_all()
    return list(db.session.scalars(select(Run).order_by(Run.id)))


def call_state(browser, session_id) -> str:
    page = browser.get(f"/sessions/{session_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    marker = f'id="session-call-{session_id}"'
    assert marker in text
    return text.split(marker, 1)[1].split('data-call-state="', 1)[1].split('"', 1)[0]


# --- the Join window ---------------------------------------------------------------------------

def test_join_opens_early_by_the_configured_minutes_and_closes_at_the_end(school, as_user, app):
    teacher, s1 = school.teacher, school.students[0]
    soon = make_session(school.center, teacher, [s1], start=now_plus(9), minutes=30)
    later = make_session(school.center, teacher, [s1], start=now_plus(11), minutes=30,
                         title="Later")
    student = as_user(s1)
    assert call_state(student, soon.id) == "open"
    assert call_state(student, later.id) == "later"
    assert enter(student, later.id).status_code == 422
    assert "10 minutes before" in enter(student, later.id).get_data(as_text=True)
    assert start(as_user(teacher), later.id).status_code == 422
    assert runs() == []
    app.config["LIVE_JOIN_EARLY_MINUTES"] = 12
    try:
        assert call_state(student, later.id) == "open"
    finally:
        app.config["LIVE_JOIN_EARLY_MINUTES"] = 10
    # The exact edges, on the occurrence's instants: [start - 10 min, end).
    session = db.session.get(VideoSession, soon.id)
    occ = scheduling.next_occurrences(session, 1)[0]
    opens, closes = occ.start - timedelta(minutes=10), occ.end
    tiny = timedelta(microseconds=1)
    assert session_runs.current_occurrence(session, opens - tiny) is None
    assert session_runs.current_occurrence(session, opens).start == occ.start
    assert session_runs.current_occurrence(session, closes - tiny).start == occ.start
    assert session_runs.current_occurrence(session, closes) is None


def test_the_window_follows_the_sessions_wall_clock_across_dst(school):
    # 16:00 New York every week from a Monday before the clocks go forward (8 March 2026):
    # the occurrence after the change is at 20:00 UTC, not at the 21:00 UTC of the first one.
    teacher, s1 = school.teacher, school.students[0]
    first = datetime(2026, 3, 2, 16, 0, tzinfo=ZoneInfo("America/New_York"))
    session = make_session(school.center, teacher, [s1], start=first, tz="America/New_York",
                           weekly=True, minutes=45)
    after_change = datetime(2026, 3, 9, 20, 0, tzinfo=UTC)
    assert first.astimezone(UTC).hour == 21
    occ = session_runs.current_occurrence(session, after_change - timedelta(minutes=10))
    assert occ is not None and occ.start == after_change
    assert session_runs.current_occurrence(session, after_change + timedelta(minutes=45)) is None
    assert session_runs.current_occurrence(session, datetime(2026, 3, 9, 21, 30, tzinfo=UTC)) \
        is None


def test_a_cancelled_occurrence_or_session_has_no_join_and_a_moved_one_uses_its_new_time(
        school, as_user):
    teacher, s1 = school.teacher, school.students[0]
    session = make_session(school.center, teacher, [s1], start=now_plus(5), weekly=True)
    occ = scheduling.next_occurrences(session, 1)[0]
    override = SessionOverride(center_id=school.center.id, session_id=session.id,
                               original_start_local=occ.original_start_local, cancelled=True)
    db.session.add(override)
    db.session.commit()
    student, teacher_browser = as_user(s1), as_user(teacher)
    assert call_state(student, session.id) == "later"
    assert enter(student, session.id).status_code == 422
    assert start(teacher_browser, session.id).status_code == 422
    # Moved two hours later: no Join now, and one from ten minutes before the new time.
    override.cancelled = False
    override.new_start_local = occ.original_start_local + timedelta(hours=2)
    scheduling.refresh_bounds(session)
    db.session.commit()
    assert call_state(student, session.id) == "later"
    moved = db.session.get(VideoSession, session.id)
    new_start = occ.start + timedelta(hours=2)
    assert session_runs.current_occurrence(moved, new_start - timedelta(minutes=10)).start \
        == new_start
    # A cancelled series: no Join at all.
    other = make_session(school.center, teacher, [s1], start=now_plus(5), title="Off")
    other.status = SessionStatus.CANCELLED
    db.session.commit()
    assert call_state(student, other.id) == "cancelled"
    assert enter(student, other.id).status_code == 422
    assert runs() == []


# --- Start, roles, access ----------------------------------------------------------------------

def test_a_double_start_makes_one_run_and_the_session_shows_live(school, as_user):
    teacher, (s1, s2) = school.teacher, school.students
    session = make_session(school.center, teacher, [s1, s2], start=now_plus(-5))
    browser = as_user(teacher)
    first, second = start(browser, session.id), start(browser, session.id)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    (run,) = runs()
    assert run.session_id == session.id and run.ended_at is None
    assert run.occurrence_start == scheduling.next_occurrences(session, 1)[0].start
    assert db.session.get(VideoSession, session.id).status == SessionStatus.LIVE
    assert call_state(as_user(s1), session.id) == "live"
    # Two Starts racing past the first look both insert: the unique constraint keeps one run.
    db.session.add(Run(center_id=run.center_id, room_id=run.room_id, session_id=session.id,
                       occurrence_start=run.occurrence_start, started_by_id=teacher.id))
    try:
        db.session.flush()
        raced = True
    except Exception:
        raced = False
    db.session.rollback()
    assert not raced
    # The calendar shows it live.
    week = browser.get("/calendar?view=week").get_data(as_text=True)
    assert "is-live" in week


def test_roles_come_from_the_sessions_participants(school, as_user, make):
    teacher, (s1, s2) = school.teacher, school.students
    co = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    session = make_session(school.center, teacher, [s1], observers=[s2], co_teachers=[co],
                           start=now_plus(-1))
    # A co-teacher may start; a learner may not (a clear 403, nothing made).
    assert start(as_user(s1), session.id).status_code == 403
    assert runs() == []
    assert start(as_user(co), session.id).status_code == 302
    room_id = runs()[0].room_id
    roles = {}
    for n, person in enumerate((teacher, co, s1, s2)):
        answer = join(as_user(person), room_id, f"{n:012x}")
        assert answer.status_code == 200, answer.get_json()
        roles[person.id] = answer.get_json()["role"]
    assert roles == {teacher.id: "INSTRUCTOR", co.id: "INSTRUCTOR", s1.id: "LEARNER",
                     s2.id: "OBSERVER"}


def test_non_participants_and_other_centers_cannot_see_start_or_join(school, as_user,
                                                                     other_center):
    teacher, s1 = school.teacher, school.students[0]
    session = make_session(school.center, teacher, [s1], start=now_plus(-1))
    start(as_user(teacher), session.id)
    room_id = runs()[0].room_id
    outsider = as_user(school.outsider)
    for answer in (start(outsider, session.id), enter(outsider, session.id),
                   outsider.get(f"/live/rooms/{room_id}"), join(outsider, room_id, "a" * 12)):
        assert answer.status_code == 404
    assert not can_subscribe(school.outsider, f"room:{room_id}")
    stranger = as_user(other_center.teacher)
    for answer in (start(stranger, session.id), enter(stranger, session.id),
                   stranger.get(f"/live/rooms/{room_id}"), join(stranger, room_id, "b" * 12),
                   stranger.post(f"/live/sessions/{session.id}/end",
                                 data={"csrf_token": stranger.csrf})):
        assert answer.status_code == 404
    assert not can_subscribe(other_center.teacher, f"room:{room_id}")
    # An admin may see the session, but the call is its participants' (their thread): 403.
    admin = as_user(school.admin)
    assert enter(admin, session.id).status_code == 403
    assert admin.post(f"/live/sessions/{session.id}/end",
                      data={"csrf_token": admin.csrf}).status_code == 403
    assert runs()[0].ended_at is None


def test_a_missing_csrf_token_is_refused(school, as_user):
    session = make_session(school.center, school.teacher, school.students, start=now_plus(-1))
    browser = as_user(school.teacher)
    assert browser.post(f"/live/sessions/{session.id}/start").status_code == 400
    assert runs() == []


# --- the notification and the lobby -------------------------------------------------------------

def _start_counts(make, school, as_user, count_queries, learners: int) -> tuple[int, int]:
    teacher = make.user(school.center, Role.TEACHER, name=f"Teacher of {learners}")
    people = [make.user(school.center, Role.STUDENT, name=f"Learner {learners}-{n}")
              for n in range(learners)]
    session = make_session(school.center, teacher, people, start=now_plus(-2),
                           title=f"Class of {learners}")
    browser = as_user(teacher)
    with count_queries() as counted:
        assert start(browser, session.id).status_code == 302
    told = db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.SESSION_LIVE,
        Notification.link.like("/live/rooms/%"),
        Notification.user_id.in_([p.id for p in people] + [teacher.id]))).all()
    assert sorted(n.user_id for n in told) == sorted(p.id for p in people)  # not the teacher
    assert all(n.priority.value == "HIGH" for n in told)
    start(browser, session.id)  # a second Start tells nobody again
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.type == NotificationType.SESSION_LIVE,
        Notification.user_id.in_([p.id for p in people]))) == learners
    return counted.count, len(told)


def test_session_live_is_told_once_per_participant_in_bounded_statements(school, as_user, make,
                                                                        count_queries):
    small, told_small = _start_counts(make, school, as_user, count_queries, 5)
    large, told_large = _start_counts(make, school, as_user, count_queries, 50)
    assert (told_small, told_large) == (5, 50)
    assert small == large, (small, large)


def test_a_student_in_the_lobby_hears_the_run_start_on_the_room_topic(school, live_servers):
    from tests.chat.test_realtime import Person, Socket

    teacher, s1 = school.teacher, school.students[0]
    session = make_session(school.center, teacher, [s1], start=now_plus(3))
    a, b = live_servers
    student, teacher_person = Person(a, s1), Person(b, teacher)
    entered = student.http.post(f"{a.url}/live/sessions/{session.id}/join",
                                data={"csrf_token": student.csrf}, allow_redirects=False,
                                timeout=8)
    assert entered.status_code == 302
    room_id = int(entered.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    lobby = student.http.get(f"{a.url}/live/rooms/{room_id}", timeout=8).text
    assert 'data-lobby="waiting"' in lobby and "Waiting for Terry Teacher" in lobby
    assert runs() == []  # the lobby starts nothing
    sock = Socket(a, student)
    user_sock = Socket(a, student)
    try:
        sock.subscribe(f"room:{room_id}")
        user_sock.subscribe(f"user:{s1.id}")
        sock.wait_for(lambda f: '"hello"' in f)
        user_sock.settle()
        assert teacher_person.http.post(f"{b.url}/live/sessions/{session.id}/start",
                                        data={"csrf_token": teacher_person.csrf},
                                        timeout=8).status_code == 200
        run = runs()[0]
        started = json.loads(sock.wait_for(lambda f: '"room-started"' in f))
        assert started == {"type": "room-started", "room": room_id, "run": run.id}
        # The roster of the new run follows on the same topic; on user:<id> the toast and the
        # session's call card turned "Live now".
        sock.wait_for(lambda f: 'id="room-roster"' in f)
        toast = user_sock.wait_for(lambda f: "session-live-toast" in f)
        assert "Algebra lesson</strong> is live" in toast
        assert f'/live/rooms/{room_id}' in toast and 'data-call-state="live"' in toast
        # The teacher ends it: the room hears it, and the card turns back ("ended").
        user_sock.frames.clear()
        assert teacher_person.http.post(f"{b.url}/live/sessions/{session.id}/end",
                                        data={"csrf_token": teacher_person.csrf},
                                        timeout=8).status_code == 200
        sock.wait_for(lambda f: '"room-ended"' in f)
        over = user_sock.wait_for(lambda f: "data-removes" in f)
        assert 'data-call-state="ended"' in over
    finally:
        sock.close()
        user_sock.close()


# --- ending by itself ---------------------------------------------------------------------------

def test_a_session_run_survives_everyone_leaving_then_ends_after_the_empty_minutes(
        school, as_user):
    teacher, s1 = school.teacher, school.students[0]
    session = make_session(school.center, teacher, [s1], start=now_plus(-3))
    browser = as_user(teacher)
    start(browser, session.id)
    room_id = runs()[0].room_id
    join(browser, room_id, "a" * 12)
    leave(browser, room_id, "a" * 12)
    (run,) = runs()
    assert run.ended_at is None  # a dropped teacher does not end the class
    services.sweep_stale_segments()
    assert runs()[0].ended_at is None  # left a moment ago: not yet
    left = utcnow() - timedelta(minutes=11)
    db.session.execute(Segment.__table__.update().values(left_at=left, joined_at=left))
    db.session.execute(Run.__table__.update().values(started_at=left - timedelta(minutes=1)))
    db.session.commit()
    services.sweep_stale_segments()
    commit()  # as the cron job's edge does: runs() below drops what was not flushed
    (run,) = runs()
    assert run.ended_at is not None and run.live_room_id is None
    assert db.session.get(VideoSession, session.id).status == SessionStatus.COMPLETED
    assert call_state(as_user(s1), session.id) == "ended"


def test_a_session_run_ends_at_the_occurrence_end_plus_the_grace(school, as_user):
    teacher, s1 = school.teacher, school.students[0]
    session = make_session(school.center, teacher, [s1], start=now_plus(-20), minutes=30,
                           weekly=True)
    browser = as_user(teacher)
    start(browser, session.id)
    room_id = runs()[0].room_id
    join(browser, room_id, "a" * 12)
    occ_end = runs()[0].occurrence_start + timedelta(minutes=30)
    grace = timedelta(minutes=15)
    assert session_runs.end_overdue_session_runs(occ_end + grace - timedelta(seconds=1)) == 0
    db.session.commit()
    assert runs()[0].ended_at is None
    assert session_runs.end_overdue_session_runs(occ_end + grace) == 1
    db.session.commit()
    (run,) = runs()
    assert run.ended_at is not None
    assert db.session.scalar(select(func.count(Segment.id)).where(Segment.left_at.is_(None))) == 0
    # A series with occurrences to come is scheduled again, not completed.
    assert db.session.get(VideoSession, session.id).status == SessionStatus.SCHEDULED
    # Ended within the window, the teacher may start it again: the same run continues.
    assert start(browser, session.id).status_code == 302
    (again,) = runs()
    assert again.id == run.id and again.ended_at is None


def test_the_upcoming_list_shows_join_and_live_now_in_bounded_statements(school, as_user,
                                                                       count_queries):
    teacher, s1 = school.teacher, school.students[0]
    sessions = [make_session(school.center, teacher, [s1], start=now_plus(-1 + n),
                             title=f"Lesson {n}") for n in range(3)]
    student = as_user(s1)
    with count_queries() as before:
        home = student.get("/").get_data(as_text=True)
    assert home.count("data-session-join") == 3
    start(as_user(teacher), sessions[0].id)
    more = [make_session(school.center, teacher, [s1], start=now_plus(n), title=f"More {n}")
            for n in range(3)]
    with count_queries() as after:
        home = student.get("/").get_data(as_text=True)
    assert home.count("Live now") == 1 and home.count("data-session-join") == 6
    # One live badge: the occurrence's "Live now", not also the series' "Live" beside it.
    assert home.count('<span class="badge badge-ok">Live') == 1, home
    assert after.count == before.count, (before.count, after.count)
    assert more and db.session.scalar(select(func.count(Room.id))) == 1
    assert db.session.scalar(select(func.count(RunParticipant.id))) == 0
