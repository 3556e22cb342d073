"""Posting a message is idempotent (issue 9, item 3): the composer sends a key made for each
composed message, and the same key again (the browser retrying after the web worker died
mid-request) returns the message already stored: no second row, no second notification.

The kill test is the crash the issue describes, made deterministic: the worker is held right
after its commit (its after-commit publish waits on a Redis the test has paused with SIGSTOP),
then killed with SIGKILL; the browser's retry reaches the worker gunicorn starts instead.
"""
from __future__ import annotations

import io
import os
import re
import signal
import threading

import pytest
import requests
from sqlalchemy import func, select

from app.chat.models import Message
from app.db_types import utcnow
from app.extensions import db
from app.notifications.messages import NOTICES_STALE_AFTER, requeue_owed_notices
from app.notifications.models import Notification
from tests.chat.conftest import HTMX, composer_text, message_ids
from tests.conftest import PASSWORD, _TOKEN_RE
from tests.live import LiveServer
from tests.reliability.conftest import worker_pids


def rows(thread, body) -> int:
    return db.session.scalar(select(func.count(Message.id)).where(
        Message.thread_id == thread.id, Message.body == body))


def notifications_about(user, thread) -> int:
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.tag == f"thread-{thread.id}"))


def post(browser, thread, body, key, htmx=True):
    data = {"body": body, "csrf_token": browser.csrf}
    if key is not None:
        data["client_key"] = key
    return browser.post(f"/chat/threads/{thread.id}/messages", data=data,
                        headers=HTMX if htmx else {})


@pytest.fixture
def direct(school):
    from app.chat.services import get_or_create_direct

    return get_or_create_direct(school.teacher, school.students[0])


def test_the_same_key_twice_stores_one_message_and_answers_with_it(school, as_user, direct,
                                                                   run_worker):
    teacher = school.teacher
    browser = as_user(school.students[0])
    first = post(browser, direct, "See you at four", "k3y-0f-one-message")
    again = post(browser, direct, "See you at four", "k3y-0f-one-message")
    assert first.status_code == again.status_code == 200
    [sent] = message_ids(first.get_data(as_text=True))
    assert message_ids(again.get_data(as_text=True)) == [sent]  # the stored one, appended once
    assert composer_text(again.get_data(as_text=True)) == ""
    db.session.expire_all()
    assert rows(direct, "See you at four") == 1
    run_worker()  # the job that tells the members: queued once, by the first try
    assert notifications_about(teacher, direct) == 1
    # A plain form post (no JavaScript) resent by the browser: the same.
    assert post(browser, direct, "See you at four", "k3y-0f-one-message",
                htmx=False).status_code == 302
    assert rows(direct, "See you at four") == 1

    # Another composed message (another key) is another message, even with the same text.
    assert post(browser, direct, "See you at four", "an0ther-message-key").status_code == 200
    assert rows(direct, "See you at four") == 2
    run_worker()
    assert notifications_about(teacher, direct) == 2


def test_a_retry_with_its_file_stores_one_attachment_and_leaves_no_stray_file(
        school, as_user, direct):
    from app.chat import attachments as chat_files
    from app.chat.models import Attachment

    browser = as_user(school.students[0])
    stored_before = set(chat_files.storage_root().iterdir())

    def send():
        return browser.post(f"/chat/threads/{direct.id}/messages", headers=HTMX,
                            content_type="multipart/form-data",
                            data={"body": "My homework", "client_key": "k3y-with-a-file",
                                  "csrf_token": browser.csrf,
                                  "files": [(io.BytesIO(b"page 12, all done"), "homework.txt")]})

    first, again = send(), send()
    assert first.status_code == again.status_code == 200
    [sent] = message_ids(first.get_data(as_text=True))
    assert message_ids(again.get_data(as_text=True)) == [sent]
    db.session.expire_all()
    assert rows(direct, "My homework") == 1
    [attachment] = db.session.scalars(select(Attachment).where(Attachment.message_id == sent))
    # The retry's copy of the file went with its refusal: only the stored message's file is left.
    assert set(chat_files.storage_root().iterdir()) - stored_before == {
        chat_files.path_for(attachment.storage_key)}
    assert browser.get(f"/chat/attachments/{attachment.id}/homework.txt").data == \
        b"page 12, all done"


def test_a_key_is_per_sender_and_thread(school, as_user, direct, make):
    from app.chat.services import create_group

    group = create_group(school.teacher, "Group", "", [s.id for s in school.students])
    student, teacher = as_user(school.students[0]), as_user(school.teacher)
    assert post(student, direct, "one", "shared-key-123").status_code == 200
    assert post(teacher, direct, "two", "shared-key-123").status_code == 200
    assert post(student, group, "three", "shared-key-123").status_code == 200
    db.session.expire_all()
    assert [rows(direct, "one"), rows(direct, "two"), rows(group, "three")] == [1, 1, 1]


