"""Call signalling for the mesh: WebRTC offers, answers and ICE candidates as JSON on /ws.

A page sends ``{"type": "signal", "room": <id>, "to": "<connection>", "data": {...}}``. The
server relays it to that one connection and nobody else, and stores nothing. It is accepted
only from a connection subscribed to ``room:<id>`` whose user has an open segment from this
very connection in the room's live run and has not been removed; within a size limit (an SDP
is a few KB; the limit leaves room for many codecs, never for abuse) and a rate limit per
connection. Anything else gets a ``signal-refused`` frame saying why: never silence, never an
error that ends the socket.

Across processes the frame rides the hub's Redis channel as an event on ``room:<id>``; the
process holding the addressed connection delivers it to that connection alone, after checking
the receiver's session and access again. Those checks use what the process confirmed for
earlier events (hub.Viewer, live.room_access), dropped by the events that change it, so a
relayed frame costs no database statement once its sender and receiver are known."""
from __future__ import annotations

import json
import logging
import time

import redis
from sqlalchemy import select

from app.extensions import db
from app.realtime.events import Event, Renderer, publish_now, register_client_message, \
    register_renderer, topic_key

log = logging.getLogger(__name__)

# Chromium writes ~4 KB of SDP per video m-line (its codec list) and ~1.5 KB per audio one:
# a call with camera, microphone and a screen offers ~13 KB, and each m-line a page adds (a
# receive-only page's, a re-share that found no spare) ~4 KB more. 16 KB refused the offer of
# a call whose screen had been shared a second time.
MAX_SIGNAL_BYTES = 48 * 1024  # under the socket's own 64 KB (SOCK_SERVER_OPTIONS)
# Token bucket per connection: a page connecting to five peers sends a burst of ICE candidates
# (tens per peer) and then almost nothing.
BURST = 200
REFILL_PER_SECOND = 40
# "screen": the id of the MediaStream this page shares its screen in (null: it stopped), sent
# before the tracks so the receiver shows them as a screen tile rather than over the camera.
DATA_KINDS = ("description", "candidate", "screen")
MAX_STREAM_ID = 100
SIGNAL_EVENT = "room.signal"


def refusal(reason: str, room=None, to=None) -> str:
    return json.dumps({"type": "signal-refused", "room": room, "to": to, "reason": reason})


def _take_token(conn) -> bool:
    now = time.monotonic()
    tokens, at = conn.state.get("signal_bucket", (BURST, now))
    tokens = min(BURST, tokens + (now - at) * REFILL_PER_SECOND)
    if tokens < 1:
        conn.state["signal_bucket"] = (tokens, now)
        return False
    conn.state["signal_bucket"] = (tokens - 1, now)
    return True


def _sender_may_signal(conn, room_id: int) -> bool:
    from app.live.models import Run, RunParticipant, Segment
    from app.live.room_access import room_access
    from app.realtime.hub import hub

    # A sender's right to signal (an open segment from this connection, not removed) changes
    # only with an event on the room (a leave, a removal, the end: each publishes the roster or
    # room.ended) or a lost Redis connection, and each of those moves room_access.generation
    # before the hub delivers anything after it: until then the answer stands.
    generation = room_access.generation
    if conn.state.get("signal_ok", {}).get(room_id) == generation:
        return True
    with hub.db_gate:
        try:
            allowed = db.session.scalar(
                select(Segment.id).join(Run, Run.id == Segment.run_id)
                .join(RunParticipant, RunParticipant.id == Segment.participant_id)
                .where(Run.live_room_id == room_id, Segment.connection_id == conn.id,
                       Segment.user_id == conn.user_id, Segment.left_at.is_(None),
                       RunParticipant.removed_at.is_(None))) is not None
        finally:
            db.session.remove()
    if allowed:
        conn.state.setdefault("signal_ok", {})[room_id] = generation
    return allowed


def _valid_data(data) -> bool:
    if not isinstance(data, dict) or set(data) - set(DATA_KINDS) or len(data) != 1:
        return False
    if "description" in data:
        description = data["description"]
        return isinstance(description, dict) and description.get("type") in (
            "offer", "answer", "rollback", "pranswer") and isinstance(description.get("sdp", ""), str)
    if "screen" in data:
        stream_id = data["screen"]
        return stream_id is None or (isinstance(stream_id, str) and 0 < len(stream_id) <= MAX_STREAM_ID)
    candidate = data["candidate"]
    return candidate is None or isinstance(candidate, dict)


def handle_signal(conn, message: dict, size: int) -> None:
    room, to = message.get("room"), message.get("to")
    topic = f"room:{room}" if isinstance(room, int) and not isinstance(room, bool) else None
    if size > MAX_SIGNAL_BYTES:
        # Named by its room when it has one: the page shows refusals for its own room only.
        conn.send(refusal(f"signalling message too large ({size} bytes; at most "
                          f"{MAX_SIGNAL_BYTES})", room if topic else None, None))
        return
    if topic is None or topic_key(topic) is None:
        conn.send(refusal("no such room"))
        return
    if not isinstance(to, str) or not (0 < len(to) <= 32) or not _valid_data(message.get("data")):
        conn.send(refusal("malformed signalling message", room))
        return
    if not _take_token(conn):
        conn.send(refusal("too many signalling messages; slow down", room, to))
        return
    if conn.closed or topic not in conn.topics or not _sender_may_signal(conn, room):
        conn.send(refusal("you are not in this call", room, to))
        return
    try:
        publish_now(Event(topic, SIGNAL_EVENT, {"to": to, "from": conn.id,
                                                 "from_user": conn.user_id,
                                                 "data": message["data"]}))
    except redis.RedisError:
        conn.send(refusal("the server cannot relay right now; retrying", room, to))


# --- delivery: only the addressed connection renders anything ---------------------------------

def _addressed(event, conn) -> bool:
    return conn.id == event.data.get("to")


def _render_signal(event, viewer, cache):
    return json.dumps({"type": "signal", "room": int(event.topic.partition(":")[2]),
                       "from": event.data["from"], "from_user": event.data["from_user"],
                       "data": event.data["data"]})


def register() -> None:
    register_client_message("signal", handle_signal)
    register_renderer(SIGNAL_EVENT, Renderer(_render_signal, lambda e, v, c: 0,
                                             only_for=_addressed, trusts_confirmed_access=True))
