"""``cc:<run>``: the instructors' pages of a live run get the panels, queue and timers that
changed (the same partials the HTTP answers render); ``user:<id>``: a student's own box.
``ccplan:<session>``: the same for the instructors' pages of an occurrence that has no run yet
(planning), each page getting only the occurrence it shows, and the whole page when that
occurrence goes live (it then follows ``cc:<run>``).

Events carry ids only; each process loads what changed once per event and renders once per
time zone (instructors) or per student (their own box)."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import render_template

from app.control_center import services
from app.control_center.call import call_context
from app.control_center.services import Capabilities
from app.extensions import db
from app.live.models import Room, Run
from app.realtime.events import (Event, Renderer, register_catch_up, register_renderer,
                                 register_topic)
from app.scheduling.models import VideoSession

TUTOR_CAPABILITIES = Capabilities(can_open=True, can_plan=True, can_end=True,
                                  can_send_reports=True)


def render_board_parts(board, *, student_ids=None, queue=True, timers=True, viewer=None) -> str:
    """The pushed parts of the tutor page, each a top-level element swapped by its id."""
    parts = [render_template("control_center/_panel.html", board=board, panel=panel, oob=True,
                             viewer=viewer)
             for panel in board.panels if student_ids is None or panel.student.id in student_ids]
    if queue:
        parts.append(render_template("control_center/_queue.html", board=board, oob=True,
                                     viewer=viewer))
    if timers:
        parts.append(render_template("control_center/_timers.html", board=board, oob=True,
                                     viewer=viewer))
    return "".join(parts)


def _occurrence(event) -> datetime | None:
    try:
        return datetime.fromisoformat(event.data["occurrence"])
    except (KeyError, TypeError, ValueError):
        return None


def _prepare_changed(event, viewers, cache) -> None:
    occurrence = _occurrence(event)
    cache["board"], cache["rows"] = None, []
    if occurrence is None:
        return
    # Whole panels only for the students whose panel changed beyond their work's progress; the
    # queue and the timers only when flagged (a panel's help badge and the queue move together:
    # the event says both). Rows alone cost one query: no session, no board.
    wanted = set(event.data.get("student_ids") or ())
    if wanted or event.data.get("queue") or event.data.get("timers"):
        session = db.session.get(VideoSession, event.data.get("session_id"))
        if session is None or not services.has_control_center(session):
            return
        cache["board"] = services.load_board(session, occurrence, TUTOR_CAPABILITIES,
                                             student_ids=wanted)
    cache["rows"] = [item for item in services.panel_items(event.data.get("session_id"),
                                                           occurrence,
                                                           event.data.get("item_ids") or ())
                     if item.plan.student_id not in wanted]  # already in its whole panel


def _render_changed(event, viewer, cache):
    board, parts = cache["board"], []
    if board is not None:
        wanted = set(event.data.get("student_ids") or ())
        parts.append(render_board_parts(board, student_ids=wanted,
                                        queue=bool(event.data.get("queue")),
                                        timers=bool(event.data.get("timers")), viewer=viewer))
    parts += [render_template("control_center/_panel_item.html", item=item, oob=True,
                              row_oob=True, target=f"#cc-panel-{item.plan.student_id}")
              for item in cache["rows"]]
    return "".join(parts) or None


def _merge_changed(earlier, later):
    """Two ``cc.changed`` (or ``cc.planned``) events of one topic waiting together become one:
    rendered after both commits, it shows the latest state of everything either named (the
    union of panels and rows, the queue or timers if either changed them)."""
    first, last = earlier.data, later.data
    if (first.get("session_id"), first.get("occurrence")) != \
            (last.get("session_id"), last.get("occurrence")):
        return None

    def union(key):
        return sorted(set(first.get(key) or ()) | set(last.get(key) or ()))

    return Event(later.topic, later.name,
                 {**last, "student_ids": union("student_ids"), "item_ids": union("item_ids"),
                  "queue": bool(first.get("queue") or last.get("queue")),
                  "timers": bool(first.get("timers") or last.get("timers"))})


def _merge_student(earlier, later):
    """Students' boxes of one occurrence waiting together: one event for all of them (each box
    is rendered from the database as it stands, so the latest wins)."""
    first, last = earlier.data, later.data
    if (first.get("session_id"), first.get("occurrence")) != \
            (last.get("session_id"), last.get("occurrence")):
        return None
    return Event(later.topic, later.name,
                 {**last, "user_ids": sorted(set(first.get("user_ids") or ())
                                             | set(last.get("user_ids") or ()))})


def _zone(event, viewer, cache):
    return viewer.effective_timezone


def _viewer(event, viewer, cache):
    return viewer.id


def _prepare_student(event, viewers, cache) -> None:
    cache["session"] = db.session.get(VideoSession, event.data.get("session_id"))
    cache["occurrence"] = _occurrence(event)


def _render_student(event, viewer, cache):
    session, occurrence = cache["session"], cache["occurrence"]
    if session is None or occurrence is None:
        return None
    if not services.capabilities(viewer, session).is_student:
        return None
    box = services.student_box(viewer, session, occurrence)
    return render_student_parts(box, viewer)


def render_student_parts(box, viewer) -> str:
    """What a student's room page shows of the control center, each part swapped by its id:
    their box, and whether their tutor is talking to them (Teach) or not (Observe)."""
    return render_template("control_center/_student_box.html", box=box, oob=True,
                           viewer=viewer) + \
        render_template("control_center/_tutor_with.html", box=box, oob=True)


def catch_up_board(conn, user, run_id: int, since) -> None:
    """A tutor page (re)subscribing gets every panel, the queue and the timers as they are."""
    run = db.session.get(Run, run_id)
    session = db.session.get(VideoSession, run.session_id) if run and run.session_id else None
    if session is None:
        return
    board = services.load_board(session, run.occurrence_start, TUTOR_CAPABILITIES)
    conn.send(render_board_parts(board, viewer=user))


def catch_up_student_box(conn, user, room_id: int, since) -> None:
    """A student's room page (re)subscribing to its room gets their box as it stands: what was
    pushed on their user topic while the socket was away is not lost."""
    room = db.session.get(Room, room_id)
    box = services.room_box(user, room) if room is not None else None
    if box is not None:
        conn.send(render_student_parts(box, user))


# --- planning: ccplan:<session> --------------------------------------------------------------------

def _plan_state_key(session_id: int) -> tuple[str, int]:
    return ("ccplan", session_id)


def _shows_occurrence(event, conn) -> bool:
    """Only the pages showing the event's occurrence (a tutor may plan two at once)."""
    return conn.state.get(_plan_state_key(event.data.get("session_id"))) == \
        event.data.get("occurrence")


