"""Catch-ups (issue 12): the page a student opens from their notification (what was missed,
the work set, due date, done / not done yet), the teacher's work form and its one notification,
the lists (/catch-ups, the student's dashboard card, a person page) with flat statement counts,
and who may see or change what (another student's or center's catch-up is a 404)."""
from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.accounts.models import AuditLog, Role
from app.accounts.services import PermissionDenied, ValidationError
from app.attendance import catch_ups, services
from app.attendance.models import CatchUp
from app.attendance.rules import AttendanceStatus as S
from app.chat.formatting import render_message_html
from app.chat.models import Message, MessageKind, Thread
from app.db_types import utcnow
from app.extensions import db
from app.mail.models import EmailOutbox
from app.notifications.models import Notification, NotificationPreference, NotificationType
from tests.attendance.test_compute import World
from tests.conftest import commit
from tests.live.test_sessions_live import make_session


def add_catch_up(session, student, *, due_in=timedelta(days=7), done=False, missed_ago=None,
                 work="", link="") -> CatchUp:
    """A catch-up for an occurrence of ``session`` held without a call (no run): what
    set_statuses' absences write, without going through a run."""
    start = (utcnow() - (missed_ago or timedelta(days=1))).replace(microsecond=0)
    thread_id = db.session.scalar(select(Thread.id).where(Thread.session_id == session.id))
    catch_up = CatchUp(center_id=session.center_id, user_id=student.id, session_id=session.id,
                       occurrence_start=start, thread_id=thread_id,
                       missed_summary="Nothing was posted in the chat during the call.",
                       assigned_work=work, assigned_link=link,
                       due_at=utcnow() + due_in, done_at=utcnow() if done else None)
    db.session.add(catch_up)
    db.session.flush()
    return catch_up


@pytest.fixture
def lesson(school):
    """The teacher's session with both students, and a catch-up owed by the first."""
    s1, s2 = school.students
    session = make_session(school.center, school.teacher, [s1, s2],
                           start=utcnow() - timedelta(days=1), title="Fractions")
    catch_up = add_catch_up(session, s1)
    commit()
    return type("Lesson", (), dict(session=session, catch_up=catch_up, student=s1, other=s2))


def catch_up_form(catch_up, **changes):
    form = catch_ups.WorkForm.of(catch_up)
    for name, value in changes.items():
        setattr(form, name, value)
    return form


# --- made when someone is marked absent ----------------------------------------------------------

def test_an_absence_links_its_notification_to_the_page_which_shows_what_was_said_during_the_run(
        school, as_user):
    teacher, (s1, s2) = school.teacher, school.students
    start = (utcnow() - timedelta(hours=2)).replace(microsecond=0)
    world = World(school.center, teacher, [s1, s2], start)
    thread_id = db.session.scalar(select(Thread.id).where(Thread.session_id == world.session.id))
    for minute, body in ((-30, "Before the lesson"), (20, "<script>alert(1)</script> page 12"),
                         (90, "After the lesson")):
        db.session.add(Message(center_id=school.center.id, thread_id=thread_id,
                               sender_id=teacher.id, body=body, body_html=render_message_html(body),
                               kind=MessageKind.TEXT, created_at=world.at(minute)))
    world.presence(s1, 0, 60)
    world.end(teacher)

    catch_up = db.session.scalar(select(CatchUp).where(CatchUp.user_id == s2.id))
    notice = db.session.scalar(select(Notification).where(
        Notification.type == NotificationType.CATCH_UP_ASSIGNED))
    assert (notice.user_id, notice.link) == (s2.id, f"/catch-ups/{catch_up.id}")
    assert "EST" in notice.body  # the due time in the student's zone (America/New_York), named

    page = as_user(s2).get(notice.link).get_data(as_text=True)
    assert "Catch-up: Algebra lesson" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; page 12" in page
    assert "<script>alert(1)" not in page
    assert "Before the lesson" not in page and "After the lesson" not in page
    assert f'href="/chat/threads/{thread_id}"' in page
    assert "Mark done" in page and "No work has been set" in page
    assert "Edit" not in re.sub(r"<[^>]+>", "", page.split('class="catch-up-messages"')[1]
                                .split("</section>")[0])  # read-only messages
    assert "ecording" not in page  # no recording in this codebase: no section, no placeholder


