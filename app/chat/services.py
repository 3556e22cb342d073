"""Chat rules: who may see and post in which thread, threads and members, messages, read state,
search. The only code that changes chat state; it publishes realtime events after commit."""
from __future__ import annotations

import re
import secrets
import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (Integer, and_, bindparam, delete, func, inspect, or_, select, text,
                        update)
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached

from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
from app.accounts.services import (PermissionDenied, ValidationError, enrolled_students_query,
                                   is_enrolled_student_of, record_audit)
from app.after_commit import run_after_commit
from app.bulk import reusable
from app.chat import attachments as files
from app.chat.formatting import preview_text, render_message_html
from app.chat.permissions import (NOT_LOOKED_UP, can_manage_group, membership,  # noqa: F401
                                  post_refusal, thread_for_posting)
from app.chat.models import (Attachment, MemberRole, Message, MessageKind, Thread, ThreadKind,
                             ThreadMember)
from app.db_types import utcnow
from app.extensions import db
from app.realtime.events import AUDIENCE, AUDIENCE_CENTER, publish, publish_to_users

MAX_MESSAGE_LENGTH = 10_000
EDIT_WINDOW = timedelta(days=2)
PAGE_SIZE = 50


# --- permissions (views, the websocket hub and jobs all use these) -------------------------------
# membership, thread_for_posting, post_refusal and can_manage_group live in permissions.py,
# with the capability flags the pages read; they are imported above so every caller keeps
# using services.

def can_view_thread(user: User, thread: Thread) -> bool:
    return user.is_active and membership(user, thread) is not None


def can_view_thread_id(user: User, thread_id: int) -> bool:
    thread = db.session.get(Thread, thread_id)
    return thread is not None and can_view_thread(user, thread)


def thread_center(thread: Thread) -> Center:
    return db.session.get(Center, thread.center_id)


def may_message_directly(user: User, other: User) -> bool:
    """Teachers and their enrolled students; admins and staff with anyone in the center;
    students with each other only where the center allows it."""
    if user.id == other.id or user.center_id != other.center_id or not other.is_active:
        return False
    roles = {user.role, other.role}
    if Role.ADMIN in roles or roles == {Role.TEACHER}:
        return True
    if roles == {Role.TEACHER, Role.STUDENT}:
        teacher, student = (user, other) if user.role == Role.TEACHER else (other, user)
        return is_enrolled_student_of(teacher, student)
    return bool(user.center.students_may_message_each_other)


def direct_contacts(user: User) -> list[User]:
    """People ``user`` may start a direct conversation with."""
    if user.role == Role.TEACHER:
        people = list(db.session.scalars(enrolled_students_query(user)))
        people += db.session.scalars(select(User).where(
            User.center_id == user.center_id, User.role.in_([Role.TEACHER, Role.ADMIN]),
            User.is_active_flag.is_(True), User.id != user.id))
    elif user.role == Role.ADMIN:
        people = list(db.session.scalars(select(User).where(
            User.center_id == user.center_id, User.is_active_flag.is_(True), User.id != user.id)))
    else:
        course_ids = select(Enrollment.course_id).where(Enrollment.user_id == user.id)
        roles = [CourseRole.TEACHER]
        if user.center.students_may_message_each_other:
            roles.append(CourseRole.STUDENT)
        people = list(db.session.scalars(
            select(User).join(Enrollment, Enrollment.user_id == User.id)
            .where(Enrollment.course_id.in_(course_ids), Enrollment.role.in_(roles),
                   User.id != user.id, User.is_active_flag.is_(True)).distinct()))
        people += db.session.scalars(select(User).where(
            User.center_id == user.center_id, User.role == Role.ADMIN,
            User.is_active_flag.is_(True)))
    unique = {p.id: p for p in people}
    return sorted(unique.values(), key=lambda p: p.name.lower())


# --- threads -----------------------------------------------------------------------------------

def _add_member(thread: Thread, user_id: int, role: MemberRole = MemberRole.MEMBER) -> ThreadMember:
    member = ThreadMember(center_id=thread.center_id, user_id=user_id, role=role, muted=False,
                          last_read_message_id=thread.last_message_id or 0)
    thread.members.append(member)
    return member


def _system_message(thread: Thread, text: str, actor: User | None = None) -> Message:
    message = Message(center_id=thread.center_id, thread_id=thread.id, kind=MessageKind.SYSTEM,
                      sender_id=actor.id if actor else None, body=text,
                      body_html=render_message_html(text))
    db.session.add(message)
    db.session.flush()
    thread.last_message_id = message.id
    thread.last_activity_at = message.created_at
    return message


def get_or_create_direct(user: User, other: User) -> Thread:
    if not may_message_directly(user, other):
        raise PermissionDenied("You cannot message this person directly.")
    key = ":".join(str(i) for i in sorted((user.id, other.id)))
    thread = db.session.scalar(select(Thread).where(Thread.center_id == user.center_id,
                                                    Thread.direct_key == key))
    if thread is not None:
        return thread
    thread = Thread(center_id=user.center_id, kind=ThreadKind.DIRECT, direct_key=key,
                    created_by_id=user.id, name="", description="")
    _add_member(thread, user.id)
    _add_member(thread, other.id)
    db.session.add(thread)
    db.session.flush()  # its id names the page the caller opens
    return thread


