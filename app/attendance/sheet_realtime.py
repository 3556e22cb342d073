"""A sheet open while its run is on follows the room's topic (``room:<id>``, whose access rule
stays live's: the room's thread members, minus whoever was removed from the run). When someone
joins or leaves, or a teacher marks them, ``attendance.rows`` names the people whose rows
changed; each viewer gets the SAME row partial the page renders over HTTP: every row for the
sheet's managers, only their own for anyone else, nothing for people it does not concern."""
from __future__ import annotations

from datetime import datetime

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.attendance import services
from app.extensions import db
from app.live.models import Run
from app.realtime.events import Renderer, register_catch_up, register_renderer
from app.scheduling.models import VideoSession


# What a sheet page says it has when it subscribes to the room's topic (data-realtime-have,
# static/js/realtime.js): only such sockets get the rows; the room pages on the same topic are
# never sent (nor is anything rendered for) a row they have no place for.
SHEET_MARK = "attendance-sheet"
_FOLLOWED = "attendance_sheet_rooms"


def follow_sheet(conn, user, room_id: int, since) -> None:
    """The room topic's catch-up (called under the connection's lock, after live's access
    check): remember whether this socket's page is a sheet. Nothing to send: the page shows
    the rows as they stood when it loaded, and a reconnect reloads nothing it lacks."""
    followed = conn.state.setdefault(_FOLLOWED, set())
    if since.from_client and since.have == SHEET_MARK:
        followed.add(room_id)
    elif since.from_client:
        followed.discard(room_id)


def _for_sheets(event, conn) -> bool:
    key = event.topic.partition(":")[2]
    return key.isdigit() and int(key) in conn.state.get(_FOLLOWED, ())


def _sheet_of_event(data) -> services.Sheet | None:
    run = db.session.get(Run, data["run_id"]) if data.get("run_id") else None
    if data.get("session_id"):
        session = db.session.scalar(select(VideoSession).where(
            VideoSession.id == data["session_id"]).options(
            selectinload(VideoSession.participants)))
        if session is None or not data.get("occurrence_start"):
            return None
        start = datetime.fromisoformat(data["occurrence_start"])
        return services.Sheet(session.center_id, session, start, run,
                              start + session.duration, data.get("occurrence_key"))
    return services.run_sheet(run) if run is not None else None


def _prepare(event, viewers, cache) -> None:
    sheet = _sheet_of_event(event.data)
    cache["sheet"] = sheet
    if sheet is None:
        return
    cache["managers"] = {v.id for v in viewers if services.can_manage(v, sheet)}
    rows, span = services.sheet_rows(sheet, event.data.get("people") or ())
    cache["rows"], cache["span"] = rows, span


def _view_key(event, viewer, cache):
    # Managers in one zone see the same rows; anyone else sees only their own.
    if viewer.id in cache.get("managers", ()):
        return ("manager", viewer.effective_timezone)
    return ("own", viewer.id)


def _render(event, viewer, cache):
    sheet = cache.get("sheet")
    if sheet is None:
        return None
    manages = viewer.id in cache["managers"]
    rows = cache["rows"] if manages else [r for r in cache["rows"] if r.user.id == viewer.id]
    if not rows:
        return None
    return "".join(render_template("attendance/_sheet_row.html", row=row, sheet=sheet,
                                   span=cache["span"], can_manage=manages, viewer=viewer,
                                   oob=True, csrf=False) for row in rows)


def register() -> None:
    register_catch_up("room", follow_sheet)
    register_renderer(services.ROWS_EVENT, Renderer(_render, _view_key, prepare=_prepare,
                                                    only_for=_for_sheets))