def test_the_page_names_the_viewers_zone_and_shows_the_occurrence_in_it(school, lesson, as_user):
    page = as_user(lesson.student).get(
        f"/catch-ups/{lesson.catch_up.id}").get_data(as_text=True)
    local = lesson.catch_up.occurrence_start.astimezone(ZoneInfo("Europe/London"))
    assert local.strftime("%H:%M") in page and "Times in Europe/London" in page


# --- who may see it ------------------------------------------------------------------------------

def test_only_the_student_their_teachers_and_admins_see_a_catch_up(school, lesson, make, as_user):
    path = f"/catch-ups/{lesson.catch_up.id}"
    other_teacher = make.user(school.center, Role.TEACHER, name="Other Teacher")
    elsewhere = make.center("Elsewhere")
    foreign_admin = make.user(elsewhere, Role.ADMIN)
    commit()
    assert as_user(lesson.student).get(path).status_code == 200
    assert as_user(school.teacher).get(path).status_code == 200
    assert as_user(school.admin).get(path).status_code == 200
    for stranger in (lesson.other, school.outsider, other_teacher, foreign_admin):
        assert as_user(stranger).get(path).status_code == 404, stranger.name
    assert as_user(lesson.student).get("/catch-ups/99999999999").status_code == 404
    assert as_user(lesson.student).get("/catch-ups/junk").status_code == 404


def test_a_co_teacher_manages_the_catch_ups_of_the_session(school, make):
    co = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    session = make_session(school.center, school.teacher, school.students, co_teachers=[co],
                           start=utcnow() - timedelta(days=1))
    catch_up = add_catch_up(session, school.students[0])
    assert catch_ups.can_manage_catch_up(co, catch_up)
    assert not catch_ups.can_manage_catch_up(school.students[0], catch_up)
    assert not catch_ups.can_mark_done(co, catch_up)


# --- done / not done yet -------------------------------------------------------------------------