def _validate_group_fields(name: str, description: str) -> dict[str, str]:
    errors = {}
    if not (name or "").strip():
        errors["name"] = "Give the group a name."
    elif len(name.strip()) > 120:
        errors["name"] = "Use at most 120 characters."
    if len(description or "") > 2000:
        errors["description"] = "Use at most 2,000 characters."
    return errors


def _group_students(teacher: User, user_ids: list[int]) -> list[User]:
    allowed = {u.id: u for u in db.session.scalars(enrolled_students_query(teacher))}
    if any(i not in allowed for i in user_ids):
        raise ValidationError({"member_ids": "Pick students enrolled in your courses."})
    return [allowed[i] for i in dict.fromkeys(user_ids)]


def create_group(teacher: User, name: str, description: str, member_ids: list[int]) -> Thread:
    if teacher.role != Role.TEACHER:
        raise PermissionDenied("Only teachers create group chats.")
    errors = _validate_group_fields(name, description)
    try:
        students = _group_students(teacher, member_ids)
        if not students:
            errors["member_ids"] = "Pick at least one student."
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    thread = Thread(center_id=teacher.center_id, kind=ThreadKind.GROUP, name=name.strip(),
                    description=(description or "").strip(), created_by_id=teacher.id)
    _add_member(thread, teacher.id, MemberRole.OWNER)
    for student in students:
        _add_member(thread, student.id)
    db.session.add(thread)
    db.session.flush()
    _system_message(thread, f"{teacher.name} created the group.", teacher)
    record_audit(teacher, "chat.group_created", "thread", thread.id, name=thread.name,
                 members=[s.id for s in students])
    _announce_thread(thread, [m.user_id for m in thread.members])
    _notify_members_added(teacher, thread, [s.id for s in students], created=True)
    return thread


def update_group(actor: User, thread: Thread, name: str, description: str) -> None:
    if not can_manage_group(actor, thread):
        raise PermissionDenied("Only the group's owner can change it.")
    errors = _validate_group_fields(name, description)
    if errors:
        raise ValidationError(errors)
    if name.strip() != thread.name:
        _system_message(thread, f"{actor.name} renamed the group to “{name.strip()}”.", actor)
    thread.name, thread.description = name.strip(), (description or "").strip()
    record_audit(actor, "chat.group_updated", "thread", thread.id, name=thread.name)
    _announce_thread(thread, [m.user_id for m in thread.members])


def co_teacher_candidates_query(owner: User):
    """The other teachers of the owner's center: a group may have them as co-teachers (members
    whom the group's session rules may let schedule for it)."""
    return (select(User).where(User.center_id == owner.center_id, User.role == Role.TEACHER,
                               User.id != owner.id, User.is_active_flag.is_(True))
            .order_by(func.lower(User.name)))


def _group_people(owner: User, user_ids: list[int]) -> list[User]:
    """Students enrolled in the owner's courses, and the center's other teachers."""
    allowed = {u.id: u for u in db.session.scalars(enrolled_students_query(owner))}
    allowed.update((u.id, u) for u in db.session.scalars(co_teacher_candidates_query(owner)))
    if any(i not in allowed for i in user_ids):
        raise ValidationError({"member_ids": "Pick students enrolled in your courses or "
                                             "teachers of your center."})
    return [allowed[i] for i in dict.fromkeys(user_ids)]


def add_group_members(actor: User, thread: Thread, user_ids: list[int]) -> list[User]:
    if not can_manage_group(actor, thread):
        raise PermissionDenied("Only the group's owner can add members.")
    owner = next((m.user for m in thread.members if m.role == MemberRole.OWNER), actor)
    students = _group_people(owner, user_ids)
    present = {m.user_id for m in thread.members}
    added = [s for s in students if s.id not in present]
    for student in added:
        _add_member(thread, student.id)
    if added:
        db.session.flush()
        _system_message(thread, f"{actor.name} added {', '.join(s.name for s in added)}.", actor)
        record_audit(actor, "chat.members_added", "thread", thread.id,
                     user_ids=[s.id for s in added])
        _announce_thread(thread, [m.user_id for m in thread.members])
        _notify_members_added(actor, thread, [s.id for s in added], created=False)
    return added


def join_group_by_invitation(user: User, thread: Thread, inviter: User) -> bool:
    """An invited person joins a GROUP thread. The emailed invitation is the owner's consent
    (the invites domain checked it), so the "students enrolled in your courses" rule of
    add_group_members does not apply. Adds and flushes; the caller commits. False: already in."""
    if thread.kind != ThreadKind.GROUP or thread.center_id != user.center_id:
        raise PermissionDenied("This is not a group of your center.")
    if any(m.user_id == user.id for m in thread.members):
        return False
    _add_member(thread, user.id)
    db.session.flush()
    _system_message(thread, f"{user.name} joined, invited by {inviter.name}.", user)
    record_audit(user, "chat.member_joined", "thread", thread.id, invited_by=inviter.id)
    _announce_thread(thread, [m.user_id for m in thread.members])
    return True