def _render_page(event, viewer, cache):
    board = cache["board"]
    if board is None or not board.is_live:
        return None
    return render_template("control_center/_page.html", board=board, session=board.session,
                           viewer=viewer, oob=True, errors={}, form={},
                           call=call_context(board, viewer))


def _prepare_page(event, viewers, cache) -> None:
    session = db.session.get(VideoSession, event.data.get("session_id"))
    occurrence = _occurrence(event)
    cache["board"] = None
    if session is None or occurrence is None or not services.has_control_center(session):
        return
    cache["board"] = services.load_board(session, occurrence, TUTOR_CAPABILITIES)


def catch_up_plans(conn, user, session_id: int, since) -> None:
    """A planning page (re)subscribing: it says which occurrence it shows (kept for later
    events and for a resync after a Redis outage, which has no page to ask) and gets every
    panel, the queue and the timers as they are, or the whole live page if the occurrence went
    live meanwhile."""
    key = _plan_state_key(session_id)
    occurrence = conn.state.get(key)
    if since.from_client:
        try:
            at = datetime.fromisoformat(since.have) if isinstance(since.have, str) else None
        except ValueError:
            at = None
        session = db.session.get(VideoSession, session_id)
        if at is None or at.tzinfo is None or session is None \
                or not services.is_occurrence(session, at):
            conn.state.pop(key, None)
            return
        occurrence = conn.state[key] = at.astimezone(timezone.utc).isoformat()
    session = db.session.get(VideoSession, session_id)
    if occurrence is None or session is None or not services.has_control_center(session):
        return
    board = services.load_board(session, datetime.fromisoformat(occurrence), TUTOR_CAPABILITIES)
    if board.is_live:
        conn.send(render_template("control_center/_page.html", board=board, session=session,
                                  viewer=user, oob=True, errors={}, form={},
                                  call=call_context(board, user)))
    else:
        conn.send(render_board_parts(board, viewer=user))


def register() -> None:
    register_topic("cc", services.can_follow, catch_up_board, still_allowed=services.followers)
    register_catch_up("room", catch_up_student_box)
    register_renderer("cc.changed", Renderer(_render_changed, _zone, prepare=_prepare_changed,
                                             coalesce=_merge_changed))
    register_renderer("cc.student", Renderer(_render_student, prepare=_prepare_student,
                                             coalesce=_merge_student))
    register_topic("ccplan", services.can_follow_plans, catch_up_plans,
                   still_allowed=services.plan_followers)
    register_renderer("cc.planned", Renderer(_render_changed, _zone, prepare=_prepare_changed,
                                             only_for=_shows_occurrence,
                                             coalesce=_merge_changed))
    # The whole page: its call strip carries the viewer's own roster and id (one render each).
    register_renderer("cc.started", Renderer(_render_page, _viewer, prepare=_prepare_page,
                                             only_for=_shows_occurrence))