def test_the_student_marks_it_done_and_not_done_yet(school, lesson, as_user):
    browser = as_user(lesson.student)
    path = f"/catch-ups/{lesson.catch_up.id}"
    response = browser.post(f"{path}/done", data={"csrf_token": browser.csrf},
                            headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Not done yet" in fragment and 'id="catch-up-status"' in fragment
    db.session.expire_all()
    done_at = db.session.get(CatchUp, lesson.catch_up.id).done_at
    assert done_at is not None
    # Marking done again keeps when it was first done.
    assert browser.post(f"{path}/done", data={"csrf_token": browser.csrf}).status_code == 302
    db.session.expire_all()
    assert db.session.get(CatchUp, lesson.catch_up.id).done_at == done_at
    assert browser.post(f"{path}/not-done", data={"csrf_token": browser.csrf}).status_code == 302
    db.session.expire_all()
    assert db.session.get(CatchUp, lesson.catch_up.id).done_at is None


def test_nobody_else_marks_it_done_and_csrf_is_required(school, lesson, as_user):
    path = f"/catch-ups/{lesson.catch_up.id}/done"
    other = as_user(lesson.other)
    assert other.post(path, data={"csrf_token": other.csrf}).status_code == 404
    teacher = as_user(school.teacher)
    assert teacher.post(path, data={"csrf_token": teacher.csrf}).status_code == 403
    student = as_user(lesson.student)
    assert student.post(path).status_code == 400  # no CSRF token
    db.session.expire_all()
    assert db.session.get(CatchUp, lesson.catch_up.id).done_at is None
    with pytest.raises(PermissionDenied):
        catch_ups.mark_done(school.teacher, lesson.catch_up)


# --- the teacher's work -------------------------------------------------------------------------

def test_a_teacher_sets_the_work_and_the_student_is_told_once_in_app_and_by_email(
        school, lesson, as_user):
    db.session.add(NotificationPreference(user_id=lesson.student.id,
                                          type=NotificationType.CATCH_UP_UPDATED,
                                          push=True, email=True))
    commit()
    browser = as_user(school.teacher)
    path = f"/catch-ups/{lesson.catch_up.id}"
    due = (utcnow() + timedelta(days=3)).astimezone(ZoneInfo("Europe/London")).date()
    form = {"csrf_token": browser.csrf, "assigned_work": "Exercises 4-9 <b>on page 12</b>",
            "assigned_link": "https://example.org/worksheet?id=4", "due_date": due.isoformat()}
    response = browser.post(f"{path}/work", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    catch_up = db.session.get(CatchUp, lesson.catch_up.id)
    assert catch_up.assigned_work == "Exercises 4-9 <b>on page 12</b>"
    assert catch_up.assigned_link == "https://example.org/worksheet?id=4"
    local_due = catch_up.due_at.astimezone(ZoneInfo("Europe/London"))
    assert (local_due.date(), local_due.strftime("%H:%M")) == (due, "23:59")

    notices = list(db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.CATCH_UP_UPDATED)))
    assert [(n.user_id, n.link, n.title) for n in notices] == [
        (lesson.student.id, path, "Catch-up work for Fractions")]
    emails = list(db.session.scalars(select(EmailOutbox)))
    assert [(e.recipient_user_id, e.subject) for e in emails] == [
        (lesson.student.id, "Catch-up work for Fractions")]
    audit, = db.session.scalars(select(AuditLog).where(
        AuditLog.action == "attendance.catch_up_updated"))
    from app.accounts.audit import describe_entries

    who, what = describe_entries([audit])[audit.id]
    assert (who, what) == (school.teacher.name, (
        f"changed the catch-up of {lesson.student.name} for ‘Fractions’: the work, the link "
        f"and due {catch_up.due_at:%a %-d %b %Y, %H:%M} UTC"))

    # The same form again changes nothing and tells nobody.
    assert browser.post(f"{path}/work", data=form).status_code == 302
    assert db.session.scalar(select(func.count(Notification.id)).where(
        Notification.type == NotificationType.CATCH_UP_UPDATED)) == 1

    # The student reads the work escaped, with its link.
    page = as_user(lesson.student).get(path).get_data(as_text=True)
    assert "Exercises 4-9 &lt;b&gt;on page 12&lt;/b&gt;" in page
    assert 'href="https://example.org/worksheet?id=4"' in page
    assert 'name="assigned_work"' not in page  # students get no form

    # A change is "changed", not "new work".
    form["assigned_work"] = "Exercises 4-12"
    assert browser.post(f"{path}/work", data=form).status_code == 302
    titles = list(db.session.scalars(select(Notification.title).where(
        Notification.type == NotificationType.CATCH_UP_UPDATED).order_by(Notification.id)))
    assert titles == ["Catch-up work for Fractions", "Your catch-up for Fractions was changed"]


