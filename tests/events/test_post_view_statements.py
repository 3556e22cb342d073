"""Posting through the view (what a browser's composer does) costs a fixed number of SQL
statements whatever the size of the class: the request reads the thread with its last message,
the sender's membership, and the other members as ids (never as rows), and its answer renders
the new message from the objects the request holds (no reload of the message, its attachments,
its thread or the message before it)."""
from __future__ import annotations

import re

from sqlalchemy import event

from app.accounts.models import User
from app.chat.models import Message, ThreadMember
from app.extensions import db
from tests.chat.conftest import hx_post, open_and_read
from tests.conftest import csrf_token, login

# Through the view with the composer's key, the login included, at the time of writing: on
# PostgreSQL 3 (the user; the thread with the sender's membership and every member's id; the
# INSERT with the thread's and the read marker's UPDATEs as data-modifying CTEs), on SQLite 5
# (no such CTEs: the INSERT and the two UPDATEs apart). Before: 9 while the message was
# inserted inside a savepoint and the thread, the membership and the members' ids were read
# apart; 7 while every member was read as a row with the thread (one statement, but a class
# of 1,000 made 1,000 objects per message: 32 ms of CPU per request against 11 ms now,
# `CLASS_SIZE=1000 python -m bench.post_profile`); 12 while a key was looked up before the
# INSERT (a retry is now found by the key's unique index), 19 before the thread's members and
# last message were read with it and the answer stopped reloading what the request holds.
VIEW_POST_BOUND = {"postgresql": 3, "sqlite": 5}


def test_posting_through_the_view_costs_the_same_for_a_small_and_a_big_class(
        build_school, new_client, count_queries):
    counts = []
    for size in (5, 60):
        school = build_school(size)
        browser = new_client()
        login(browser, db.session.get(User, school.teacher_id))
        browser.csrf = csrf_token(browser, "/account")
        open_and_read(browser, school.thread_id)
        path = f"/chat/threads/{school.thread_id}/messages"
        assert hx_post(browser, path, {"body": "first", "client_key": f"warm-key-{size:04d}"}
                       ).status_code == 200
        rows = []
        remember = lambda target, context: rows.append(target.user_id)  # noqa: E731
        event.listen(ThreadMember, "load", remember)
        try:
            with count_queries() as counter:
                answer = hx_post(browser, path, {"body": "Homework: page 12.",
                                                 "client_key": f"second-key-{size:04d}"})
        finally:
            event.remove(ThreadMember, "load", remember)
        assert answer.status_code == 200
        counts.append(counter.count)
        # The sender's membership is the one member row read; everyone else is an id.
        assert rows == [school.teacher_id], len(rows)
        # The answer shows the new message, rendered as continuing the one before it.
        html = answer.get_data(as_text=True)
        second = db.session.query(Message).filter_by(client_key=f"second-key-{size:04d}").one()
        assert f'id="message-{second.id}"' in html and "Homework: page 12." in html
        assert re.search(rf'id="message-{second.id}" class="[^"]*\bcontinued\b', html), html
    assert counts[0] == counts[1], counts
    assert counts[1] <= VIEW_POST_BOUND[db.engine.dialect.name], counts
