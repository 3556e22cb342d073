"""The app's Janus webhook (/live/janus/events) with what a real Janus posts: a call on the
Janus engine (CALL_ENGINE=janus), a page's feed joining and leaving through Janus's VideoRoom,
its event handler's posts forwarded to the app as Janus sends them."""
from __future__ import annotations

import json
import logging

from sqlalchemy import func, select

from app.extensions import db
from app.live import signals
from app.live.engines import get_engine
from app.live.models import Room, Run, RunParticipant, Segment
from tests.chat.conftest import chat  # noqa: F401
from tests.janus.test_engine import RawPublisher, basic

WEBHOOK = "/live/janus/events"


def _post(client, events, secret):
    return client.post(WEBHOOK, data=json.dumps(events), headers=basic("janus", secret),
                       content_type="application/json")


def test_janus_reports_reach_the_segments_exactly_once(janus_app, janus, janus_events, chat,
                                                       as_user, client, caplog, count_queries):
    janus_app.config["CALL_ENGINE"] = "janus"
    try:
        teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
        teacher.post(f"/live/threads/{chat.group.id}/call", data={"csrf_token": teacher.csrf})
        room = db.session.scalar(select(Room))
        assert room.engine == "janus" and room.engine_room_key == f"room{room.id}"
        answer = s1.post(f"/live/rooms/{room.id}/join", json={"connection": "bbbbbbbbbbbb"},
                         headers={"X-CSRFToken": s1.csrf})
    finally:
        janus_app.config["CALL_ENGINE"] = "auto"
    assert answer.status_code == 200 and answer.get_json()["engine"] == "janus"
    run = db.session.scalar(select(Run))
    student = db.session.scalar(select(RunParticipant).where(RunParticipant.user_id == chat.s1.id))
    engine = get_engine("janus")
    # A second tab of s1's whose join the app never saw open (its segment comes from Janus).
    janus_room = engine.janus_room(run)
    feed = engine.feed_id(janus_room, student.engine_key, "cccccccccccc")
    token = engine.join_token(janus_room, student.engine_key)
    publisher = RawPublisher(janus.url)
    try:
        assert publisher.join(janus_room, feed, token, display=chat.s1.name)["videoroom"] == "joined"
    finally:
        publisher.close()
    joined = janus_events.wait_for("joined", janus_room)
    leaving = janus_events.wait_for("leaving", janus_room)

    moved = []
    record = lambda run, **data: moved.append(data.get("user_id") or data["user"].id)  # noqa: E731
    signals.participant_joined.connect(record)
    signals.participant_left.connect(record)
    try:
        # Not Janus: refused, and nothing applied. A body Janus never sends: 400.
        assert _post(client, joined, "wrong").status_code == 403
        assert client.post(WEBHOOK, data=b"{nope", headers=basic("janus", janus.webhook_secret)
                           ).status_code == 400
        assert db.session.scalar(select(func.count(Segment.id))) == 1
        # No CSRF token: Janus has none, its secret is the check.
        for _ in range(2):  # a retransmission changes nothing
            assert _post(client, joined, janus.webhook_secret).status_code == 200
        db.session.expire_all()
        tab = db.session.scalar(select(Segment).where(Segment.connection_id == "cccccccccccc"))
        assert tab is not None and tab.left_at is None and tab.participant_id == student.id
        for _ in range(2):
            with count_queries() as applying:
                assert _post(client, leaving, janus.webhook_secret).status_code == 200
            assert applying.count <= 14, applying.statements
        db.session.expire_all()
        left_at = db.session.get(Segment, tab.id).left_at
        assert left_at is not None and left_at >= tab.joined_at
        # A straggling "joined" after the "leaving" opens nothing again.
        assert _post(client, joined, janus.webhook_secret).get_json()["applied"] == 0
    finally:
        signals.participant_joined.disconnect(record)
        signals.participant_left.disconnect(record)
    # s1's first tab was open all along: s1 neither joined nor left as a person.
    assert moved == []
    db.session.expire_all()
    assert db.session.get(Segment, tab.id).left_at == left_at
    assert db.session.scalar(select(Segment.left_at).where(
        Segment.connection_id == "bbbbbbbbbbbb")) is None

    # A moderator's mute holds: s1 publishing again (Janus's "published") is muted again on Janus.
    teacher.post(f"/live/rooms/{room.id}/join", json={"connection": "aaaaaaaaaaaa"},
                 headers={"X-CSRFToken": teacher.csrf})
    teacher.post(f"/live/rooms/{room.id}/moderate", headers={"HX-Request": "true"},
                 data={"csrf_token": teacher.csrf, "action": "mute_audio", "participant": student.id})
    published = [{"type": 64, "timestamp": 1, "event": {"plugin": "janus.plugin.videoroom", "data": {
        "event": "published", "room": janus_room, "id": feed,
        "streams": [{"type": "audio", "mid": "0"}]}}}]
    with caplog.at_level(logging.WARNING, logger="app.live.engines.janus"):
        assert _post(client, published, janus.webhook_secret).get_json()["applied"] == 1
    assert not [r for r in caplog.records if r.name == "app.live.engines.janus"]
    # s1 unmutes: Janus lets their audio through again, and publishing is then left alone.
    with caplog.at_level(logging.WARNING, logger="app.live.engines.janus"):
        assert s1.post(f"/live/rooms/{room.id}/media", json={"audio_off": False},
                       headers={"X-CSRFToken": s1.csrf}).status_code == 200
    assert not [r for r in caplog.records if r.name == "app.live.engines.janus"]
    db.session.expire_all()
    assert not db.session.get(RunParticipant, student.id).audio_muted
    assert _post(client, published, janus.webhook_secret).get_json()["applied"] == 0


def test_the_webhook_ignores_runs_of_other_engines_and_ended_runs(janus_app, janus, chat, as_user,
                                                                client):
    teacher = as_user(chat.teacher)
    teacher.post(f"/live/threads/{chat.group.id}/call", data={"csrf_token": teacher.csrf})
    run = db.session.scalar(select(Run))
    assert run.room.engine == "mesh"  # three people, the mesh limit is 4
    engine = get_engine("janus")
    run.room.engine_room_key = "meshroom"
    db.session.commit()
    participant = db.session.scalar(select(RunParticipant))
    forged_room = f"meshroom~{run.id}"
    event = [{"type": 64, "timestamp": 1, "event": {"plugin": "janus.plugin.videoroom", "data": {
        "event": "joined", "room": forged_room, "token": engine.join_token(forged_room, participant.engine_key),
        "id": engine.feed_id(forged_room, participant.engine_key, "dddddddddddd")}}}]
    answer = _post(client, event, janus.webhook_secret)
    assert answer.status_code == 200 and answer.get_json() == {"events": 1, "applied": 0}
    assert db.session.scalar(select(func.count(Segment.id))) == 0


def test_the_calls_page_says_the_media_server_answers(janus_app, janus, chat, as_user):
    page = as_user(chat.admin).get("/live/admin/calls")
    assert page.status_code == 200
    assert janus.url in page.text and "it answers" in page.text