def remove_group_member(actor: User, thread: Thread, user_id: int) -> None:
    if not can_manage_group(actor, thread):
        raise PermissionDenied("Only the group's owner can remove members.")
    member = next((m for m in thread.members if m.user_id == user_id), None)
    if member is None:
        raise ValidationError({"member_ids": "That person is not in the group."})
    if member.role == MemberRole.OWNER:
        raise ValidationError({"member_ids": "The group's owner cannot be removed."})
    name = member.user.name
    thread.members.remove(member)
    db.session.flush()
    _system_message(thread, f"{actor.name} removed {name}.", actor)
    record_audit(actor, "chat.member_removed", "thread", thread.id, user_id=user_id)
    _announce_thread(thread, [m.user_id for m in thread.members])
    publish_to_users("user", [user_id], "thread.removed", thread_id=thread.id)


def archive_group(actor: User, thread: Thread, archived: bool = True) -> None:
    if not can_manage_group(actor, thread):
        raise PermissionDenied("Only the group's owner can archive it.")
    thread.archived_at = utcnow() if archived else None
    record_audit(actor, "chat.group_archived" if archived else "chat.group_unarchived",
                 "thread", thread.id)
    _announce_thread(thread, [m.user_id for m in thread.members])


def delete_group(actor: User, thread: Thread) -> None:
    if not can_manage_group(actor, thread):
        raise PermissionDenied("Only the group's owner can delete it.")
    member_ids = [m.user_id for m in thread.members]
    keys = list(db.session.scalars(select(Attachment.storage_key).join(Message).where(
        Message.thread_id == thread.id)))
    record_audit(actor, "chat.group_deleted", "thread", thread.id, name=thread.name)
    # Explicitly, not by ON DELETE CASCADE alone: SQLite does not enforce foreign keys here, and
    # it reuses the highest rowid, so orphaned messages would show up in the next new thread.
    message_ids = select(Message.id).where(Message.thread_id == thread.id)
    db.session.execute(delete(Attachment).where(Attachment.message_id.in_(message_ids)))
    db.session.execute(delete(Message).where(Message.thread_id == thread.id))
    from app.scheduling.group_services import forget_group

    forget_group(thread)  # its session rules go, its sessions stay (without a group)
    db.session.delete(thread)
    publish_to_users("user", member_ids, "thread.removed", thread_id=thread.id)
    _discard_files_after_commit(keys)


def sync_members(thread: Thread, wanted: dict[int, MemberRole]) -> None:
    """Make a CLASS or SESSION thread's members exactly ``wanted`` (keeping read state)."""
    current = {m.user_id: m for m in thread.members}
    leaving = [user_id for user_id in current if user_id not in wanted]
    for user_id in leaving:
        thread.members.remove(current[user_id])
    publish_to_users("user", leaving, "thread.removed", thread_id=thread.id)
    joining = {user_id: role for user_id, role in wanted.items() if user_id not in current}
    for user_id, role in wanted.items():
        if user_id in current and current[user_id].role != role:
            current[user_id].role = role
    if joining:
        _add_members(thread, joining)
    _announce_thread(thread, list(wanted))


def _add_members(thread: Thread, roles: dict[int, MemberRole]) -> None:
    """Add many members in one INSERT, not one per person (app/bulk.py): a class of 200."""
    from app.bulk import insert_returning

    db.session.flush()  # the thread's id if it is new, and its members' removals, first
    added = insert_returning(ThreadMember, [
        dict(center_id=thread.center_id, thread_id=thread.id, user_id=user_id, role=role,
             muted=False, last_read_message_id=thread.last_message_id or 0)
        for user_id, role in roles.items()])
    set_committed_value(thread, "members", list(thread.members) + added)


def ensure_class_thread(course: Course) -> Thread:
    thread = db.session.scalar(select(Thread).where(Thread.course_id == course.id))
    if thread is None:
        thread = Thread(center_id=course.center_id, kind=ThreadKind.CLASS, course_id=course.id,
                        name=course.name, description="Announcements and questions for the class.")
        db.session.add(thread)
    thread.name = course.name
    enrollments = db.session.scalars(select(Enrollment).where(Enrollment.course_id == course.id))
    sync_members(thread, {e.user_id: MemberRole.OWNER if e.role == CourseRole.TEACHER
                          else MemberRole.MEMBER for e in enrollments})
    return thread


def ensure_session_thread(session) -> Thread:
    """The SESSION thread of a scheduled session: its participants, before, during, after."""
    thread = db.session.scalar(select(Thread).where(Thread.session_id == session.id))
    if thread is None:
        thread = Thread(center_id=session.center_id, kind=ThreadKind.SESSION,
                        session_id=session.id, name=session.title,
                        description="Chat for this session, before, during and after it.")
        db.session.add(thread)
    thread.name = session.title
    sync_members(thread, {p.user_id: MemberRole.OWNER if p.user_id == session.teacher_id
                          else MemberRole.MEMBER for p in session.participants})
    return thread


# --- messages ----------------------------------------------------------------------------------

_CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def new_client_key() -> str:
    """A key for one composed message (the composer's hidden field, without JavaScript too)."""
    return secrets.token_urlsafe(16)


# --- the commonest write's statements, built once per dialect (bulk.reusable) ---------------------

