"""A scheduled session's call: Join (the lobby until it starts), the teacher's Start and End,
and what their pages are told over ``user:<id>`` (the "live" toast, the call cards) and
``room:<id>`` (the run started: the lobby turns into the room). Thin: app/live/session_runs.py
holds the rules."""
from __future__ import annotations

import json

from flask import abort, render_template, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404
from app.extensions import db
from app.live import session_runs
from app.live.models import Run
from app.live.views import bp
from app.realtime.events import Renderer, register_renderer
from app.scheduling import services as scheduling
from app.scheduling.models import VideoSession
from app.web import navigate_to


def _session_or_404(session_id) -> VideoSession:
    """Another center's session, or one the person may not see, is a 404 (a 403 would say
    that it exists)."""
    session = get_scoped_or_404(VideoSession, session_id,
                                selectinload(VideoSession.participants),
                                selectinload(VideoSession.overrides))
    if not scheduling.can_view_session(current_user, session):
        abort(404)
    return session


def _refused(session: VideoSession, error: Exception, status: int):
    db.session.rollback()
    message = " ".join(error.errors.values()) if isinstance(error, ValidationError) \
        else str(error)
    return render_template("live/session_refused.html", session=session,
                           message=message), status


@bp.route("/sessions/<session_id>/start", methods=["POST"])
@login_required
def start_session(session_id):
    session = _session_or_404(session_id)
    try:
        run, _ = session_runs.start_session_run(current_user, session)
    except PermissionDenied as error:
        return _refused(session, error, 403)
    except ValidationError as error:
        return _refused(session, error, 422)
    # The room page is always loaded whole (its script is in its head).
    return navigate_to(url_for("live.room", room_id=run.room_id), reload=True)


@bp.route("/sessions/<session_id>/join", methods=["POST"])
@login_required
def join_session(session_id):
    session = _session_or_404(session_id)
    try:
        room = session_runs.enter_session_room(current_user, session)
    except PermissionDenied as error:
        return _refused(session, error, 403)
    except ValidationError as error:
        return _refused(session, error, 422)
    return navigate_to(url_for("live.room", room_id=room.id), reload=True)


@bp.route("/sessions/<session_id>/end", methods=["POST"])
@login_required
def end_session(session_id):
    session = _session_or_404(session_id)
    try:
        session_runs.end_session_run(current_user, session)
    except PermissionDenied as error:
        return _refused(session, error, 403)
    except ValidationError as error:
        return _refused(session, error, 422)
    return navigate_to(url_for("scheduling.session_page", session_id=session.id), reload=True)


# --- over the socket ---------------------------------------------------------------------------

def _prepare_session(event, viewers, cache) -> None:
    cache["session"] = db.session.scalar(
        select(VideoSession).where(VideoSession.id == event.data["session_id"])
        .options(selectinload(VideoSession.participants),
                 selectinload(VideoSession.overrides)))
    cache["run"] = db.session.get(Run, event.data["run_id"])
    cache["runs"] = session_runs.recent_runs([cache["session"].id]) \
        if cache["session"] is not None else {}


def _cards(session, viewer, run, runs) -> str:
    """The call card of the session page and of the run's occurrence on an upcoming list, as
    they now are for ``viewer``, for the page to put in place where it shows them."""
    card = session_runs.call_card(session, viewer, runs)
    return render_template("live/_session_card_updates.html", session=session, card=card,
                           occurrence_start=run.occurrence_start, viewer=viewer)


def _render_session_live(event, viewer, cache):
    session, run = cache["session"], cache["run"]
    if session is None or run is None or run.ended_at is not None:
        return None
    if session_runs.session_role(session, viewer) is None:
        return None  # not (or no longer) one of its participants
    return render_template("live/_session_live_toast.html", session=session, run=run,
                           viewer=viewer, cards=_cards(session, viewer, run, cache["runs"]))


def _render_session_over(event, viewer, cache):
    session, run = cache["session"], cache["run"]
    if session is None or run is None or session_runs.session_role(session, viewer) is None:
        return None
    return render_template("live/_session_over.html", run_id=event.data["run_id"],
                           cards=_cards(session, viewer, run, cache["runs"]))


def _render_room_started(event, viewer, cache):
    return json.dumps({"type": "room-started", "room": int(event.topic.partition(":")[2]),
                       "run": event.data["run_id"]})


def register_realtime() -> None:
    register_renderer("live.session-live", Renderer(_render_session_live,
                                                    prepare=_prepare_session))
    register_renderer("live.session-over", Renderer(_render_session_over,
                                                    prepare=_prepare_session))
    register_renderer("room.started", Renderer(_render_room_started, lambda e, v, c: 0))
