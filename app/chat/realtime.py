"""Chat over the realtime hub: who may subscribe to a thread, what a reconnecting client missed,
and how each event is rendered (the same partials the HTTP views render)."""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from flask import render_template
from sqlalchemy import and_, bindparam, func, literal_column, or_, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.accounts.models import User
from app.accounts.tenancy import MAX_ID
from app.bulk import one_of_parameter, reusable
from app.chat import services
from app.chat.models import Attachment, Message, MessageKind, Thread, ThreadKind, ThreadMember
from app.extensions import db
from app.realtime.events import (COMMIT_SHARED, CatchUp, Renderer, register_catch_up,
                                 register_renderer, register_topic)


def _thread_key(thread_id: int):
    return ("thread", thread_id)


class Delivered:
    """The messages of one thread a connection has been sent (or its page already had).

    A set, not a high-water mark: ids are handed out at insert but published after commit, so
    two people posting at once can publish in the other order (PostgreSQL, or two processes);
    dropping every id below the highest one sent would lose the later-published lower one."""

    KEEP = 1000  # ids remembered above ``floor``; older ones count as sent

    def __init__(self, floor: int = 0):
        self.floor = floor  # everything up to here counts as sent
        self.ids: set[int] = set()

    def has(self, message_id: int) -> bool:
        return message_id <= self.floor or message_id in self.ids

    def add(self, message_id: int) -> None:
        self.ids.add(message_id)
        if len(self.ids) > 2 * self.KEEP:
            kept = sorted(self.ids)[-self.KEEP:]
            self.floor, self.ids = max(self.floor, kept[0] - 1), set(kept)


def accept_message(event, state: dict) -> bool:
    """Exactly once per connection: drop a message this connection already got (live or in
    catch-up) and remember the one about to be sent."""
    delivered = state.setdefault(_thread_key(event.data["thread_id"]), Delivered())
    message_id = event.data["message_id"]
    if delivered.has(message_id):
        return False
    delivered.add(message_id)
    return True


MAX_HAVE = 500  # ids a page may list as already shown (realtime.js sends at most 200)


def _ids_the_page_has(have) -> set[int]:
    """The message ids a subscribing page says it shows (junk is ignored, never queried)."""
    if not isinstance(have, list):
        return set()
    return {i for i in have[:MAX_HAVE]
            if isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID}


def catch_up_thread(conn, user, thread_id: int, since: CatchUp) -> None:
    """Send, in order and once, the thread's messages the page lacks.

    A page says what it has (``after``: everything up to that id; ``have``: the ids above it
    it shows) and the server sends the rest, so a message of one's own shown from the HTTP answer
    never hides someone else's lower-numbered one still on its way. After the hub lost Redis
    (``since`` not from the client) the measure is what this connection was sent, and edits made
    meanwhile are sent again too."""
    thread = db.session.get(Thread, thread_id)
    if thread is None:
        return
    key = _thread_key(thread_id)
    with conn.lock:
        if since.from_client:
            if since.after is None:  # the page shows none of it: live from here on
                conn.state[key] = Delivered(thread.last_message_id or 0)
                return
            delivered = conn.state[key] = Delivered(since.after)
            for message_id in _ids_the_page_has(since.have):
                if message_id > since.after:
                    delivered.add(message_id)
        else:
            delivered = conn.state.get(key)
            if delivered is None:
                return
        # Ids first (cheap), then only the missing messages and the ones just above them (a
        # message is drawn against its predecessor: day divider, grouping).
        ids = services.message_ids_after(thread, delivered.floor)
        wanted = {}
        for at, message_id in enumerate(ids):
            if not delivered.has(message_id):
                wanted[message_id] = ids[at - 1] if at else None
        if wanted:
            loaded = services.messages_by_id(thread, set(wanted) | set(wanted.values()) - {None})
            for message_id, previous_id in wanted.items():
                message = loaded.get(message_id)
                if message is None:
                    continue
                previous = loaded.get(previous_id) if previous_id \
                    else services.previous_message(message)
                conn.send(render_message_frame(message, user, previous))
                delivered.add(message_id)
        if since.changed_since is not None:
            for message in services.messages_changed_since(thread, since.changed_since):
                if delivered.has(message.id):
                    conn.send(render_template("chat/_message.html", message=message,
                                              viewer=user, oob=True))
        conn.send(render_template("chat/_seen_by.html", thread=thread,
                                  seen=services.seen_by(thread), oob=True))


