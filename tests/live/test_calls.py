"""Instant calls over HTTP: who may start, join and follow a call, one run per Start, the CALL
message, the ringing notification, moderation and the bounded query counts."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from sqlalchemy import func, select

from app.accounts.models import AuditLog, Role
from app.chat.models import Message, MessageKind
from app.extensions import db
from app.live import services
from app.live.engines.mesh import turn_credentials
from app.live.models import Room, Run, RunParticipant, Segment
from app.notifications.models import Notification, NotificationType
from app.realtime.events import can_subscribe

HTMX = {"HX-Request": "true"}


def start(browser, thread_id):
    return browser.post(f"/live/threads/{thread_id}/call", data={"csrf_token": browser.csrf})


def join(browser, room_id, connection):
    return browser.post(f"/live/rooms/{room_id}/join", json={"connection": connection},
                        headers={"X-CSRFToken": browser.csrf})


def moderate(browser, room_id, **form):
    return browser.post(f"/live/rooms/{room_id}/moderate",
                        data={"csrf_token": browser.csrf, **form}, headers=HTMX)


def the_run() -> Run:
    db.session.expire_all()
    return db.session.scalar(select(Run))


def test_a_double_start_makes_one_run_and_one_call_message(chat, as_user):
    teacher = as_user(chat.teacher)
    first, second = start(teacher, chat.group.id), start(teacher, chat.group.id)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count(Run.id))) == 1
    run = the_run()
    assert run.started_by_id == chat.teacher.id and run.ended_at is None
    calls = list(db.session.scalars(select(Message).where(Message.kind == MessageKind.CALL)))
    assert [m.id for m in calls] == [run.call_message_id]
    # A student pressing Start meanwhile joins the same call.
    assert start(as_user(chat.s1), chat.group.id).headers["Location"] == first.headers["Location"]
    assert db.session.scalar(select(func.count(Run.id))) == 1


def test_starting_rings_the_other_members_with_a_high_priority_notification(chat, as_user):
    start(as_user(chat.teacher), chat.group.id)
    rung = db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.INSTANT_CALL_STARTED)).all()
    assert sorted(n.user_id for n in rung) == sorted([chat.s1.id, chat.s2.id])
    assert all(n.priority.value == "HIGH" for n in rung)
    assert rung[0].link == f"/live/rooms/{the_run().room_id}"


def test_non_members_cannot_start_see_join_or_follow_a_room(chat, as_user, other_center):
    start(as_user(chat.teacher), chat.direct.id)  # teacher + s1 only
    room = db.session.scalar(select(Room))
    s2 = as_user(chat.s2)
    assert start(s2, chat.direct.id).status_code == 404
    assert s2.get(f"/live/rooms/{room.id}").status_code == 404
    assert join(s2, room.id, "a" * 12).status_code == 404
    assert not can_subscribe(chat.s2, f"room:{room.id}")
    assert can_subscribe(chat.s1, f"room:{room.id}")
    # Another center's teacher: the room is a 404 too, and the topic refused.
    stranger = as_user(other_center.teacher)
    assert stranger.get(f"/live/rooms/{room.id}").status_code == 404
    assert join(stranger, room.id, "b" * 12).status_code == 404
    assert not can_subscribe(other_center.teacher, f"room:{room.id}")


def test_joining_gives_the_mesh_config_with_short_lived_turn_credentials(chat, as_user, app):
    app.config.update(STUN_URLS=["stun:127.0.0.1:3478"], TURN_URLS=["turn:127.0.0.1:3478"],
                      TURN_SECRET="s3cret", TURN_CREDENTIAL_TTL=600)
    try:
        start(as_user(chat.teacher), chat.group.id)
        room_id = the_run().room_id
        answer = join(as_user(chat.s1), room_id, "0123456789ab")
    finally:
        app.config.update(STUN_URLS=[], TURN_URLS=[], TURN_SECRET=None)
    assert answer.status_code == 200, answer.text
    config = answer.get_json()
    assert config["engine"] == "mesh" and config["role"] == "LEARNER"
    assert config["publish"] == ["audio", "screen", "video"]
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:127.0.0.1:3478"]}
    expiry, user_id = turn["username"].split(":")
    assert user_id == str(chat.s1.id) and int(expiry) > 0
    expected = base64.b64encode(hmac.new(b"s3cret", turn["username"].encode(),
                                         hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected
    assert turn_credentials("s3cret", 7, 600, now=1000) == (
        "1600:7", base64.b64encode(hmac.new(b"s3cret", b"1600:7", hashlib.sha1).digest()).decode())
    segment = db.session.scalar(select(Segment).where(Segment.user_id == chat.s1.id))
    assert segment.connection_id == "0123456789ab" and segment.left_at is None


def test_bad_join_input_gets_a_clear_refusal_and_never_a_500(chat, as_user):
    teacher = as_user(chat.teacher)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    for junk in (None, "", "x" * 500, "ZZZZZZZZZZZZ", 12, ["a"], {"a": 1}):
        answer = join(teacher, room_id, junk)
        assert answer.status_code == 422, (junk, answer.status_code)
        assert "connected" in answer.get_json()["error"]
    assert teacher.post(f"/live/rooms/{room_id}/join", data="not json",
                        headers={"X-CSRFToken": teacher.csrf}).status_code == 422
    assert teacher.post("/live/rooms/99999999999999999999/join", json={}).status_code in (400, 404)
    # Without the CSRF token nothing happens.
    assert teacher.post(f"/live/rooms/{room_id}/join",
                        json={"connection": "0123456789ab"}).status_code == 400
    assert db.session.scalar(select(func.count(Segment.id))) == 0


def test_a_removed_person_gets_no_new_join_config_and_loses_the_topic(chat, as_user):
    teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    assert join(teacher, room_id, "aaaaaaaaaaaa").status_code == 200
    assert join(s1, room_id, "bbbbbbbbbbbb").status_code == 200
    student = db.session.scalar(select(RunParticipant).where(RunParticipant.user_id == chat.s1.id))
    assert moderate(s1, room_id, action="remove", participant=student.id).status_code == 403
    answer = moderate(teacher, room_id, action="remove", participant=student.id)
    assert answer.status_code == 200 and "removed" in answer.text
    again = join(s1, room_id, "cccccccccccc")
    assert again.status_code == 403 and "removed" in again.get_json()["error"]
    assert "iceServers" not in again.get_json()
    assert not can_subscribe(chat.s1, f"room:{room_id}")
    assert services.room_followers([chat.s1, chat.s2, chat.teacher], room_id) == {
        chat.s2.id, chat.teacher.id}
    assert db.session.scalar(select(Segment).where(Segment.user_id == chat.s1.id)).left_at
    actions = db.session.scalars(select(AuditLog.action)).all()
    assert "live.remove" in actions and "live.call_started" in actions


def test_moderation_mutes_changes_roles_and_is_audited(chat, as_user):
    teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    join(teacher, room_id, "aaaaaaaaaaaa")
    join(s1, room_id, "bbbbbbbbbbbb")
    student = db.session.scalar(select(RunParticipant).where(RunParticipant.user_id == chat.s1.id))
    assert moderate(teacher, room_id, action="mute_audio", participant=student.id).status_code == 200
    assert moderate(teacher, room_id, action="set_role", participant=student.id,
                    role="OBSERVER").status_code == 200
    assert moderate(teacher, room_id, action="set_role", participant=student.id,
                    role="KING").status_code == 422
    assert moderate(teacher, room_id, action="explode", participant=student.id).status_code == 422
    assert moderate(teacher, room_id, action="mute_audio", participant="junk").status_code == 422
    db.session.refresh(student)
    assert student.audio_muted and student.audio_off and student.role.value == "OBSERVER"
    config = join(s1, room_id, "bbbbbbbbbbbb").get_json()
    assert config["publish"] == []  # an observer sends no media
    assert {"live.mute_audio", "live.set_role"} <= set(db.session.scalars(select(AuditLog.action)))


def test_the_last_one_leaving_ends_the_call_and_the_message_says_how_it_went(chat, as_user):
    teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    join(teacher, room_id, "aaaaaaaaaaaa")
    join(s1, room_id, "bbbbbbbbbbbb")
    for browser, connection in ((teacher, "aaaaaaaaaaaa"), (s1, "bbbbbbbbbbbb")):
        assert browser.post(f"/live/rooms/{room_id}/leave", json={"connection": connection},
                            headers={"X-CSRFToken": browser.csrf}).status_code == 200
    run = the_run()
    assert run.ended_at is not None and run.live_room_id is None
    message = db.session.get(Message, run.call_message_id)
    assert message.body == "Call ended · 1 min · 2 people"
    assert "call-join" not in s1.get(f"/chat/threads/{chat.group.id}").text
    # A new Start makes a new run.
    start(teacher, chat.group.id)
    assert db.session.scalar(select(func.count(Run.id))) == 2


def test_only_the_starter_or_an_instructor_ends_it_for_everyone(chat, as_user):
    teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    join(s1, room_id, "bbbbbbbbbbbb")
    assert s1.post(f"/live/rooms/{room_id}/end", data={"csrf_token": s1.csrf}).status_code == 403
    assert the_run().ended_at is None
    assert teacher.post(f"/live/rooms/{room_id}/end",
                        data={"csrf_token": teacher.csrf}).status_code == 302
    assert the_run().ended_at is not None
    assert join(s1, room_id, "bbbbbbbbbbbb").status_code == 422


def test_the_mesh_is_limited_and_the_instructor_is_told_plainly(chat, as_user, app, make):
    app.config["LIVE_MESH_LIMIT"] = 2
    try:
        teacher = as_user(chat.teacher)
        start(teacher, chat.group.id)
        room_id = the_run().room_id
        assert join(as_user(chat.s1), room_id, "bbbbbbbbbbbb").status_code == 200
        assert join(as_user(chat.s2), room_id, "cccccccccccc").status_code == 200  # a star
        db.session.execute(RunParticipant.__table__.update().values(role="INSTRUCTOR")
                           .where(RunParticipant.user_id == chat.s1.id))
        db.session.commit()
        full = join(teacher, room_id, "aaaaaaaaaaaa")  # two instructors: no star
    finally:
        app.config["LIVE_MESH_LIMIT"] = 4
    assert full.status_code == 409
    assert "JANUS_URL" in full.get_json()["error"]


def test_stale_segments_close_at_their_last_heartbeat_and_empty_runs_end(chat, as_user):
    from datetime import timedelta

    teacher = as_user(chat.teacher)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    join(teacher, room_id, "aaaaaaaaaaaa")
    segment = db.session.scalar(select(Segment))
    last = segment.last_seen_at - timedelta(minutes=5)
    segment.last_seen_at = last
    db.session.commit()
    assert services.sweep_stale_segments() == 1
    db.session.expire_all()
    segment = db.session.scalar(select(Segment))
    assert segment.left_at == last
    assert the_run().ended_at == last


def test_joining_and_the_room_page_cost_a_bounded_number_of_statements(chat, as_user, make,
                                                                       count_queries):
    from app.chat import services as chat_services

    teacher = as_user(chat.teacher)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    counts = {"join": [], "page": []}
    people = [chat.s1, chat.s2] + [make.user(chat.center, Role.TEACHER, name=f"Extra {n}")
                                    for n in range(2)]
    group = db.session.get(type(chat.group), chat.group.id)
    chat_services.add_group_members(chat.teacher, group, [p.id for p in people[2:]])
    db.session.commit()
    for n, person in enumerate(people):
        browser = as_user(person)
        with count_queries() as joined:
            assert join(browser, room_id, f"{n:012x}").status_code == 200
        with count_queries() as page:
            assert browser.get(f"/live/rooms/{room_id}").status_code == 200
        counts["join"].append(joined.count)
        counts["page"].append(page.count)
    # Flat whatever the number of people already in the call.
    assert max(counts["join"]) - min(counts["join"]) <= 1, counts
    assert max(counts["page"]) == min(counts["page"]), counts
    assert max(counts["join"]) <= 30 and max(counts["page"]) <= 40, counts


def test_a_closed_socket_ends_its_segment_exactly_once(chat, as_user, app):
    from app.live import signals

    teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    join(teacher, room_id, "aaaaaaaaaaaa")
    join(s1, room_id, "bbbbbbbbbbbb")
    left = []

    def record(run, user_id, **_):
        left.append(user_id)

    signals.participant_left.connect(record)
    try:
        with app.test_request_context("/"):
            # Someone else's connection id closes nothing of theirs.
            assert not services.close_connection(chat.s2.id, "bbbbbbbbbbbb")
            assert services.close_connection(chat.s1.id, "bbbbbbbbbbbb")
            db.session.commit()
            # The pagehide leave arriving after the socket closed, and the socket again.
            assert not services.close_connection(chat.s1.id, "bbbbbbbbbbbb")
            db.session.commit()
        closed_at = db.session.scalar(select(Segment.left_at).where(
            Segment.connection_id == "bbbbbbbbbbbb"))
        assert s1.post(f"/live/rooms/{room_id}/leave", json={"connection": "bbbbbbbbbbbb"},
                       headers={"X-CSRFToken": s1.csrf}).status_code == 200
    finally:
        signals.participant_left.disconnect(record)
    assert left == [chat.s1.id]
    db.session.expire_all()
    assert db.session.scalar(select(Segment.left_at).where(
        Segment.connection_id == "bbbbbbbbbbbb")) == closed_at is not None
    assert the_run().ended_at is None  # the teacher is still there


def test_two_closers_racing_for_one_segment_announce_it_once(chat, as_user):
    from sqlalchemy import update

    from app.db_types import utcnow

    teacher = as_user(chat.teacher)
    start(teacher, chat.group.id)
    join(teacher, the_run().room_id, "aaaaaaaaaaaa")
    segment = db.session.scalar(select(Segment))  # read as open by this closer ...
    db.session.execute(update(Segment).values(left_at=utcnow())  # ... closed by the other
                       .execution_options(synchronize_session=False))
    assert segment.left_at is None
    assert not services._claim_segment(segment, utcnow())
    db.session.rollback()


def test_the_engine_is_chosen_per_run_by_size_and_configuration(chat, as_user, app):
    saved = {k: app.config[k] for k in ("CALL_ENGINE", "LIVE_MESH_LIMIT", "JANUS_URL")}
    teacher = as_user(chat.teacher)

    def engine_of_a_new_call(**config):
        app.config.update(saved, **config)
        start(teacher, chat.group.id)  # the group: three people
        room_id = the_run().room_id
        teacher.post(f"/live/rooms/{room_id}/end", data={"csrf_token": teacher.csrf})
        db.session.expire_all()
        return db.session.get(Room, room_id).engine

    unreachable = "http://127.0.0.1:9/janus"
    try:
        assert engine_of_a_new_call() == "mesh"
        assert engine_of_a_new_call(LIVE_MESH_LIMIT=2) == "mesh"  # no media server: the mesh says so
        assert engine_of_a_new_call(LIVE_MESH_LIMIT=2, JANUS_URL=unreachable) == "janus"
        assert engine_of_a_new_call(JANUS_URL=unreachable) == "mesh"  # small enough
        assert engine_of_a_new_call(CALL_ENGINE="janus", JANUS_URL=unreachable) == "janus"
        assert engine_of_a_new_call(CALL_ENGINE="mesh", LIVE_MESH_LIMIT=2,
                                    JANUS_URL=unreachable) == "mesh"
        # A Janus that does not answer: a clear refusal, nothing joined, never a 500.
        app.config.update(CALL_ENGINE="janus", JANUS_URL=unreachable)
        start(teacher, chat.group.id)
        answer = join(as_user(chat.s1), the_run().room_id, "bbbbbbbbbbbb")
    finally:
        app.config.update(saved)
    assert answer.status_code == 503
    assert "media server" in answer.get_json()["error"]
    assert db.session.scalar(select(func.count(Segment.id))) == 0
    # ... nor a place in the run: the student is neither on its roster nor, later, a taker
    # on its attendance sheet.
    refused_run = db.session.scalar(select(Run).order_by(Run.id.desc()).limit(1))
    assert refused_run.ended_at is None
    assert chat.s1.id not in set(db.session.scalars(select(RunParticipant.user_id).where(
        RunParticipant.run_id == refused_run.id)))


def test_administrators_see_how_calls_are_carried_and_how_to_add_a_media_server(chat, as_user, app):
    admin = as_user(chat.admin)
    page = admin.get("/live/admin/calls")
    assert page.status_code == 200
    assert "no media server" in page.text and "apt-get install janus coturn" in page.text
    assert "JANUS_WEBHOOK_SECRET" in page.text and "/live/janus/events" in page.text
    assert "/live/admin/calls" in admin.get("/").text  # linked from their dashboard
    app.config["JANUS_URL"] = "http://127.0.0.1:9/janus"
    try:
        page = admin.get("/live/admin/calls")
    finally:
        app.config["JANUS_URL"] = None
    assert "does not answer right now" in page.text and "127.0.0.1:9" in page.text
    assert as_user(chat.teacher).get("/live/admin/calls").status_code == 403


def test_a_closing_socket_costs_a_bounded_number_of_statements(chat, as_user, make, app,
                                                                count_queries):
    from app.chat import services as chat_services

    teacher = as_user(chat.teacher)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    people = [chat.s1, chat.s2] + [make.user(chat.center, Role.TEACHER, name=f"Extra {n}")
                                    for n in range(2)]
    group = db.session.get(type(chat.group), chat.group.id)
    chat_services.add_group_members(chat.teacher, group, [p.id for p in people[2:]])
    db.session.commit()
    join(teacher, room_id, "f" * 12)
    for n, person in enumerate(people):
        join(as_user(person), room_id, f"{n:012x}")
    counts = []
    with app.test_request_context("/"):
        for n, person in enumerate(people):  # 5 people in the call down to 2
            with count_queries() as closing:
                assert services.close_connection(person.id, f"{n:012x}")
                db.session.commit()
            counts.append(closing.count)
    assert max(counts) - min(counts) <= 1 and max(counts) <= 8, counts


def test_the_mesh_takes_no_callbacks(app):
    """Only an engine with a media server receives callbacks; any other refuses them all."""
    from app.accounts.services import PermissionDenied
    from app.live.engines import get_engine

    with pytest.raises(PermissionDenied):
        get_engine("mesh").parse_webhook(None)


def test_leaving_and_joining_again_on_one_page_is_a_second_stay(chat, as_user):
    """Leave, then Join again over the same socket: a new segment (the time away is not
    presence, and attendance counts two joins), never the old one reopened."""
    from datetime import timedelta

    from app.attendance.rules import clipped_union

    teacher, s1 = as_user(chat.teacher), as_user(chat.s1)
    start(teacher, chat.group.id)
    room_id = the_run().room_id
    join(teacher, room_id, "aaaaaaaaaaaa")
    assert join(s1, room_id, "bbbbbbbbbbbb").status_code == 200
    assert join(s1, room_id, "bbbbbbbbbbbb").status_code == 200  # a retried join: one stay
    assert s1.post(f"/live/rooms/{room_id}/leave", json={"connection": "bbbbbbbbbbbb"},
                   headers={"X-CSRFToken": s1.csrf}).status_code == 200
    # The first stay ended a minute ago (as if they had been away that long).
    first = db.session.scalar(select(Segment).where(Segment.user_id == chat.s1.id))
    first.joined_at -= timedelta(minutes=3)
    first.left_at = first.last_seen_at = first.left_at - timedelta(minutes=1)
    db.session.commit()
    assert join(s1, room_id, "bbbbbbbbbbbb").status_code == 200
    db.session.expire_all()
    stays = list(db.session.scalars(select(Segment).where(Segment.user_id == chat.s1.id)
                                    .order_by(Segment.id)))
    assert len(stays) == 2 and stays[0].left_at is not None and stays[1].left_at is None
    run = the_run()
    later = stays[1].joined_at + timedelta(minutes=1)  # the second stay, a minute on
    pieces = clipped_union([(stays[0].joined_at, stays[0].left_at), (stays[1].joined_at, later)],
                           run.started_at - timedelta(minutes=5), later)
    assert len(pieces) == 2  # two joins, with the minute away between them
    # Someone else's page cannot take the connection over.
    assert join(as_user(chat.s2), room_id, "bbbbbbbbbbbb").status_code == 403
