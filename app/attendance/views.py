"""The attendance sheet of one session occurrence (/sessions/<id>/occurrences/<key>/attendance,
named like scheduling's occurrence pages: the key is the occurrence's original local start) or
of one instant call (/runs/<id>/attendance). Thin: parse, call app.attendance.services, render.

Teachers get the roll call (one tap cycles a status, a bulk bar, notes, clearing a mark);
anyone else on the sheet gets their own record only. Every change answers with the row partial
(``_sheet_row.html``) that the websocket pushes too."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404, parse_id
from app.attendance import services
from app.attendance.rules import AttendanceStatus
from app.chat import services as chat
from app.chat.models import Message, Thread
from app.errors import render_error
from app.extensions import db
from app.live import services as live
from app.live.models import Run
from app.scheduling import services as scheduling
from app.scheduling.models import SessionParticipant, VideoSession
from app.scheduling.permissions import can_view_session

bp = Blueprint("attendance", __name__)

SESSION_SHEET = "/sessions/<session_id>/occurrences/<original>/attendance"
RUN_SHEET = "/runs/<run_id>/attendance"
# A bulk mark names at most this many people (a class is far smaller; junk is cut off).
MAX_BULK = 2000


@bp.errorhandler(PermissionDenied)
def permission_denied(error):
    return render_error(403, str(error) or None)


@bp.app_template_global()
def sheet_url(sheet: services.Sheet, action: str | None = None, user_id: int | None = None):
    """The sheet's address, or one of its actions' (``action`` with ``user_id`` for a row's)."""
    if sheet.session is not None:
        base = url_for("attendance.occurrence_sheet", session_id=sheet.session.id,
                       original=sheet.occurrence_key)
    else:
        base = url_for("attendance.run_attendance", run_id=sheet.run.id)
    if action is None:
        return base
    return f"{base}/people/{user_id}/{action}" if user_id is not None else f"{base}/{action}"


# --- finding the sheet ---------------------------------------------------------------------------

def _session_or_404(session_id) -> VideoSession:
    session = get_scoped_or_404(
        VideoSession, session_id,
        selectinload(VideoSession.participants).joinedload(SessionParticipant.user),
        selectinload(VideoSession.overrides), joinedload(VideoSession.teacher))
    if not can_view_session(current_user, session):
        abort(404)
    return session


def _occurrence_or_404(session: VideoSession, raw: str):
    """The occurrence the URL names; junk, cancelled and non-occurrences are 404."""
    occurrence = scheduling.occurrence_by_key(session, raw)
    if occurrence is None or occurrence.cancelled:
        abort(404)
    return occurrence


def _sheet(session_id=None, original=None, run_id=None) -> services.Sheet:
    """The sheet a URL names, for someone who may at least see it (404 otherwise: another
    center's, or one the viewer has nothing to do with)."""
    if run_id is None:
        session = _session_or_404(session_id)
        return services.occurrence_sheet(session, _occurrence_or_404(session, original))
    run = get_scoped_or_404(Run, run_id)
    sheet = services.run_sheet(run)
    if sheet.session is not None:
        if not can_view_session(current_user, sheet.session):
            abort(404)
    elif not services.can_manage(current_user, sheet) and not live.can_use_room(
            current_user, run.room):
        abort(404)
    return sheet


# --- pages ---------------------------------------------------------------------------------------

def _render_sheet(sheet: services.Sheet, status: int = 200, bulk_error: str | None = None,
                  bulk_note: str = ""):
    view = services.sheet_view(current_user, sheet)
    # Live rows while there is a run, over the room's topic, for whoever may follow it (live's
    # rule: its thread's members; an admin outside the session sees the sheet as loaded).
    room_id = sheet.run.room_id if sheet.run is not None and live.can_follow_room(
        current_user, sheet.run.room_id) else None
    return render_template("attendance/sheet.html", view=view, sheet=sheet,
                           statuses=list(AttendanceStatus), viewer=current_user,
                           room_id=room_id, bulk_error=bulk_error, bulk_note=bulk_note,
                           csrf=True), status


@bp.route(SESSION_SHEET)
@login_required
def occurrence_sheet(session_id, original):
    return _render_sheet(_sheet(session_id, original))


@bp.route(RUN_SHEET)
@login_required
def run_attendance(run_id):
    sheet = _sheet(run_id=run_id)
    if sheet.session is not None:  # one address per occurrence: the session's
        return redirect(sheet_url(sheet))
    return _render_sheet(sheet)


@bp.route("/messages/<message_id>/attendance")
@login_required
def call_message_attendance(message_id):
    """The Attendance link of an ended call's message in a chat: that call's sheet."""
    message = get_scoped_or_404(Message, message_id)
    thread = db.session.get(Thread, message.thread_id)
    if thread is None or not chat.can_view_thread(current_user, thread):
        abort(404)
    run = db.session.scalar(select(Run).where(Run.call_message_id == message.id,
                                              Run.center_id == current_user.center_id))
    if run is None:
        abort(404)
    return redirect(url_for("attendance.run_attendance", run_id=run.id))


# --- marking (teachers) --------------------------------------------------------------------------

def _row(sheet: services.Sheet, person: int, status: int = 200, note_error: str | None = None,
         typed_note: str | None = None):
    """A line after a change, and the totals out of band."""
    view = services.sheet_view(current_user, sheet)
    row = next((r for r in view.rows if r.user.id == person), None)
    if row is None:
        abort(404)
    return render_template("attendance/_sheet_row_answer.html", row=row, sheet=sheet,
                           span=view.span, view=view, statuses=list(AttendanceStatus),
                           can_manage=True, viewer=current_user, oob=False, csrf=True,
                           note_error=note_error, typed_note=typed_note), status


def _sheet_for_post(kwargs) -> services.Sheet:
    sheet = _sheet(kwargs.get("session_id"), kwargs.get("original"), kwargs.get("run_id"))
    if not services.can_manage(current_user, sheet):
        raise PermissionDenied("Only the session's teachers can take attendance.")
    return sheet


def _sheet_and_person_for_post(where, user_id) -> tuple[services.Sheet, int]:
    """The sheet a change is made on and the person it is for; someone not on its roster is
    a 404."""
    sheet = _sheet_for_post(where)
    person = parse_id(user_id)
    if person is None or person not in services.roster_ids(sheet):
        abort(404)
    return sheet, person


@bp.route(SESSION_SHEET + "/people/<user_id>/cycle", methods=["POST"])
@bp.route(RUN_SHEET + "/people/<user_id>/cycle", methods=["POST"])
@login_required
def cycle(user_id, **where):
    sheet, person = _sheet_and_person_for_post(where, user_id)
    services.cycle_status(current_user, sheet, person)
    return _row(sheet, person)


@bp.route(SESSION_SHEET + "/people/<user_id>/clear", methods=["POST"])
@bp.route(RUN_SHEET + "/people/<user_id>/clear", methods=["POST"])
@login_required
def clear(user_id, **where):
    sheet, person = _sheet_and_person_for_post(where, user_id)
    services.set_statuses(current_user, sheet, [person], None)
    return _row(sheet, person)


@bp.route(SESSION_SHEET + "/people/<user_id>/note", methods=["POST"])
@bp.route(RUN_SHEET + "/people/<user_id>/note", methods=["POST"])
@login_required
def note(user_id, **where):
    sheet, person = _sheet_and_person_for_post(where, user_id)
    typed = request.form.get("note", "")
    try:
        services.set_note(current_user, sheet, person, typed)
    except ValidationError as error:
        db.session.rollback()
        return _row(sheet, person, 422, " ".join(error.errors.values()), typed)
    return _row(sheet, person)


@bp.route(SESSION_SHEET + "/bulk", methods=["POST"])
@bp.route(RUN_SHEET + "/bulk", methods=["POST"])
@login_required
def bulk(**where):
    """The bulk bar: the chosen people get one status (or lose their mark), with an optional
    note; "Mark all unmarked present" sends everyone with ``unmarked``."""
    sheet = _sheet_for_post(where)
    only_unmarked = request.form.get("unmarked") == "1"
    typed_note = request.form.get("note", "")
    raw_status = "PRESENT" if only_unmarked else request.form.get("status", "")
    if raw_status == "CLEAR":
        status = None
    elif raw_status in AttendanceStatus.__members__:
        status = AttendanceStatus[raw_status]
    else:
        return _bulk_answer(sheet, 422, "Choose the status to give them.", typed_note)
    if only_unmarked:
        people = services.roster_ids(sheet)
    else:
        people = {parse_id(raw) or -1 for raw in request.form.getlist("people")[:MAX_BULK]}
    try:
        marked = services.set_statuses(current_user, sheet, people, status,
                                       typed_note if typed_note.strip() else None,
                                       only_unmarked=only_unmarked)
    except ValidationError as error:
        db.session.rollback()
        return _bulk_answer(sheet, 422, " ".join(error.errors.values()), typed_note)
    if only_unmarked:
        done = f"{len(marked)} marked present." if marked else "Everyone already has a status."
    else:
        label = status.label.lower() if status else "back to automatic"
        done = f"{len(marked)} {'person' if len(marked) == 1 else 'people'} marked {label}." \
            if status else f"{len(marked)} {'mark' if len(marked) == 1 else 'marks'} cleared."
    return _bulk_answer(sheet, 200, None, "", done, changed=marked)


def _bulk_answer(sheet, status, error, typed_note, done=None, changed=()):
    """The bulk bar again (with its error and what was typed, or what was done) and, swapped
    out of band, the rows that changed and the counts."""
    view = services.sheet_view(current_user, sheet)
    rows = [row for row in view.rows if row.user.id in set(changed)]
    return render_template("attendance/_sheet_bulk_answer.html", view=view, sheet=sheet,
                           rows=rows, span=view.span, statuses=list(AttendanceStatus),
                           viewer=current_user, bulk_error=error, bulk_note=typed_note,
                           bulk_done=done, csrf=True), status
