"""Who may see and do what in chat: membership, tenancy, direct-message rules, class channel
policy, archived groups, group management. (Websocket subscriptions: test_realtime.py.)"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.accounts.models import CourseRole, Enrollment, Role
from app.accounts.services import PermissionDenied
from app.chat import services
from app.chat.models import Attachment, Message, Thread, ThreadKind, ThreadMember
from app.extensions import db
from tests.chat.conftest import fresh, hx_post, send
from tests.conftest import commit

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _message_count(thread) -> int:
    return db.session.scalar(select(func.count(Message.id)).where(Message.thread_id == thread.id))


def _private_group(chat):
    """A group of the teacher and the first student only."""
    return services.create_group(chat.teacher, "Private pair", "", [chat.s1.id])


def test_non_member_gets_404_everywhere(chat, as_user):
    group = _private_group(chat)
    teacher = as_user(chat.teacher)
    response = send(teacher, group.id, "secret plans", files=[("plan.png", PNG)])
    assert response.status_code == 200
    message = db.session.scalar(select(Message).where(Message.thread_id == group.id,
                                                      Message.body == "secret plans"))
    attachment = db.session.scalar(select(Attachment).where(Attachment.message_id == message.id))
    # The member can fetch it (so the 404s below are about membership, not a broken URL).
    assert teacher.get(f"/chat/attachments/{attachment.id}/{attachment.filename}").status_code == 200
    assert as_user(chat.s1).get(f"/chat/threads/{group.id}").status_code == 200
    before = _message_count(group)

    for person in (chat.s2, chat.outsider, chat.admin):
        browser = as_user(person)
        gid, mid = group.id, message.id
        assert browser.get(f"/chat/threads/{gid}").status_code == 404
        assert browser.get(f"/chat/threads/{gid}?at={mid}").status_code == 404
        assert browser.get(f"/chat/threads/{gid}/messages?before={mid}").status_code == 404
        assert send(browser, gid, "let me in").status_code == 404
        assert browser.get(f"/chat/threads/{gid}/messages/{mid}/edit").status_code == 404
        assert hx_post(browser, f"/chat/threads/{gid}/messages/{mid}/edit",
                       {"body": "hijacked"}).status_code == 404
        assert hx_post(browser, f"/chat/threads/{gid}/messages/{mid}/delete").status_code == 404
        assert hx_post(browser, f"/chat/threads/{gid}/read").status_code == 404
        assert hx_post(browser, f"/chat/threads/{gid}/mute", {"muted": "1"}).status_code == 404
        assert browser.get(f"/chat/threads/{gid}/settings").status_code == 404
        assert browser.get(
            f"/chat/attachments/{attachment.id}/{attachment.filename}").status_code == 404
        assert browser.get(f"/chat/attachments/{attachment.id}/other.png").status_code == 404
        # The thread is not in their list either.
        assert f"thread-item-{gid}" not in browser.get("/chat/").get_data(as_text=True)

    db.session.expire_all()
    assert _message_count(group) == before
    message = fresh(message)
    assert message.body == "secret plans" and message.deleted_at is None
    assert services.can_view_thread(chat.teacher, group)
    assert not services.can_view_thread(chat.s2, group)
    assert not services.can_view_thread(chat.admin, group)


def test_other_centers_threads_are_404_even_by_guessing_ids(chat, other_center, as_user):
    mine = {chat.class_thread.id, chat.group.id, chat.direct.id}
    theirs = other_center.group.id
    foreign = as_user(other_center.teacher)
    assert foreign.get(f"/chat/threads/{theirs}").status_code == 200
    lowest, highest = db.session.execute(select(func.min(Thread.id), func.max(Thread.id))).one()
    for thread_id in range(max(1, lowest - 2), highest + 3):
        expected = 200 if thread_id == theirs else 404
        assert foreign.get(f"/chat/threads/{thread_id}").status_code == expected, thread_id
        if thread_id != theirs:
            assert foreign.get(f"/chat/threads/{thread_id}/settings").status_code == 404
            assert foreign.get(f"/chat/threads/{thread_id}/messages").status_code == 404
    for thread_id in sorted(mine):  # (posting is rate limited: only the real ones)
        assert send(foreign, thread_id, "hello?").status_code == 404
    # Every message and attachment id of the first center is 404 too.
    teacher = as_user(chat.teacher)
    assert send(teacher, chat.group.id, "ours", files=[("a.png", PNG)]).status_code == 200
    for attachment in db.session.scalars(select(Attachment)):
        assert foreign.get(f"/chat/attachments/{attachment.id}/{attachment.filename}"
                           ).status_code == 404
    for message in db.session.scalars(select(Message).where(Message.thread_id.in_(mine))):
        assert foreign.get(f"/chat/threads/{theirs}/messages/{message.id}/edit"
                           ).status_code == 404
    # And the other way round; services agree.
    assert as_user(chat.teacher).get(f"/chat/threads/{theirs}").status_code == 404
    assert not services.can_view_thread(chat.teacher, other_center.group)
    assert not services.may_message_directly(chat.teacher, other_center.student)
    assert not services.can_manage_group(other_center.teacher, chat.group)
    # A person of another center cannot be messaged (their id is not found here).
    assert hx_post(teacher, f"/chat/direct/{other_center.student.id}",
                   htmx=False).status_code == 404


def test_students_cannot_create_groups(chat, as_user):
    student = as_user(chat.s1)
    assert student.get("/chat/groups/new").status_code == 403
    before = db.session.scalar(select(func.count(Thread.id)))
    response = hx_post(student, "/chat/groups/new", {"name": "My gang",
                                                     "member_ids": [str(chat.s2.id)]}, htmx=False)
    assert response.status_code == 403
    assert db.session.scalar(select(func.count(Thread.id))) == before
    with pytest.raises(PermissionDenied):
        services.create_group(chat.s1, "My gang", "", [chat.s2.id])
    # The teacher can (the form works).
    teacher = as_user(chat.teacher)
    assert teacher.get("/chat/groups/new").status_code == 200
    response = hx_post(teacher, "/chat/groups/new",
                       {"name": "Revision", "member_ids": [str(chat.s1.id)]}, htmx=False)
    assert response.status_code == 302
    group = db.session.scalar(select(Thread).where(Thread.name == "Revision"))
    assert group.kind == ThreadKind.GROUP
    assert {m.user_id for m in group.members} == {chat.teacher.id, chat.s1.id}


def test_teacher_cannot_put_unenrolled_students_in_a_group(chat, as_user):
    teacher = as_user(chat.teacher)
    response = hx_post(teacher, "/chat/groups/new",
                       {"name": "Sneaky", "member_ids": [str(chat.outsider.id)]})
    assert response.status_code == 422
    assert "Pick students enrolled in your courses." in response.get_data(as_text=True)
    assert db.session.scalar(select(Thread).where(Thread.name == "Sneaky")) is None


def _start_direct(browser, other):
    return hx_post(browser, f"/chat/direct/{other.id}", htmx=False)


def test_direct_messages_teacher_and_enrolled_students(chat, as_user):
    teacher = as_user(chat.teacher)
    # Allowed: the teacher's enrolled student, both ways (same thread).
    response = _start_direct(teacher, chat.s2)
    assert response.status_code == 302
    thread_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    back = _start_direct(as_user(chat.s2), chat.teacher)
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/threads/{thread_id}")
    thread = db.session.get(Thread, thread_id)
    assert thread.kind == ThreadKind.DIRECT
    assert {m.user_id for m in thread.members} == {chat.teacher.id, chat.s2.id}
    assert send(as_user(chat.s2), thread_id, "Hi sir").status_code == 200

    # Refused: a student the teacher does not teach, both ways.
    before = db.session.scalar(select(func.count(Thread.id)))
    assert _start_direct(teacher, chat.outsider).status_code == 403
    assert _start_direct(as_user(chat.outsider), chat.teacher).status_code == 403
    assert db.session.scalar(select(func.count(Thread.id))) == before
    assert services.may_message_directly(chat.teacher, chat.s1)
    assert not services.may_message_directly(chat.teacher, chat.outsider)
    assert not services.may_message_directly(chat.outsider, chat.teacher)
    with pytest.raises(PermissionDenied):
        services.get_or_create_direct(chat.teacher, chat.outsider)
    # The contact list offers exactly who may be messaged.
    page = teacher.get("/chat/new").get_data(as_text=True)
    assert f"Message {chat.s1.name}" in page and f"Message {chat.outsider.name}" not in page


def test_students_message_each_other_only_where_the_center_allows(chat, as_user):
    s1 = as_user(chat.s1)
    assert not chat.center.students_may_message_each_other
    assert _start_direct(s1, chat.s2).status_code == 403
    assert not services.may_message_directly(chat.s1, chat.s2)
    assert f"Message {chat.s2.name}" not in s1.get("/chat/new").get_data(as_text=True)

    chat.center.students_may_message_each_other = True
    db.session.commit()
    response = _start_direct(s1, chat.s2)
    assert response.status_code == 302
    thread_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert send(s1, thread_id, "hey classmate").status_code == 200
    assert f"Message {chat.s2.name}" in s1.get("/chat/new").get_data(as_text=True)


def test_class_thread_replies_follow_the_center_policy(chat, as_user):
    thread = chat.class_thread
    assert {m.user_id for m in thread.members} == {chat.teacher.id, chat.s1.id, chat.s2.id}
    teacher, student = as_user(chat.teacher), as_user(chat.s1)
    chat.center.students_may_reply_in_class = False
    db.session.commit()
    before = _message_count(thread)
    response = send(student, thread.id, "Can I ask something?")
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "Only teachers post in this class channel." in html
    assert "Can I ask something?" in html  # what they typed is not lost
    page = student.get(f"/chat/threads/{thread.id}").get_data(as_text=True)
    assert "Only teachers post in this class channel." in page
    assert f'id="composer-{thread.id}"' not in page
    assert send(teacher, thread.id, "Test on Friday").status_code == 200
    db.session.expire_all()
    assert _message_count(thread) == before + 1

    chat.center.students_may_reply_in_class = True
    db.session.commit()
    assert send(student, thread.id, "Which chapters?").status_code == 200
    assert f'id="composer-{thread.id}"' in student.get(f"/chat/threads/{thread.id}").get_data(
        as_text=True)
    db.session.expire_all()
    assert _message_count(thread) == before + 2


def test_class_thread_members_follow_enrollments(chat, as_user):
    from app.accounts.services import enroll, unenroll

    thread = chat.class_thread
    enroll(chat.admin, chat.course, [chat.outsider.id], CourseRole.STUDENT)
    commit()
    assert chat.outsider.id in {m.user_id for m in fresh(thread).members}
    assert as_user(chat.outsider).get(f"/chat/threads/{thread.id}").status_code == 200
    enrollment = db.session.scalar(select(Enrollment).where(
        Enrollment.course_id == chat.course.id, Enrollment.user_id == chat.outsider.id))
    unenroll(chat.admin, enrollment)
    commit()
    assert chat.outsider.id not in {m.user_id for m in fresh(thread).members}
    assert as_user(chat.outsider).get(f"/chat/threads/{thread.id}").status_code == 404


def test_archived_group_refuses_posts(chat, as_user):
    teacher, student = as_user(chat.teacher), as_user(chat.s1)
    gid = chat.group.id
    assert hx_post(teacher, f"/chat/threads/{gid}/settings", {"action": "archive"},
                   htmx=False).status_code == 302
    assert fresh(chat.group).archived_at is not None
    before = _message_count(chat.group)
    for browser in (student, teacher):
        response = send(browser, gid, "anyone here?")
        assert response.status_code == 403
        assert "This conversation is archived." in response.get_data(as_text=True)
    # Reading still works, and the page says why there is no composer.
    page = student.get(f"/chat/threads/{gid}").get_data(as_text=True)
    assert "This conversation is archived." in page and f'id="composer-{gid}"' not in page
    db.session.expire_all()
    assert _message_count(chat.group) == before
    assert hx_post(teacher, f"/chat/threads/{gid}/settings", {"action": "unarchive"},
                   htmx=False).status_code == 302
    assert send(student, gid, "back again").status_code == 200


def test_members_cannot_manage_the_group(chat, as_user):
    extra = _enroll_new_student(chat)
    student = as_user(chat.s1)
    gid = chat.group.id
    assert student.get(f"/chat/threads/{gid}/settings").status_code == 403
    attempts = [{"action": "rename", "name": "Hacked", "description": ""},
                {"action": "add", "member_ids": [str(extra.id)]},
                {"action": "remove", "user_id": str(chat.s2.id)},
                {"action": "archive"}, {"action": "delete"}]
    for data in attempts:
        assert hx_post(student, f"/chat/threads/{gid}/settings", data,
                       htmx=False).status_code == 403, data
    db.session.expire_all()
    group = db.session.get(Thread, gid)
    assert group is not None and group.name == "Study group" and group.archived_at is None
    assert {m.user_id for m in group.members} == {chat.teacher.id, chat.s1.id, chat.s2.id}
    for call in (lambda: services.update_group(chat.s1, group, "Hacked", ""),
                 lambda: services.add_group_members(chat.s1, group, [extra.id]),
                 lambda: services.remove_group_member(chat.s1, group, chat.s2.id),
                 lambda: services.archive_group(chat.s1, group),
                 lambda: services.delete_group(chat.s1, group)):
        with pytest.raises(PermissionDenied):
            call()


def _enroll_new_student(chat):
    from tests.conftest import Factory

    student = Factory().user(chat.center, Role.STUDENT, name="Nina New",
                             email="nina.new@example.com")
    db.session.add(Enrollment(center_id=chat.center.id, course_id=chat.course.id,
                              user_id=student.id, role=CourseRole.STUDENT))
    db.session.commit()
    return student


def test_owner_renames_adds_removes_archives_and_deletes(chat, as_user):
    extra = _enroll_new_student(chat)
    teacher = as_user(chat.teacher)
    gid = chat.group.id
    url = f"/chat/threads/{gid}/settings"
    assert teacher.get(url).status_code == 200

    assert hx_post(teacher, url, {"action": "rename", "name": "Exam prep",
                                  "description": "June"}, htmx=False).status_code == 302
    group = fresh(chat.group)
    assert (group.name, group.description) == ("Exam prep", "June")
    assert "renamed the group to “Exam prep”" in teacher.get(f"/chat/threads/{gid}").get_data(
        as_text=True)
    # Bad input: an empty name is refused with a message; nothing changes.
    response = hx_post(teacher, url, {"action": "rename", "name": "  "}, htmx=False)
    assert response.status_code == 422 and "Give the group a name." in response.get_data(
        as_text=True)
    assert fresh(group).name == "Exam prep"

    # Add: the new student gets access; an unenrolled one is refused.
    nina = as_user(extra)
    assert nina.get(f"/chat/threads/{gid}").status_code == 404
    assert hx_post(teacher, url, {"action": "add", "member_ids": [str(extra.id)]},
                   htmx=False).status_code == 302
    assert nina.get(f"/chat/threads/{gid}").status_code == 200
    response = hx_post(teacher, url, {"action": "add", "member_ids": [str(chat.outsider.id)]},
                       htmx=False)
    assert response.status_code == 422
    db.session.expire_all()
    assert chat.outsider.id not in {m.user_id for m in fresh(group).members}

    # Remove: the removed member loses access at once (page, posting, attachments).
    s2 = as_user(chat.s2)
    assert send(teacher, gid, "for the group", files=[("n.png", PNG)]).status_code == 200
    attachment = db.session.scalar(select(Attachment).join(Message).where(
        Message.thread_id == gid))
    href = f"/chat/attachments/{attachment.id}/{attachment.filename}"
    assert s2.get(href).status_code == 200
    assert hx_post(teacher, url, {"action": "remove", "user_id": str(chat.s2.id)},
                   htmx=False).status_code == 302
    assert s2.get(f"/chat/threads/{gid}").status_code == 404
    assert send(s2, gid, "still here?").status_code == 404
    assert s2.get(href).status_code == 404
    assert f"thread-item-{gid}" not in s2.get("/chat/").get_data(as_text=True)
    db.session.expire_all()
    assert not services.can_view_thread(chat.s2, group)
    # The owner cannot be removed.
    response = hx_post(teacher, url, {"action": "remove", "user_id": str(chat.teacher.id)},
                       htmx=False)
    assert response.status_code == 422

    # Archive, then delete: gone for everyone, with its attachment files.
    assert hx_post(teacher, url, {"action": "archive"}, htmx=False).status_code == 302
    assert fresh(group).archived_at is not None
    path = services.files.path_for(attachment.storage_key)
    assert path.exists()
    response = hx_post(teacher, url, {"action": "delete"}, htmx=False)
    assert response.status_code == 302 and response.headers["Location"].endswith("/chat/")
    db.session.expire_all()
    assert db.session.get(Thread, gid) is None
    assert db.session.scalar(select(func.count(ThreadMember.id)).where(
        ThreadMember.thread_id == gid)) == 0
    assert db.session.scalar(select(func.count(Message.id)).where(Message.thread_id == gid)) == 0
    assert not path.exists()
    for browser in (teacher, as_user(chat.s1), nina):
        assert browser.get(f"/chat/threads/{gid}").status_code == 404
    # A new group (SQLite may hand it the deleted group's id) starts with no old messages.
    new = services.create_group(chat.teacher, "Fresh start", "", [chat.s1.id])
    page = as_user(chat.s1).get(f"/chat/threads/{new.id}").get_data(as_text=True)
    assert "for the group" not in page and "n.png" not in page


def test_anonymous_visitors_are_sent_to_log_in(chat, client, as_user):
    from tests.conftest import csrf_token

    send(as_user(chat.teacher), chat.group.id, "members only", files=[("m.png", PNG)])
    attachment = db.session.scalar(select(Attachment))
    before = _message_count(chat.group)
    for path in ("/chat/", f"/chat/threads/{chat.group.id}", "/chat/search?q=members",
                 f"/chat/attachments/{attachment.id}/{attachment.filename}", "/chat/groups/new"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    token = csrf_token(client, "/login")
    response = client.post(f"/chat/threads/{chat.group.id}/messages",
                           data={"body": "anonymous", "csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _message_count(chat.group) == before