@pytest.mark.parametrize("key", ["short", "x" * 65, "has space in it", "semi;colon-key", "ü" * 10])
def test_a_malformed_key_is_a_clear_422_keeping_the_text(school, as_user, direct, key):
    browser = as_user(school.students[0])
    response = post(browser, direct, "keep me", key)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Reload the page and send it again" in html and composer_text(html) == "keep me"
    assert rows(direct, "keep me") == 0


def test_every_composer_carries_a_fresh_key(school, as_user, direct):
    browser = as_user(school.students[0])
    page = browser.get(f"/chat/threads/{direct.id}").get_data(as_text=True)
    [key] = re.findall(r'name="client_key" value="([A-Za-z0-9_-]+)"', page)
    answer = post(browser, direct, "hello", key).get_data(as_text=True)
    [next_key] = re.findall(r'name="client_key" value="([A-Za-z0-9_-]+)"', answer)
    assert next_key != key
    refused = post(browser, direct, "", "kept-when-refused").get_data(as_text=True)
    assert 'name="client_key" value="kept-when-refused"' in refused


# --- a real worker killed mid-request -----------------------------------------------------------------

def _token(html: str) -> str:
    return next(group for group in _TOKEN_RE.search(html).groups() if group)


def test_a_worker_killed_after_its_commit_and_a_retry_store_the_message_once(
        app, app_config, database_url, test_dirs, own_redis, school, direct, run_worker):
    db.session.commit()
    # A long Redis timeout keeps the worker held after its commit until the test kills it.
    server = LiveServer(database_url, own_redis.url, app_config["SECRET_KEY"],
                        test_dirs / "gunicorn-kill.log", extra_env={"REDIS_SOCKET_TIMEOUT": "60"})
    try:
        browser = requests.Session()
        browser.trust_env = False
        login_page = browser.get(f"{server.url}/login", timeout=20)
        assert browser.post(f"{server.url}/login", allow_redirects=False, timeout=20,
                            data={"email": school.students[0].email, "password": PASSWORD,
                                  "csrf_token": _token(login_page.text)}).status_code == 302
        page = browser.get(f"{server.url}/chat/threads/{direct.id}", timeout=20).text
        key = re.search(r'name="client_key" value="([^"]+)"', page).group(1)
        form = {"body": "Sent once, whatever happens", "client_key": key,
                "csrf_token": _token(page)}
        url = f"{server.url}/chat/threads/{direct.id}/messages"

        own_redis.pause()
        outcome = {}

        def first_try():
            try:
                outcome["response"] = browser.post(url, data=form, headers={"HX-Request": "true"},
                                                   timeout=90)
            except requests.ConnectionError as exc:
                outcome["error"] = exc

        sending = threading.Thread(target=first_try)
        sending.start()
        committed = False
        for _ in range(600):  # the row is committed; the worker now waits on Redis
            db.session.rollback()
            if rows(direct, form["body"]) == 1:
                committed = True
                break
            sending.join(timeout=0.05)
        assert committed, server.log()
        [worker] = worker_pids(server.process.pid)
        os.kill(worker, signal.SIGKILL)
        sending.join(timeout=30)
        assert "error" in outcome and "response" not in outcome  # the browser got no answer
        own_redis.resume()

        # The browser retries (gunicorn has started another worker meanwhile).
        retried = None
        for _ in range(200):
            try:
                retried = browser.post(url, data=form, headers={"HX-Request": "true"}, timeout=30)
                break
            except requests.ConnectionError:
                sending.join(timeout=0.1)
        assert retried is not None and retried.status_code == 200, server.log()
        db.session.rollback()
        [stored] = db.session.scalars(select(Message).where(Message.client_key == key))
        assert f'id="message-{stored.id}"' in retried.text
        assert rows(direct, form["body"]) == 1
        # The killed worker never queued the job that tells the members (its Redis pipeline
        # runs after the commit) and the retry found the message stored: it still owes its
        # notices, and the sweep queues that job once it is stale. Told once.
        assert notifications_about(school.teacher, direct) == 0
        assert stored.notices_due_at is not None
        assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER) == {
            "queued": 1, "waiting": 0, "given_up": 0}
        run_worker()
        assert notifications_about(school.teacher, direct) == 1
        assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER)["queued"] == 0
        run_worker()
        assert notifications_about(school.teacher, direct) == 1
    finally:
        server.stop()
