"""What a person may do in a conversation, computed in one place: the views authorize with these
flags and pass them to the templates, which only read them (no template compares roles or ids
to decide whether to show a control). The websocket hub and the services use the same rules
(``membership``, ``post_refusal``, ``can_manage_group``)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased, joinedload

from app.accounts.models import Center, Role, User
from app.accounts.tenancy import parse_id
from app.bulk import all_values_of, reusable
from app.chat.models import MemberRole, Message, Thread, ThreadKind, ThreadMember
from app.extensions import db

# "Not looked up yet" (None means "looked up: not a member").
NOT_LOOKED_UP = object()


def membership(user: User, thread: Thread) -> ThreadMember | None:
    if thread.center_id != user.center_id:
        return None
    if "members" in thread.__dict__:
        # Loaded with the thread (posting loads them anyway): no query of its own.
        return next((m for m in thread.members if m.user_id == user.id), None)
    return db.session.scalar(select(ThreadMember).where(ThreadMember.thread_id == thread.id,
                                                        ThreadMember.user_id == user.id))


def _thread_for_posting():
    everyone = aliased(ThreadMember)
    member_ids = (select(all_values_of(everyone.user_id))
                  .where(everyone.thread_id == Thread.id).scalar_subquery())
    # The tenant scope (tenancy.scoped's rule) as a parameter, so the statement is built once.
    return (select(Thread, ThreadMember, member_ids)
            .outerjoin(ThreadMember, (ThreadMember.thread_id == Thread.id)
                       & (ThreadMember.user_id == bindparam("user")))
            .where(Thread.center_id == bindparam("center"), Thread.id == bindparam("thread"))
            # The last message only as the new one is drawn against it (day divider, grouping
            # by sender and kind): not its text and HTML, which can be 10 KB.
            .options(joinedload(Thread.last_message).load_only(
                Message.thread_id, Message.sender_id, Message.kind, Message.created_at)))


_thread_for_posting_statement = reusable(_thread_for_posting)


def thread_for_posting(user: User, thread_id) -> tuple[Thread | None, ThreadMember | None,
                                                       list[int]]:
    """The thread ``thread_id`` names in ``user``'s center (None: no such thread there) with
    its last message (the one a new message follows), ``user``'s membership of it (None: not a
    member) and every member's user id (whom a new message is told to), in one statement:
    posting reads all of it before anything else."""
    thread_id = parse_id(thread_id)
    if thread_id is None:
        return None, None, []
    row = db.session.execute(_thread_for_posting_statement(), dict(
        user=user.id, center=user.center_id, thread=thread_id)).first()
    return (None, None, []) if row is None else (row[0], row[1], row[2] or [])


def post_refusal(user: User, thread: Thread, member=NOT_LOOKED_UP) -> str | None:
    """Why ``user`` may not post in ``thread`` (None: they may). ``member``: their membership
    row when the caller has it already (None: not a member)."""
    if member is NOT_LOOKED_UP:
        member = membership(user, thread)
    if member is None or thread.center_id != user.center_id:
        return "You are not a member of this conversation."
    if thread.archived_at is not None:
        return "This conversation is archived."
    if thread.kind == ThreadKind.CLASS and user.role == Role.STUDENT and \
            not db.session.get(Center, thread.center_id).students_may_reply_in_class:
        return "Only teachers post in this class channel."
    return None


def can_manage_group(user: User, thread: Thread, member=NOT_LOOKED_UP) -> bool:
    """The group's owner and the center's admins: rename, members, archive, delete, rules."""
    if thread.kind != ThreadKind.GROUP or thread.center_id != user.center_id:
        return False
    if user.role == Role.ADMIN:
        return True
    if member is NOT_LOOKED_UP:
        member = membership(user, thread)
    return member is not None and member.role == MemberRole.OWNER


@dataclass(frozen=True)
class ThreadCapabilities:
    can_view: bool
    can_post: bool
    post_refusal: str | None  # why not, shown where the composer would be
    # Group settings: rename, add and remove members, archive, delete (owner, center admins).
    can_manage_members: bool
    # The group's Sessions tab (GROUP threads, for their members and center admins).
    can_see_group_sessions: bool

    def can_remove_member(self, member: ThreadMember) -> bool:
        """Remove this member from the group (never its owner)."""
        return self.can_manage_members and member.role != MemberRole.OWNER

    @property
    def can_start_call(self) -> bool:
        """Start (or join) the conversation's video call: whoever may post in it
        (app.live.services.start_call enforces the same rule)."""
        return self.can_post


NO_THREAD_CAPABILITIES = ThreadCapabilities(
    can_view=False, can_post=False, post_refusal="You are not a member of this conversation.",
    can_manage_members=False, can_see_group_sessions=False)


def thread_capabilities(user: User, thread: Thread, member=NOT_LOOKED_UP) -> ThreadCapabilities:
    """Everything ``user`` may do in ``thread``. ``member``: their membership row when the
    caller has it (the thread page does), so this costs no query. Another center's thread, a
    non-member or an inactive person: all false."""
    if member is NOT_LOOKED_UP:
        member = membership(user, thread)
    if not user.is_active or member is None or thread.center_id != user.center_id:
        return NO_THREAD_CAPABILITIES
    refusal = post_refusal(user, thread, member)
    return ThreadCapabilities(
        can_view=True, can_post=refusal is None, post_refusal=refusal,
        can_manage_members=can_manage_group(user, thread, member),
        can_see_group_sessions=thread.kind == ThreadKind.GROUP)


@dataclass(frozen=True)
class ChatCapabilities:
    """What ``user`` may start in chat, whatever the thread."""

    can_create_group: bool


def chat_capabilities(user: User) -> ChatCapabilities:
    return ChatCapabilities(can_create_group=user.is_active and user.role == Role.TEACHER)
