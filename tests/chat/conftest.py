"""Fixtures for the chat and realtime tests.

Every request runs in its own app context (tests/conftest.py's IsolatedClient), as in
production; objects the test holds are re-read with ``fresh`` after requests changed them.

Realtime tests run the real app under gunicorn (gevent workers) with tests.live.LiveServer:
two separate servers on different ports share the test database, Redis and SECRET_KEY, so a
session cookie from one is valid on the other and fan-out crosses processes through Redis.
"""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.accounts.models import Role
from app.chat import attachments as chat_files
from app.chat import services
from app.extensions import db
from tests.live import LiveServer


HTMX = {"HX-Request": "true"}


def hx_post(browser, path, data=None, htmx=True, **kwargs):
    """POST a form as the page does (CSRF token included; an HTMX request unless told)."""
    data = dict(data or {})
    data.setdefault("csrf_token", browser.csrf)
    return browser.post(path, data=data, headers=HTMX if htmx else {}, **kwargs)


def send(browser, thread_id, body="", files=(), htmx=True):
    """Send a message from the thread's composer. ``files``: (name, bytes) pairs."""
    data = {"body": body, "csrf_token": browser.csrf}
    if files:
        data["files"] = [(io.BytesIO(content), name) for name, content in files]
    return browser.post(f"/chat/threads/{thread_id}/messages", data=data,
                        headers=HTMX if htmx else {}, content_type="multipart/form-data")


def open_and_read(browser, thread_id):
    """Open a thread as a person does: the page (a GET, which changes nothing), then the read
    receipt its script posts for what it shows (static/js/chat.js). The page's HTML."""
    page = browser.get(f"/chat/threads/{thread_id}")
    assert page.status_code == 200
    assert hx_post(browser, f"/chat/threads/{thread_id}/read").status_code == 204
    return page


def fresh(obj):
    """Re-read a row the test holds after requests (their own sessions) may have changed it."""
    db.session.refresh(obj)
    return obj


# --- the chat world ----------------------------------------------------------------------------

@pytest.fixture
def chat(school, make):
    """``school`` plus its class thread, a group (teacher + both students) and a direct thread
    (teacher + first student)."""
    teacher, (s1, s2) = school.teacher, school.students
    class_thread = services.ensure_class_thread(school.course)
    db.session.commit()
    group = services.create_group(teacher, "Study group", "Homework help", [s1.id, s2.id])
    direct = services.get_or_create_direct(teacher, s1)
    return type("Chat", (), dict(school=school, center=school.center, admin=school.admin,
                                 teacher=teacher, s1=s1, s2=s2, outsider=school.outsider,
                                 course=school.course, class_thread=class_thread, group=group,
                                 direct=direct))


@pytest.fixture
def other_center(make):
    """A second center with its own teacher, student and group thread."""
    center = make.center("Other Center")
    teacher = make.user(center, Role.TEACHER, name="Zed Teacher")
    student = make.user(center, Role.STUDENT, name="Zed Student")
    course = make.course(center, "Zed Course", teachers=[teacher], students=[student])
    group = services.create_group(teacher, "Zed group", "", [student.id])
    services.post_message(teacher, group, "zebra crossing notes for the other center")
    return type("Other", (), dict(center=center, teacher=teacher, student=student, course=course,
                                  group=group))


# --- reading HTML --------------------------------------------------------------------------------

class _Elements(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def elements(html: str) -> list[tuple[str, dict]]:
    """Every start tag in ``html`` as (tag, attributes), as a browser's parser sees them."""
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def text_of(html: str) -> str:
    parser = _Elements()
    parser.feed(html)
    return " ".join(" ".join(parser.text).split())


def message_article(html: str, message_id: int) -> str:
    """The <article> of one message in a page or fragment."""
    match = re.search(rf'<article id="message-{message_id}".*?</article>', html, re.S)
    assert match, f"message {message_id} is not on the page"
    return match.group(0)


def composer_text(html: str) -> str:
    """What the composer's textarea holds (unescaped), as the browser shows it."""
    match = re.search(r'<textarea id="composer-body-\d+"[^>]*>(.*?)</textarea>', html, re.S)
    assert match, "no composer in the answer"
    import html as html_module

    return html_module.unescape(match.group(1))


def stored_files() -> set[Path]:
    """Every file under the attachment store's parent directory (to see where uploads land)."""
    root = chat_files.storage_root().parent
    return {p.resolve() for p in root.rglob("*") if p.is_file()}


def attachment_path(attachment) -> Path:
    return chat_files.path_for(attachment.storage_key)


# --- live servers (realtime) ------------------------------------------------------------------------

@pytest.fixture(scope="session")
def live_servers(app, app_config, database_url, redis_url, test_dirs):
    """Two gunicorn servers of the app (different processes and ports) on one DB and Redis."""
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                                      test_dirs / f"gunicorn-chat-{name}.log"))
        yield servers
    finally:
        for server in servers:
            server.stop()


# --- building rows quickly ---------------------------------------------------------------------------

def bulk_messages(thread, sender, count: int, text: str = "message", start=None,
                  step_seconds: int = 1) -> list:
    """``count`` text messages inserted directly (no services: fast), oldest first, with the
    thread's last-message pointer and activity time kept right."""
    from datetime import timedelta

    from app.chat.formatting import render_message_html
    from app.chat.models import Message, MessageKind
    from app.db_types import utcnow

    start = start or utcnow() - timedelta(seconds=step_seconds * count)
    made = []
    for n in range(count):
        body = f"{text} {n}"
        made.append(Message(center_id=thread.center_id, thread_id=thread.id,
                            sender_id=sender.id, kind=MessageKind.TEXT, body=body,
                            body_html=render_message_html(body),
                            created_at=start + timedelta(seconds=n * step_seconds)))
    db.session.add_all(made)
    db.session.flush()
    thread.last_message_id = made[-1].id
    thread.last_activity_at = made[-1].created_at
    db.session.commit()
    return made


def thread_item(html: str, thread_id: int) -> str:
    """One row of the thread list."""
    match = re.search(rf'<li id="thread-item-{thread_id}".*?</li>', html, re.S)
    assert match, f"thread {thread_id} is not in the list"
    return match.group(0)


def unread_in_list(html: str, thread_id: int) -> int:
    match = re.search(r'class="count-badge" aria-label="(\d+) unread"',
                      thread_item(html, thread_id))
    return int(match.group(1)) if match else 0


def header_badge(html: str) -> int:
    """The unread total in the page header (hidden when zero)."""
    match = re.search(r'<span id="chat-unread-badge"[^>]*aria-label="(\d+) unread"', html)
    assert match, "no unread badge in the header"
    return int(match.group(1))


def listed_thread_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li id="thread-item-(\d+)"', html)]


def message_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<article id="message-(\d+)"', html)]
