"""Messages: formatting, editing, deleting (with files), read state and unread counts, "Seen by",
cursor pagination, the thread list's order and kind filter."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app.chat import services
from app.chat.models import Attachment, Message, ThreadMember
from app.db_types import utcnow
from app.extensions import db
from tests.chat.conftest import (attachment_path, bulk_messages, elements, fresh, header_badge,
                                 hx_post, listed_thread_ids, message_article, message_ids,
                                 open_and_read, send, text_of, unread_in_list)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def _last_message(thread) -> Message:
    return db.session.scalar(select(Message).where(Message.thread_id == thread.id)
                             .order_by(Message.id.desc()).limit(1))


def _member(thread, user) -> ThreadMember:
    member = db.session.scalar(select(ThreadMember).where(ThreadMember.thread_id == thread.id,
                                                          ThreadMember.user_id == user.id))
    db.session.refresh(member)
    return member


def test_markdown_is_rendered(chat, as_user):
    teacher = as_user(chat.teacher)
    body = ("**bold words** and _slanted_ and `x = 1` and [the docs](https://example.com/docs)\n"
            "~~gone~~ https://example.org/auto\n\n```\nblock()\n```")
    response = send(teacher, chat.group.id, body)
    assert response.status_code == 200
    message = _last_message(chat.group)
    html = message_article(as_user(chat.s1).get(f"/chat/threads/{chat.group.id}")
                           .get_data(as_text=True), message.id)
    assert "<strong>bold words</strong>" in html
    assert "<em>slanted</em>" in html
    assert "<code>x = 1</code>" in html
    assert "<del>gone</del>" in html or "<s>gone</s>" in html
    assert "<pre><code>block()" in html
    links = [attrs for tag, attrs in elements(html) if tag == "a" and "example" in attrs["href"]]
    assert [a["href"] for a in links] == ["https://example.com/docs", "https://example.org/auto"]
    for attrs in links:
        assert set(attrs["rel"].split()) >= {"noopener", "noreferrer", "nofollow"}
    assert "the docs" in text_of(html)
    # The answer to the sender carries the same rendering (appended by id, out of band).
    answer = response.get_data(as_text=True)
    assert 'hx-swap-oob="beforeend:#messages-' in answer
    assert "<strong>bold words</strong>" in message_article(answer, message.id)


def test_edit_own_message_only(chat, as_user):
    teacher, student = as_user(chat.teacher), as_user(chat.s1)
    send(teacher, chat.group.id, "Homework is page 12")
    message = _last_message(chat.group)
    url = f"/chat/threads/{chat.group.id}/messages/{message.id}/edit"
    assert "(edited)" not in message_article(student.get(f"/chat/threads/{chat.group.id}")
                                             .get_data(as_text=True), message.id)
    # Others cannot edit it.
    assert student.get(url).status_code == 403
    assert hx_post(student, url, {"body": "Homework cancelled"}).status_code == 403
    assert fresh(message).body == "Homework is page 12" and message.edited_at is None

    form = teacher.get(url, headers={"HX-Request": "true"})
    assert form.status_code == 200 and "Homework is page 12" in form.get_data(as_text=True)
    response = hx_post(teacher, url, {"body": "Homework is page **14**"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "(edited)" in html and "<strong>14</strong>" in html
    message = fresh(message)
    assert message.body == "Homework is page **14**" and message.edited_at is not None
    page = student.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)
    article = message_article(page, message.id)
    assert "(edited)" in article and "page 12" not in article
    # Bad edits keep the form and the text.
    response = hx_post(teacher, url, {"body": "   "})
    assert response.status_code == 422
    assert "A message cannot be empty; delete it instead." in response.get_data(as_text=True)
    response = hx_post(teacher, url, {"body": "y" * (services.MAX_MESSAGE_LENGTH + 1)})
    assert response.status_code == 422 and "y" * 100 in response.get_data(as_text=True)
    assert fresh(message).body == "Homework is page **14**"
    # Past the edit window, no more edits.
    message.created_at = utcnow() - services.EDIT_WINDOW - timedelta(minutes=1)
    db.session.commit()
    response = hx_post(teacher, url, {"body": "too late"})
    assert response.status_code == 422
    assert fresh(message).body == "Homework is page **14**"


def test_delete_message_shows_a_tombstone_and_removes_files(chat, as_user):
    teacher, student = as_user(chat.teacher), as_user(chat.s1)
    response = send(teacher, chat.group.id, "two files",
                    files=[("pic.png", PNG), ("notes.txt", b"read me")])
    assert response.status_code == 200
    message = _last_message(chat.group)
    attachments = list(db.session.scalars(select(Attachment).where(
        Attachment.message_id == message.id)))
    assert len(attachments) == 2
    paths = [attachment_path(a) for a in attachments]
    hrefs = [f"/chat/attachments/{a.id}/{a.filename}" for a in attachments]
    assert all(p.exists() for p in paths)
    assert [student.get(h).status_code for h in hrefs] == [200, 200]
    delete_url = f"/chat/threads/{chat.group.id}/messages/{message.id}/delete"

    # A member who is not the sender (nor the group's owner) cannot delete it.
    assert hx_post(student, delete_url).status_code == 403
    assert fresh(message).deleted_at is None and all(p.exists() for p in paths)

    response = hx_post(teacher, delete_url)
    assert response.status_code == 200
    assert "This message was deleted." in response.get_data(as_text=True)
    message = fresh(message)
    assert message.deleted_at is not None and message.body == ""
    assert db.session.scalars(select(Attachment).where(
        Attachment.message_id == message.id)).all() == []
    assert not any(p.exists() for p in paths)
    assert [student.get(h).status_code for h in hrefs] == [404, 404]
    article = message_article(student.get(f"/chat/threads/{chat.group.id}")
                              .get_data(as_text=True), message.id)
    assert "This message was deleted." in article
    assert "two files" not in article and "pic.png" not in article
    # Deleted messages cannot be edited, and are not searchable.
    response = hx_post(teacher, f"/chat/threads/{chat.group.id}/messages/{message.id}/edit",
                       {"body": "resurrected"})
    assert response.status_code == 422
    assert "two files" not in student.get("/chat/search?q=files").get_data(as_text=True)


def test_group_owner_may_delete_a_members_message(chat, as_user):
    send(as_user(chat.s1), chat.group.id, "something rude")
    message = _last_message(chat.group)
    response = hx_post(as_user(chat.teacher),
                       f"/chat/threads/{chat.group.id}/messages/{message.id}/delete")
    assert response.status_code == 200
    assert fresh(message).deleted_at is not None
    # ...but not in a direct thread, where nobody owns the other's words.
    send(as_user(chat.s1), chat.direct.id, "direct words")
    direct_message = _last_message(chat.direct)
    assert hx_post(as_user(chat.teacher), f"/chat/threads/{chat.direct.id}/messages/"
                   f"{direct_message.id}/delete").status_code == 403


def test_unread_counts_per_thread_and_in_the_header(chat, as_user):
    s1, s2 = as_user(chat.s1), as_user(chat.s2)
    # Reading each thread once starts everyone at zero.
    for browser, threads in ((s1, (chat.group, chat.direct, chat.class_thread)),
                             (s2, (chat.group, chat.class_thread))):
        for thread in threads:
            open_and_read(browser, thread.id)
    assert header_badge(s1.get("/chat/").get_data(as_text=True)) == 0
    teacher = as_user(chat.teacher)
    send(s2, chat.group.id, "a question from Ben")
    for n in range(3):
        send(teacher, chat.group.id, f"group news {n}")
    for n in range(2):
        send(teacher, chat.direct.id, f"just for you {n}")

    listing = s1.get("/chat/").get_data(as_text=True)
    assert unread_in_list(listing, chat.group.id) == 4
    assert unread_in_list(listing, chat.direct.id) == 2
    assert unread_in_list(listing, chat.class_thread.id) == 0
    assert header_badge(listing) == 6
    assert header_badge(s1.get("/account").get_data(as_text=True)) == 6  # on every page
    listing = s2.get("/chat/").get_data(as_text=True)
    assert unread_in_list(listing, chat.group.id) == 3  # their own message is not unread
    assert header_badge(listing) == 3
    assert services.unread_counts(chat.s1) == {chat.group.id: 4, chat.direct.id: 2}
    # Writing in a thread reads it: the teacher answered after Ben's question.
    assert services.unread_counts(chat.teacher) == {}
    # Replying marks what came before as read.
    send(s2, chat.group.id, "thanks")
    assert header_badge(s2.get("/chat/").get_data(as_text=True)) == 0
    assert header_badge(s1.get("/chat/").get_data(as_text=True)) == 7

    # Opening a thread changes nothing (a GET); the page's read receipt reads it.
    page = s1.get(f"/chat/threads/{chat.direct.id}").get_data(as_text=True)
    assert 'id="first-unread"' in page
    assert unread_in_list(s1.get("/chat/").get_data(as_text=True), chat.direct.id) == 2
    page = open_and_read(s1, chat.direct.id).get_data(as_text=True)
    assert 'id="first-unread"' in page
    listing = s1.get("/chat/").get_data(as_text=True)
    assert unread_in_list(listing, chat.direct.id) == 0
    assert header_badge(listing) == 5
    # A deleted message no longer counts.
    last = _last_message(chat.group)
    assert hx_post(s2, f"/chat/threads/{chat.group.id}/messages/{last.id}/delete"
                   ).status_code == 200
    assert header_badge(s1.get("/chat/").get_data(as_text=True)) == 4


def test_mark_read_only_moves_forward(chat, as_user):
    teacher, student = as_user(chat.teacher), as_user(chat.s1)
    student.get(f"/chat/threads/{chat.group.id}")
    sent = []
    for n in range(4):
        send(teacher, chat.group.id, f"point {n}")
        sent.append(_last_message(chat.group).id)
    url = f"/chat/threads/{chat.group.id}/read"
    # Up to the second message: two remain unread.
    assert hx_post(student, url, {"message_id": str(sent[1])}).status_code == 204
    assert _member(chat.group, chat.s1).last_read_message_id == sent[1]
    assert services.unread_counts(chat.s1)[chat.group.id] == 2
    # Backwards is ignored.
    assert hx_post(student, url, {"message_id": str(sent[0])}).status_code == 204
    assert _member(chat.group, chat.s1).last_read_message_id == sent[1]
    assert services.mark_read(chat.s1, chat.group, sent[0]) is False
    # Beyond the thread's last message is capped at it.
    assert hx_post(student, url, {"message_id": str(sent[-1] + 1000)}).status_code == 204
    assert _member(chat.group, chat.s1).last_read_message_id == sent[-1]
    assert chat.group.id not in services.unread_counts(chat.s1)
    assert services.mark_read(chat.s1, fresh(chat.group)) is False


def _seen_line(html: str, thread_id: int) -> str:
    match = re.search(rf'<p id="seen-by-{thread_id}"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no seen-by line"
    return match.group(1).strip()


def test_seen_by_on_the_last_message(chat, as_user):
    teacher, s1, s2 = as_user(chat.teacher), as_user(chat.s1), as_user(chat.s2)
    send(teacher, chat.group.id, "Did everyone get this?")
    assert _seen_line(teacher.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True),
                      chat.group.id) == ""
    s1.get(f"/chat/threads/{chat.group.id}")  # opening alone is not reading
    assert _seen_line(teacher.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True),
                      chat.group.id) == ""
    open_and_read(s1, chat.group.id)
    assert _seen_line(teacher.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True),
                      chat.group.id) == "Seen by Sara Student"
    open_and_read(s2, chat.group.id)
    assert _seen_line(teacher.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True),
                      chat.group.id) == "Seen by Ben Student, Sara Student"
    # A newer message resets it; its sender is never listed.
    send(s2, chat.group.id, "Got it")
    assert _seen_line(s2.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True),
                      chat.group.id) == ""
    open_and_read(teacher, chat.group.id)
    line = _seen_line(s2.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True),
                      chat.group.id)
    assert line == "Seen by Terry Teacher"
    assert [u.name for u in services.seen_by(fresh(chat.group))] == ["Terry Teacher"]


def test_load_earlier_pages_back_without_repeats(chat, as_user):
    teacher = as_user(chat.teacher)
    made = bulk_messages(chat.group, chat.teacher, 137, "history")
    page = teacher.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)
    seen = message_ids(page)
    assert len(seen) == services.PAGE_SIZE
    assert seen == sorted(seen) and seen[-1] == made[-1].id
    pages = 1
    while True:
        match = re.search(r'hx-get="([^"]*/messages\?before=(\d+))"', page)
        if not match:
            break
        assert int(match.group(2)) == seen[0]
        page = teacher.get(match.group(1).replace("&amp;", "&"),
                           headers={"HX-Request": "true"}).get_data(as_text=True)
        older = message_ids(page)
        assert older and older == sorted(older) and older[-1] < seen[0]
        seen = older + seen
        pages += 1
    all_ids = list(db.session.scalars(select(Message.id).where(
        Message.thread_id == chat.group.id).order_by(Message.id)))
    assert seen == all_ids  # every message once, in order (system message included)
    assert len(all_ids) == 138 and pages == 3


def test_opening_at_the_first_unread_message(chat, as_user):
    student = as_user(chat.s1)
    open_and_read(student, chat.group.id)
    made = bulk_messages(chat.group, chat.teacher, 120, "lesson")
    # 120 unread: the page opens at the first one (with a little context), not at the latest.
    page = student.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)
    ids = message_ids(page)
    assert made[0].id in ids and 'id="first-unread"' in page
    assert page.index('id="first-unread"') < page.index(f'id="message-{made[0].id}"')
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    # Opened again without reading (a GET changes nothing): still at the first unread.
    assert message_ids(student.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)) == ids
    # Read now: the next visit opens at the latest.
    open_and_read(student, chat.group.id)
    page = student.get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)
    assert message_ids(page)[-1] == made[-1].id and 'id="first-unread"' not in page


def test_thread_list_is_sorted_by_activity_and_filtered_by_kind(chat, as_user):
    from app.chat.models import Thread

    second_group = services.create_group(chat.teacher, "Second group", "", [chat.s1.id])
    student = as_user(chat.s1)
    base = utcnow() - timedelta(hours=1)
    order = [chat.class_thread, second_group, chat.direct, chat.group]  # oldest activity first
    for n, thread in enumerate(order):
        bulk_messages(thread, chat.teacher, 1, f"hello {n}", start=base + timedelta(minutes=n))
    ids = listed_thread_ids(student.get("/chat/").get_data(as_text=True))
    assert ids == [t.id for t in reversed(order)]
    # New activity moves a thread to the top.
    send(as_user(chat.teacher), chat.class_thread.id, "Class cancelled tomorrow")
    ids = listed_thread_ids(student.get("/chat/").get_data(as_text=True))
    assert ids == [chat.class_thread.id, chat.group.id, chat.direct.id, second_group.id]
    # Filters.
    groups = student.get("/chat/?kind=GROUP").get_data(as_text=True)
    assert listed_thread_ids(groups) == [chat.group.id, second_group.id]
    assert listed_thread_ids(student.get("/chat/?kind=direct").get_data(as_text=True)) == [
        chat.direct.id]
    assert listed_thread_ids(student.get("/chat/?kind=CLASS").get_data(as_text=True)) == [
        chat.class_thread.id]
    empty = student.get("/chat/?kind=SESSION").get_data(as_text=True)
    assert listed_thread_ids(empty) == [] and "No conversations of this kind yet." in empty
    # An HTMX request gets just the list.
    fragment = student.get("/chat/?kind=GROUP", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="thread-list-panel"')
    # The thread page's list is the same, with the open thread marked.
    page = student.get(f"/chat/threads/{chat.direct.id}").get_data(as_text=True)
    assert 'aria-current="page"' in re.search(
        rf'<li id="thread-item-{chat.direct.id}".*?</li>', page, re.S).group(0)
    assert fresh(db.session.get(Thread, chat.class_thread.id)).last_message.body == \
        "Class cancelled tomorrow"


def test_session_threads_follow_scheduled_sessions(chat, as_user):
    """A scheduled session gets a SESSION thread with its participants (via the signal)."""
    from datetime import time

    from app.chat.models import Thread, ThreadKind
    from app.scheduling.services import SessionInput, schedule_session

    session = schedule_session(chat.teacher, SessionInput(
        title="Exam review", type="GROUP_MEETING", participant_ids=[chat.s1.id],
        date=(utcnow() + timedelta(days=3)).date(), start_time=time(16, 0),
        timezone="Europe/London", duration_minutes=60))
    thread = db.session.scalar(select(Thread).where(Thread.session_id == session.id))
    assert thread is not None and thread.kind == ThreadKind.SESSION
    assert thread.name == "Exam review"
    assert {m.user_id for m in thread.members} == {chat.teacher.id, chat.s1.id}
    assert as_user(chat.s1).get(f"/chat/threads/{thread.id}").status_code == 200
    assert as_user(chat.s2).get(f"/chat/threads/{thread.id}").status_code == 404