def _insert_message_sql(returning: str) -> str:
    """The INSERT of a message, nothing on a duplicate key (a retry: see post_message), as
    text: SQLAlchemy never caches the compiled form of its ON CONFLICT constructs (the
    dialects' Insert classes set inherit_cache = False), and compiling one on every post cost
    more CPU than running it."""
    return f"""
    INSERT INTO messages (center_id, thread_id, sender_id, kind, body, body_html, client_key,
                          created_at, notices_due_at)
    VALUES (:center_id, :thread_id, :sender_id, :kind, :body, :body_html, :client_key,
            :created_at, :notices_due_at)
    ON CONFLICT (thread_id, sender_id, client_key) DO NOTHING
    RETURNING {returning}"""


def _message_statement(sql: str):
    columns = Message.__table__.c
    return text(sql).bindparams(
        bindparam("kind", type_=columns.kind.type),
        bindparam("created_at", type_=columns.created_at.type),
        bindparam("notices_due_at", type_=columns.notices_due_at.type),
    ).columns(id=Integer)


# PostgreSQL: a post's three writes in one statement (data-modifying CTEs), one round trip
# instead of three: the INSERT, the thread's last message and the sender's read marker. The
# UPDATEs read the new row from the INSERT's RETURNING, so a duplicate key, which inserts
# nothing, updates nothing either.
_insert_and_mark = reusable(lambda: _message_statement(f"""
    WITH new_message AS ({_insert_message_sql("id, thread_id, created_at")}),
    last_message AS (
        UPDATE threads SET last_message_id = new_message.id,
                           last_activity_at = new_message.created_at
        FROM new_message WHERE threads.id = new_message.thread_id),
    read_marker AS (
        UPDATE thread_members SET last_read_message_id = new_message.id
        FROM new_message
        WHERE thread_members.id = :member AND thread_members.thread_id = new_message.thread_id)
    SELECT id FROM new_message"""))
_insert_message = reusable(lambda: _message_statement(_insert_message_sql("id")))
_mark_thread_active = reusable(lambda: update(Thread.__table__).where(
    Thread.__table__.c.id == bindparam("thread")).values(
    last_message_id=bindparam("message"), last_activity_at=bindparam("at")))
_mark_read = reusable(lambda: update(ThreadMember.__table__).where(
    ThreadMember.__table__.c.id == bindparam("member")).values(
    last_read_message_id=bindparam("message")))


def _write_message(columns: dict, member: ThreadMember) -> int | None:
    """Store a message (``columns``: _insert_message_sql's parameters), make it its thread's
    last and mark it read for its sender (``member``). Its id; None when its key was sent before
    (the first one's row stands and nothing is written). One statement on PostgreSQL; three on
    SQLite, which has no data-modifying CTEs (and no network between the app and its data)."""
    # What the unit of work holds goes first, as an ORM query would autoflush it (a member or
    # thread made earlier in the same request or job): these statements are not the ORM's.
    db.session.flush()
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalar(_insert_and_mark(), {**columns, "member": member.id})
    message_id = db.session.scalar(_insert_message(), columns)
    if message_id is not None:
        db.session.execute(_mark_thread_active(), dict(
            thread=columns["thread_id"], message=message_id, at=columns["created_at"]))
        db.session.execute(_mark_read(), dict(member=member.id, message=message_id))
    return message_id


def sent_with_key(user: User, thread: Thread, client_key: str) -> Message | None:
    return db.session.scalar(select(Message).where(Message.thread_id == thread.id,
                                                   Message.sender_id == user.id,
                                                   Message.client_key == client_key))


def shown_message(message: Message, sender: User, thread: Thread,
                  previous: Message | None) -> dict:
    """What the open pages and the members' thread lists show of a message just posted, for its
    event to carry (Zulip's events carry the message too): each process draws it for its
    viewers without reading it and its thread back. ``previous`` is the message it follows, as
    the poster's own answer draws it against (app/chat/realtime.py message_from_event)."""
    return {
        "thread_kind": thread.kind.value, "thread_name": thread.name,
        "center_id": message.center_id, "kind": message.kind.value, "body": message.body,
        "body_html": message.body_html, "created_at": message.created_at.isoformat(),
        "sender_name": sender.name,
        "attachments": [[a.id, a.filename, a.content_type, a.size]
                        for a in message.attachments],
        "previous": None if previous is None else [
            previous.id, previous.kind.value, previous.sender_id,
            previous.created_at.isoformat()],
    }


def member_ids(thread: Thread) -> list[int]:
    """Everyone in the thread, as ids: from its members when they are loaded, else one column
    statement (no member row is built: a class of 2,000 would be 2,000 objects per message)."""
    if "members" in thread.__dict__:
        return [m.user_id for m in thread.members]
    return list(db.session.scalars(select(ThreadMember.user_id).where(
        ThreadMember.thread_id == thread.id)))


