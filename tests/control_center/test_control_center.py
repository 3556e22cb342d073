"""The Tutor Control Center (issue 13): which sessions have one and who sees it, the cc:<run>
topic, a student only ever getting their own data (tutor-only notes never reach them: page,
socket frames, published events, report, email), one open help request per student (the
service and the database), the queue's order, flat statement counts, and a lesson report sent
exactly once in the app and by email."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Role
from app.accounts.services import PermissionDenied, ValidationError
from app.control_center import services
from app.control_center.models import (HelpRequest, HelpStatus, LessonReport, PlanMode,
                                       StudentPlan, WorkItem, WorkStatus)
from app.db_types import utcnow
from app.extensions import db
from app.mail.models import EmailOutbox
from app.notifications.models import Notification, NotificationType
from app.realtime.events import CatchUp, can_subscribe, catch_up_for
from app.realtime.hub import Connection, Hub
from app.scheduling.models import SessionStatus
from tests.conftest import commit
from tests.invites.conftest import _mail_settings, deliver, smtp, smtp_server  # noqa: F401
from tests.realtime.test_fan_out_cost import _published

SECRET = "tutor-only: suspect dyscalculia"


def url(lesson, tail=""):
    return f"/sessions/{lesson.session.id}/control-center{tail}"


def form(browser, lesson, **fields):
    return {"csrf_token": browser.csrf, "at": lesson.at_param, **fields}


# --- which sessions, who ---------------------------------------------------------------------------

def test_a_control_center_is_for_one_to_five_learners_of_a_scheduled_session(lesson_for):
    assert services.has_control_center(lesson_for(1, live=False).session)
    five = lesson_for(5, live=False)
    assert services.has_control_center(five.session)
    six = lesson_for(6, live=False)
    assert not services.has_control_center(six.session)
    five.session.status = SessionStatus.CANCELLED
    assert not services.has_control_center(five.session)


def test_only_the_sessions_instructors_and_admins_open_it(lesson_for, make, school, as_user):
    co_teacher = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    other_teacher = make.user(school.center, Role.TEACHER, name="Otto Other")
    elsewhere = make.user(make.center(), Role.ADMIN, name="Far Admin")
    lesson = lesson_for(2, co_teachers=[co_teacher])
    for person in (school.teacher, co_teacher, school.admin):
        page = as_user(person).get(url(lesson))
        assert page.status_code == 200, person.name
        assert 'id="cc-panel-%d"' % school.students[0].id in page.get_data(as_text=True)
    for person in (school.students[0], school.outsider, other_teacher, elsewhere):
        assert as_user(person).get(url(lesson)).status_code == 404, person.name
    # An admin sees the board but leaves ending the call to the session's teachers.
    admin = as_user(school.admin)
    refused = admin.post(url(lesson, "/end"), data=form(admin, lesson))
    assert refused.status_code == 422 and "or a co-teacher can end the call" in refused.get_data(
        as_text=True)
    db.session.expire_all()
    assert lesson.run.ended_at is None
    # A session of six learners has none, even for its teacher.
    six = lesson_for(6, live=False)
    assert as_user(school.teacher).get(url(six)).status_code == 404


def test_the_session_page_offers_it_to_instructors_only(lesson_for, school, as_user):
    lesson = lesson_for(2, live=False)
    teacher_page = as_user(school.teacher).get(f"/sessions/{lesson.session.id}")
    assert 'id="open-control-center"' in teacher_page.get_data(as_text=True)
    student_page = as_user(school.students[0]).get(f"/sessions/{lesson.session.id}")
    assert student_page.status_code == 200
    assert 'id="open-control-center"' not in student_page.get_data(as_text=True)


def test_only_instructors_may_subscribe_to_the_cc_topic(lesson_for, make, school):
    lesson = lesson_for(2)
    topic = f"cc:{lesson.run.id}"
    assert can_subscribe(school.teacher, topic)
    assert can_subscribe(school.admin, topic)
    assert not can_subscribe(school.students[0], topic)
    assert not can_subscribe(school.outsider, topic)
    assert not can_subscribe(make.user(make.center(), Role.ADMIN), topic)
    assert not can_subscribe(school.teacher, "cc:999999")


def test_students_cannot_use_the_tutors_actions(lesson_for, school, as_user):
    lesson = lesson_for(2)
    sara, ben = school.students
    item = services.add_work_item(school.teacher, lesson.session, lesson.at, ben.id, "Ben's work")
    commit()
    student = as_user(sara)
    for tail, fields in (("/plans", {"student": sara.id, "subject": "Maths"}),
                         ("/items", {"student": sara.id, "title": "Free time"}),
                         ("/notes", {"student": sara.id, "body": "x"}),
                         ("/timers", {"minutes": "5"}), ("/mode", {"student": sara.id,
                                                                   "mode": "TEACH"}),
                         ("/end", {})):
        assert student.post(url(lesson, tail), data=form(student, lesson, **fields)
                            ).status_code == 404, tail
    # Someone else's work item: not found; their own help request only to cancel.
    assert student.post(f"/control-center/items/{item.id}",
                        data={"csrf_token": student.csrf, "progress": "50"}).status_code == 404
    request = services.raise_help(sara, lesson.session, "HIGH", "help")
    commit()
    assert student.post(f"/control-center/help/{request.id}/claim",
                        data={"csrf_token": student.csrf}).status_code == 404
    assert as_user(ben).post(f"/control-center/help/{request.id}/cancel",
                             data={"csrf_token": student.csrf}).status_code in (400, 404)
    assert student.post(f"/control-center/help/{request.id}/cancel",
                        data={"csrf_token": student.csrf}).status_code == 200
    db.session.expire_all()
    assert db.session.get(HelpRequest, request.id).status == HelpStatus.CANCELLED
    with pytest.raises(PermissionDenied):
        services.add_note(sara, lesson.session, lesson.at, sara.id, "hi", "SHARED")


def test_bad_input_is_a_422_keeping_what_was_typed(lesson_for, school, as_user):
    lesson = lesson_for(1)
    sara = school.students[0]
    tutor = as_user(school.teacher)
    answer = tutor.post(url(lesson, "/items"), data=form(
        tutor, lesson, student=sara.id, title="Read chapter 3", link="javascript:alert(1)"),
        headers={"HX-Request": "true"})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "starts with http:// or https://" in html and 'value="Read chapter 3"' in html
    answer = tutor.post(url(lesson, "/timers"), data=form(tutor, lesson, minutes="soon"),
                        headers={"HX-Request": "true"})
    assert answer.status_code == 422 and "Give the minutes" in answer.get_data(as_text=True)
    assert tutor.get(url(lesson) + "?at=2001-01-01T00:00:00+00:00").status_code == 404
    assert tutor.get(url(lesson) + "?at=yesterday").status_code == 404


# --- the student's own data only; tutor-only notes never reach them ----------------------------------

def _hub(app) -> Hub:
    hub = Hub()
    hub._app = app
    return hub


def _connect(hub, user, topic) -> Connection:
    conn = Connection(ws=None, user_id=user.id, session_id=user.get_id(),
                      start_sender=lambda drain: None)
    hub.add(conn)
    hub.subscribe(conn, topic)
    conn.drop_queued()  # what the subscription's catch-up sent
    return conn


def _dispatch(hub, events):
    for event in events:
        listener = threading.Thread(target=hub.dispatch, args=(event,))
        listener.start()
        listener.join()


def test_tutor_only_notes_never_reach_the_student(app, lesson_for, school, as_user, run_worker):
    lesson = lesson_for(2)
    sara, ben = school.students
    services.add_work_item(school.teacher, lesson.session, lesson.at, sara.id, "Fractions")
    commit()
    hub = _hub(app)
    tutor_socket = _connect(hub, school.teacher, f"cc:{lesson.run.id}")
    sara_socket = _connect(hub, sara, f"user:{sara.id}")
    ben_socket = _connect(hub, ben, f"user:{ben.id}")
    events = _published(app, lambda: (
        services.add_note(school.teacher, lesson.session, lesson.at, sara.id, SECRET,
                          "TUTOR_ONLY"),
        services.add_note(school.teacher, lesson.session, lesson.at, sara.id,
                          "Well done on fractions", "SHARED")))
    # Events carry ids, never a note's text.
    assert events and not any(SECRET in e.to_json() or "Well done" in e.to_json()
                              for e in events)
    _dispatch(hub, events)
    tutor_frames = "".join(tutor_socket.queued)
    sara_frames = "".join(sara_socket.queued)
    assert SECRET in tutor_frames and "Well done on fractions" in tutor_frames
    assert "Well done on fractions" in sara_frames and 'id="cc-student-box"' in sara_frames
    assert SECRET not in sara_frames
    assert not ben_socket.queued  # Ben's box did not change and says nothing about Sara

    # The room page.
    room = as_user(sara).get(f"/live/rooms/{lesson.run.room_id}").get_data(as_text=True)
    assert "Well done on fractions" in room and "Fractions" in room and SECRET not in room
    assert "Well done on fractions" not in as_user(ben).get(
        f"/live/rooms/{lesson.run.room_id}").get_data(as_text=True)
    # The tutor's page has both.
    assert SECRET in as_user(school.teacher).get(url(lesson)).get_data(as_text=True)

    # The report (drafted, sent), its notification and its email.
    reports = services.end_lesson(school.teacher, lesson.session, lesson.at)
    sara_report = next(r for r in reports if r.student_id == sara.id)
    assert "Well done on fractions" in sara_report.body and SECRET not in sara_report.body
    assert services.send_report(school.teacher, sara_report)
    commit()
    notification = db.session.scalar(select(Notification).where(Notification.user_id == sara.id,
                                                                Notification.type == NotificationType.LESSON_REPORT))
    outbox = db.session.scalar(select(EmailOutbox).where(EmailOutbox.recipient_user_id == sara.id))
    assert SECRET not in notification.body
    assert SECRET not in outbox.text_body and SECRET not in outbox.html_body
    assert "Well done on fractions" in outbox.text_body
    page = as_user(sara).get(notification.link)
    assert page.status_code == 200 and SECRET not in page.get_data(as_text=True)


def test_a_student_sees_their_own_box_and_moves_the_tutors_bar(app, lesson_for, school, as_user):
    lesson = lesson_for(2)
    sara, ben = school.students
    item = services.add_work_item(school.teacher, lesson.session, lesson.at, sara.id, "Fractions")
    commit()
    hub = _hub(app)
    tutor_socket = _connect(hub, school.teacher, f"cc:{lesson.run.id}")
    student = as_user(sara)
    events = _published(app, lambda: student.post(
        f"/control-center/items/{item.id}", data={"csrf_token": student.csrf, "progress": "60"},
        headers={"HX-Request": "true"}))
    _dispatch(hub, events)
    frames = "".join(tutor_socket.queued)
    assert f'id="cc-panel-{sara.id}"' in frames and 'value="60"' in frames
    assert f'id="cc-panel-{ben.id}"' not in frames  # only the panel that changed
    db.session.expire_all()
    item = db.session.get(WorkItem, item.id)
    assert item.progress == 60 and item.status == WorkStatus.DOING and item.started_at
    # A student's room page that (re)subscribes gets their box as it stands (a reconnect loses
    # nothing); the tutor's page gets every panel, the queue and the timers.
    def caught_up(user, topic) -> str:
        conn = Connection(ws=None, user_id=user.id, session_id=user.get_id(),
                          start_sender=lambda drain: None)
        with app.test_request_context("/", base_url=app.config["BASE_URL"]):
            catch_up_for(topic)(conn, user, int(topic.partition(":")[2]), CatchUp())
        return "".join(conn.queued)

    db.session.expire_all()
    student_frames = caught_up(sara, f"room:{lesson.run.room_id}")
    assert 'id="cc-student-box"' in student_frames and 'value="60"' in student_frames
    assert 'id="cc-student-box"' not in caught_up(school.teacher, f"room:{lesson.run.room_id}")
    tutor_frames = caught_up(school.teacher, f"cc:{lesson.run.id}")
    assert tutor_frames.count('class="card cc-panel"') == 2 and 'id="cc-queue"' in tutor_frames
    # A student cannot subscribe to the tutors' topic, nor see another's room box data.
    assert not can_subscribe(sara, f"cc:{lesson.run.id}")
    with pytest.raises(PermissionDenied):
        services.student_box(school.outsider, lesson.session, lesson.at)


# --- help requests -----------------------------------------------------------------------------------

def test_one_open_request_per_student_by_the_service_and_the_database(lesson_for, school):
    lesson = lesson_for(2)
    sara = school.students[0]
    first = services.raise_help(sara, lesson.session, "NORMAL", "stuck")
    commit()
    with pytest.raises(ValidationError):
        services.raise_help(sara, lesson.session, "HIGH", "again")
    # The database refuses a second open one however it is written.
    with pytest.raises(IntegrityError):
        db.session.add(HelpRequest(center_id=first.center_id, session_id=first.session_id,
                                   occurrence_start=first.occurrence_start, run_id=first.run_id,
                                   student_id=sara.id, status=HelpStatus.IN_PROGRESS,
                                   priority=first.priority, text="sneaky"))
        db.session.flush()
    db.session.rollback()
    # Closed, another may be raised (closed ones do not count).
    services.act_on_help(school.teacher, db.session.get(HelpRequest, first.id), "resolve")
    second = services.raise_help(sara, lesson.session, "HIGH", "new question")
    commit()
    assert second.status == HelpStatus.PENDING
    assert db.session.scalar(select(func.count()).select_from(HelpRequest)) == 2


def test_two_submits_at_the_same_moment_make_one_request(lesson_for, school, as_user,
                                                         monkeypatch):
    lesson = lesson_for(1)
    sara = school.students[0]
    # Both requests pass the service's own check, as if each read before the other wrote: the
    # unique index decides.
    monkeypatch.setattr(services, "open_request_of", lambda run, student_id: None)
    browsers = [as_user(sara), as_user(sara)]
    help_url = url(lesson, "/help")  # the threads have no app context to load rows in
    barrier = threading.Barrier(2)
    statuses = []

    def submit(browser):
        barrier.wait()
        statuses.append(browser.post(help_url, data={
            "csrf_token": browser.csrf, "priority": "HIGH", "text": "double"},
            headers={"HX-Request": "true"}).status_code)

    threads = [threading.Thread(target=submit, args=(b,)) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 422]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(HelpRequest)) == 1


def test_the_queue_is_by_priority_then_age_and_claims_resolve(lesson_for, school, as_user):
    lesson = lesson_for(4)
    a, b, c, d = lesson.learners
    low = services.raise_help(a, lesson.session, "LOW", "low")
    old_high = services.raise_help(b, lesson.session, "HIGH", "old high")
    new_high = services.raise_help(c, lesson.session, "HIGH", "new high")
    urgent = services.raise_help(d, lesson.session, "URGENT", "urgent")
    now = utcnow()
    for request, minutes_ago in ((low, 10), (old_high, 8), (new_high, 2), (urgent, 1)):
        db.session.execute(update(HelpRequest).where(HelpRequest.id == request.id)
                           .values(created_at=now - timedelta(minutes=minutes_ago)))
    commit()
    db.session.expire_all()
    assert [r.text for r in services.help_queue(lesson.run)] == \
        ["urgent", "old high", "new high", "low"]
    tutor = as_user(school.teacher)
    claim = tutor.post(f"/control-center/help/{old_high.id}/claim",
                       data={"csrf_token": tutor.csrf}, headers={"HX-Request": "true"})
    assert claim.status_code == 200 and "Being helped by Terry Teacher" in claim.get_data(
        as_text=True)
    again = tutor.post(f"/control-center/help/{old_high.id}/claim",
                       data={"csrf_token": tutor.csrf}, headers={"HX-Request": "true"})
    assert again.status_code == 409 and "in progress already" in again.get_data(as_text=True)
    assert tutor.post(f"/control-center/help/{old_high.id}/resolve",
                      data={"csrf_token": tutor.csrf}).status_code == 200
    db.session.expire_all()
    resolved = db.session.get(HelpRequest, old_high.id)
    assert resolved.status == HelpStatus.RESOLVED and resolved.claimed_by_id == school.teacher.id
    assert resolved.claimed_at and resolved.closed_at
    assert "Your last request was resolved" in as_user(b).get(
        f"/live/rooms/{lesson.run.room_id}").get_data(as_text=True)


def test_no_help_requests_before_the_session_is_live(lesson_for, school):
    lesson = lesson_for(1, live=False)
    with pytest.raises(ValidationError):
        services.raise_help(school.students[0], lesson.session, "HIGH", "hello?")


# --- plans, modes, timers --------------------------------------------------------------------------------

def test_copy_last_plan_carries_levels_goal_and_unfinished_work(lesson_for, school):
    lesson = lesson_for(1, live=False)
    sara = school.students[0]
    earlier = lesson.at - timedelta(days=7)
    last = StudentPlan(center_id=lesson.center.id, session_id=lesson.session.id,
                       occurrence_start=earlier, student_id=sara.id, tutor_id=school.teacher.id,
                       subject="Maths", current_level="Grade 8", working_level="Grade 5",
                       goal="Fractions fluently", mode=PlanMode.TEACH)
    db.session.add(last)
    db.session.flush()
    db.session.add_all([
        WorkItem(center_id=lesson.center.id, plan_id=last.id, title="Done one", position=0,
                 status=WorkStatus.DONE, progress=100),
        WorkItem(center_id=lesson.center.id, plan_id=last.id, title="Half way", position=1,
                 status=WorkStatus.DOING, progress=50)])
    commit()
    plan = services.copy_last_plan(school.teacher, lesson.session, lesson.at, sara.id)
    commit()
    db.session.expire_all()
    plan = db.session.get(StudentPlan, plan.id)
    assert plan.level_text == "Grade 8 → Maths at Grade 5" and plan.goal == "Fractions fluently"
    assert [(i.title, i.status, i.progress) for i in plan.items] == [("Half way", WorkStatus.TO_DO,
                                                                      0)]
    with pytest.raises(ValidationError):
        services.copy_last_plan(school.teacher, lesson.session, earlier, sara.id)


def test_pop_into_teach_teaches_one_and_observes_the_rest(lesson_for, school, as_user):
    lesson = lesson_for(3, live=False)
    a, b, c = lesson.learners
    services.set_mode(school.teacher, lesson.session, lesson.at, a.id, "TEACH")
    services.set_mode(school.teacher, lesson.session, lesson.at, c.id, "TEACH")
    commit()
    tutor = as_user(school.teacher)
    answer = tutor.post(url(lesson, "/mode"), data=form(tutor, lesson, student=b.id,
                                                        mode="TEACH", only="1"),
                        headers={"HX-Request": "true"})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert f'id="cc-panel-{b.id}" class="card cc-panel" data-user-id="{b.id}" data-mode="TEACH"' in html
    assert f'data-user-id="{a.id}" data-mode="OBSERVE"' in html
    db.session.expire_all()
    modes = dict(db.session.execute(select(StudentPlan.student_id, StudentPlan.mode)).all())
    assert modes == {a.id: PlanMode.OBSERVE, b.id: PlanMode.TEACH, c.id: PlanMode.OBSERVE}


def test_a_timer_for_everyone_is_an_end_time_every_student_sees(lesson_for, school, as_user):
    lesson = lesson_for(2)
    tutor = as_user(school.teacher)
    assert tutor.post(url(lesson, "/timers"), data=form(tutor, lesson, minutes="10",
                                                        label="Exercise 4")).status_code == 200
    timer = services.active_timers(lesson.session, lesson.at)[0]
    assert timedelta(minutes=9) < timer.ends_at - utcnow() <= timedelta(minutes=10)
    for student in school.students:
        room = as_user(student).get(f"/live/rooms/{lesson.run.room_id}").get_data(as_text=True)
        assert f'data-ends-at="{timer.ends_at.isoformat()}"' in room and "Exercise 4" in room
    assert tutor.post(f"/control-center/timers/{timer.id}/cancel",
                      data={"csrf_token": tutor.csrf}).status_code == 200
    assert services.active_timers(lesson.session, lesson.at) == []


# --- statements stay flat --------------------------------------------------------------------------

def _page_statements(lesson_for, school, as_user, count_queries, students, items) -> int:
    lesson = lesson_for(students)
    for n, student in enumerate(lesson.learners):
        for i in range(items):
            services.add_work_item(school.teacher, lesson.session, lesson.at, student.id,
                                   f"Item {i}")
        services.add_note(school.teacher, lesson.session, lesson.at, student.id, "note", "SHARED")
        services.raise_help(student, lesson.session, "HIGH", f"help {n}")
    services.start_timer(school.teacher, lesson.session, lesson.at, None, 5, "all")
    commit()
    tutor = as_user(school.teacher)
    tutor.get(url(lesson))  # warm: the login's own statements are not the page's
    with count_queries() as counter:
        page = tutor.get(url(lesson))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="card cc-panel"') == students
    assert html.count('class="cc-progress"') == students * items
    return counter.count


def test_the_tutor_page_is_flat_in_students_and_work_items(lesson_for, school, as_user,
                                                           count_queries):
    one = _page_statements(lesson_for, school, as_user, count_queries, 1, 1)
    five = _page_statements(lesson_for, school, as_user, count_queries, 5, 1)
    five_by_twenty = _page_statements(lesson_for, school, as_user, count_queries, 5, 20)
    assert one == five == five_by_twenty, (one, five, five_by_twenty)


# --- the lesson report, exactly once ------------------------------------------------------------------

def test_a_lesson_report_is_sent_once_in_the_app_and_by_email(lesson_for, school, as_user,
                                                             deliver):
    lesson = lesson_for(2)
    sara = school.students[0]
    services.add_work_item(school.teacher, lesson.session, lesson.at, sara.id, "Fractions")
    services.add_note(school.teacher, lesson.session, lesson.at, sara.id, "Great focus",
                      "SHARED")
    commit()
    tutor = as_user(school.teacher)
    end = tutor.post(url(lesson, "/end"), data=form(tutor, lesson))
    assert end.status_code == 302
    db.session.expire_all()
    assert lesson.run.ended_at is not None
    report = db.session.scalar(select(LessonReport).where(LessonReport.student_id == sara.id))
    assert "Fractions: to do (0%)" in report.body and "Great focus" in report.body
    # Edit then send; sending again (a double click, a second tutor) sends nothing more.
    edited = report.body + "\nSee you next week."
    for _ in range(2):
        answer = tutor.post(f"/control-center/reports/{report.id}",
                            data={"csrf_token": tutor.csrf, "body": edited, "send": "1"},
                            headers={"HX-Request": "true"})
        assert answer.status_code == 200 and "Sent " in answer.get_data(as_text=True)
    received = deliver()
    assert len(received) == 1
    message = received[0].message
    assert sara.email in message["To"] and "Lesson report: Tutoring" in message["Subject"]
    assert "See you next week." in message.get_body(("plain",)).get_content()
    assert deliver() == []
    notes = list(db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.LESSON_REPORT)))
    assert [n.user_id for n in notes] == [sara.id]
    page = as_user(sara).get(notes[0].link)
    assert page.status_code == 200 and "See you next week." in page.get_data(as_text=True)
    # Another student cannot read it; a draft is not shown to its student.
    assert as_user(school.students[1]).get(notes[0].link).status_code == 404
    ben_report = db.session.scalar(select(LessonReport).where(
        LessonReport.student_id == school.students[1].id))
    assert as_user(school.students[1]).get(f"/lesson-reports/{ben_report.id}").status_code == 404
    # A sent report no longer changes.
    with pytest.raises(ValidationError):
        services.update_report(school.teacher, db.session.get(LessonReport, report.id), "new")


def _drafting_statements(lesson_for, school, count_queries, students) -> int:
    lesson = lesson_for(students)
    for student in lesson.learners:
        for i in range(3):
            services.add_work_item(school.teacher, lesson.session, lesson.at, student.id,
                                   f"Item {i}")
        services.add_note(school.teacher, lesson.session, lesson.at, student.id, "Shared", "SHARED")
        services.raise_help(student, lesson.session, "NORMAL", "?")
    commit()
    db.session.expire_all()
    with count_queries() as counter:
        reports = services.draft_reports(school.teacher, lesson.session, lesson.at)
        commit()
    assert len(reports) == students and all("Item 2: to do" in r.body for r in reports)
    return counter.count


def test_drafting_the_reports_is_flat_in_the_students(lesson_for, school, count_queries):
    one = _drafting_statements(lesson_for, school, count_queries, 1)
    five = _drafting_statements(lesson_for, school, count_queries, 5)
    assert one == five, (one, five)
