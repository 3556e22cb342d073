"""My Day's live updates over ``myday:<id>``: who may follow the topic, which facts name which
sections for whom (the real services publish, the test commits as the edge would, and reads what
reached Redis), and what the hub sends a page following it."""
from __future__ import annotations

from datetime import timedelta

from app.accounts.models import Role
from app.attendance import services as attendance
from app.attendance.rules import AttendanceStatus
from app.chat import services as chat
from app.db_types import utcnow
from app.extensions import db
from app.live import session_runs
from app.live.models import Run
from app.realtime.events import can_subscribe
from tests.live.test_sessions_live import make_session, now_plus
from tests.realtime.test_fan_out_cost import _connect, _hub, _published


def _changes(events) -> dict[str, set[int]]:
    """section -> who was told it changed."""
    told: dict[str, set[int]] = {}
    for event in events:
        if event.name == "myday.changed":
            assert event.topic == "myday:*"
            for section in event.data["sections"]:
                told.setdefault(section, set()).update(event.data["user_ids"])
    return told


def test_only_the_teacher_or_admin_themself_may_follow_their_topic(school, make):
    teacher, student = school.teacher, school.students[0]
    assert can_subscribe(teacher, f"myday:{teacher.id}")
    assert can_subscribe(school.admin, f"myday:{school.admin.id}")
    assert not can_subscribe(teacher, f"myday:{school.admin.id}")
    assert not can_subscribe(student, f"myday:{student.id}")
    assert not can_subscribe(teacher, "myday:abc")


def test_a_message_tells_the_other_members_their_chats_changed(app, school):
    teacher, sara = school.teacher, school.students[0]
    thread = chat.get_or_create_direct(sara, teacher)
    db.session.commit()
    told = _changes(_published(app, lambda: chat.post_message(sara, thread, "Hello")))
    assert told == {"chats": {teacher.id}}
    # Reading it (in another tab) changes the teacher's chats too.
    told = _changes(_published(app, lambda: chat.mark_read(teacher, thread)))
    assert told == {"chats": {teacher.id}}


def test_a_session_going_live_and_ending_tells_everyone_in_it(app, school, make):
    teacher, (sara, ben) = school.teacher, school.students
    co_teacher = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    session = make_session(school.center, teacher, [sara, ben], start=now_plus(-5),
                           co_teachers=[co_teacher])
    for participant in session.participants:  # in it before it started: expected
        participant.created_at = utcnow() - timedelta(days=1)
    db.session.commit()
    people = {teacher.id, co_teacher.id, sara.id, ben.id}
    runs = []
    told = _changes(_published(app, lambda: runs.append(
        session_runs.start_session_run(teacher, session)[0])))
    assert told == {"today": people}
    run = db.session.get(Run, runs[0].id)
    told = _changes(_published(app, lambda: session_runs.end_session_run(teacher, session)))
    # The row turns over and attendance was computed (nobody joined: both absent, each owing a
    # catch-up): the co-teacher who never joined is told too.
    assert told["today"] == people and told["confirm"] >= {teacher.id, co_teacher.id}
    assert told["catch_ups"] == {teacher.id, co_teacher.id, sara.id, ben.id}
    # A teacher's mark later: the confirm section of the session's teachers.
    db.session.expire_all()
    run = db.session.get(Run, run.id)
    told = _changes(_published(app, lambda: attendance.set_statuses(
        teacher, run, [sara.id], AttendanceStatus.EXCUSED)))
    assert told["confirm"] == {teacher.id, co_teacher.id, sara.id}
    assert told["catch_ups"] == {teacher.id, co_teacher.id, sara.id}  # her catch-up went


def test_the_hub_sends_the_stale_sections_to_a_page_showing_my_day(app, school):
    teacher, sara = school.teacher, school.students[0]
    thread = chat.get_or_create_direct(sara, teacher)
    db.session.commit()
    hub = _hub(app)
    on_my_day = _connect(hub, teacher, f"user:{teacher.id}", f"myday:{teacher.id}")
    elsewhere = _connect(hub, teacher, f"user:{teacher.id}")
    events = _published(app, lambda: chat.post_message(sara, thread, "Are we on?"))
    for event in events:
        hub.dispatch(event)
    frames = [f for f in on_my_day.queued if "my-day-stale" in f]
    assert frames == ['<div hx-swap-oob="beforeend:#my-day-stale"><template data-stale="chats">'
                      '</template></div>']
    assert not any("my-day-stale" in f for f in elsewhere.queued)


def test_help_requests_and_plans_tell_the_tutors_my_day(app, school):
    from app.control_center import services as control_center
    from app.my_day import services as my_day
    from app.scheduling.models import VideoSession

    teacher, (sara, ben) = school.teacher, school.students
    start = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
    session = make_session(school.center, teacher, [sara, ben], start=start, minutes=60)
    session_runs.start_session_run(teacher, session)
    db.session.commit()
    session = db.session.get(VideoSession, session.id)
    raised = []
    told = _changes(_published(app, lambda: raised.append(
        control_center.raise_help(sara, session, "HIGH", "Question 4?"))))
    assert told == {"help": {teacher.id}}
    request = raised[0]
    told = _changes(_published(app, lambda: control_center.act_on_help(teacher, request, "claim")))
    assert told == {"help": {teacher.id, sara.id}}
    told = _changes(_published(app, lambda: control_center.add_work_item(
        teacher, session, start, ben.id, "Worksheet 3")))
    assert told == {"today": {teacher.id}}
    # The page's section: the request, with the tutor handling it.
    help = my_day.open_help_requests(teacher)
    assert [(r.student_id, r.status.value) for r, _ in help.items] == [(sara.id, "IN_PROGRESS")]
    assert my_day.day_plan(teacher).today[0].plans_ready == 1