def post_message(user: User, thread: Thread, body: str, uploads=(),
                 client_key: str | None = None, member=NOT_LOOKED_UP,
                 everyone: list[int] | None = None) -> Message:
    """Store and announce a message. ``client_key`` (made by the composer for each message it
    sends, kept when it sends again) makes posting idempotent: the same key from the same
    person in the same thread returns the message already stored (no second row, no second
    notification), e.g. when a web worker died after the commit and the browser retried."""
    # The sender's membership (``member``, when the caller has read it already): whether they
    # may post, and their read marker below. Everyone else is an id (``everyone``: every
    # member's user id when the caller has read them already, else member_ids).
    if member is NOT_LOOKED_UP:
        member = membership(user, thread)
    refusal = post_refusal(user, thread, member)
    if refusal:
        raise PermissionDenied(refusal)
    if client_key is not None and not _CLIENT_KEY.fullmatch(client_key):
        raise ValidationError({"body": "This message could not be sent (its draft key is "
                                       "malformed). Reload the page and send it again."})
    body = (body or "").strip()
    uploads = [u for u in uploads if u and u.filename]
    errors = {}
    if not body and not uploads:
        errors["body"] = "Write a message or attach a file."
    elif len(body) > MAX_MESSAGE_LENGTH:
        errors["body"] = (f"Messages can be at most {MAX_MESSAGE_LENGTH:,} characters "
                          f"(this one has {len(body):,}). Split it into parts.")
    if len(uploads) > files.MAX_FILES_PER_MESSAGE:
        errors["files"] = f"Attach at most {files.MAX_FILES_PER_MESSAGE} files to a message."
    checked = []
    if not errors:
        try:
            checked = [files.check_upload(u) for u in uploads]
        except files.AttachmentError as exc:
            errors["files"] = str(exc)
    if errors:
        raise ValidationError(errors)
    now = utcnow()
    # The message it follows, when the caller read it with the thread (thread_for_posting):
    # its open pages draw the new one against it (day divider, grouping) from the event alone.
    before = thread.__dict__.get("last_message", NOT_LOOKED_UP)
    stored = []
    try:
        for item in checked:
            stored.append(files.store(item.data))
        # A key sent again (a retry) is found by its unique index, not looked up first:
        # posting is the commonest write and a retry is rare. ON CONFLICT DO NOTHING leaves
        # the request's transaction intact on a duplicate (no savepoint: two round trips
        # fewer on every post).
        columns = dict(
            center_id=thread.center_id, thread_id=thread.id, sender_id=user.id,
            kind=MessageKind.TEXT, body=body, body_html=render_message_html(body),
            client_key=client_key or None, created_at=now,
            # Its members are told by a job after the commit (message_posted's receiver
            # queues it; app/notifications/messages.py): owed until then.
            notices_due_at=now)
        message_id = _write_message(columns, member)
        if message_id is None:
            # The same key again (a retry after the first try committed, or while it was
            # still running): the first one's row won; answer with it.
            for key in stored:
                files.discard(key)
            stored = []
            return sent_with_key(user, thread, client_key)
        # The row as written, in the session as if loaded: every column is known, so nothing
        # reads it back.
        message = Message(id=message_id, edited_at=None, deleted_at=None, **columns)
        make_transient_to_detached(message)
        db.session.add(message)
        # Known (empty) from the start: the answer and the fan-out render the message's
        # attachments, which would otherwise be a query.
        set_committed_value(message, "attachments", [])
        for item, key in zip(checked, stored):
            message.attachments.append(Attachment(
                center_id=thread.center_id, filename=item.filename,
                content_type=item.content_type, size=len(item.data), storage_key=key))
        if checked:
            db.session.flush()  # the attachments' ids: the answer links to them
        # _write_message made it the thread's last message and marked it read for its sender
        # (your own message is read): the loaded objects are told what they now hold, so the
        # unit of work has nothing left to compare and flush.
        set_committed_value(thread, "last_message_id", message.id)
        set_committed_value(thread, "last_activity_at", message.created_at)
        set_committed_value(member, "last_read_message_id", message.id)
        # One event for the open thread (its frame carries "Seen by" too: the sender read it)
        # and one per-user batch for the members' badges and lists (_announce_thread).
        if everyone is None:
            everyone = member_ids(thread)
        # Its members as of this commit are its audience: the open pages need no statement to
        # learn who may see it (realtime.events.allowed_viewers).
        shown = {}
        if before is None or (before is not NOT_LOOKED_UP and before.id < message.id):
            shown["shown"] = shown_message(message, user, thread, before)
        publish(f"thread:{thread.id}", "message.created", message_id=message.id,
                thread_id=thread.id, sender_id=user.id,
                **{AUDIENCE: everyone, AUDIENCE_CENTER: thread.center_id}, **shown)
        _announce_thread(thread, everyone)
        _notify_new_message(user, thread, message, everyone)
    except Exception:
        # The caller's edge rolls the transaction back; the stored files are this call's own.
        for key in stored:
            files.discard(key)
        raise
    return message


def post_call_message(starter: User, thread: Thread) -> Message:
    """The CALL message announcing an instant call (live's call_started); its Join button
    shows while the call is live (until ``end_call_message``)."""
    text = f"{starter.name} started a call"
    message = Message(center_id=thread.center_id, thread_id=thread.id, sender_id=starter.id,
                      kind=MessageKind.CALL, body=text, body_html=render_message_html(text))
    db.session.add(message)
    db.session.flush()
    thread.last_message_id = message.id
    thread.last_activity_at = message.created_at
    publish(f"thread:{thread.id}", "message.created", message_id=message.id,
            thread_id=thread.id, sender_id=starter.id)
    _announce_thread(thread, [m.user_id for m in thread.members])
    return message


