"""Posting is rate limited per person (CHAT_MESSAGE_RATE_LIMIT, 30 per minute): the 31st message
within a minute is refused with the composer, a clear message and the typed text."""
from __future__ import annotations

from sqlalchemy import delete, func, select

from app.chat import services
from app.chat.models import Message, ThreadMember
from app.extensions import db
from tests.chat.conftest import composer_text, send


def _sent_by(user) -> int:
    return db.session.scalar(select(func.count(Message.id)).where(Message.sender_id == user.id,
                                                                  Message.kind == "TEXT"))


def test_the_31st_message_in_a_minute_is_refused(app, chat, as_user):
    assert app.config["CHAT_MESSAGE_RATE_LIMIT"] == "30 per minute"
    chat.other_thread_id = services.create_group(chat.teacher, "Not for Sara", "",
                                                 [chat.s2.id]).id
    db.session.execute(delete(ThreadMember).where(ThreadMember.thread_id == chat.other_thread_id,
                                                  ThreadMember.user_id == chat.teacher.id))
    db.session.commit()
    teacher = as_user(chat.teacher)
    for n in range(30):
        thread = chat.group if n % 2 else chat.direct  # the limit is per person, not per thread
        response = send(teacher, thread.id, f"message {n}")
        assert response.status_code == 200, (n, response.get_data(as_text=True)[:500])
    assert _sent_by(chat.teacher) == 30

    typed = "This one is important, please keep it"
    response = send(teacher, chat.group.id, typed)
    assert response.status_code == 429
    # When to come back: within the minute the limit counts, give or take the second the
    # limiter rounds its window's start to (and no X-RateLimit-* headers on every answer: each
    # cost a Redis round trip).
    assert 1 <= int(response.headers["Retry-After"]) <= 61
    assert not [h for h in response.headers.keys() if h.lower().startswith("x-ratelimit")]
    html = response.get_data(as_text=True)
    assert f'id="composer-{chat.group.id}"' in html
    assert "You are sending messages too fast." in html
    assert composer_text(html) == typed
    assert _sent_by(chat.teacher) == 30
    # Still limited in another thread, and without HTMX.
    assert send(teacher, chat.direct.id, "and here?").status_code == 429
    assert send(teacher, chat.direct.id, "plain form", htmx=False).status_code == 429
    assert _sent_by(chat.teacher) == 30
    # A thread they cannot see (or junk) gets the generic answer, never a composer for it.
    for bad in ("abc", "999999", str(chat.other_thread_id)):
        response = send(teacher, bad, "x")
        assert response.status_code == 429 and "composer" not in response.get_data(as_text=True)

    # Other people are unaffected, in the same threads.
    for person in (chat.s1, chat.s2):
        browser = as_user(person)
        for n in range(3):
            assert send(browser, chat.group.id, f"{person.name} {n}").status_code == 200
    assert send(as_user(chat.s1), chat.direct.id, "hi").status_code == 200
    # Reading is not limited.
    assert teacher.get(f"/chat/threads/{chat.group.id}").status_code == 200
