"""The bell and the Chats badge do not count the same thing twice (issue 9, item 13): unread chat
messages are the Chats badge's; the bell counts the other notifications. A chat's notifications
(new messages, "added to the group") are read when the thread is read to its end, and the bell
updates live, over a real websocket to the app under gunicorn."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.chat import services as chat
from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification, NotificationType
from tests.chat.conftest import header_badge
from tests.conftest import commit
from tests.live import LiveServer
from tests.notifications.test_center import bell_count


def unread_of(user, type_):
    db.session.expire_all()
    return [n for n in db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.type == type_)) if n.read_at is None]


@pytest.fixture
def group(school):
    return chat.create_group(school.teacher, "Exam prep", "", [s.id for s in school.students])


def test_chat_messages_are_counted_by_the_chats_badge_not_the_bell(school, as_user, group,
                                                                    run_worker):
    s1 = school.students[0]
    browser = as_user(s1)
    for n in range(3):
        chat.post_message(school.teacher, group, f"Question {n}")
    run_worker()  # the members are told by a job
    page = browser.get("/").get_data(as_text=True)
    assert header_badge(page) == 4  # "… created the group" and the three questions
    # "Added to the group" is on the bell; the three messages are not a second time.
    assert bell_count(page) == "1"
    assert len(unread_of(s1, NotificationType.NEW_MESSAGE)) == 3  # listed in the center still
    services.notify([s1], NotificationType.SESSION_SCHEDULED, "New session: Algebra")
    db.session.commit()
    assert bell_count(browser.get("/").get_data(as_text=True)) == "2"


def test_reading_the_thread_reads_its_notifications(school, as_user, group, run_worker):
    s1, s2 = school.students
    for n in range(3):
        chat.post_message(school.teacher, group, f"Question {n}")
    other = chat.get_or_create_direct(school.teacher, s1)
    chat.post_message(school.teacher, other, "Somewhere else")
    run_worker()  # the members are told by a job
    browser = as_user(s1)
    last = db.session.get(type(group), group.id).last_message_id
    # Read part of the way: nothing about the thread is marked read yet.
    response = browser.post(f"/chat/threads/{group.id}/read",
                            data={"message_id": last - 1, "csrf_token": browser.csrf})
    assert response.status_code == 204
    assert len(unread_of(s1, NotificationType.NEW_MESSAGE)) == 4
    response = browser.post(f"/chat/threads/{group.id}/read",
                            data={"message_id": last, "csrf_token": browser.csrf})
    assert response.status_code == 204
    left = unread_of(s1, NotificationType.NEW_MESSAGE)
    assert [n.tag for n in left] == [f"thread-{other.id}"]  # another thread's stays unread
    assert unread_of(s1, NotificationType.GROUP_CHAT_CREATED) == []
    assert bell_count(browser.get("/").get_data(as_text=True)) is None
    assert len(unread_of(s2, NotificationType.NEW_MESSAGE)) == 3  # someone else's stay


def test_reading_costs_one_statement_more_not_one_per_notification(school, group, count_queries,
                                                                   run_worker):
    s1 = school.students[0]
    for n in range(20):
        chat.post_message(school.teacher, group, f"Question {n}")
    run_worker()  # the job that tells the members
    assert len(unread_of(s1, NotificationType.NEW_MESSAGE)) == 20
    # Each reading starts from the same state: committed, nothing loaded.
    commit()
    db.session.expire_all()
    with count_queries() as many:
        chat.mark_read(s1, group)
    assert len(unread_of(s1, NotificationType.NEW_MESSAGE)) == 0
    for n in range(2):
        chat.post_message(school.teacher, group, f"More {n}")
    run_worker()
    assert len(unread_of(s1, NotificationType.NEW_MESSAGE)) == 2
    commit()
    db.session.expire_all()
    with count_queries() as few:
        chat.mark_read(s1, group)
    assert few.count == many.count, (few.statements, many.statements)


# --- live, over the websocket --------------------------------------------------------------------

def _bell(frame: str) -> str | None:
    match = re.search(r'<span id="notification-count"([^>]*)>([^<]*)<', frame)
    if not match:
        return None
    return "hidden" if " hidden" in match.group(1) else match.group(2)


def test_the_bell_updates_live_and_chat_messages_do_not_touch_it(
        app, app_config, database_url, redis_url, test_dirs, school, group):
    from tests.chat.test_realtime import Person, Socket

    s1 = school.students[0]
    db.session.commit()
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "gunicorn-bell.log")
    sock = None
    try:
        student, teacher = Person(server, s1), Person(server, school.teacher)
        sock = Socket(server, student)
        sock.subscribe(f"user:{s1.id}")
        sock.frames.clear()

        teacher.post_message(group.id, "A chat message")
        sock.wait_for(lambda f: 'id="chat-unread-badge"' in f)  # the Chats badge moves
        sock.settle()
        assert [_bell(f) for f in sock.frames if _bell(f)] == []  # the bell does not

        services.notify([s1], NotificationType.SESSION_SCHEDULED, "New session: Algebra")
        db.session.commit()
        frame = sock.wait_for(lambda f: _bell(f) is not None)
        assert _bell(frame) == "2"  # "added to the group" and the session

        sock.frames.clear()
        last = db.session.get(type(group), group.id).last_message_id
        response = student.http.post(f"{server.url}/chat/threads/{group.id}/read", timeout=8,
                                     data={"message_id": last, "csrf_token": student.csrf})
        assert response.status_code == 204
        frame = sock.wait_for(lambda f: _bell(f) is not None)
        assert _bell(frame) == "1"  # the group's notification read with the thread
    finally:
        if sock is not None:
            sock.close()
        server.stop()