@pytest.mark.parametrize("field,value,message", [
    ("assigned_link", "javascript:alert(1)", "starts with http:// or https://"),
    ("assigned_link", "https://", "starts with http:// or https://"),
    ("assigned_link", "https://example.org/a b", "starts with http:// or https://"),
    ("assigned_link", "https://example.org/" + "a" * 500, "at most 500 characters"),
    ("assigned_work", "x" * 4001, "at most 4000 characters"),
    ("due_date", "2026-02-30", "Choose a due date."),
    ("due_date", "", "Choose a due date."),
    ("due_date", "PAST", "has passed"),
    ("due_date", "FAR", "within a year"),
])
def test_bad_work_is_refused_with_the_form_as_typed(school, lesson, as_user, field, value,
                                                    message):
    today = utcnow().astimezone(ZoneInfo("Europe/London")).date()
    value = {"PAST": (today - timedelta(days=2)).isoformat(),
             "FAR": (today + timedelta(days=400)).isoformat()}.get(value, value)
    browser = as_user(school.teacher)
    form = {"csrf_token": browser.csrf, "assigned_work": "Read chapter 3",
            "assigned_link": "", "due_date": catch_ups.due_day(lesson.catch_up).isoformat(),
            field: value}
    for headers in ({}, {"HX-Request": "true"}):
        response = browser.post(f"/catch-ups/{lesson.catch_up.id}/work", data=form,
                                headers=headers)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert message in page and "Nothing was saved" in page
        assert "Read chapter 3" in page or field == "assigned_work"
        assert 'aria-invalid="true"' in page
    db.session.expire_all()
    assert db.session.get(CatchUp, lesson.catch_up.id).assigned_work == ""
    assert db.session.scalar(select(func.count(Notification.id))) == 0


def test_an_overdue_catch_up_keeps_its_due_time_when_only_the_work_changes(school):
    session = make_session(school.center, school.teacher, school.students,
                           start=utcnow() - timedelta(days=10))
    catch_up = add_catch_up(session, school.students[0], due_in=timedelta(days=-2))
    due = catch_up.due_at
    assert catch_ups.set_work(school.teacher, catch_up,
                              catch_up_form(catch_up, assigned_work="Still read chapter 3"))
    assert catch_up.due_at == due
    page = catch_ups.catch_up_page(school.students[0], catch_up)
    assert page.is_overdue and page.can_mark_done and not page.can_edit


def test_students_cannot_set_work(school, lesson, as_user):
    browser = as_user(lesson.student)
    response = browser.post(f"/catch-ups/{lesson.catch_up.id}/work", data={
        "csrf_token": browser.csrf, "assigned_work": "Nothing", "assigned_link": "",
        "due_date": catch_ups.due_day(lesson.catch_up).isoformat()})
    assert response.status_code == 403
    other = as_user(lesson.other)
    assert other.post(f"/catch-ups/{lesson.catch_up.id}/work",
                      data={"csrf_token": other.csrf}).status_code == 404
    with pytest.raises(PermissionDenied):
        catch_ups.set_work(lesson.student, lesson.catch_up, catch_up_form(lesson.catch_up))
    with pytest.raises(ValidationError):
        catch_ups.set_work(school.teacher, lesson.catch_up,
                           catch_up_form(lesson.catch_up, assigned_link="ftp://x.org/"))


# --- lists -------------------------------------------------------------------------------------

def titles_in(html: str) -> list[str]:
    return re.findall(r'class="catch-up-title" href="[^"]+">([^<]+)</a>', html)