def end_call_message(message_id: int, duration_seconds: int, people: int) -> None:
    """The call is over: its message becomes the summary ("Call ended · 23 min · 4 people")."""
    message = db.session.get(Message, message_id)
    if message is None or message.kind != MessageKind.CALL or message.edited_at is not None:
        return
    minutes = max(1, round(duration_seconds / 60))
    text = f"Call ended · {minutes} min · {people} {'person' if people == 1 else 'people'}"
    message.body, message.body_html, message.edited_at = text, render_message_html(text), utcnow()
    publish(f"thread:{message.thread_id}", "message.updated", message_id=message.id,
            thread_id=message.thread_id)


def edit_message(user: User, message: Message, body: str) -> Message:
    if message.sender_id != user.id or message.kind != MessageKind.TEXT:
        raise PermissionDenied("You can edit only your own messages.")
    if message.is_deleted:
        raise ValidationError({"body": "A deleted message cannot be edited."})
    if utcnow() - message.created_at > EDIT_WINDOW:
        raise ValidationError({"body": "Messages can be edited for two days after sending."})
    body = (body or "").strip()
    if not body and not message.attachments:
        raise ValidationError({"body": "A message cannot be empty; delete it instead."})
    if len(body) > MAX_MESSAGE_LENGTH:
        raise ValidationError({"body": f"Messages can be at most {MAX_MESSAGE_LENGTH:,} characters."})
    if body != message.body:
        message.body, message.body_html = body, render_message_html(body)
        message.edited_at = utcnow()
        publish(f"thread:{message.thread_id}", "message.updated", message_id=message.id,
                thread_id=message.thread_id)
    return message


def delete_message(user: User, message: Message) -> Message:
    thread = db.session.get(Thread, message.thread_id)
    if message.sender_id != user.id and not can_manage_group(user, thread):
        raise PermissionDenied("You can delete only your own messages.")
    if message.is_deleted:
        return message
    keys = [a.storage_key for a in message.attachments]
    message.deleted_at = utcnow()
    message.body, message.body_html = "", ""
    message.attachments.clear()
    publish(f"thread:{message.thread_id}", "message.updated", message_id=message.id,
            thread_id=message.thread_id)
    _announce_thread(thread, [m.user_id for m in thread.members])
    _discard_files_after_commit(keys)
    return message


def _discard_files_after_commit(keys: list[str]) -> None:
    """Delete stored files once the rows that named them are gone for good: if the transaction
    rolls back, the rows (and their files) stay."""
    if keys:
        run_after_commit(db.session(), lambda: [files.discard(key) for key in keys])


def mark_read(user: User, thread: Thread, up_to_message_id: int | None = None) -> bool:
    """Move the member's read pointer forward (never back). Returns whether it moved."""
    member = membership(user, thread)
    if member is None:
        raise PermissionDenied("You are not a member of this conversation.")
    target = thread.last_message_id or 0
    if up_to_message_id is not None:
        target = min(target, up_to_message_id)
    if target <= member.last_read_message_id:
        return False
    member.last_read_message_id = target
    publish(f"thread:{thread.id}", "thread.read", thread_id=thread.id, user_id=user.id)
    _announce_thread(thread, [user.id], activity=False)
    from app.chat import signals  # notifications about the thread are read with it

    signals.thread_read.send(thread, user=user, up_to_message_id=target,
                             to_the_end=target >= (thread.last_message_id or 0))
    return True


def set_muted(user: User, thread: Thread, muted: bool) -> None:
    member = membership(user, thread)
    if member is None:
        raise PermissionDenied("You are not a member of this conversation.")
    member.muted = muted


# --- reading -----------------------------------------------------------------------------------

@dataclass
class ThreadSummary:
    thread: Thread
    member: ThreadMember
    title: str
    unread: int
    other: User | None  # the other person of a DIRECT thread

    @property
    def version(self) -> str:
        """A short digest of what the row shows: a reconnecting page sends the versions of the
        rows it has, and is sent a new list only when one differs (realtime catch-up)."""
        last = self.thread.last_message
        shown = (self.thread.last_message_id, self.title, self.unread, self.member.muted,
                 self.thread.archived_at, last.edited_at if last else None,
                 last.deleted_at if last else None)
        return hashlib.blake2s(repr(shown).encode(), digest_size=6).hexdigest()


# Session threads are many (one per scheduled session) and mostly quiet: they have their own
# filter, and the main list ("All") holds the conversations.
LIST_FILTERS: dict[ThreadKind | None, tuple[ThreadKind, ...]] = {
    None: (ThreadKind.DIRECT, ThreadKind.GROUP, ThreadKind.CLASS),
    **{kind: (kind,) for kind in ThreadKind},
}


def listed_kinds(kind: ThreadKind | None) -> tuple[ThreadKind, ...]:
    """The kinds of thread the list shows under a filter (None: "All")."""
    return LIST_FILTERS[kind]


