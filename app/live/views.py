"""Room pages and the call endpoints. Thin: parse, call live.services, answer (HTML for pages
and fragments, JSON for what room.js needs to connect)."""
from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app.accounts.permissions import admin_required
from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404, parse_id
from app.extensions import csrf
from app.chat import services as chat
from app.chat.models import Thread
from app.extensions import db
from app.live import services
from app.live.models import Room
from app.live.permissions import MODERATE, may
from app.live.realtime import render_roster
from app.web import navigate_to

bp = Blueprint("live", __name__, url_prefix="/live")


def _room_or_404(room_id) -> Room:
    room = get_scoped_or_404(Room, room_id)
    if not services.can_use_room(current_user, room):
        abort(404)  # not a member: do not reveal that it exists
    return room


def _thread_or_404(thread_id) -> Thread:
    thread = get_scoped_or_404(Thread, thread_id)
    if not chat.can_view_thread(current_user, thread):
        abort(404)
    return thread


def _json_body() -> dict:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else {}


def _refused(error: Exception, status: int):
    db.session.rollback()
    message = "; ".join(error.errors.values()) if isinstance(error, ValidationError) \
        else str(error)
    return jsonify({"error": message}), status


@bp.route("/threads/<thread_id>/call", methods=["POST"])
@login_required
def start_call(thread_id):
    thread = _thread_or_404(thread_id)
    run, _ = services.start_call(current_user, thread)
    return navigate_to(url_for("live.room", room_id=run.room_id))


@bp.route("/threads/<thread_id>/call")
@login_required
def thread_call(thread_id):
    """The CALL message's Join: the thread's room (a thread that never had a call has none)."""
    thread = _thread_or_404(thread_id)
    room = db.session.scalar(db.select(Room).where(Room.thread_id == thread.id))
    if room is None:
        abort(404)
    return redirect(url_for("live.room", room_id=room.id))


@bp.route("/rooms/<room_id>")
@login_required
def room(room_id):
    room = _room_or_404(room_id)
    thread = services.room_thread(room)
    run = services.live_run(room)
    me = services.participant_of(run, current_user.id) if run is not None else None
    member = chat.membership(current_user, thread)
    messages, has_more = chat.messages_before(thread)
    from app.control_center import services as control_center

    cc_session = control_center.tutors_call_page(current_user, room)
    cc_box = control_center.room_box(current_user, room)
    return render_template(
        "live/room.html", cc_box=cc_box, room=room,
        cc_learner=cc_box is not None or control_center.is_control_center_learner(current_user, room),
        cc_tutor_url=url_for("control_center.page", session_id=cc_session.id) if cc_session else None, thread=thread, run=run, me=me, member=member,
        messages=messages, has_more=has_more, first_unread_id=None, refusal=chat.post_refusal(current_user, thread),
        title=chat.thread_title(thread, current_user), viewer=current_user,
        roster_html=render_roster(run, current_user, oob=False) if run is not None else "",
        can_end=run is not None and (run.started_by_id == current_user.id or (
            me is not None and not me.is_removed and may(me.role, MODERATE))),
        **session_lobby(room))


def session_lobby(room: Room) -> dict:
    """A session's room also shows its session, and is its lobby before the teacher starts."""
    from app.live.session_runs import lobby_state

    return {"session": None, "lobby": False, **lobby_state(room, current_user)}


@bp.route("/rooms/<room_id>/join", methods=["POST"])
@login_required
def join(room_id):
    room = _room_or_404(room_id)
    try:
        _, participant, config = services.join(current_user, room,
                                               _json_body().get("connection"))
    except services.CallFull as error:
        return _refused(error, 409)
    except services.MediaServerUnavailable as error:
        return _refused(error, 503)
    except PermissionDenied as error:
        return _refused(error, 403)
    except ValidationError as error:
        return _refused(error, 422)
    return jsonify({"room": room.id, "participant": participant.id, "user": current_user.id,
                    "role": participant.role.value, **config})


@bp.route("/rooms/<room_id>/heartbeat", methods=["POST"])
@login_required
def heartbeat(room_id):
    room = _room_or_404(room_id)
    # A stay the server closed (left, removed, the call ended) is an answer, not a failure: a
    # beat can cross the call's end on the wire, and an error status would be logged by the
    # browser as a failed load.
    return jsonify({"in_call": services.heartbeat(current_user, room, _json_body().get("connection"))})


@bp.route("/rooms/<room_id>/leave", methods=["POST"])
@login_required
def leave(room_id):
    room = _room_or_404(room_id)
    connection = _json_body().get("connection") or request.form.get("connection")
    services.leave(current_user, room, connection)
    return jsonify({"left": True})


@bp.route("/rooms/<room_id>/media", methods=["POST"])
@login_required
def media(room_id):
    room = _room_or_404(room_id)
    body = _json_body()
    wanted = {k: body[k] for k in ("audio_off", "video_off") if isinstance(body.get(k), bool)}
    try:
        services.set_own_media(current_user, room, wanted.get("audio_off"), wanted.get("video_off"))
    except PermissionDenied as error:
        return _refused(error, 403)
    return jsonify(wanted)


@bp.route("/rooms/<room_id>/end", methods=["POST"])
@login_required
def end(room_id):
    room = _room_or_404(room_id)
    services.end_run(current_user, room)
    return navigate_to(url_for("chat.thread", thread_id=services.room_thread(room).id))


@bp.route("/rooms/<room_id>/moderate", methods=["POST"])
@login_required
def moderate(room_id):
    room = _room_or_404(room_id)
    services.moderate(current_user, room, request.form.get("action", ""),
                      participant_id=parse_id(request.form.get("participant")),
                      role=request.form.get("role"))
    run = services.live_run(room)
    if run is None:
        return "", 204
    return render_roster(run, current_user, oob=False)


@bp.route("/janus/events", methods=["POST"])
@csrf.exempt  # Janus's event handler posts here, with its secret as HTTP basic auth
def janus_events():
    from app.live.engines import get_engine
    from app.live.engines.janus import WebhookPayloadError

    engine = get_engine("janus")
    try:
        events = engine.parse_webhook(request)
    except PermissionDenied:
        return jsonify({"error": "bad credentials"}), 403
    except WebhookPayloadError as error:
        return jsonify({"error": str(error)}), 400
    applied = services.apply_engine_events("janus", events)
    return jsonify({"events": len(events), "applied": applied})


@bp.route("/admin/calls")
@admin_required
def call_settings():
    """How calls are carried on this server, and how to add a media server (settings come from
    the environment: this page explains them, it does not change them)."""
    return render_template("live/call_settings.html", **services.call_capacity())
