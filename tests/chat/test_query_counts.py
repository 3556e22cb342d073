"""Query counts stay flat: the chat pages cost the same number of SQL statements however many
threads, messages, members and attachments they show."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.accounts.models import CourseRole, Enrollment, Role, User
from app.chat import attachments as chat_files
from app.chat.formatting import render_message_html
from app.chat.models import (Attachment, MemberRole, Message, MessageKind, Thread, ThreadKind,
                             ThreadMember)
from app.db_types import utcnow
from app.extensions import db
from tests.chat.conftest import listed_thread_ids, message_ids, open_and_read
from tests.conftest import csrf_token, login

BOUND = 20  # statements per page, whatever its size (16 at the time of writing)


@dataclass
class World:
    teacher: User
    student: User
    big_thread: Thread  # the thread with many messages
    thread_count: int


def _thread(center, kind, name, people, owner=None, direct_key=None) -> Thread:
    thread = Thread(center_id=center.id, kind=kind, name=name, description="",
                    direct_key=direct_key, created_by_id=owner.id if owner else None)
    for person in people:
        thread.members.append(ThreadMember(
            center_id=center.id, user_id=person.id, last_read_message_id=0,
            role=MemberRole.OWNER if person is owner else MemberRole.MEMBER))
    db.session.add(thread)
    return thread


def _message(thread, sender, body, when, kind=MessageKind.TEXT, **extra) -> Message:
    message = Message(center_id=thread.center_id, thread_id=thread.id,
                      sender_id=sender.id if sender else None, kind=kind, body=body,
                      body_html=render_message_html(body), created_at=when, **extra)
    db.session.add(message)
    return message


def build(make, threads: int, messages: int) -> World:
    """A teacher in ``threads`` threads (groups and direct ones, different people writing last,
    some edited or deleted), one of which holds ``messages`` messages from several people, each
    with an attachment."""
    center = make.center()
    teacher = make.user(center, Role.TEACHER, name="Teacher")
    student = make.user(center, Role.STUDENT, name="Student", timezone="Asia/Tokyo")
    others = [make.user(center, Role.STUDENT, commit=False, timezone="America/Chicago")
              for _ in range(max(3, threads // 2))]
    db.session.commit()
    course = make.course(center, "Course")
    for person in [student, *others]:
        db.session.add(Enrollment(center_id=center.id, course_id=course.id, user_id=person.id,
                                  role=CourseRole.STUDENT))
    now = utcnow()
    made = []
    for n in range(threads):
        if n % 2:
            other = others[n // 2]
            made.append(_thread(center, ThreadKind.DIRECT, "", [teacher, other],
                                direct_key=f"{teacher.id}:{other.id}"))
        else:
            members = [teacher, student, others[n // 2 % len(others)],
                       others[(n // 2 + 1) % len(others)]]
            made.append(_thread(center, ThreadKind.GROUP, f"Group {n}", members, owner=teacher))
    db.session.flush()
    for n, thread in enumerate(made):
        people = [m.user_id for m in thread.members]
        when = now - timedelta(minutes=n)
        _message(thread, None, "created", when - timedelta(seconds=30), MessageKind.SYSTEM)
        sender = db.session.get(User, people[n % len(people)])
        last = _message(thread, sender, f"latest **news** {n}", when,
                        edited_at=when if n % 3 == 0 else None,
                        deleted_at=when if n % 7 == 0 else None)
        db.session.flush()
        thread.last_message_id, thread.last_activity_at = last.id, when
    big = made[0]
    writers = [db.session.get(User, m.user_id) for m in big.members]
    start = now - timedelta(days=3)
    for n in range(messages):
        when = start + timedelta(hours=n)  # several days: day dividers
        message = _message(big, writers[n % len(writers)], f"message {n} with `code`", when,
                           edited_at=when if n % 4 == 0 else None)
        for k in range(1 + n % 2):
            image = (n + k) % 2 == 0
            data = b"\x89PNG\r\n\x1a\n" + bytes(16) if image else b"some notes"
            message.attachments.append(Attachment(
                center_id=center.id, filename=f"file{n}-{k}.{'png' if image else 'txt'}",
                content_type="image/png" if image else "text/plain", size=len(data),
                storage_key=chat_files.store(data)))
        db.session.flush()
        big.last_message_id, big.last_activity_at = message.id, now + timedelta(minutes=1)
    db.session.commit()
    return World(teacher, student, big, threads)


def _new_messages(world: World, reader: User, count: int = 3) -> None:
    """Someone else writes in the big thread: ``reader`` has unread messages there."""
    thread = db.session.get(Thread, world.big_thread.id)
    sender = world.student if reader.id == world.teacher.id else world.teacher
    for n in range(count):
        message = _message(thread, sender, f"new {n}", utcnow())
        db.session.flush()
        thread.last_message_id, thread.last_activity_at = message.id, message.created_at
    db.session.commit()


def _statements(client, count_queries, path, htmx=False, before=None) -> int:
    headers = {"HX-Request": "true"} if htmx else {}
    assert client.get(path, headers=headers).status_code == 200  # warm up; reads the thread
    if before is not None:
        before()
    with count_queries() as counter:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return counter.count


def test_chat_pages_run_a_bounded_number_of_statements(new_client, count_queries, make):
    small = build(make, threads=5, messages=5)
    large = build(make, threads=200, messages=50)
    table = {}
    for who in ("teacher", "student"):
        clients = []
        for world in (small, large):
            client = new_client()
            login(client, getattr(world, who))
            clients.append(client)
        # The pages do show everything they are measured with.
        listing = clients[1].get("/chat/").get_data(as_text=True)
        expected = 200 if who == "teacher" else 100
        assert len(listing_ids := listed_thread_ids(listing)) == expected, len(listing_ids)
        page = clients[1].get(f"/chat/threads/{large.big_thread.id}").get_data(as_text=True)
        assert len(message_ids(page)) >= 50  # unread: from the first unread one on
        for client, world in zip(clients, (small, large)):
            client.csrf = csrf_token(client, "/account")
            open_and_read(client, world.big_thread.id)
        page = clients[1].get(f"/chat/threads/{large.big_thread.id}").get_data(as_text=True)
        assert len(message_ids(page)) == 50  # read: the latest page
        assert page.count("/chat/attachments/") >= 75
        for path, htmx in (("/chat/", False), ("/chat/?kind=GROUP", False),
                           ("/chat/", True),
                           ("/chat/threads/{thread}", False),
                           ("/chat/threads/{thread}/messages?before={last}", True),
                           ("/chat/search?q=message", False),
                           ("/chat/search?q=latest", False)):
            counts = []
            for world, client in zip((small, large), clients):
                url = path.format(thread=world.big_thread.id,
                                  last=world.big_thread.last_message_id)
                counts.append(_statements(client, count_queries, url, htmx))
            table[(who, path, htmx)] = counts
        # Opening a thread with unread messages (the usual case): from the first unread on.
        counts = []
        for world, client in zip((small, large), clients):
            reader = getattr(world, who)
            counts.append(_statements(client, count_queries,
                                      f"/chat/threads/{world.big_thread.id}",
                                      before=lambda w=world, r=reader: _new_messages(w, r)))
        table[(who, "/chat/threads/{thread} with unread", False)] = counts
        # ...and the read receipt the page then posts: the write.
        counts = []
        for world, client in zip((small, large), clients):
            with count_queries() as counter:
                assert client.post(f"/chat/threads/{world.big_thread.id}/read",
                                   data={"csrf_token": client.csrf}).status_code == 204
            counts.append(counter.count)
        table[(who, "POST /chat/threads/{thread}/read", False)] = counts
    flat = {k: v for k, v in table.items() if v[0] != v[1] or v[1] > BOUND}
    assert not flat, f"query counts grow with size or exceed {BOUND}: {flat} (all: {table})"