def thread_title(thread: Thread, viewer: User) -> str:
    if thread.kind == ThreadKind.DIRECT:
        others = [m.user.name for m in thread.members if m.user_id != viewer.id]
        return others[0] if others else "Direct message"
    return thread.name


def thread_summaries(user: User, kinds=None, thread_ids=None) -> list[ThreadSummary]:
    """The user's threads of ``kinds`` (None: every kind), latest message first and threads
    without messages last, with unread counts: a fixed number of queries however many threads
    there are."""
    stmt = (select(Thread, ThreadMember)
            .join(ThreadMember, and_(ThreadMember.thread_id == Thread.id,
                                     ThreadMember.user_id == user.id))
            .where(Thread.center_id == user.center_id)
            .options(selectinload(Thread.last_message).joinedload(Message.sender))
            # By the last message, not by creation: a session scheduled today must not push
            # last week's real conversations down before anyone has written in it.
            .order_by(Thread.last_message_id.is_(None), Thread.last_activity_at.desc(),
                      Thread.id.desc()))
    if kinds is not None:
        stmt = stmt.where(Thread.kind.in_(list(kinds)))
    if thread_ids is not None:
        stmt = stmt.where(Thread.id.in_(thread_ids))
    rows = db.session.execute(stmt).unique().all()
    _load_direct_members([t for t, _ in rows if t.kind == ThreadKind.DIRECT])
    unread = unread_counts(user, [t.id for t, _ in rows])
    summaries = []
    for thread, member in rows:
        other = None
        if thread.kind == ThreadKind.DIRECT:
            other = next((m.user for m in thread.members if m.user_id != user.id), None)
        summaries.append(ThreadSummary(thread, member, thread_title(thread, user),
                                       unread.get(thread.id, 0), other))
    return summaries


def _load_direct_members(threads: list[Thread]) -> None:
    """Members (with their accounts) of direct threads only, in one query: a row names the other
    person. A class's thousand members are not loaded to draw one row of the list."""
    pending = [t for t in threads if "members" not in inspect(t).dict]
    if not pending:
        return
    by_thread: dict[int, list[ThreadMember]] = {t.id: [] for t in pending}
    for member in db.session.scalars(select(ThreadMember).options(joinedload(ThreadMember.user))
                                     .where(ThreadMember.thread_id.in_(list(by_thread)))):
        by_thread[member.thread_id].append(member)
    for thread in pending:
        set_committed_value(thread, "members", by_thread[thread.id])


def unread_counts(user: User, thread_ids=None) -> dict[int, int]:
    stmt = (select(Message.thread_id, func.count(Message.id))
            .join(ThreadMember, and_(ThreadMember.thread_id == Message.thread_id,
                                     ThreadMember.user_id == user.id))
            .where(Message.id > ThreadMember.last_read_message_id,
                   or_(Message.sender_id.is_(None), Message.sender_id != user.id),
                   Message.deleted_at.is_(None))
            .group_by(Message.thread_id))
    if thread_ids is not None:
        stmt = stmt.where(Message.thread_id.in_(thread_ids))
    return dict(db.session.execute(stmt).all())


def unread_total(user: User) -> int:
    return sum(unread_counts(user).values())


def unread_by_kind(user: User) -> dict[ThreadKind, int]:
    """Unread messages per kind of thread, in one query (the header badge shows the sum, the
    Sessions filter its own share)."""
    stmt = (select(Thread.kind, func.count(Message.id))
            .join(ThreadMember, and_(ThreadMember.thread_id == Message.thread_id,
                                     ThreadMember.user_id == user.id))
            .join(Thread, Thread.id == Message.thread_id)
            .where(Message.id > ThreadMember.last_read_message_id,
                   or_(Message.sender_id.is_(None), Message.sender_id != user.id),
                   Message.deleted_at.is_(None))
            .group_by(Thread.kind))
    return dict(db.session.execute(stmt).all())


def _message_options():
    return (joinedload(Message.sender), selectinload(Message.attachments))


def messages_before(thread: Thread, before_id: int | None = None,
                    limit: int = PAGE_SIZE) -> tuple[list[Message], bool]:
    """A page of messages, oldest first, ending before ``before_id`` (cursor pagination)."""
    stmt = (select(Message).where(Message.thread_id == thread.id)
            .options(*_message_options()).order_by(Message.id.desc()).limit(limit + 1))
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    rows = list(db.session.scalars(stmt).unique())
    has_more = len(rows) > limit
    return list(reversed(rows[:limit])), has_more


def messages_during(thread_id: int, start, end, limit: int = PAGE_SIZE) -> tuple[list[Message], bool]:
    """What was posted in the thread between ``start`` and ``end``, oldest first, with senders
    and attachments loaded (a catch-up's "what was missed"): at most ``limit`` messages, and
    whether there were more. Deleted messages and system lines are left out: the reader was not
    there, and "X joined" lines say nothing about the lesson."""
    stmt = (select(Message).where(Message.thread_id == thread_id,
                                  Message.kind != MessageKind.SYSTEM,
                                  Message.deleted_at.is_(None),
                                  Message.created_at >= start, Message.created_at <= end)
            .options(*_message_options()).order_by(Message.created_at, Message.id)
            .limit(limit + 1))
    rows = list(db.session.scalars(stmt).unique())
    return rows[:limit], len(rows) > limit


