"""The thread list (issue 9, items 10 and 19): ordered by the last message, session threads
under their own filter with their own unread count, and opening a thread (a GET) changes
nothing: the page posts its read receipt."""
from __future__ import annotations

import re
from datetime import timedelta

from app.chat import services
from app.chat.models import MemberRole, Thread, ThreadKind, ThreadMember
from app.db_types import utcnow
from app.extensions import db
from tests.chat.conftest import (bulk_messages, fresh, header_badge, hx_post, listed_thread_ids,
                                 unread_in_list)


def _session_thread(chat, title: str) -> Thread:
    """A session's chat as scheduling makes it: created now, no messages yet."""
    thread = Thread(center_id=chat.center.id, kind=ThreadKind.SESSION, name=title,
                    description="Chat for this session.")
    db.session.add(thread)
    db.session.flush()
    for user, role in ((chat.teacher, MemberRole.OWNER), (chat.s1, MemberRole.MEMBER)):
        db.session.add(ThreadMember(center_id=chat.center.id, thread_id=thread.id,
                                    user_id=user.id, role=role, last_read_message_id=0))
    db.session.commit()
    return thread


def _sessions_unread(html: str) -> int:
    match = re.search(r'<span id="sessions-unread"[^>]*aria-label="(\d+) unread"', html)
    assert match, "no unread count on the Sessions filter"
    return int(match.group(1))


def test_threads_by_last_message_and_sessions_under_their_own_filter(chat, make, as_user):
    base = utcnow() - timedelta(days=3)
    order = [chat.class_thread, chat.direct, chat.group]  # oldest message first
    for n, thread in enumerate(order):
        bulk_messages(thread, chat.teacher, 1, f"conversation {n}",
                      start=base + timedelta(hours=n))
    quiet_direct = services.get_or_create_direct(chat.s1, chat.admin)  # no messages yet
    # Scheduled today, after every message above: the old order put these first.
    empty_sessions = [_session_thread(chat, f"Revision {n}") for n in range(2)]
    talked_in = _session_thread(chat, "Lab session")
    bulk_messages(talked_in, chat.teacher, 2, "bring goggles", start=base + timedelta(hours=1))
    student = as_user(chat.s1)

    listing = student.get("/chat/").get_data(as_text=True)
    assert listed_thread_ids(listing) == [chat.group.id, chat.direct.id, chat.class_thread.id,
                                          quiet_direct.id]  # "No messages yet" last
    assert 'data-kinds="DIRECT GROUP CLASS"' in listing
    sessions = student.get("/chat/?kind=SESSION").get_data(as_text=True)
    assert listed_thread_ids(sessions)[0] == talked_in.id
    assert set(listed_thread_ids(sessions)[1:]) == {t.id for t in empty_sessions}
    # Unread session messages count on their filter, and in the header's total.
    assert _sessions_unread(listing) == 2
    assert unread_in_list(sessions, talked_in.id) == 2
    assert header_badge(listing) == sum(services.unread_counts(chat.s1).values())
    assert hx_post(student, f"/chat/threads/{talked_in.id}/read").status_code == 204
    assert _sessions_unread(student.get("/chat/").get_data(as_text=True)) == 0

    # New activity moves a thread up; the quiet ones stay below the conversations.
    services.post_message(chat.teacher, chat.class_thread, "Class news")
    listing = student.get("/chat/").get_data(as_text=True)
    assert listed_thread_ids(listing)[:1] == [chat.class_thread.id]
    assert listed_thread_ids(listing)[-1] == quiet_direct.id


def test_opening_a_thread_is_a_get_that_changes_nothing(chat, as_user):
    for n in range(3):
        services.post_message(chat.teacher, chat.group, f"unread {n}")
    student = as_user(chat.s1)
    member = services.membership(chat.s1, chat.group)
    read_before = member.last_read_message_id
    unread_before = services.unread_counts(chat.s1)[chat.group.id]
    assert unread_before >= 3
    # However it is opened: by the person, by a link another site shows, by a prefetcher.
    for headers in ({}, {"Sec-Fetch-Site": "cross-site"}, {"Purpose": "prefetch"}):
        page = student.get(f"/chat/threads/{chat.group.id}", headers=headers)
        assert page.status_code == 200
        assert 'id="first-unread"' in page.get_data(as_text=True)
        assert fresh(member).last_read_message_id == read_before
    assert services.unread_counts(chat.s1)[chat.group.id] == unread_before
    # The open thread's row does not show a count the page is about to clear; the header does
    # until the receipt arrives (then it changes live, on the user's topic).
    html = student.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)
    assert unread_in_list(html, chat.group.id) == 0
    assert header_badge(html) == sum(services.unread_counts(chat.s1).values()) >= unread_before
    assert 'data-read-url="/chat/threads/%d/read"' % chat.group.id in html
    # The page's read receipt (a POST with its CSRF token) reads it.
    assert hx_post(student, f"/chat/threads/{chat.group.id}/read").status_code == 204
    assert chat.group.id not in services.unread_counts(chat.s1)
    assert student.post(f"/chat/threads/{chat.group.id}/read").status_code in (400, 403)