def _rows_the_page_has(have) -> tuple[tuple[str, ...], dict[str, str]] | None:
    """(kinds the page's list shows, {thread id: row version}) from a subscribing page."""
    if not isinstance(have, dict) or not isinstance(have.get("rows"), dict) \
            or not isinstance(have.get("kinds"), list):
        return None
    kinds = tuple(k for k in have["kinds"][:10] if isinstance(k, str))
    rows = {str(k): v for k, v in list(have["rows"].items())[:MAX_HAVE] if isinstance(v, str)}
    return kinds, rows


def catch_up_thread_list(conn, user, user_id: int, since: CatchUp) -> None:
    """The thread list again, when the page's rows differ from the database's (a reconnecting
    page sends each row's version; one unchanged list costs no frame). A page that sent no rows
    (it shows no list) costs no query."""
    if since.from_client:
        page = _rows_the_page_has(since.have)
        if page is None:
            return
        kinds, rows = page
        listed = [k for k in ThreadKind if k.value in kinds]
        current = {str(s.thread.id): s.version
                   for s in services.thread_summaries(user, kinds=listed)} if listed else {}
        if current == rows:
            return
    conn.send(render_template("chat/_thread_list_frame.html",
                              summaries=services.thread_summaries(user),
                              viewer=user, active_id=None))


def catch_up_unread(conn, user, user_id: int, since: CatchUp) -> None:
    """Unread counts are recomputed on every (re)subscribe: changes made while the socket was
    away (or between the page's render and its subscription) show at once."""
    by_kind = services.unread_by_kind(user)
    conn.send(_unread_badge_html(sum(by_kind.values()), by_kind.get(ThreadKind.SESSION, 0)))


# Built once (bulk.reusable), as the hub's other statements on every message's way.
_THREAD_MEMBERS_AMONG = reusable(lambda: (
    select(ThreadMember.user_id, Thread.center_id)
    .join(Thread, Thread.id == ThreadMember.thread_id)
    .where(ThreadMember.thread_id == bindparam("thread_id"),
           one_of_parameter(ThreadMember.user_id, "user_ids"))))


def thread_viewers(users, thread_id: int) -> set[int]:
    """Which of ``users`` may see the thread now (can_view_thread for many, in one statement):
    a member removed while their socket is open stops receiving the thread at once."""
    center_of = dict(db.session.execute(_THREAD_MEMBERS_AMONG(), {
        "thread_id": thread_id, "user_ids": [u.id for u in users]}).all())
    return {u.id for u in users if u.is_active and center_of.get(u.id, -1) == u.center_id}


def _load_message(event, cache: dict) -> Message | None:
    key = ("message", event.data["message_id"])
    if key not in cache:
        # One statement (attachments joined, not selected after): this is on every message's
        # way to the open pages.
        cache[key] = db.session.get(Message, event.data["message_id"], options=[
            joinedload(Message.sender), joinedload(Message.attachments)])
    return cache[key]


def render_message_frame(message: Message, viewer, previous: Message | None) -> str:
    """A new message appended to the open thread (with a day divider when the day changes)."""
    return render_template("chat/_message_append.html", message=message, viewer=viewer,
                           previous=previous)


_NEW_MESSAGE = reusable(lambda: (
    select(Message, Thread).join(Thread, Thread.id == Message.thread_id)
    .where(Message.thread_id == bindparam("thread_id"), Message.id <= bindparam("message_id"))
    .options(joinedload(Message.sender), joinedload(Message.attachments))
    .order_by(Message.id.desc()).limit(2)))


