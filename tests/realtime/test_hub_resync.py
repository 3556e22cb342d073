"""The hub's Redis subscription dies and comes back (issue 9, item 4): events published in
between never reach it, so once subscribed again it resyncs every open socket from the
database, as a reconnecting page would be: the messages each socket missed (once, in order),
edits made meanwhile, "Seen by", the unread badge, the bell and the thread list.

A real redis-server on a port of its own serves one gunicorn server; the test stops it, writes
while it is down (from this process, whose events go to the suite's Redis: as lost for that
server as events published into an outage), and starts it again on the same port."""
from __future__ import annotations

import re

import pytest

from app.chat import services
from app.extensions import db
from tests.chat.test_realtime import TIMEOUT, Person, Socket
from tests.conftest import commit
from tests.live import LiveServer
from tests.reliability.conftest import RedisServer

RECONNECT_TIMEOUT = 60.0  # the hub retries with backoff (at most 10 s apart)


@pytest.fixture
def server_on_own_redis(app_config, database_url, tmp_path):
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    server = LiveServer(database_url, redis_server.url, app_config["SECRET_KEY"],
                        tmp_path / "gunicorn.log")
    yield server, redis_server
    server.stop()
    redis_server.stop()


def _wait_until(sock: Socket, condition, timeout: float = TIMEOUT) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, [f[:120] for f in sock.frames]
        sock.settle(0.1)


def _appended(sock: Socket, thread_id: int) -> list[int]:
    return sock.appended_ids(thread_id)


def test_the_hub_resyncs_every_socket_after_redis_comes_back(chat, server_on_own_redis):
    server, redis_server = server_on_own_redis
    db.session.commit()
    gid, did = chat.group.id, chat.direct.id
    sara = Person(server, chat.s1)
    for thread_id in (gid, did):
        sara.read(thread_id)
    before = services.post_message(chat.teacher, chat.group, "before the outage")
    commit()  # the teacher's request ends
    sara.read(gid)
    topics = (f"user:{chat.s1.id}", f"threads:{chat.s1.id}", f"thread:{gid}")
    sock = Socket(server, sara)
    other = Socket(server, Person(server, chat.s2))  # a second socket on the same process
    try:
        sock.subscribe(*topics, after={f"thread:{gid}": before.id})
        other.subscribe(f"thread:{gid}", after={f"thread:{gid}": before.id})
        assert _appended(sock, gid) == [] and _appended(other, gid) == []
        already = len(sock.frames)

        redis_server.stop()
        missed = [services.post_message(chat.teacher, chat.group, f"while Redis was away {n}").id
                  for n in range(3)]
        services.edit_message(chat.teacher, before, "before the outage (edited meanwhile)")
        in_direct = services.post_message(chat.teacher, chat.direct, "a direct word meanwhile")
        commit()  # committed while Redis is away: its publishes are lost, the rows are not
        redis_server.start()

        for message_id in missed:
            sock.wait_for(lambda f, m=message_id: f'id="message-{m}"' in f,
                          timeout=RECONNECT_TIMEOUT)
            other.wait_for(lambda f, m=message_id: f'id="message-{m}"' in f)
        markers = ("(edited meanwhile)", f'id="seen-by-{gid}"', 'id="chat-unread-badge"',
                   'id="notification-count"', '<ul id="thread-list"')
        _wait_until(sock, lambda: all(m in "".join(sock.frames[already:]) for m in markers))
        resync = "".join(sock.frames[already:])
        assert "before the outage (edited meanwhile)" in resync  # the edit, in place
        assert re.search(rf'<article id="message-{before.id}"[^>]*hx-swap-oob="true"', resync)
        assert f'id="seen-by-{gid}"' in resync
        badge = re.search(r'id="chat-unread-badge"[^>]*aria-label="(\d+) unread"', resync)
        assert badge and int(badge.group(1)) == 4  # 3 in the group, 1 in the direct thread
        assert 'id="notification-count"' in resync  # the bell, recounted
        listing = re.search(r'<ul id="thread-list" hx-swap-oob="innerHTML">(.*?)</ul>', resync,
                            re.S)
        assert listing, "no thread list in the resync"
        rows = re.findall(r'<li id="thread-item-(\d+)"', listing.group(1))
        assert rows[0] == str(did)  # the latest message first
        assert "a direct word meanwhile" in listing.group(1)
        assert in_direct.id not in _appended(sock, did)  # that thread is not open here

        # Live again, still once each.
        terry = Person(server, chat.teacher)
        live = terry.post_message(gid, "live after the outage")
        sock.wait_for(lambda f: f'id="message-{live}"' in f, timeout=TIMEOUT)
        sock.settle()
        assert _appended(sock, gid) == missed + [live]
        other.settle(0.2)
        assert _appended(other, gid) == missed + [live]
    finally:
        sock.close()
        other.close()
