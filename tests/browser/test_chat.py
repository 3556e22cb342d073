"""Chat in real Chromium against the live gunicorn server: two people in two browsers, live
delivery over the websocket, typing notices, unread counts, reconnect catch-up, phone layout."""
from __future__ import annotations

import re
import socket
import struct
import threading

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Course, User
from app.chat import services
from app.chat.models import Thread, ThreadKind
from app.demo import DEMO_PASSWORD, seed_demo
from app.extensions import db
from tests.browser.conftest import ARTIFACTS, DESKTOP, PHONE, assert_no_console_errors


@pytest.fixture
def demo(app):
    seed_demo()
    people = {u.email: u for u in db.session.scalars(select(User))}
    teacher, sam = people["teacher@example.com"], people["student1@example.com"]
    maths = db.session.scalar(select(Course).where(Course.name == "GCSE Mathematics"))
    return type("Demo", (), dict(
        teacher=teacher, sam=sam,
        direct=services.get_or_create_direct(teacher, sam),
        klass=db.session.scalar(select(Thread).where(Thread.course_id == maths.id)),
        group=db.session.scalar(select(Thread).where(Thread.kind == ThreadKind.GROUP,
                                                     Thread.name == "Exam prep"))))


# --- helpers -------------------------------------------------------------------------------------

def log_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    # Where logging in lands: My Day for those who teach, the dashboard for everyone else.
    expect(page.get_by_role("heading", name=re.compile(r"^(Hello, |My Day$)"))).to_be_visible()


def wait_connected(page):
    """The page's websocket is open (static/js/realtime.js has sent its subscriptions)."""
    expect(page.locator("html[data-realtime='open']")).to_have_count(1)


def open_thread(page, thread_id, title):
    page.goto(f"/chat/threads/{thread_id}")
    expect(page.locator("#thread-title")).to_have_text(title)
    wait_connected(page)


def message_with(page, thread_id, text):
    return page.locator(f"#messages-{thread_id} .message", has_text=text)


def composer(page, thread_id):
    return page.locator(f"#composer-body-{thread_id}")


def send(page, thread_id, text, shown=None):
    """Type and press Enter, as a person does; the message shows on the sender's page."""
    box = composer(page, thread_id)
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")
    expect(message_with(page, thread_id, shown or text)).to_have_count(1)