def message_from_event(event) -> tuple[Message, Message | None, Thread]:
    """The message a ``message.created`` event carries (services.shown_message), the one it
    follows and its thread with it as its last, as objects the partials draw like loaded ones.
    Never added to a session: they stand for rows, they are not them (an edit, a deletion or
    an archived thread arrives after, as message.updated or thread.updated, and is read from the
    database)."""
    data, shown = event.data, event.data["shown"]
    message = Message(
        id=data["message_id"], center_id=shown["center_id"], thread_id=data["thread_id"],
        sender_id=data["sender_id"], kind=MessageKind(shown["kind"]), body=shown["body"],
        body_html=shown["body_html"], created_at=datetime.fromisoformat(shown["created_at"]),
        edited_at=None, deleted_at=None)
    message.sender = User(id=data["sender_id"], name=shown["sender_name"])
    message.attachments = [
        Attachment(id=attachment_id, center_id=shown["center_id"], filename=filename,
                   content_type=content_type, size=size)
        for attachment_id, filename, content_type, size in shown["attachments"]]
    previous = None
    if shown["previous"] is not None:
        previous_id, kind, sender_id, created_at = shown["previous"]
        previous = Message(id=previous_id, thread_id=data["thread_id"], sender_id=sender_id,
                           kind=MessageKind(kind), created_at=datetime.fromisoformat(created_at))
    # Open for posting when it was posted in (services.post_refusal): not archived.
    thread = Thread(id=data["thread_id"], center_id=shown["center_id"],
                    kind=ThreadKind(shown["thread_kind"]), name=shown["thread_name"],
                    archived_at=None, last_message_id=message.id)
    set_committed_value(thread, "last_message", message)
    return message, previous, thread


def _load_new_message(event, cache: dict) -> None:
    """A new message, the one before it (drawn against it: day divider, grouping) and their
    thread in one statement instead of three: this is on every message's way to the open
    pages. The cache holds them for the event (the session's identity map alone would let them
    go). A message posted through chat comes with its event (message_from_event): no
    statement."""
    message_id = event.data["message_id"]
    if "shown" in event.data:
        message, cache["previous"], cache["thread"] = message_from_event(event)
    else:
        rows = db.session.execute(_NEW_MESSAGE(), {"thread_id": event.data["thread_id"],
                                                   "message_id": message_id}).unique().all()
        latest = [message for message, _ in rows]
        message = latest[0] if latest and latest[0].id == message_id else None
        cache["previous"] = latest[1] if message is not None and len(latest) > 1 else None
        cache["thread"] = rows[0][1] if rows else None
    cache[("message", message_id)] = message
    if message is not None:
        # The same commit's thread.updated shows this thread's row with this message as its
        # last: both read here, held together (the identity map alone would let the message go
        # and the row would read it again).
        cache[COMMIT_SHARED][_thread_key(message.thread_id)] = (cache["thread"], message)


def _prepare_message(event, viewers, cache) -> None:
    if event.name == "message.created":
        _load_new_message(event, cache)
    message = _load_message(event, cache)
    if message is not None and event.name == "message.created":
        # The sender has read their own message: "Seen by" starts again, in the same frame
        # (one frame per recipient, not one for the message and one for the read receipt).
        # Nobody but its sender has read a message that is still the thread's last one, as far
        # as this event knows: whoever reads it commits after it and publishes thread.read,
        # which comes after this event on the same channel and draws "Seen by" again (a
        # statement fewer on every message's way).
        thread = cache["thread"]
        seen = [] if thread.last_message_id == message.id else services.seen_by(thread)
        cache["seen_by"] = render_template("chat/_seen_by.html", thread=thread, seen=seen,
                                           oob=True)


def _render_created(event, viewer, cache):
    message = _load_message(event, cache)
    if message is None:
        return None
    return render_message_frame(message, viewer, cache.get("previous")) + cache.get("seen_by", "")


def _render_updated(event, viewer, cache):
    message = _load_message(event, cache)
    if message is None:
        return None
    return render_template("chat/_message.html", message=message, viewer=viewer, oob=True)


def _message_view_key(event, viewer, cache):
    # The HTML differs only by zone (times) and by whether the viewer wrote it (edit controls):
    # a class of 1,000 in one zone costs two renders, not a thousand.
    message = _load_message(event, cache)
    sender_id = message.sender_id if message is not None else None
    return (viewer.effective_timezone, viewer.id == sender_id)


# --- per-user batches: one event for everyone concerned, one grouped query per process ----------

class ListedMembership(NamedTuple):
    """What a row of the thread list shows of someone's membership (ThreadSummary.member)."""

    muted: bool


