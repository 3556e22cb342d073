"""What a relayed call signal costs a web process (issue 11): once its sender and receiver are
known, no database statement; and what makes the hub trust them no longer ends access at once.

The events are the real ones: the sender's frame goes through signalling.handle_signal to the
app's Redis channel, the services commit as a request's edge would, and what reached Redis is
handed to a hub of the test's own, with connections that keep their frames queued for the test
to read (tests/realtime/test_fan_out_cost.py)."""
from __future__ import annotations

import json
import threading

import pytest

from app.accounts.services import end_all_sessions
from app.chat.services import remove_group_member
from app.extensions import db
from app.live import services
from app.live.models import Room, Run
from app.live.signalling import handle_signal
from app.realtime.events import Event, channel_for
from app.realtime.hub import Connection, Hub
from app.redis_conn import get_redis
from tests.conftest import commit

OFFER = {"description": {"type": "offer", "sdp": "v=0\r\n"}}
FRAMES = 20


class Relay:
    """A hub of the test's own and the app's channel: what is published is dispatched to it as
    its listener would (on a thread of its own: its DB session is not the test's)."""

    def __init__(self, app):
        self.app = app
        self.hub = Hub()
        self.hub._app = app  # dispatch only: no Redis listener, no presence timer
        self.pubsub = get_redis(app).pubsub()
        self.pubsub.subscribe(channel_for(app))
        assert self.pubsub.get_message(timeout=5)["type"] == "subscribe"

    def connect(self, user, room_id: int) -> Connection:
        conn = Connection(ws=None, user_id=user.id, session_id=user.get_id(),
                          start_sender=lambda drain: None)  # frames stay queued for the test
        self.hub.add(conn)
        for topic in (f"user:{user.id}", f"room:{room_id}"):  # every socket follows its user's
            self.hub.subscribe(conn, topic)
        return conn

    def deliver_published(self) -> None:
        while (message := self.pubsub.get_message(timeout=0.5)) is not None:
            if message["type"] == "message":
                self._on_own_thread(self.hub.dispatch, Event.from_json(message["data"]))

    def signal(self, sender: Connection, room_id: int, to: Connection) -> None:
        """One frame from a page, handled as the socket's reader does, then delivered."""
        raw = {"type": "signal", "room": room_id, "to": to.id, "data": OFFER}

        def handle():
            with self.app.app_context():
                handle_signal(sender, raw, len(json.dumps(raw)))

        self._on_own_thread(handle)
        self.deliver_published()

    @staticmethod
    def _on_own_thread(target, *args) -> None:
        worker = threading.Thread(target=target, args=args)
        worker.start()
        worker.join()

    def close(self):
        self.pubsub.close()


def _signals(conn: Connection) -> list[dict]:
    frames = [json.loads(f) for f in conn.queued if f.startswith("{")]
    return [f for f in frames if f["type"] in ("signal", "signal-refused")]


@pytest.fixture
def call(app, chat):
    """A call in the group: the teacher and the first student joined from their connections."""
    relay = Relay(app)
    run, _ = services.start_call(chat.teacher, chat.group)
    commit()
    room_id = run.room_id
    teacher = relay.connect(chat.teacher, room_id)
    student = relay.connect(chat.s1, room_id)
    bystander = relay.connect(chat.s2, room_id)  # in the thread, not in the call
    for user, conn in ((chat.teacher, teacher), (chat.s1, student)):
        services.join(user, db.session.get(Room, room_id), conn.id)
    commit()
    relay.deliver_published()  # the rosters: the hub confirms who is in the room
    yield type("Call", (), dict(relay=relay, room_id=room_id, run_id=run.id, teacher=teacher,
                                student=student, bystander=bystander))
    relay.close()


def test_relaying_frames_costs_no_statement_after_the_first(call, count_queries):
    relay, room = call.relay, call.room_id
    counts = []
    for _ in range(FRAMES):
        with count_queries() as counter:
            relay.signal(call.teacher, room, call.student)
        counts.append(counter.count)
    # The first frame asks who the sender and receiver are (a bounded few statements), then
    # none: the hub reuses what it confirmed until an event says it changed.
    assert counts[0] <= 5
    assert counts[1:] == [0] * (FRAMES - 1)
    assert len(_signals(call.student)) == FRAMES
    assert all(s["type"] == "signal" and s["from"] == call.teacher.id
               for s in _signals(call.student))
    assert _signals(call.bystander) == [] and _signals(call.teacher) == []


def _removed_from_call(chat, call):
    student = services.participant_of(db.session.get(Run, call.run_id), chat.s1.id)
    services.moderate(chat.teacher, db.session.get(Room, call.room_id), "remove",
                      participant_id=student.id)


def _left_the_thread(chat, call):
    remove_group_member(chat.teacher, chat.group, chat.s1.id)


def _signed_out(chat, call):
    end_all_sessions(chat.s1)


@pytest.mark.parametrize("end_access", [_removed_from_call, _left_the_thread, _signed_out])
def test_ended_access_stops_frames_at_once_both_ways(call, chat, end_access):
    relay, room = call.relay, call.room_id
    for _ in range(3):  # confirmed, and trusted from here on
        relay.signal(call.teacher, room, call.student)
        relay.signal(call.student, room, call.teacher)
    assert len(_signals(call.student)) == 3 and len(_signals(call.teacher)) == 3
    call.student.drop_queued()
    call.teacher.drop_queued()

    end_access(chat, call)
    commit()
    relay.deliver_published()  # its events reach the hub before the next frame does

    relay.signal(call.teacher, room, call.student)
    assert [s for s in _signals(call.student) if s["type"] == "signal"] == []
    # The student's page is out of the room (or its socket closed): it cannot send either.
    assert call.student.closed or f"room:{room}" not in call.student.topics
    relay.signal(call.student, room, call.teacher)
    assert [s for s in _signals(call.teacher) if s["type"] == "signal"] == []


def test_a_sign_out_is_seen_by_a_delivery_even_without_the_users_topic(call, chat):
    """Every socket follows its user's topic, whose session.revoked closes it; the hub's trust in
    the session it confirmed ends with that event too, whoever listens to the topic here."""
    relay, room = call.relay, call.room_id
    relay.hub.unsubscribe(call.student, f"user:{chat.s1.id}")
    relay.signal(call.teacher, room, call.student)
    assert len(_signals(call.student)) == 1
    end_all_sessions(chat.s1)
    commit()
    relay.deliver_published()
    assert not call.student.closed  # nothing delivered to it yet
    relay.signal(call.teacher, room, call.student)
    assert call.student.closed