def shot(page, name):
    """Like conftest's screenshot(), without hiding the caret: Playwright hides it with inline
    styles on the inputs (left behind as style=""), which htmx's attribute settling copies when
    it swaps, and the CSP refuses: a console error the app did not cause."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, caret="initial")


def mark_page(page):
    """A marker that a reload or a full page load would wipe out."""
    page.evaluate("window.__stillHere = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__stillHere === true"), "the page was reloaded"


def header_unread(page) -> int:
    badge = page.locator("#chat-unread-badge")
    return 0 if badge.get_attribute("hidden") is not None else int(badge.inner_text())


def settled_unread(page, user) -> int:
    """The header's unread count once the page has sent the read receipt for the conversation it
    opened (a POST a moment after the page loads: until then the count includes that thread)."""
    from app.chat.models import ThreadMember

    thread_id = int(page.locator(".thread-pane[data-thread-id]").get_attribute("data-thread-id"))
    for _ in range(400):
        db.session.expire_all()
        thread = db.session.get(Thread, thread_id)
        member = db.session.scalar(select(ThreadMember).where(
            ThreadMember.thread_id == thread_id, ThreadMember.user_id == user.id))
        if member.last_read_message_id >= (thread.last_message_id or 0):
            break
        page.wait_for_timeout(25)
    total = services.unread_total(user)
    if total:
        expect(page.locator("#chat-unread-badge")).to_have_text(str(total))
    else:
        expect(page.locator("#chat-unread-badge")).to_be_hidden()
    return total


def row_unread(page, thread_id):
    return page.locator(f"#thread-item-{thread_id} .count-badge")


def assert_no_horizontal_overflow(page):
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


class DroppableProxy:
    """A loopback TCP proxy in front of the live server whose connections can be cut at once,
    the way a dropped network does it: no closing handshake (the browser sees code 1006), and
    new connections refused until it is restored. It can also hold what the server sends on
    the open websockets (a stalled line: frames wait, then are lost with the connection) while
    ordinary HTTP requests go through."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.up = True
        self.closed = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._websockets: set[socket.socket] = set()  # both ends of websocket connections
        self._ws_servers: set[socket.socket] = set()  # their server ends
        self._held: set[socket.socket] = set()  # server ends whose frames are held
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                self._reset(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client):
        try:
            first = client.recv(65536)  # the request line says whether it is a websocket
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            upstream.sendall(first)
        except OSError:
            self._reset(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.update((client, upstream))
            if first.startswith(b"GET /ws"):
                self._websockets.update((client, upstream))
                self._ws_servers.add(upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if source in self._held:
                    continue  # held, then lost with the connection
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @staticmethod
    def _reset(sock):
        # SO_LINGER 0: the close ends in a RST, like a connection lost on the way; shutdown first
        # wakes the pump blocked in recv() (a bare close() from another thread would not).
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def hold_websocket_frames(self):
        """What the server sends on the websockets open now stops reaching the browser."""
        with self._lock:
            self._held = set(self._ws_servers)

    def drop_websockets(self):
        """Cut the websocket connections only (what they held is lost); HTTP goes on, and the
        browser's next websocket goes through."""
        with self._lock:
            sockets = list(self._websockets)
            self._websockets, self._ws_servers, self._held = set(), set(), set()
            self._sockets.difference_update(sockets)
        for sock in sockets:
            self._reset(sock)

    def drop(self):
        self.up = False
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
            self._websockets, self._ws_servers, self._held = set(), set(), set()
        for sock in sockets:
            self._reset(sock)

    def restore(self):
        self.up = True

    def close(self):
        self.closed = True
        self.drop()
        self.listener.close()


@pytest.fixture
def proxy(live_server):
    server = DroppableProxy(int(live_server.url.rsplit(":", 1)[1]))
    yield server
    server.close()


@pytest.fixture
def proxied_page(browser, proxy):
    """A page like new_page()'s whose traffic goes through the proxy (cookies are per host,
    not per port, so it behaves as the same site)."""
    context = browser.new_context(viewport=DESKTOP, base_url=proxy.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda msg: page.console_messages.append(f"{msg.type}: {msg.text}"))
    page.on("pageerror", lambda exc: page.console_messages.append(f"pageerror: {exc}"))
    page.failed_requests = []
    page.on("requestfailed", lambda request: page.failed_requests.append(request.url))
    yield page
    context.close()


# --- two people talking ----------------------------------------------------------------------------

def test_typing_send_receive_and_new_lines_live(demo, new_page):
    teacher, student = new_page(), new_page()
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")
    open_thread(student, tid, "Tom Teacher")
    mark_page(student)
    mark_page(teacher)

    # Tom types: Sam sees the notice, without a reload.
    composer(teacher, tid).press_sequentially("Did you finish exercise 4B?", delay=15)
    expect(student.locator(f"#typing-{tid}")).to_have_text("Tom is typing…")

    # Enter sends; the message reaches Sam once, live, and the notice goes.
    composer(teacher, tid).press("Enter")
    expect(composer(teacher, tid)).to_have_value("")
    expect(message_with(teacher, tid, "Did you finish exercise 4B?")).to_have_count(1)
    arrived = message_with(student, tid, "Did you finish exercise 4B?")
    expect(arrived).to_have_count(1)
    expect(arrived.locator(".message-author")).to_have_text("Tom Teacher")
    expect(student.locator(f"#typing-{tid}")).to_have_text("")
    # The composer keeps the focus: the next message can be typed straight away.
    expect(composer(teacher, tid)).to_be_focused()

    # Shift+Enter is a new line, not a send.
    box = composer(student, tid)
    box.press_sequentially("Nearly!")
    box.press("Shift+Enter")
    box.press_sequentially("Only question 10 is left.")
    expect(box).to_have_value("Nearly!\nOnly question 10 is left.")
    expect(message_with(student, tid, "Only question 10")).to_have_count(0)
    expect(teacher.locator(f"#typing-{tid}")).to_have_text("Sam is typing…")
    box.press("Enter")
    expect(box).to_have_value("")
    reply = message_with(teacher, tid, "Only question 10 is left.")
    expect(reply).to_have_count(1)
    expect(reply.locator(".message-body br")).to_have_count(1)
    expect(reply.locator(".message-body")).to_have_text(re.compile(r"Nearly!\s*\n\s*Only question"))
    expect(message_with(student, tid, "Only question 10 is left.")).to_have_count(1)

    # Tom's page reads it and says so: "Seen by" shows under Sam's own last message.
    expect(student.locator(f"#seen-by-{tid}")).to_have_text("Seen by Tom Teacher")
    expect(student.locator(f"#seen-by-{tid}")).to_be_visible()
    expect(teacher.locator(f"#seen-by-{tid}")).to_be_hidden()

    # Markdown is rendered, raw HTML is not.
    send(teacher, tid, "Great, **well done**! <b>no html</b>", shown="Great, well done!")
    praise = message_with(student, tid, "Great, well done!")
    expect(praise.locator(".message-body strong")).to_have_text("well done")
    expect(praise.locator(".message-body")).to_contain_text("<b>no html</b>")
    expect(praise.locator(".message-body b")).to_have_count(0)

    # Too long: refused with a clear message, the text kept; fixing it sends it.
    too_long = "x" * 10_001
    composer(teacher, tid).fill(too_long)
    composer(teacher, tid).press("Enter")
    expect(teacher.locator(f"#composer-error-{tid}")).to_contain_text("at most 10,000 characters")
    expect(composer(teacher, tid)).to_have_value(too_long)
    expect(composer(teacher, tid)).to_have_attribute("aria-invalid", "true")
    send(teacher, tid, "Sorry, too long. In short: see you Thursday.")
    expect(teacher.locator(f"#composer-error-{tid}")).to_have_count(0)
    expect(message_with(student, tid, "see you Thursday")).to_have_count(1)

    assert_not_reloaded(student)
    assert_not_reloaded(teacher)
    shot(student, "chat-thread-desktop")
    assert_no_console_errors(teacher)
    assert_no_console_errors(student)


def test_unread_counts_change_live_elsewhere_in_the_app(demo, new_page):
    teacher, student = new_page(), new_page()
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")

    # Sam is reading another conversation.
    open_thread(student, demo.group.id, "Exam prep")
    mark_page(student)
    expect(row_unread(student, tid)).to_have_count(0)
    before = settled_unread(student, demo.sam)

    send(teacher, tid, "Quick reminder: bring your calculator tomorrow.")
    expect(row_unread(student, tid)).to_have_text("1")
    expect(student.locator("#chat-unread-badge")).to_have_text(str(before + 1))
    # The conversation moves to the top of the list, with the new message as its preview.
    first = student.locator("#thread-list .thread-item").first
    expect(first).to_have_id(f"thread-item-{tid}")
    expect(first).to_contain_text("Quick reminder: bring your calculator")
    expect(first).to_have_class(re.compile(r"\bunread\b"))
    # The open conversation keeps its place and mark in the list.
    expect(student.locator(f"#thread-item-{demo.group.id}")).to_have_class(re.compile(r"\bactive\b"))
    assert not student.locator(f"#messages-{demo.group.id}").get_by_text("Quick reminder").count()

    # On the chat list (a boosted navigation, the socket stays) the count keeps climbing.
    student.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("Chats")).click()
    expect(student).to_have_url(re.compile(r"/chat/$"))
    wait_connected(student)
    send(teacher, tid, "And a ruler, please.")
    expect(row_unread(student, tid)).to_have_text("2")
    expect(student.locator("#chat-unread-badge")).to_have_text(str(before + 2))
    shot(student, "chat-list-desktop")

    # Opening the conversation reads it: the counts drop everywhere.
    student.locator(f"#thread-item-{tid} a").click()
    expect(student.locator("#thread-title")).to_have_text("Tom Teacher")
    expect(message_with(student, tid, "And a ruler, please.")).to_be_visible()
    expect(row_unread(student, tid)).to_be_hidden()
    if before:
        expect(student.locator("#chat-unread-badge")).to_have_text(str(before))
    else:
        expect(student.locator("#chat-unread-badge")).to_be_hidden()
    assert_not_reloaded(student)
    assert_no_console_errors(teacher)
    assert_no_console_errors(student)


def test_reconnect_catches_up_each_missed_message_once_in_order(demo, new_page, proxy,
                                                                 proxied_page):
    teacher = new_page()
    # Sam's browser reaches the server through a proxy that can lose the connection.
    student = proxied_page
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")
    open_thread(student, tid, "Tom Teacher")
    mark_page(student)
    send(teacher, tid, "Before the drop")
    expect(message_with(student, tid, "Before the drop")).to_have_count(1)
    # Sam's page has sent its read receipt (nothing of his is in flight when the line drops).
    expect(teacher.locator(f"#seen-by-{tid}")).to_have_text("Seen by Sam Student")

    proxy.drop()
    expect(student.locator("html[data-realtime='open']")).to_have_count(0)
    expect(student.locator(".reconnecting")).to_be_visible()
    missed = ["Missed one: chapter 5", "Missed two: chapter 6", "Missed three: chapter 7"]
    for text in missed:
        send(teacher, tid, text)
    # Nothing arrives while the connection is down...
    student.wait_for_timeout(500)
    for text in missed:
        expect(message_with(student, tid, text)).to_have_count(0)

    # ...and once it is back, each missed message shows exactly once, in order.
    proxy.restore()
    expect(student.locator("html[data-realtime='open']")).to_have_count(1, timeout=30_000)
    for text in missed:
        expect(message_with(student, tid, text)).to_have_count(1)
    bodies = student.locator(f"#messages-{tid} .message .message-body").all_inner_texts()
    assert bodies[-4:] == ["Before the drop"] + missed
    assert len(bodies) == len(set(student.locator(f"#messages-{tid} .message").evaluate_all(
        "els => els.map(e => e.id)")))
    expect(student.locator(".reconnecting")).to_be_hidden()

    # Live delivery works again on the new connection, still once.
    send(teacher, tid, "After the drop")
    expect(message_with(student, tid, "After the drop")).to_have_count(1)
    student.wait_for_timeout(300)
    expect(message_with(student, tid, "After the drop")).to_have_count(1)
    assert_not_reloaded(student)

    # Sam's page told the server what it read, in the end (a receipt caught by the drop, e.g.
    # on a kept-alive connection the drop killed, is sent again).
    expect(teacher.locator(f"#seen-by-{tid}")).to_have_text("Seen by Sam Student")

    # Chromium reports each connection attempt refused while the network was down, and htmx logs
    # each one's error event ("[object Event]"); a read receipt the drop caught is logged too.
    # Expected here, and nothing else is.
    assert all(url.endswith(f"/chat/threads/{tid}/read") for url in student.failed_requests), \
        student.failed_requests
    expected = ("WebSocket connection to", "htmx:sendError", "htmx:afterRequest",
                "net::ERR_EMPTY_RESPONSE", "net::ERR_CONNECTION")
    student.console_messages[:] = [
        m for m in student.console_messages
        if m != "error: [object Event]" and not any(e in m for e in expected)]
    assert_no_console_errors(student)
    assert_no_console_errors(teacher)


def test_phone_list_and_thread_are_separate_screens(demo, new_page):
    teacher, student = new_page(), new_page(viewport=PHONE)
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")

    student.goto("/chat/")
    wait_connected(student)
    expect(student.locator("#thread-list-panel")).to_be_visible()
    expect(student.locator(".thread-pane")).to_be_hidden()
    assert_no_horizontal_overflow(student)
    shot(student, "chat-list-phone")

    mark_page(student)
    student.locator(f"#thread-item-{tid} a").click()
    expect(student.locator("#thread-title")).to_have_text("Tom Teacher")
    expect(student.locator("#thread-list-panel")).to_be_hidden()
    wait_connected(student)
    # The composer is on screen without scrolling the page.
    send_button = student.get_by_role("button", name="Send")
    expect(send_button).to_be_visible()
    expect(composer(student, tid)).to_be_in_viewport(ratio=1)
    expect(send_button).to_be_in_viewport(ratio=1)
    assert student.evaluate("window.scrollY") == 0

    send(teacher, tid, "Are you coming to the revision session?")
    arrived = message_with(student, tid, "Are you coming to the revision session?")
    expect(arrived).to_have_count(1)
    expect(arrived).to_be_in_viewport(ratio=1)  # scrolled into view as it arrives

    composer(student, tid).fill("Yes, see you there!")
    send_button.click()
    expect(composer(student, tid)).to_have_value("")
    expect(message_with(teacher, tid, "Yes, see you there!")).to_have_count(1)
    expect(message_with(student, tid, "Yes, see you there!")).to_have_count(1)
    expect(composer(student, tid)).to_be_in_viewport(ratio=1)
    assert_no_horizontal_overflow(student)
    shot(student, "chat-thread-phone")

    # Back to the list: one screen at a time again, the socket still up.
    student.get_by_role("link", name="All chats").click()
    expect(student.locator("#thread-list-panel")).to_be_visible()
    expect(student.locator(".thread-pane")).to_be_hidden()
    expect(student.locator(f"#thread-item-{tid}")).to_contain_text("Yes, see you there!")
    assert_not_reloaded(student)
    assert_no_console_errors(teacher)
    assert_no_console_errors(student)


# --- the pages around the conversation ------------------------------------------------------------

@pytest.mark.parametrize("viewport,label", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_group_form_search_and_pages_fit_the_screen(demo, new_page, viewport, label):
    page = new_page(viewport=viewport)
    log_in(page, "teacher@example.com")

    page.goto("/chat/")
    wait_connected(page)
    expect(page.locator("#thread-list .thread-item").first).to_be_visible()
    assert_no_horizontal_overflow(page)
    shot(page, f"chat-index-{label}")

    # The group form: a missing name and no members are refused inline, the input kept.
    page.goto("/chat/groups/new")
    page.get_by_label("Description").fill("Weekly problem solving")
    page.get_by_role("button", name="Create group").click()
    expect(page.locator("#group-name-error")).to_have_text("Give the group a name.")
    expect(page.locator(".site-header")).to_have_count(1)
    expect(page.get_by_role("alert")).to_contain_text("Pick at least one student.")
    expect(page.get_by_label("Description")).to_have_value("Weekly problem solving")
    # The picker filters by name and counts the selection.
    page.get_by_label("Filter students").fill("maya")
    expect(page.locator("[data-picker-item]:visible")).to_have_count(1)
    page.get_by_label(re.compile("Maya Johnson")).check()
    page.get_by_label("Filter students").fill("")
    page.get_by_label(re.compile("Kenji Tanaka")).check()
    expect(page.locator("[data-picker-count]")).to_have_text("2 selected")
    page.get_by_label("Name", exact=True).fill(f"Problem solving ({label})")
    assert_no_horizontal_overflow(page)
    shot(page, f"chat-group-form-{label}")
    page.get_by_role("button", name="Create group").click()
    expect(page.locator("#thread-title")).to_have_text(f"Problem solving ({label})")
    expect(page).to_have_url(re.compile(r"/chat/threads/\d+$"))
    expect(page.locator(".site-header")).to_have_count(1)  # a page, not a page inside the form
    expect(page.locator("#group-form")).to_have_count(0)
    expect(page.locator(".message.kind-system").last).to_contain_text("Tom Teacher created the group.")
    expect(page.locator(".thread-meta")).to_contain_text("3 members")
    assert_no_horizontal_overflow(page)
    shot(page, f"chat-group-thread-{label}")

    # Search: live results with highlights; a hit opens the thread at that message.
    page.goto("/chat/search")
    page.get_by_label("Search messages").fill("question")
    expect(page.locator(".search-hit").first).to_be_visible()
    expect(page.locator(".search-hit mark").first).to_have_text(re.compile(r"question", re.IGNORECASE))
    expect(page.locator(".search-count")).to_contain_text("for “question”")
    assert_no_horizontal_overflow(page)
    shot(page, f"chat-search-{label}")
    hit = page.locator(".search-hit", has_text="stuck on").first
    hit.locator("a").click()
    expect(page.locator("#thread-title")).to_have_text("Exam prep")
    focused = page.locator("#messages-%d .message.highlight" % demo.group.id)
    expect(focused).to_contain_text("I'm stuck on question 7")
    expect(focused).to_be_in_viewport()
    assert page.evaluate("window.scrollY") == 0
    assert_no_horizontal_overflow(page)
    shot(page, f"chat-search-hit-{label}")
    assert_no_console_errors(page)


def test_chat_demo_data_is_idempotent_and_leaves_the_teacher_something_to_read(demo):
    from app.chat.models import Message

    threads, messages = db.session.query(Thread).count(), db.session.query(Message).count()
    assert seed_demo()["chat threads"] == 0
    assert (db.session.query(Thread).count(), db.session.query(Message).count()) == \
        (threads, messages)

    unread = services.unread_counts(demo.teacher)
    assert unread[demo.direct.id] >= 1 and unread[demo.group.id] >= 1
    assert {m.user.email for m in demo.group.members} == {
        "teacher@example.com", "student1@example.com", "student2@example.com",
        "student4@example.com"}
    group_html = " ".join(m.body_html for m in services.messages_before(demo.group)[0])
    assert "<strong>" in group_html and '<a href="https://' in group_html
    senders = {m.sender_id for m in services.messages_before(demo.group)[0] if m.sender_id}
    assert len(senders) >= 3
    # Every course has its class thread, with an announcement from its teacher.
    for course in db.session.scalars(select(Course)):
        thread = db.session.scalar(select(Thread).where(Thread.course_id == course.id))
        assert thread is not None and thread.last_message_id is not None


# --- issue 9: reconnects, the list, opening threads --------------------------------------------

def test_sending_again_before_the_answer_settles_never_reloads_the_page(demo, new_page):
    """htmx wires up a composer it swapped in only when the swap settles (20 ms, or much more on
    a busy machine). A message sent in between was submitted by the browser itself: a full
    page load instead of an htmx request ("the page was reloaded" under CPU load). The busy
    machine is made certain here with a long settle delay."""
    teacher = new_page()
    log_in(teacher, "teacher@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")
    mark_page(teacher)
    teacher.evaluate("htmx.config.defaultSettleDelay = 2000")
    box = composer(teacher, tid)
    for text in ("First, straight away", "Second, before it settles", "Third, still unsettled"):
        box.fill(text)
        box.press("Enter")
        expect(message_with(teacher, tid, text)).to_have_count(1)
    # After a refusal too: the refused form is swapped in the same way.
    box.fill("x" * 10_001)
    box.press("Enter")
    expect(teacher.locator(f"#composer-error-{tid}")).to_be_visible()
    box.fill("Short again")
    box.press("Enter")
    expect(message_with(teacher, tid, "Short again")).to_have_count(1)
    assert_not_reloaded(teacher)
    bodies = teacher.locator(f"#messages-{tid} .message .message-body").all_inner_texts()
    assert bodies[-4:] == ["First, straight away", "Second, before it settles",
                           "Third, still unsettled", "Short again"]
    assert_no_console_errors(teacher)


def test_a_message_missed_on_a_stalled_line_is_not_hidden_by_ones_own_reply(
        demo, new_page, proxy, proxied_page):
    """Sam's websocket stalls (the proxy holds what the server sends on it) while Tom writes;
    Sam replies meanwhile and sees his reply at once, from the HTTP answer: it is the newest
    message on his page. His socket then drops and reconnects: Tom's message, older than Sam's
    reply, still comes, once, and in its place."""
    teacher, student = new_page(), proxied_page
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")
    open_thread(student, tid, "Tom Teacher")
    mark_page(student)

    proxy.hold_websocket_frames()
    send(teacher, tid, "Tom: did you get my notes?")
    send(student, tid, "Sam: the notes were great")  # through the proxy, over HTTP
    student.wait_for_timeout(300)
    expect(message_with(student, tid, "Tom: did you get my notes?")).to_have_count(0)  # held

    proxy.drop_websockets()
    expect(message_with(student, tid, "Tom: did you get my notes?")).to_have_count(1,
                                                                                timeout=30_000)
    wait_connected(student)
    bodies = student.locator(f"#messages-{tid} .message .message-body").all_inner_texts()
    assert bodies[-2:] == ["Tom: did you get my notes?", "Sam: the notes were great"]
    ids = student.locator(f"#messages-{tid} .message").evaluate_all("els => els.map(e => e.id)")
    assert len(ids) == len(set(ids))
    send(teacher, tid, "Tom: good, see you Monday")
    expect(message_with(student, tid, "see you Monday")).to_have_count(1)
    assert_not_reloaded(student)
    student.console_messages[:] = [m for m in student.console_messages
                                   if "WebSocket connection to" not in m
                                   and m != "error: [object Event]"]
    assert_no_console_errors(student)


def test_a_reconnect_brings_the_badges_and_the_thread_list_up_to_date(
        demo, new_page, proxy, proxied_page):
    teacher, student = new_page(), proxied_page
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    open_thread(teacher, demo.direct.id, "Sam Student")
    open_thread(student, demo.group.id, "Exam prep")  # Sam reads another conversation
    mark_page(student)
    before = settled_unread(student, demo.sam)
    expect(row_unread(student, demo.direct.id)).to_have_count(0)

    proxy.drop()
    expect(student.locator("html[data-realtime='open']")).to_have_count(0)
    send(teacher, demo.direct.id, "Written while Sam was offline")
    proxy.restore()
    wait_connected(student)
    expect(student.locator("#chat-unread-badge")).to_have_text(str(before + 1), timeout=30_000)
    first = student.locator("#thread-list .thread-item").first
    expect(first).to_have_id(f"thread-item-{demo.direct.id}")
    expect(first).to_contain_text("Written while Sam was offline")
    expect(row_unread(student, demo.direct.id)).to_have_text("1")
    # The open conversation stays marked in the list that came over the socket.
    expect(student.locator(f"#thread-item-{demo.group.id}")).to_have_class(re.compile(r"\bactive\b"))
    assert_not_reloaded(student)


def test_opening_a_conversation_while_its_row_changes_lands_on_the_conversation(demo, new_page):
    """Sam clicks a conversation in the list just as a new message in it re-renders its row.
    The click's answer must still show the conversation at its own address (the live swap used
    to wipe the link's request state: the page changed, the address stayed /chat/)."""
    teacher, student = new_page(), new_page()
    frames = []
    student.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(
        payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
    log_in(teacher, "teacher@example.com")
    log_in(student, "student1@example.com")
    tid = demo.direct.id
    open_thread(teacher, tid, "Sam Student")
    student.goto("/chat/")
    wait_connected(student)
    mark_page(student)

    held = []
    student.route(re.compile(rf"/chat/threads/{tid}$"), lambda route: held.append(route))
    student.locator(f"#thread-item-{tid} a").click()
    for _ in range(200):  # until the click's request is on its way (held here)
        if held:
            break
        student.wait_for_timeout(25)
    assert held, "the click sent no request"
    frames.clear()
    send(teacher, tid, "Sent as Sam clicks")
    for _ in range(400):  # until the row's new version has reached Sam's page
        if any(f"thread-item-{tid}" in f for f in frames):
            break
        student.wait_for_timeout(25)
    assert any(f"thread-item-{tid}" in f for f in frames), frames
    held[0].continue_()

    expect(student.locator("#thread-title")).to_have_text("Tom Teacher")
    expect(student).to_have_url(re.compile(rf"/chat/threads/{tid}$"))
    expect(message_with(student, tid, "Sent as Sam clicks")).to_have_count(1)
    expect(student.locator(f"#thread-item-{tid}")).to_have_class(re.compile(r"\bactive\b"))
    expect(student.locator(f"#thread-item-{tid}")).to_contain_text("Sent as Sam clicks")
    assert_not_reloaded(student)
    student.unroute(re.compile(rf"/chat/threads/{tid}$"))
    assert_no_console_errors(student)