def _unread_counts_query():
    here = (ThreadMember.thread_id == bindparam("listed_thread")).label("here")
    return (select(ThreadMember.user_id, Thread.kind, here, ThreadMember.muted,
                   func.count(Message.id))
            .join(Thread, Thread.id == ThreadMember.thread_id)
            .outerjoin(Message, and_(Message.thread_id == ThreadMember.thread_id,
                                     Message.id > ThreadMember.last_read_message_id,
                                     or_(Message.sender_id.is_(None),
                                         Message.sender_id != ThreadMember.user_id),
                                     Message.deleted_at.is_(None)))
            .where(one_of_parameter(ThreadMember.user_id, "user_ids"))
            # "here" is grouped by its name: the same expression with its own parameter would
            # be another expression to PostgreSQL.
            .group_by(ThreadMember.user_id, Thread.kind, literal_column("here"),
                      ThreadMember.muted))


# Built once (bulk.reusable): it runs for every message, for every process with members on it.
_UNREAD_COUNTS = reusable(_unread_counts_query)


def _unread_counts(viewers, thread_id: int | None):
    """Everyone's unread messages per kind of thread (services.unread_by_kind for many people)
    and, with ``thread_id``, their membership of that thread and its own unread count, in one
    grouped statement: a row per person, kind and whether it is that thread (memberships with
    nothing unread included, counting 0)."""
    return db.session.execute(_UNREAD_COUNTS(), {"user_ids": [v.id for v in viewers],
                                                 "listed_thread": thread_id or 0})


# The row shows the last message's preview, time and sender's name: their columns only (a
# sender's whole account is 20 columns, each made into an attribute; the message's HTML may be
# 10 KB). Asking the row for more would read it with a statement of its own, which the fan-out
# tests count.
_THREAD_WITH_LAST_MESSAGE = reusable(lambda: (
    select(Thread).where(Thread.id == bindparam("thread_id"))
    .options(joinedload(Thread.last_message)
             .load_only(Message.thread_id, Message.sender_id, Message.kind, Message.body,
                        Message.created_at, Message.edited_at, Message.deleted_at)
             .joinedload(Message.sender).load_only(User.name))))


def _prepare_thread_items(event, viewers, cache) -> None:
    """The thread and its last message once; every viewer's unread counts per kind, and their
    membership and unread count of this thread, in one statement (a class of 1,000 costs the
    same statements as one of 5)."""
    thread_id = event.data["thread_id"]
    read_with_message = cache[COMMIT_SHARED].get(_thread_key(thread_id))
    if read_with_message is not None and \
            read_with_message[0].last_message_id == read_with_message[1].id:
        # Its new message's open pages read it in the same commit, that message as its last
        # (thread.last_message finds it in the session, its sender loaded with it).
        thread = read_with_message[0]
    else:
        thread = db.session.scalar(_THREAD_WITH_LAST_MESSAGE(), {"thread_id": thread_id})
    cache["thread"] = thread
    counts: dict[int, dict] = {}
    members, unread = {}, {}
    for user_id, kind, here, muted, count in _unread_counts(viewers, thread_id):
        by_kind = counts.setdefault(user_id, {})
        by_kind[kind] = by_kind.get(kind, 0) + count
        if here:
            members[user_id], unread[user_id] = ListedMembership(bool(muted)), count
    cache["unread_by_user"], cache["members"], cache["unread"] = counts, members, unread
    if thread is not None and thread.kind == ThreadKind.DIRECT:
        # Named after the other person, for each of the two.
        cache["direct"] = {m.user_id: m.user for m in db.session.scalars(
            select(ThreadMember).where(ThreadMember.thread_id == thread_id)
            .options(joinedload(ThreadMember.user)))}


def _thread_summary(viewer, cache) -> services.ThreadSummary | None:
    thread = cache.get("thread")
    member = cache.get("members", {}).get(viewer.id)
    if thread is None or member is None or thread.center_id != viewer.center_id:
        return None
    other, title = None, thread.name
    if thread.kind == ThreadKind.DIRECT:
        other = next((u for i, u in cache["direct"].items() if i != viewer.id), None)
        title = other.name if other is not None else "Direct message"
    return services.ThreadSummary(thread, member, title, cache["unread"].get(viewer.id, 0), other)


def _thread_item_key(event, viewer, cache):
    summary = _thread_summary(viewer, cache)
    if summary is None:
        return None
    last = summary.thread.last_message
    return (viewer.effective_timezone, summary.title, summary.unread, summary.member.muted,
            last is not None and last.sender_id == viewer.id)


