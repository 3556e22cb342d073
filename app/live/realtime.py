"""The ``room:<id>`` topic: the roster (participant list + the state room.js enforces), the
run's end, and signalling (app/live/signalling.py); ``user:<id>`` carries ringing and
"you were removed"."""
from __future__ import annotations

import json

from flask import render_template

from app.extensions import db
from app.live import services, signalling
from app.live.room_access import room_access
from app.live.models import LiveRole, Room, Run
from app.live.permissions import MODERATE, may
from app.realtime.events import (Renderer, register_cache_invalidator,
                                 register_disconnect_handler, register_renderer, register_topic)


def render_roster(run: Run, viewer, loaded=None, oob: bool = True) -> str:
    """The participant list and the state for room.js: the same partial the room page shows."""
    participants, segments = loaded or services.roster(run)
    state = services.roster_state(run, (participants, segments))
    mine = next((p for p in participants if p.user_id == viewer.id), None)
    return render_template("live/_roster.html", run=run, participants=participants,
                           state=json.dumps(state), viewer=viewer, oob=oob,
                           present_ids={s.participant_id for s in segments},
                           moderator=mine is not None and not mine.is_removed
                           and may(mine.role, MODERATE), roles=list(LiveRole))


def _prepare_roster(event, viewers, cache) -> None:
    run = db.session.get(Run, event.data["run_id"])
    cache["run"] = run
    cache["loaded"] = services.roster(run) if run is not None else None


def _render_roster(event, viewer, cache):
    if cache["run"] is None:
        return None
    return render_roster(cache["run"], viewer, cache["loaded"])


def _render_ended(event, viewer, cache):
    return json.dumps({"type": "room-ended", "room": int(event.topic.partition(":")[2]),
                       "run": event.data["run_id"]})


def _render_replaced(event, viewer, cache):
    """To the one page an instructor's newer page took the call over from (services.join)."""
    return json.dumps({"type": "room-replaced", "room": int(event.topic.partition(":")[2]),
                       "run": event.data["run_id"]})


def _addressed(event, conn) -> bool:
    return conn.id == event.data.get("to")


def _render_removed(event, viewer, cache):
    return json.dumps({"type": "room-removed", "room": event.data["room_id"]})


def _prepare_ringing(event, viewers, cache) -> None:
    run = db.session.get(Run, event.data["run_id"])
    cache["run"] = run
    cache["thread"] = services.room_thread(run.room) if run is not None else None


def _render_ringing(event, viewer, cache):
    run, thread = cache["run"], cache["thread"]
    if run is None or run.ended_at is not None or thread is None:
        return None
    return render_template("live/_ringing_toast.html", run_id=run.id, room_id=run.room_id,
                           starter_name=run.started_by.name if run.started_by else "Someone",
                           thread_title=thread.name if thread.kind.value != "DIRECT"
                           else "your direct messages")


def catch_up_room(conn, user, room_id: int, since) -> None:
    """A page subscribing to a room learns its connection id (it joins with it, and peers
    address it) and the roster as it stands."""
    conn.send(json.dumps({"type": "hello", "room": room_id, "connection": conn.id}))
    room = db.session.get(Room, room_id)
    run = services.live_run(room) if room is not None else None
    if run is not None:
        conn.send(render_roster(run, user))


def end_segment_of_closed_socket(conn) -> None:
    """A socket following a room closed: its page is no longer in the call (live.services)."""
    if not any(topic.startswith("room:") for topic in conn.topics):
        return  # never on a room page: no segment to look for (no query for other sockets)
    if services.close_connection(conn.user_id, conn.id):
        # This hook is its own unit of work (a socket closing, outside any request or job):
        # like the hub's other short sessions, it commits itself.
        db.session.commit()


def register() -> None:
    register_topic("room", services.can_follow_room, catch_up_room,
                   still_allowed=room_access.followers)
    register_cache_invalidator(room_access.forget)
    register_renderer("room.roster", Renderer(_render_roster, prepare=_prepare_roster))
    register_renderer("room.ended", Renderer(_render_ended, lambda e, v, c: 0))
    register_renderer("live.ringing", Renderer(_render_ringing, lambda e, v, c: 0,
                                               prepare=_prepare_ringing))
    register_renderer("room.replaced", Renderer(_render_replaced, lambda e, v, c: 0,
                                                only_for=_addressed))
    register_renderer("live.removed", Renderer(_render_removed, lambda e, v, c: 0))
    register_disconnect_handler(end_segment_of_closed_socket)
    signalling.register()