def test_the_list_shows_each_viewer_their_own_and_filters(school, make, as_user):
    s1, s2 = school.students
    other_teacher = make.user(school.center, Role.TEACHER, name="Other Teacher")
    mine = make_session(school.center, school.teacher, [s1, s2], title="Mine",
                        start=utcnow() - timedelta(days=3))
    theirs = make_session(school.center, other_teacher, [s1], title="Theirs",
                          start=utcnow() - timedelta(days=3))
    add_catch_up(mine, s1)
    add_catch_up(mine, s2, due_in=timedelta(days=-1))  # overdue
    add_catch_up(theirs, s1, done=True)
    commit()

    teacher = as_user(school.teacher)
    assert titles_in(teacher.get("/catch-ups").get_data(as_text=True)) == ["Mine", "Mine"]
    overdue = teacher.get("/catch-ups?state=overdue").get_data(as_text=True)
    assert titles_in(overdue) == ["Mine"] and s2.name in overdue
    assert titles_in(teacher.get(f"/catch-ups?student={s1.id}").get_data(as_text=True)) == \
        ["Mine"]
    assert titles_in(teacher.get("/catch-ups?state=done").get_data(as_text=True)) == []
    fragment = teacher.get("/catch-ups?state=all", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="catch-up-list">')

    admin = as_user(school.admin).get("/catch-ups?state=all").get_data(as_text=True)
    assert sorted(titles_in(admin)) == ["Mine", "Mine", "Theirs"]
    # A student sees all of theirs, done ones too, and no student filter (theirs only).
    student = as_user(s1).get(f"/catch-ups?student={s2.id}").get_data(as_text=True)
    assert titles_in(student) == ["Mine", "Theirs"] and 'name="student"' not in student
    assert as_user(s1).get("/catch-ups?state=bogus&page=junk").status_code == 200


def test_the_dashboard_card_lists_open_ones_overdue_first_until_done(school, lesson, as_user):
    overdue = add_catch_up(lesson.session, lesson.student, due_in=timedelta(days=-1),
                           missed_ago=timedelta(days=9))
    commit()
    browser = as_user(lesson.student)
    page = browser.get("/").get_data(as_text=True)
    assert "To catch up on" in page
    ids = re.findall(r'data-catch-up-id="(\d+)"', page)
    assert ids == [str(overdue.id), str(lesson.catch_up.id)]
    assert "Overdue" in page
    for catch_up in (overdue, lesson.catch_up):
        browser.post(f"/catch-ups/{catch_up.id}/done", data={"csrf_token": browser.csrf})
    assert "To catch up on" not in browser.get("/").get_data(as_text=True)
    assert "To catch up on" not in as_user(lesson.other).get("/").get_data(as_text=True)


def test_the_person_page_shows_a_teacher_the_students_open_catch_ups(school, lesson, as_user):
    page = as_user(school.teacher).get(f"/people/{lesson.student.id}").get_data(as_text=True)
    assert "Open catch-ups" in page and titles_in(page) == ["Fractions"]
    other = as_user(school.teacher).get(f"/people/{lesson.other.id}").get_data(as_text=True)
    assert "Nothing to catch up on in your sessions" in other
    own = as_user(lesson.student).get(f"/people/{school.teacher.id}").get_data(as_text=True)
    assert "Open catch-ups" not in own


def test_removing_the_absence_removes_an_open_catch_up_from_dashboard_and_lists_but_not_a_done_one(
        school, as_user):
    teacher, (s1, s2) = school.teacher, school.students
    world = World(school.center, teacher, [s1, s2],
                  (utcnow() - timedelta(hours=2)).replace(microsecond=0))
    world.end(teacher)
    made = {c.user_id: c for c in db.session.scalars(select(CatchUp))}
    assert set(made) == {s1.id, s2.id}
    catch_ups.mark_done(s2, made[s2.id])
    commit()
    removed_id = made[s1.id].id
    assert "To catch up on" in as_user(s1).get("/").get_data(as_text=True)

    services.set_statuses(teacher, world.run, [s1.id, s2.id], S.EXCUSED)
    commit()
    assert "To catch up on" not in as_user(s1).get("/").get_data(as_text=True)
    assert titles_in(as_user(s1).get("/catch-ups").get_data(as_text=True)) == []
    assert as_user(s1).get(f"/catch-ups/{removed_id}").status_code == 404
    assert titles_in(as_user(s2).get("/catch-ups").get_data(as_text=True)) == ["Algebra lesson"]
    assert titles_in(as_user(teacher).get("/catch-ups?state=done").get_data(as_text=True)) == \
        ["Algebra lesson"]


# --- statements stay flat ----------------------------------------------------------------------

def _statements(count_queries, browser, path) -> int:
    db.session.expire_all()
    with count_queries() as counter:
        response = browser.get(path)
    assert response.status_code == 200
    return counter.count


@pytest.mark.parametrize("path_of", [
    lambda s: "/catch-ups?state=all", lambda s: "/catch-ups?state=overdue",
    lambda s: f"/catch-ups?student={s.id}&state=all", lambda s: f"/people/{s.id}"])
def test_teacher_lists_are_flat_in_the_number_of_catch_ups(school, make, as_user, count_queries,
                                                          path_of):
    teacher = as_user(school.teacher)
    counts = []
    for size in (3, 30):
        students = [make.user(school.center, Role.STUDENT) for _ in range(size)]
        make.course(school.center, teachers=[school.teacher], students=students)
        session = make_session(school.center, school.teacher, students,
                               start=utcnow() - timedelta(days=2), title=f"Set of {size}")
        for i, student in enumerate(students):
            add_catch_up(session, student, due_in=timedelta(days=(i % 3) - 1))
            add_catch_up(session, students[0], due_in=timedelta(days=i - 10),
                         missed_ago=timedelta(days=i + 2), done=i % 2 == 0)
        commit()
        counts.append(_statements(count_queries, teacher, path_of(students[0])))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("path", ["/", "/catch-ups"])
def test_student_pages_are_flat_in_the_number_of_catch_ups(school, make, as_user, count_queries,
                                                           path):
    counts = []
    for size in (3, 30):
        student = make.user(school.center, Role.STUDENT)
        session = make_session(school.center, school.teacher, [student],
                               start=utcnow() - timedelta(days=2))
        for i in range(size):
            add_catch_up(session, student, due_in=timedelta(days=i - 5),
                         missed_ago=timedelta(days=i + 1), done=i % 3 == 0)
        commit()
        counts.append(_statements(count_queries, as_user(student), path))
    assert counts[0] == counts[1], counts


def test_the_page_is_flat_in_the_number_of_messages_missed(school, as_user, count_queries):
    counts = []
    for size in (3, 30):
        world = World(school.center, school.teacher, school.students,
                      (utcnow() - timedelta(hours=2 + size)).replace(microsecond=0))
        thread_id = db.session.scalar(select(Thread.id).where(
            Thread.session_id == world.session.id))
        for i in range(size):
            sender = (school.teacher, *school.students)[i % 3]
            db.session.add(Message(center_id=school.center.id, thread_id=thread_id,
                                   sender_id=sender.id, body=f"Step {i}",
                                   body_html=render_message_html(f"Step {i}"), kind=MessageKind.TEXT,
                                   created_at=world.at(1 + i)))
        world.end(school.teacher)  # nobody joined: both students owe a catch-up
        catch_up = db.session.scalar(select(CatchUp).where(
            CatchUp.run_id == world.run.id, CatchUp.user_id == school.students[0].id))
        browser = as_user(school.students[0])
        counts.append(_statements(count_queries, browser, f"/catch-ups/{catch_up.id}"))
        assert f"Step {size - 1}" in browser.get(f"/catch-ups/{catch_up.id}").get_data(
            as_text=True)
    assert counts[0] == counts[1], counts


def test_the_card_pushed_over_the_socket_reads_every_viewer_in_one_statement(
        school, make, count_queries, app):
    from app.attendance import realtime
    from app.realtime.events import Event
    from app.realtime.hub import Viewer

    counts = []
    for size in (3, 30):
        students = [make.user(school.center, Role.STUDENT) for _ in range(size)]
        session = make_session(school.center, school.teacher, students,
                               start=utcnow() - timedelta(days=2), title=f"Lesson {size}")
        for student in students:
            add_catch_up(session, student)
            add_catch_up(session, student, done=True, missed_ago=timedelta(days=3))
        commit()
        viewers = [Viewer(s.id, s.center_id, s.role, s.name, "Asia/Tokyo", "UTC", 0, True)
                   for s in students]
        event = Event("user:*", realtime.CATCH_UPS_CHANGED, {"user_ids": [s.id for s in students]})
        cache = {}
        db.session.expire_all()
        with count_queries() as counter:
            realtime._prepare(event, viewers, cache)
        counts.append(counter.count)
        with app.test_request_context("/"):
            html = realtime._render(event, viewers[0], cache)
        assert 'data-replaces="catch-up-card"' in html and f"Lesson {size}" in html
        assert "JST" in html  # the viewer's zone, not the server's
    assert counts == [1, 1]