def _render_thread_item(event, viewer, cache):
    return render_template("chat/_thread_item_frame.html", summary=_thread_summary(viewer, cache),
                           thread_id=event.data["thread_id"],
                           activity=event.data.get("activity", True), viewer=viewer)


def _render_thread_removed(event, viewer, cache):
    return render_template("chat/_thread_item_frame.html", summary=None,
                           thread_id=event.data["thread_id"], activity=False, viewer=viewer)


def _unread_badge_html(total: int, sessions: int) -> str:
    return render_template("chat/_unread_badge.html", unread_total=total, oob=True) + \
        render_template("chat/_sessions_unread.html", oob=True, unread_sessions=sessions)


def _prepare_unread(event, viewers, cache) -> None:
    """Everyone's unread messages per kind of thread, in one statement."""
    counts: dict[int, dict] = {}
    for user_id, kind, _here, _muted, count in _unread_counts(viewers, None):
        by_kind = counts.setdefault(user_id, {})
        by_kind[kind] = by_kind.get(kind, 0) + count
    cache["unread_by_user"] = counts


def _unread_key(event, viewer, cache):
    by_kind = cache["unread_by_user"].get(viewer.id, {})
    return sum(by_kind.values()), by_kind.get(ThreadKind.SESSION, 0)


def _render_unread_badge(event, viewer, cache):
    return _unread_badge_html(*_unread_key(event, viewer, cache))


def _shows_thread_list(event, conn) -> bool:
    """Whether this socket's page shows the thread list (it subscribed to it)."""
    return f"threads:{conn.user_id}" in conn.topics


def _prepare_thread_change(event, viewers, cache) -> None:
    if event.name == "thread.updated":
        _prepare_thread_items(event, viewers, cache)
    else:
        _prepare_unread(event, viewers, cache)


def _thread_change_key(event, viewer, cache):
    row = _thread_item_key(event, viewer, cache) if event.name == "thread.updated" else None
    return _unread_key(event, viewer, cache), row


def _render_thread_change(event, viewer, cache, shows_list: bool) -> str:
    """A thread changed for its members (one event for all, on their user topics): every page's
    badge, and the row of the list on pages that show one."""
    html = _render_unread_badge(event, viewer, cache)
    if shows_list:
        row = _render_thread_item if event.name == "thread.updated" else _render_thread_removed
        html = row(event, viewer, cache) + html
    return html


def _render_seen_by(event, viewer, cache):
    thread = db.session.get(Thread, event.data["thread_id"])
    if "seen" not in cache:
        cache["seen"] = services.seen_by(thread)
    return render_template("chat/_seen_by.html", thread=thread, seen=cache["seen"], oob=True)


def _render_typing(event, viewer, cache):
    if viewer.id == event.data["user_id"]:
        return None
    from app.accounts.models import User

    typer = db.session.get(User, event.data["user_id"])
    thread_id = int(event.topic.partition(":")[2])
    return render_template("chat/_typing.html", thread_id=thread_id, typer=typer, oob=True)


def _same_for_all(event, viewer, cache):
    return "all"


def register() -> None:
    register_topic("thread", services.can_view_thread_id, catch_up_thread,
                   still_allowed=thread_viewers)
    register_topic("threads", lambda user, user_id: user.id == user_id, catch_up_thread_list)
    register_catch_up("user", catch_up_unread)
    # A message's events and the list changes trust the viewers the hub confirmed (their
    # session, name, role and zone, kept current by session.revoked and viewer.changed): a
    # statement fewer each.
    register_renderer("message.created", Renderer(_render_created, _message_view_key,
                                                  prepare=_prepare_message,
                                                  accept=accept_message,
                                                  trusts_confirmed_access=True))
    register_renderer("message.updated", Renderer(_render_updated, _message_view_key,
                                                  prepare=_prepare_message))
    # Published once for all the members concerned, on their user topics ("user:*").
    thread_change = Renderer(_render_thread_change, _thread_change_key,
                             prepare=_prepare_thread_change, variant=_shows_thread_list,
                             trusts_confirmed_access=True)
    register_renderer("thread.updated", thread_change)
    register_renderer("thread.removed", thread_change)
    register_renderer("thread.read", Renderer(_render_seen_by, _same_for_all))
    register_renderer("typing", Renderer(_render_typing,
                                         lambda e, v, cache: v.id == e.data["user_id"]))
