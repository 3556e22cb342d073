"""Realtime over real processes: two gunicorn (gevent) servers of the app share the test
database and Redis; people log in over HTTP (requests) and open real websockets
(simple_websocket.Client) with their session cookie and an Origin header, as a browser does.

A frame is HTML the htmx ws extension swaps out of band. To know a subscription is active
before acting, a test subscribes to its topics followed by a topic nobody may have
("sync:<n>"): the server handles a subscribe message's topics in order, so the refusal frame for
the last one says the others are in place.
"""
from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time

import pytest
import requests
import simple_websocket

from app.chat import services
from app.extensions import db
from tests.conftest import _TOKEN_RE, PASSWORD, commit

TIMEOUT = 8.0  # generous; the tests end as soon as what they wait for arrives
QUIET = 0.6  # how long "nothing more arrives" is watched for
_sync_ids = itertools.count(1)


def _token(html: str) -> str:
    match = _TOKEN_RE.search(html)
    assert match, "no CSRF token"
    return next(group for group in match.groups() if group)


class Person:
    """Someone logged in over HTTP (a requests.Session with the session cookie)."""

    def __init__(self, server, user):
        self.user = user
        self.server = server
        self.http = requests.Session()
        self.http.trust_env = False
        token = _token(self.http.get(f"{server.url}/login", timeout=TIMEOUT).text)
        response = self.http.post(f"{server.url}/login", timeout=TIMEOUT, allow_redirects=False,
                                  data={"email": user.email, "password": PASSWORD,
                                        "csrf_token": token})
        assert response.status_code == 302, response.text[:500]
        self.csrf = _token(self.http.get(f"{server.url}/account", timeout=TIMEOUT).text)

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)

    def read(self, thread_id: int) -> None:
        """Open a thread and send the read receipt its page sends (static/js/chat.js)."""
        assert self.http.get(f"{self.server.url}/chat/threads/{thread_id}",
                             timeout=TIMEOUT).status_code == 200
        response = self.http.post(f"{self.server.url}/chat/threads/{thread_id}/read",
                                  data={"csrf_token": self.csrf}, timeout=TIMEOUT)
        assert response.status_code == 204

    def post_message(self, thread_id: int, body: str, server=None) -> int:
        """Send a message over HTTP (to ``server``, default this person's); its id."""
        server = server or self.server
        response = self.http.post(f"{server.url}/chat/threads/{thread_id}/messages",
                                  data={"body": body, "csrf_token": self.csrf},
                                  headers={"HX-Request": "true"}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text[:500]
        return int(re.search(r'<article id="message-(\d+)"', response.text).group(1))


class Socket:
    """A websocket to /ws, collecting every frame it receives."""

    def __init__(self, server, person: Person | None = None, origin: str | None = "same"):
        headers = {}
        if person is not None:
            headers["Cookie"] = person.cookie
        if origin is not None:
            headers["Origin"] = server.url if origin == "same" else origin
        self.ws = simple_websocket.Client.connect(server.url.replace("http://", "ws://") + "/ws",
                                                  headers=headers)
        self.frames: list[str] = []
        self.closed_with = None

    def send(self, **message) -> None:
        self.ws.send(json.dumps(message))

    def _receive(self, timeout: float) -> str | None:
        try:
            frame = self.ws.receive(timeout=timeout)
        except simple_websocket.ConnectionClosed as exc:
            self.closed_with = (exc.reason, exc.message)
            return None
        if frame is not None:
            self.frames.append(frame)
        return frame

    def wait_for(self, predicate, timeout: float = TIMEOUT) -> str:
        """The first frame (already received or arriving) for which ``predicate`` holds."""
        for frame in self.frames:
            if predicate(frame):
                return frame
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = self._receive(max(0.01, deadline - time.monotonic()))
            if frame is not None and predicate(frame):
                return frame
            if self.closed_with is not None:
                break
        raise AssertionError(f"no such frame within {timeout}s (closed: {self.closed_with}); "
                             f"got {[f[:120] for f in self.frames]}")

    def settle(self, seconds: float = QUIET) -> None:
        """Collect whatever else arrives for ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.closed_with is None:
            self._receive(max(0.01, deadline - time.monotonic()))

    def subscribe(self, *topics: str, after: dict | None = None, have: dict | None = None) -> None:
        """Subscribe and wait until the server has handled it (see the module docstring)."""
        marker = f"sync:{next(_sync_ids)}"
        self.send(type="subscribe", topics=[*topics, marker], after=after or {}, have=have or {})
        self.wait_for(lambda f: f'data-topic="{marker}"' in f)

    def wait_closed(self, timeout: float = TIMEOUT) -> tuple:
        """Read until the server closes the socket; its (code, reason)."""
        deadline = time.monotonic() + timeout
        while self.closed_with is None and time.monotonic() < deadline:
            self._receive(max(0.01, deadline - time.monotonic()))
        assert self.closed_with is not None, f"still open; got {[f[:120] for f in self.frames]}"
        return self.closed_with

    def appended_ids(self, thread_id: int) -> list[int]:
        """Ids of the messages appended to the thread, in the order their frames came."""
        ids = []
        append = f'hx-swap-oob="beforeend:#messages-{thread_id}"'
        for frame in self.frames:
            # A frame may carry several parts (the server joins what was queued for a socket):
            # only the append parts count, each up to the tag of the next out-of-band part.
            for part in frame.split(append)[1:]:
                part, next_part, _ = part.partition("hx-swap-oob=")
                if next_part:
                    part = part[:part.rfind("<")]
                ids += [int(i) for i in re.findall(r'<article id="message-(\d+)"', part)]
        return ids

    def close(self) -> None:
        try:
            self.ws.close()
        except simple_websocket.ConnectionClosed:
            pass


@pytest.fixture
def realtime(chat, live_servers):
    """The chat world, people logged in on server A or B, and their sockets closed at the end."""
    db.session.commit()  # nothing of the test's left open while the servers write
    a, b = live_servers
    sockets: list[Socket] = []

    def connect(server, person=None, origin="same") -> Socket:
        sock = Socket(server, person, origin)
        sockets.append(sock)
        return sock

    world = type("Realtime", (), dict(chat=chat, a=a, b=b, connect=connect))
    yield world
    for sock in sockets:
        sock.close()


def _has_message(message_id: int):
    return lambda frame: f'id="message-{message_id}"' in frame


# --- (a) across processes ---------------------------------------------------------------------------

def test_a_message_posted_on_one_server_reaches_a_socket_on_another(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    assert a.process.pid != b.process.pid and a.port != b.port
    student_on_a = Person(a, chat.s1)
    teacher_on_b = Person(b, chat.teacher)
    sock = realtime.connect(a, student_on_a)
    sock.subscribe(f"thread:{chat.group.id}")

    message_id = teacher_on_b.post_message(chat.group.id, "Hello from **server B**")
    frame = sock.wait_for(_has_message(message_id))
    assert f'hx-swap-oob="beforeend:#messages-{chat.group.id}"' in frame
    assert "<strong>server B</strong>" in frame
    assert "Terry Teacher" in frame  # rendered for the viewer: not "You"
    sock.settle()
    assert sock.appended_ids(chat.group.id) == [message_id]  # once
    # An edit on B reaches A as an in-place swap of the same element.
    response = teacher_on_b.http.post(
        f"{b.url}/chat/threads/{chat.group.id}/messages/{message_id}/edit",
        data={"body": "Edited on B", "csrf_token": teacher_on_b.csrf},
        headers={"HX-Request": "true"}, timeout=TIMEOUT)
    assert response.status_code == 200
    frame = sock.wait_for(lambda f: "Edited on B" in f)
    assert re.search(rf'<article id="message-{message_id}"[^>]*hx-swap-oob="true"', frame)


# --- (b) reconnect and catch-up ------------------------------------------------------------------------

def test_reconnecting_client_gets_each_missed_message_once_in_order(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid = chat.group.id
    student = Person(a, chat.s1)
    teacher = Person(b, chat.teacher)
    sock = realtime.connect(a, student)
    sock.subscribe(f"thread:{gid}")
    first = teacher.post_message(gid, "before the drop")
    sock.wait_for(_has_message(first))
    last_seen = first
    sock.close()

    missed = [teacher.post_message(gid, f"while away {n}") for n in range(4)]
    sock = realtime.connect(a, student)
    sock.subscribe(f"thread:{gid}", after={f"thread:{gid}": last_seen})
    assert sock.appended_ids(gid) == missed  # caught up: each once, in order
    live = teacher.post_message(gid, "live again")
    sock.wait_for(_has_message(live))
    sock.settle()
    assert sock.appended_ids(gid) == missed + [live]


class Posters:
    """People posting in one thread at the same time: two over HTTP (one on each server) and, on
    PostgreSQL, two more from this process (services, each in its own app context and thread).
    Each poster posts in sequence; together they commit and publish in an order of their own.

    SQLite takes one writer at a time, and a gevent worker waiting for its lock blocks the whole
    process: more concurrent writers there only test SQLite's lock timeouts. Two posters still
    interleave their publishes across the processes."""

    def __init__(self, app, realtime, thread_id: int):
        chat = realtime.chat
        self.app, self.thread_id = app, thread_id
        self.http = [Person(realtime.b, chat.teacher), Person(realtime.a, chat.s2)]
        postgres = db.engine.dialect.name == "postgresql"
        self.in_process = [chat.teacher.id, chat.s2.id] if postgres else []
        self.sent: dict[str, list[int]] = {}
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def _post_here(self, user_id: int, body: str) -> int:
        from app.accounts.models import User
        from app.chat.models import Thread

        with self.app.app_context():
            user = db.session.get(User, user_id)
            thread = db.session.get(Thread, self.thread_id)
            message_id = services.post_message(user, thread, body).id
            commit()  # as a request's edge would: then it is published
            return message_id

    def start(self, count: int, tag: str, go: threading.Event) -> None:
        def run(name, post):
            go.wait()
            try:
                for n in range(count):
                    self.sent.setdefault(name, []).append(post(f"{tag} {name} {n}"))
            except BaseException as exc:  # reported by join, not lost in the thread
                self.errors.append(exc)

        jobs = [(f"http{i}", lambda body, p=p: p.post_message(self.thread_id, body))
                for i, p in enumerate(self.http)]
        jobs += [(f"here{i}", lambda body, u=u: self._post_here(u, body))
                 for i, u in enumerate(self.in_process)]
        self._threads = [threading.Thread(target=run, args=job) for job in jobs]
        for thread in self._threads:
            thread.start()

    def join(self) -> list[int]:
        for thread in self._threads:
            thread.join(timeout=TIMEOUT * 3)
        assert not self.errors, self.errors
        return sorted(i for ids in self.sent.values() for i in ids)


def _assert_each_once(sock: Socket, thread_id: int, expected: list[int], posters: Posters):
    for message_id in expected:
        sock.wait_for(_has_message(message_id))
    sock.settle(0.3)
    got = sock.appended_ids(thread_id)
    assert len(got) == len(set(got)), f"duplicates: {got}"
    assert set(got) == set(expected), f"missing {sorted(set(expected) - set(got))} of {got}"
    for name, ids in posters.sent.items():  # each person's messages in the order they wrote
        assert [i for i in got if i in set(ids)] == ids, (name, got)
    return got


def test_concurrent_posters_each_message_arrives_once(app, realtime):
    """Several people post at once (their commits and publishes interleave in any order): a
    subscribed socket gets every message, each once."""
    gid = realtime.chat.group.id
    sock = realtime.connect(realtime.a, Person(realtime.a, realtime.chat.s1))
    sock.subscribe(f"thread:{gid}")
    posters = Posters(app, realtime, gid)
    go = threading.Event()
    posters.start(8, "live", go)
    go.set()
    _assert_each_once(sock, gid, posters.join(), posters)


def test_no_duplicates_or_gaps_when_posting_during_the_resubscribe(app, realtime):
    """Messages keep coming (from several people, on both servers) while the client reconnects
    and catches up: what it missed comes first, in order; then every message exactly once."""
    chat, a = realtime.chat, realtime.a
    gid = chat.group.id
    reader = Person(a, chat.s1)
    posters = Posters(app, realtime, gid)
    last_seen = posters.http[0].post_message(gid, "start")

    for round_ in range(3):  # the race is narrow: a few rounds (posters stay under the limit)
        # Offline for a moment: a few messages are missed.
        offline = [posters.http[n % 2].post_message(gid, f"r{round_} away {n}")
                   for n in range(2)]
        posters.sent = {}
        go = threading.Event()
        posters.start(3, f"r{round_}", go)
        sock = realtime.connect(a, reader)
        go.set()  # posting starts as the subscription (and its catch-up) is handled
        sock.subscribe(f"thread:{gid}", after={f"thread:{gid}": last_seen})
        expected = sorted(offline + posters.join())
        got = _assert_each_once(sock, gid, expected, posters)
        assert got[:len(offline)] == offline, f"catch-up not first and in order: {got}"
        last_seen = max(got)
        sock.close()


# --- (c) typing -----------------------------------------------------------------------------------

def test_typing_reaches_the_other_members_but_not_the_typer(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid = chat.group.id
    typer = realtime.connect(a, Person(a, chat.s1))
    other = realtime.connect(b, Person(b, chat.teacher))
    outsider = realtime.connect(a, Person(a, chat.outsider))
    topic = f"thread:{gid}"
    typer.subscribe(topic)
    other.subscribe(topic)
    outsider.subscribe(topic)  # refused
    assert f'id="realtime-denied"' in outsider.frames[0]
    assert f'data-topic="{topic}"' in outsider.frames[0]

    typer.send(type="typing", topic=topic)
    frame = other.wait_for(lambda f: f'id="typing-{gid}"' in f)
    assert 'hx-swap-oob="true"' in frame and "Sara is typing" in frame
    typer.settle()
    outsider.settle(0.1)
    assert not any(f'id="typing-{gid}"' in f for f in typer.frames)
    assert not any(f'id="typing-{gid}"' in f for f in outsider.frames)
    # Typing on a topic one has not (or may not) subscribe(d) to reaches nobody.
    outsider.send(type="typing", topic=topic)
    silent = realtime.connect(a, Person(a, chat.s2))
    silent.send(type="typing", topic=topic)  # a member, but not subscribed on this socket
    other.settle()
    assert sum(f'id="typing-{gid}"' in f for f in other.frames) == 1


# --- (d) refused sockets ------------------------------------------------------------------------------

def _close_frame(server, headers: dict) -> tuple[int, str]:
    """The close code and reason the server sends right after the handshake. Read with wsproto
    directly: simple_websocket's client drops a close frame that arrives in the same packet as
    the handshake answer (it then reports 1005, no status)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request

    conn = WSConnection(ConnectionType.CLIENT)
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as raw:
        raw.sendall(conn.send(Request(host=f"127.0.0.1:{server.port}", target="/ws",
                                      extra_headers=[(k.encode(), v.encode())
                                                     for k, v in headers.items()])))
        accepted = False
        while True:
            data = raw.recv(65536)
            conn.receive_data(data or None)
            for event in conn.events():
                if isinstance(event, AcceptConnection):
                    accepted = True
                elif isinstance(event, CloseConnection):
                    assert accepted
                    return event.code, event.reason
                else:
                    raise AssertionError(f"unexpected {event!r}")
            if not data:
                raise AssertionError("closed without a close frame")


def _assert_no_frames_from(sock: Socket, realtime, thread_id: int, poster: Person):
    message_id = poster.post_message(thread_id, "should not leak")
    watcher = realtime.connect(poster.server, poster)  # a positive control: it does go out
    watcher.subscribe(f"thread:{thread_id}", after={f"thread:{thread_id}": message_id - 1})
    watcher.wait_for(_has_message(message_id))
    sock.settle()
    assert not any("should not leak" in f or f'id="message-{message_id}"' in f
                   for f in sock.frames)


def test_a_foreign_origin_gets_no_frames(realtime):
    chat, a = realtime.chat, realtime.a
    student = Person(a, chat.s1)
    sock = realtime.connect(a, student, origin="http://evil.example")
    sock.settle(TIMEOUT)  # until the server closes it
    assert sock.closed_with is not None
    assert _close_frame(a, {"Cookie": student.cookie, "Origin": "http://evil.example"}) == (
        1008, "origin not allowed")
    with pytest.raises(simple_websocket.ConnectionClosed):
        sock.send(type="subscribe", topics=[f"thread:{chat.group.id}", f"user:{chat.s1.id}"])
    assert sock.frames == []
    _assert_no_frames_from(sock, realtime, chat.group.id, Person(a, chat.teacher))
    # The same person from the right origin is served (so the refusal was about the origin).
    good = realtime.connect(a, student)
    good.subscribe(f"thread:{chat.group.id}")
    assert good.closed_with is None


def test_an_anonymous_socket_gets_no_frames(realtime):
    chat, a = realtime.chat, realtime.a
    sock = realtime.connect(a, None)
    sock.settle(TIMEOUT)  # until the server closes it
    assert sock.closed_with is not None
    assert _close_frame(a, {"Origin": a.url}) == (1008, "log in first")
    with pytest.raises(simple_websocket.ConnectionClosed):
        sock.send(type="subscribe", topics=[f"thread:{chat.group.id}"])
    assert sock.frames == []
    _assert_no_frames_from(sock, realtime, chat.group.id, Person(a, chat.teacher))


def test_subscribing_to_a_thread_one_is_not_in_is_refused(realtime, other_center):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    private = services.create_group(chat.teacher, "Teacher and Sara", "", [chat.s1.id])
    db.session.commit()
    outsider = Person(a, chat.s2)
    sock = realtime.connect(a, outsider)
    topics = [f"thread:{private.id}", f"thread:{other_center.group.id}", f"user:{chat.s1.id}",
              f"threads:{chat.s1.id}", "thread:abc", "room:1"]
    sock.subscribe(*topics, after={f"thread:{private.id}": 0})
    refused = re.findall(r'id="realtime-denied"[^>]*data-topic="([^"]+)"', "".join(sock.frames))
    assert refused[:len(topics)] == topics
    # Nothing from the private thread arrives: not the catch-up, not live messages, not typing.
    teacher = Person(b, chat.teacher)
    member = realtime.connect(a, Person(a, chat.s1))
    member.subscribe(f"thread:{private.id}")
    member.send(type="typing", topic=f"thread:{private.id}")
    _assert_no_frames_from(sock, realtime, private.id, teacher)
    assert not any(f'id="message-' in f or "typing-" in f for f in sock.frames)


def test_a_removed_member_stops_receiving_the_thread(realtime):
    """Removing someone from a group cuts off their open socket too, not only new pages."""
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid = chat.group.id
    teacher = Person(b, chat.teacher)
    sock = realtime.connect(a, Person(a, chat.s2))
    sock.subscribe(f"thread:{gid}")
    before = teacher.post_message(gid, "still in")
    sock.wait_for(_has_message(before))
    response = teacher.http.post(f"{b.url}/chat/threads/{gid}/settings",
                                 data={"action": "remove", "user_id": str(chat.s2.id),
                                       "csrf_token": teacher.csrf},
                                 allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302
    _assert_no_frames_from(sock, realtime, gid, teacher)
    # Typing from the removed member's socket does not reach the group either.
    member = realtime.connect(a, Person(a, chat.s1))
    member.subscribe(f"thread:{gid}")
    sock.send(type="typing", topic=f"thread:{gid}")
    member.settle()
    assert not any(f'id="typing-{gid}"' in f for f in member.frames)


def test_junk_from_the_client_is_ignored(realtime):
    """Malformed or hostile client messages change nothing and do not break the socket."""
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid = chat.group.id
    student = Person(a, chat.s1)
    sock = realtime.connect(a, student)
    topic = f"thread:{gid}"
    for raw in ["not json", "[]", "42", "null", '{"type": 7}', '{"type": "nope"}',
                json.dumps({"type": "subscribe", "topics": topic}),
                json.dumps({"type": "subscribe", "topics": [1, None, {}, []], "after": []}),
                json.dumps({"type": "subscribe", "topics": [topic], "after": {topic: "abc"}}),
                json.dumps({"type": "subscribe", "topics": [topic], "after": {topic: -5}}),
                json.dumps({"type": "subscribe", "topics": [topic], "after": {topic: 10**30}}),
                json.dumps({"type": "subscribe", "topics": [topic], "after": {topic: 1.5}}),
                json.dumps({"type": "subscribe", "topics": ["thread:" + "9" * 40, "thread:²",
                                                            "thread:0", "thread:-1", "thread:",
                                                            ":", "x" * 5000]}),
                '{"type": "subscribe", "topics": ["%s"], "after": {"%s": Infinity}}' % (
                    topic, topic),
                json.dumps({"type": "typing"}), json.dumps({"type": "typing", "topic": 5}),
                json.dumps({"type": "unsubscribe", "topic": f"user:{chat.s1.id}"}),
                json.dumps({"type": "unsubscribe"})]:
        sock.ws.send(raw)
    sock.subscribe(topic)  # still answering, in order
    assert sock.closed_with is None
    teacher = Person(b, chat.teacher)
    message_id = teacher.post_message(gid, "after the junk")
    sock.wait_for(_has_message(message_id))
    sock.wait_for(lambda f: 'id="chat-unread-badge"' in f)  # the user topic stayed
    sock.settle(0.3)
    assert sock.appended_ids(gid).count(message_id) == 1


# --- (e) the unread badge ---------------------------------------------------------------------------

def _badge(frame: str) -> int:
    match = re.search(r'<span id="chat-unread-badge"[^>]*aria-label="(\d+) unread"', frame)
    assert match, frame
    return int(match.group(1))


def test_the_unread_badge_updates_on_the_users_topic(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    student = Person(a, chat.s1)
    for thread in (chat.group, chat.direct):  # all read
        student.read(thread.id)
    sock = realtime.connect(a, student)
    sock.subscribe()  # only its own user topic, which every socket has
    teacher = Person(b, chat.teacher)

    teacher.post_message(chat.group.id, "one")
    frame = sock.wait_for(lambda f: 'id="chat-unread-badge"' in f)
    assert 'hx-swap-oob="true"' in frame and _badge(frame) == 1
    teacher.post_message(chat.direct.id, "two")
    sock.wait_for(lambda f: 'id="chat-unread-badge"' in f and _badge(f) == 2)
    # Reading a thread over HTTP lowers it live.
    student.http.post(f"{a.url}/chat/threads/{chat.direct.id}/read",
                      data={"csrf_token": student.csrf}, timeout=TIMEOUT)
    sock.wait_for(lambda f: 'id="chat-unread-badge"' in f and _badge(f) == 1)
    # Another person's badge frames never reach this socket.
    other = realtime.connect(b, Person(b, chat.s2))
    other.subscribe()
    teacher.post_message(chat.direct.id, "three, for Sara only")
    sock.wait_for(lambda f: 'id="chat-unread-badge"' in f and _badge(f) == 2)
    other.settle(0.3)
    assert not any('id="chat-unread-badge"' in f for f in other.frames)


def test_deleting_a_group_updates_every_members_badge(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    teacher = Person(b, chat.teacher)
    teacher.post_message(chat.group.id, "unread for both students")
    sockets = {}
    for student in (chat.s1, chat.s2):
        sock = realtime.connect(a, Person(a, student))
        sock.subscribe()
        sockets[student.id] = sock
    response = teacher.http.post(f"{b.url}/chat/threads/{chat.group.id}/settings",
                                 data={"action": "delete", "csrf_token": teacher.csrf},
                                 allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302
    for sock in sockets.values():
        frame = sock.wait_for(lambda f: 'id="chat-unread-badge"' in f)
        assert _badge(frame) == 0


# --- (f) catch-up measured against what the page has (issue 9, item 2) ---------------------------

def test_ones_own_newer_message_does_not_hide_anothers_missed_one(realtime):
    """Sara's socket stalls (the test stops reading it: frames are held, then lost with it).
    Terry posts; then Sara posts, and her page shows her message from the HTTP answer, so the
    newest id on her page is her own, above Terry's. She reconnects saying what her page has:
    Terry's message comes, once; hers is not sent again."""
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid, topic = chat.group.id, f"thread:{chat.group.id}"
    sara, terry = Person(a, chat.s1), Person(b, chat.teacher)
    sock = realtime.connect(a, sara)
    sock.subscribe(topic)
    first = terry.post_message(gid, "before the stall")
    sock.wait_for(_has_message(first))

    theirs = terry.post_message(gid, "from Terry while Sara's socket is held")
    mine = sara.post_message(gid, "from Sara, shown from her HTTP answer")
    assert theirs < mine
    sock.close()  # whatever it held is gone

    page_has = [mine, first]  # what realtime.js sends: the ids on the page, newest first
    sock = realtime.connect(a, sara)
    sock.subscribe(topic, after={topic: first}, have={topic: page_has})
    assert sock.appended_ids(gid) == [theirs]
    later = terry.post_message(gid, "live again")
    sock.wait_for(_has_message(later))
    sock.settle(0.3)
    assert sock.appended_ids(gid) == [theirs, later]


def test_a_gap_below_the_pages_newest_messages_is_filled_once(realtime):
    """Ids are handed out at insert and published at commit: a page can hold messages on both
    sides of one it never got. Whatever the page lists is not sent; every gap is, in order."""
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid, topic = chat.group.id, f"thread:{chat.group.id}"
    terry = Person(b, chat.teacher)
    ids = [terry.post_message(gid, f"message {n}") for n in range(6)]
    page_has = [ids[5], ids[3], ids[2], ids[0]]  # missing 1 and 4
    sock = realtime.connect(a, Person(a, chat.s1))
    sock.subscribe(topic, after={topic: ids[0]}, have={topic: page_has})
    assert sock.appended_ids(gid) == [ids[1], ids[4]]
    # The seen-by line comes with every catch-up (read receipts missed meanwhile).
    assert any(f'id="seen-by-{gid}"' in f for f in sock.frames)
    # Junk in what the page says it has is ignored, never an error.
    junk = realtime.connect(a, Person(a, chat.s2))
    junk.subscribe(topic, after={topic: ids[3]},
                   have={topic: ["x", None, -1, 10**40, True, 2.5, {"a": 1}, ids[5]]})
    assert junk.appended_ids(gid) == [ids[4]]
    junk.subscribe(f"threads:{chat.s2.id}", have={f"threads:{chat.s2.id}": [1, 2]})
    junk.subscribe(f"threads:{chat.s2.id}", have={f"threads:{chat.s2.id}": {"kinds": "x",
                                                                              "rows": []}})
    assert junk.closed_with is None


# --- (g) sockets end with their login session (issue 9, item 6) ----------------------------------

NEW_PASSWORD = "a brand new password 2026"


def test_a_password_change_ends_the_sockets_of_the_sessions_it_signs_out(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid, topic = chat.group.id, f"thread:{chat.group.id}"
    laptop, phone = Person(a, chat.s1), Person(b, chat.s1)  # Sara on two devices
    on_laptop, on_phone = realtime.connect(a, laptop), realtime.connect(b, phone)
    on_laptop.subscribe(topic)
    on_phone.subscribe(topic)
    bystander = realtime.connect(a, Person(a, chat.s2))
    bystander.subscribe(topic)

    response = phone.http.post(f"{b.url}/account/password", timeout=TIMEOUT,
                               data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                     "confirm_password": NEW_PASSWORD, "csrf_token": phone.csrf},
                               allow_redirects=False)
    assert response.status_code in (200, 204, 302), response.text[:300]
    # Both sockets were opened in sessions the change ended (the phone's page gets a new
    # session with the answer, and reconnects with it).
    assert on_laptop.wait_closed() == (1008, "session ended")
    assert on_phone.wait_closed() == (1008, "session ended")

    terry = Person(b, chat.teacher)
    message_id = terry.post_message(gid, "after the password change")
    bystander.wait_for(_has_message(message_id))
    assert not any(_has_message(message_id)(f) for f in on_laptop.frames + on_phone.frames)
    # The laptop's cookie is refused; the phone's renewed session is served.
    assert _close_frame(a, {"Cookie": laptop.cookie, "Origin": a.url}) == (1008, "log in first")
    renewed = realtime.connect(b, phone)
    renewed.subscribe(topic, after={topic: message_id - 1})
    assert renewed.appended_ids(gid) == [message_id]


def test_logout_and_deactivation_end_open_sockets(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    sara = Person(a, chat.s1)
    sock = realtime.connect(a, sara)
    sock.subscribe(f"thread:{chat.group.id}")
    response = sara.http.post(f"{a.url}/logout", data={"csrf_token": sara.csrf},
                              allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302
    assert sock.wait_closed() == (1008, "session ended")

    ben = Person(b, chat.s2)
    sock = realtime.connect(b, ben)
    sock.subscribe(f"thread:{chat.group.id}")
    admin = Person(a, chat.admin)
    response = admin.http.post(f"{a.url}/admin/users/{chat.s2.id}/active",
                               data={"active": "0", "csrf_token": admin.csrf},
                               allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code in (200, 204, 302)
    assert sock.wait_closed()[0] == 1008


def _bump_session_version_quietly(user) -> None:
    """Invalidate the user's sessions the way no service does: a bare UPDATE, which announces
    nothing, so only the checks made on subscribe and on delivery can notice."""
    from sqlalchemy import update

    from app.accounts.models import User

    db.session.execute(update(User).where(User.id == user.id)
                       .values(session_version=User.session_version + 1))
    db.session.commit()


def test_subscribe_and_delivery_check_the_session_each_time(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid, topic = chat.group.id, f"thread:{chat.group.id}"
    terry = Person(b, chat.teacher)
    before = terry.post_message(gid, "before the sign-out")
    subscribing = realtime.connect(a, Person(a, chat.s1))
    subscribing.subscribe(f"user:{chat.s1.id}")
    listening = realtime.connect(b, Person(b, chat.s1))
    listening.subscribe(topic)

    _bump_session_version_quietly(chat.s1)
    # Subscribing (with a catch-up that would send ``before``) is refused: the socket is closed.
    subscribing.send(type="subscribe", topics=[topic], after={topic: before - 1})
    assert subscribing.wait_closed() == (1008, "session ended")
    assert not any(_has_message(before)(f) for f in subscribing.frames)
    # The socket already subscribed gets nothing more: the next delivery closes it.
    message_id = terry.post_message(gid, "after the sign-out")
    assert listening.wait_closed() == (1008, "session ended")
    assert not any(_has_message(message_id)(f) for f in listening.frames)


# --- (h) badges, bell and thread list on every (re)subscribe (issue 9, item 4) -------------------

def _rows_of(listing_html: str) -> dict:
    """What realtime.js sends for the thread list: each row's version and the kinds shown."""
    kinds = re.search(r'<ul id="thread-list"[^>]*data-kinds="([^"]*)"', listing_html).group(1)
    rows = dict(re.findall(r'<li id="thread-item-\d+"[^>]*data-thread-id="(\d+)"[^>]*'
                           r'data-version="([^"]+)"', listing_html))
    return {"kinds": kinds.split(), "rows": rows}


def test_every_subscribe_resyncs_the_badge_the_bell_and_a_stale_thread_list(realtime):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    sara = Person(a, chat.s1)
    for thread in (chat.group, chat.direct):
        sara.read(thread.id)
    user_topic, list_topic = f"user:{chat.s1.id}", f"threads:{chat.s1.id}"
    page = sara.http.get(f"{a.url}/chat/", timeout=TIMEOUT).text
    shown = _rows_of(page)
    assert shown["rows"] and shown["kinds"] == ["DIRECT", "GROUP", "CLASS"]

    sock = realtime.connect(a, sara)
    sock.subscribe(user_topic, list_topic, have={list_topic: shown})
    assert _badge(next(f for f in sock.frames if 'id="chat-unread-badge"' in f)) == 0
    assert any('id="notification-count"' in f for f in sock.frames)
    assert not any('id="thread-list"' in f for f in sock.frames)  # the page is up to date
    sock.close()

    # Away: Terry writes to Sara directly.
    Person(b, chat.teacher).post_message(chat.direct.id, "while your page was offline")
    sock = realtime.connect(a, sara)
    sock.subscribe(user_topic, list_topic, have={list_topic: shown})
    assert _badge(next(f for f in sock.frames if 'id="chat-unread-badge"' in f)) == 1
    listing = next(f for f in sock.frames if 'id="thread-list"' in f)
    assert 'hx-swap-oob="innerHTML"' in listing
    assert re.findall(r'<li id="thread-item-(\d+)"', listing)[0] == str(chat.direct.id)
    assert "while your page was offline" in listing
    # The page shows the new list: subscribing with it again sends no list.
    fresh_page = _rows_of(sara.http.get(f"{a.url}/chat/", timeout=TIMEOUT).text)
    again = realtime.connect(a, sara)
    again.subscribe(user_topic, list_topic, have={list_topic: fresh_page})
    assert not any('id="thread-list"' in f for f in again.frames)