def message_ids_after(thread: Thread, after_id: int, limit: int = 1000) -> list[int]:
    """The ids of the thread's messages after ``after_id``, oldest first (a catch-up's gap)."""
    return list(db.session.scalars(select(Message.id).where(
        Message.thread_id == thread.id, Message.id > after_id).order_by(Message.id).limit(limit)))


def messages_by_id(thread: Thread, ids) -> dict[int, Message]:
    if not ids:
        return {}
    stmt = (select(Message).where(Message.thread_id == thread.id, Message.id.in_(list(ids)))
            .options(*_message_options()))
    return {m.id: m for m in db.session.scalars(stmt).unique()}


def messages_changed_since(thread: Thread, since, limit: int = 500) -> list[Message]:
    """Messages edited or deleted since ``since`` (a resync after lost events)."""
    stmt = (select(Message).where(Message.thread_id == thread.id,
                                  or_(Message.edited_at >= since, Message.deleted_at >= since))
            .options(*_message_options()).order_by(Message.id).limit(limit))
    return list(db.session.scalars(stmt).unique())


def previous_message(message: Message) -> Message | None:
    return db.session.scalar(select(Message).where(Message.thread_id == message.thread_id,
                                                   Message.id < message.id)
                             .order_by(Message.id.desc()).limit(1))


def seen_by(thread: Thread) -> list[User]:
    """Members (other than its sender) who have read the thread's last message."""
    if not thread.last_message_id:
        return []
    last = db.session.get(Message, thread.last_message_id)
    stmt = (select(User).join(ThreadMember, ThreadMember.user_id == User.id)
            .where(ThreadMember.thread_id == thread.id,
                   ThreadMember.last_read_message_id >= thread.last_message_id,
                   User.id != (last.sender_id or 0))
            .order_by(User.name))
    return list(db.session.scalars(stmt))


# --- fan-out hooks --------------------------------------------------------------------------------

def _announce_thread(thread: Thread, user_ids, activity: bool = True) -> None:
    """Each member's unread badge (in every page's header, on ``user:<user id>``) and thread
    list (on pages that show it, subscribed to ``threads:<user id>`` as well) update live: one
    event for all of them (app/chat/realtime.py). ``activity``: the thread moved to the top of
    the list (new message, new member...)."""
    publish_to_users("user", user_ids, "thread.updated", thread_id=thread.id,
                     activity=activity)


def _notify_members_added(actor: User, thread: Thread, user_ids: list[int], created: bool) -> None:
    """Members are told when they are added (the notifications feature delivers this)."""
    from app.chat import signals

    signals.members_added.send(thread, actor=actor, user_ids=frozenset(user_ids),
                               created=created)


def _notify_new_message(sender: User, thread: Thread, message: Message, user_ids) -> None:
    from app.chat import signals

    signals.message_posted.send(thread, sender=sender, message=message,
                                user_ids=frozenset(user_ids))


def first_unread_id(user: User, thread: Thread, member: ThreadMember) -> int | None:
    return db.session.scalar(select(func.min(Message.id)).where(
        Message.thread_id == thread.id, Message.id > member.last_read_message_id,
        or_(Message.sender_id.is_(None), Message.sender_id != user.id)))


def messages_around(thread: Thread, anchor_id: int | None,
                    limit: int = PAGE_SIZE) -> tuple[list[Message], bool]:
    """The page to open a thread at: the latest messages, or, when the anchor (first unread,
    a search hit) is older than those, a few before it and what follows."""
    latest, has_more = messages_before(thread, None, limit)
    if anchor_id is None or not latest or anchor_id >= latest[0].id:
        return latest, has_more
    context = 5
    older = list(db.session.scalars(
        select(Message).where(Message.thread_id == thread.id, Message.id < anchor_id)
        .options(*_message_options()).order_by(Message.id.desc()).limit(context + 1)).unique())
    newer = list(db.session.scalars(
        select(Message).where(Message.thread_id == thread.id, Message.id >= anchor_id)
        .options(*_message_options()).order_by(Message.id).limit(4 * limit)).unique())
    if newer and newer[-1].id < latest[-1].id:
        return latest, has_more  # too far back to show in one page: open at the latest
    return list(reversed(older[:context])) + newer, len(older) > context


def teacher_groups(teacher: User) -> list[Thread]:
    """The GROUP chats the teacher owns, members loaded (the scheduling dialog's "whole group")."""
    return list(db.session.scalars(
        select(Thread).join(ThreadMember, and_(ThreadMember.thread_id == Thread.id,
                                               ThreadMember.user_id == teacher.id,
                                               ThreadMember.role == MemberRole.OWNER))
        .where(Thread.kind == ThreadKind.GROUP, Thread.center_id == teacher.center_id,
               Thread.archived_at.is_(None))
        .options(selectinload(Thread.members)).order_by(Thread.name)))


def group_member_ids(teacher: User, group_id: int) -> set[int] | None:
    """The members of one of the teacher's groups other than the teacher (None: not theirs)."""
    group = next((g for g in teacher_groups(teacher) if g.id == group_id), None)
    if group is None:
        return None
    return {m.user_id for m in group.members if m.user_id != teacher.id}
