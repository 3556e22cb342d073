"""Under a server that is not gevent's (Flask's own, a thread per request and per websocket, as
`flask run` serves) the hub cannot write without waiting: each burst of frames is written by a
sender thread of its own (Connection._drain). Messages still reach an open page, whole, and the
poster's answer does not wait for them."""
from __future__ import annotations

import pytest

from app.extensions import db
from tests.chat.test_realtime import Person, Socket
from tests.live import LiveServer


@pytest.fixture
def threaded_server(app_config, database_url, redis_url, test_dirs):
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "threaded.log", threaded=True)
    yield server
    server.stop()


def test_messages_reach_an_open_page_under_a_threaded_server(chat, threaded_server):
    db.session.commit()
    teacher, sara = Person(threaded_server, chat.teacher), Person(threaded_server, chat.s1)
    page = Socket(threaded_server, sara)
    page.subscribe(f"thread:{chat.group.id}", f"user:{chat.s1.id}")
    long_body = "Long one: " + "0123456789abcdef" * 600  # 9.6 KB, more than one write's worth
    posted = [teacher.post_message(chat.group.id, body)
              for body in ("Hello from a thread", long_body)]
    for message_id in posted:
        page.wait_for(lambda f, i=message_id: f'<article id="message-{i}"' in f)
    assert page.appended_ids(chat.group.id) == posted
    assert any(long_body in frame for frame in page.frames)
    # The badge and list row went to her user topic as well.
    page.wait_for(lambda f: 'id="chat-unread-badge"' in f)
