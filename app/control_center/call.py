"""The star call on the tutor's control center page (static/js/cc-call.js), for the page and
for the page pushed whole when a planned occurrence goes live (realtime.py)."""
from __future__ import annotations

from app.extensions import db


def call_context(board, viewer) -> dict | None:
    """The live run's room and its roster for ``viewer``, when its media runs peer to peer
    (Teach/Observe routes the tutor's microphone per connection, which a media server's room
    does not) and the viewer may use it; else None."""
    from app.live import services as live
    from app.live.models import Room
    from app.live.realtime import render_roster

    if not board.is_live:
        return None
    room = db.session.get(Room, board.run.room_id)
    if room is None or room.engine != "mesh" or not live.can_use_room(viewer, room):
        return None
    return {"room": room, "roster_html": render_roster(board.run, viewer, oob=False)}
