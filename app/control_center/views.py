"""The tutor's control center page and its fragments, the student's actions from the room, and
the lesson reports. Thin: parse, call control_center.services, render the partial the same
change is pushed as (app/control_center/realtime.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404, parse_id
# Work items' files live in chat's attachment store: the same checks, names and download.
from app.chat import attachments as files
from app.control_center import services
from app.control_center.call import call_context
from app.control_center.models import HelpRequest, LessonReport, Timer, WorkItem
from app.control_center.realtime import render_board_parts
from app.extensions import db
from app.scheduling.models import VideoSession
from app.web import navigate_to

bp = Blueprint("control_center", __name__)


# --- parsing and loading ---------------------------------------------------------------------------

def _session_or_404(session_id) -> VideoSession:
    session = get_scoped_or_404(VideoSession, session_id)
    caps = services.capabilities(current_user, session)
    if not (caps.can_open or caps.is_student):
        abort(404)  # not theirs (or no control center): do not reveal it
    return session


def _tutor_session_or_404(session_id) -> VideoSession:
    session = _session_or_404(session_id)
    if not services.capabilities(current_user, session).can_open:
        abort(404)
    return session


def _occurrence_or_404(session: VideoSession) -> datetime:
    raw = request.values.get("at")
    if raw:
        # "+00:00" typed into an address arrives as " 00:00" (a + in a query is a space).
        raw = raw.replace(" ", "+")
        try:
            at = datetime.fromisoformat(raw)
        except ValueError:
            abort(404)
        if at.tzinfo is None:
            abort(404)
        at = at.astimezone(timezone.utc)
        if not services.is_occurrence(session, at):
            abort(404)
        return at
    at = services.default_occurrence(session)
    if at is None:
        abort(404)
    return at


def _student_id() -> int | None:
    return parse_id(request.values.get("student"))


def _board_context(session, at, **extra):
    board = services.board(current_user, session, at)
    return dict(board=board, session=session, viewer=current_user, oob=False,
                call=call_context(board, current_user), **extra)


def _panel_answer(session, at, student_id, errors=None, form=None, status=200):
    """A panel after a change to it (with the form's errors and what was typed on a 422), plus
    the queue and timers out of band."""
    board = services.board(current_user, session, at)
    panel = board.panel(student_id)
    if panel is None:
        abort(404)
    html = render_template("control_center/_panel.html", board=board, panel=panel, oob=False,
                           viewer=current_user, errors=errors or {}, form=form or {})
    return html + render_board_parts(board, student_ids=set(), viewer=current_user), status


def _panel_action(session_id, act, form=None):
    """A tutor's change to one student's panel: ``act(session, occurrence, student_id)`` (a
    service call), answered with the panel; a refusal is the panel with its errors and what
    was typed (422)."""
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    student_id = _student_id()
    try:
        act(session, at, student_id or -1)
    except ValidationError as error:
        return _panel_answer(session, at, student_id, error.errors, form, 422)
    return _panel_answer(session, at, student_id)


# --- the tutor's page -------------------------------------------------------------------------------

@bp.route("/sessions/<session_id>/control-center")
@login_required
def page(session_id):
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    return render_template("control_center/page.html",
                           **_board_context(session, at, errors={}, form={}))


@bp.route("/sessions/<session_id>/control-center/plans", methods=["POST"])
@login_required
def save_plan(session_id):
    form = {k: request.form.get(k, "") for k in ("subject", "current_level", "working_level",
                                                  "goal")}
    return _panel_action(session_id, lambda session, at, student_id: services.save_plan(
        current_user, session, at, student_id, **form), form)


@bp.route("/sessions/<session_id>/control-center/plans/copy", methods=["POST"])
@login_required
def copy_plan(session_id):
    return _panel_action(session_id, lambda session, at, student_id: services.copy_last_plan(
        current_user, session, at, student_id))


@bp.route("/sessions/<session_id>/control-center/mode", methods=["POST"])
@login_required
def set_mode(session_id):
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    student_id = _student_id()
    try:
        services.set_mode(current_user, session, at, student_id or -1,
                          request.form.get("mode", ""), only=request.form.get("only") == "1")
    except ValidationError as error:
        return _panel_answer(session, at, student_id, error.errors, None, 422)
    # Pop into Teach changes other panels too: they come back on cc:<run> (and here, out of
    # band, for a page that has no live run to listen to).
    board = services.board(current_user, session, at)
    return render_board_parts(board, queue=False, timers=False, viewer=current_user)


@bp.route("/sessions/<session_id>/control-center/items", methods=["POST"])
@login_required
def add_item(session_id):
    form = {k: request.form.get(k, "") for k in ("title", "link")}
    return _panel_action(session_id, lambda session, at, student_id: services.add_work_item(
        current_user, session, at, student_id, **form,
        upload=request.files.get("attachment")), form)


@bp.route("/sessions/<session_id>/control-center/notes", methods=["POST"])
@login_required
def add_note(session_id):
    form = {k: request.form.get(k, "") for k in ("body", "visibility")}
    return _panel_action(session_id, lambda session, at, student_id: services.add_note(
        current_user, session, at, student_id, form["body"], form["visibility"]), form)


@bp.route("/sessions/<session_id>/control-center/timers", methods=["POST"])
@login_required
def start_timer(session_id):
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    form = {k: request.form.get(k, "") for k in ("minutes", "label", "student")}
    try:
        services.start_timer(current_user, session, at, _student_id(), form["minutes"],
                             form["label"])
    except ValidationError as error:
        board = services.board(current_user, session, at)
        return render_template("control_center/_timers.html", board=board, oob=False,
                               viewer=current_user, errors=error.errors, form=form), 422
    board = services.board(current_user, session, at)
    return render_template("control_center/_timers.html", board=board, oob=False,
                           viewer=current_user, errors={}, form={}) + \
        "".join(render_template("control_center/_panel.html", board=board, panel=p, oob=True,
                                viewer=current_user) for p in board.panels)


@bp.route("/control-center/timers/<timer_id>/cancel", methods=["POST"])
@login_required
def cancel_timer(timer_id):
    timer = get_scoped_or_404(Timer, timer_id)
    session = _tutor_session_or_404(timer.session_id)
    services.cancel_timer(current_user, timer)
    board = services.board(current_user, session, timer.occurrence_start)
    return render_template("control_center/_timers.html", board=board, oob=False,
                           viewer=current_user, errors={}, form={}) + \
        "".join(render_template("control_center/_panel.html", board=board, panel=p, oob=True,
                                viewer=current_user) for p in board.panels)


@bp.route("/sessions/<session_id>/control-center/end", methods=["POST"])
@login_required
def end(session_id):
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    try:
        services.end_lesson(current_user, session, at)
    except ValidationError as error:
        return render_template("control_center/page.html", **_board_context(
            session, at, errors=error.errors, form={})), 422
    return navigate_to(url_for("control_center.reports", session_id=session.id,
                               at=at.isoformat()))


# --- work items and help requests: tutors and the student ------------------------------------------

def _answer_for(session, at, student_id):
    """A tutor gets the student's panel back; a student their own box."""
    if services.capabilities(current_user, session).can_open:
        return _panel_answer(session, at, student_id)
    box = services.student_box(current_user, session, at)
    return render_template("control_center/_student_box.html", box=box, oob=False,
                           viewer=current_user, errors={}, form={})


@bp.route("/control-center/items/<item_id>", methods=["POST"])
@login_required
def update_item(item_id):
    item = get_scoped_or_404(WorkItem, item_id)
    # Held for the whole request: the checks below find the session in the identity map
    # (which keeps only what something refers to) instead of loading it again each time.
    plan, session = services.work_item_context(item)
    if not services.can_update_item(current_user, item):
        abort(404)
    status_before = item.status
    try:
        services.update_work_item(current_user, item, status=request.form.get("status"),
                                  progress=request.form.get("progress"))
    except ValidationError as error:
        if services.capabilities(current_user, session).can_open:
            return _panel_answer(session, plan.occurrence_start, plan.student_id, error.errors,
                                 None, 422)
        box = services.student_box(current_user, session, plan.occurrence_start)
        return render_template("control_center/_student_box.html", box=box, oob=False,
                               viewer=current_user, errors=error.errors, form={}), 422
    if item.status == status_before and request.headers.get("HX-Request") \
            and current_user.id == plan.student_id:
        # The student moved their progress: nothing else in their box changed, so the answer is
        # the item's row alone, swapped in place of the box's row.
        html = render_template("control_center/_student_item.html", item=item, oob=False)
        return html, 200, {"HX-Retarget": f"#cc-my-item-{item.id}", "HX-Reswap": "outerHTML"}
    return _answer_for(session, plan.occurrence_start, plan.student_id)


@bp.route("/control-center/items/<item_id>/attachment/<path:filename>")
@login_required
def item_attachment(item_id, filename):
    item = get_scoped_or_404(WorkItem, item_id)
    if not services.can_download_attachment(current_user, item):
        abort(404)  # another student's work: as if it did not exist
    return files.download(item.attachment_key, item.attachment_content_type,
                          item.attachment_filename)


@bp.route("/sessions/<session_id>/control-center/help", methods=["POST"])
@login_required
def raise_help(session_id):
    session = _session_or_404(session_id)
    form = {k: request.form.get(k, "") for k in ("priority", "text")}
    try:
        request_ = services.raise_help(current_user, session, form["priority"], form["text"])
    except PermissionDenied:
        abort(404)
    except ValidationError as error:
        run = services.live_run_of(session)
        if run is None:
            return render_template("control_center/_help_closed.html", errors=error.errors), 422
        box = services.student_box(current_user, session, run.occurrence_start)
        return render_template("control_center/_student_box.html", box=box, oob=False,
                               viewer=current_user, errors=error.errors, form=form), 422
    box = services.student_box(current_user, session, request_.occurrence_start)
    return render_template("control_center/_student_box.html", box=box, oob=False,
                           viewer=current_user, errors={}, form={})


@bp.route("/control-center/help/<request_id>/<action>", methods=["POST"])
@login_required
def help_action(request_id, action):
    help_request = get_scoped_or_404(HelpRequest, request_id)
    session = _session_or_404(help_request.session_id)
    if action not in services.HELP_ACTIONS:
        abort(404)
    try:
        services.act_on_help(current_user, help_request, action)
    except PermissionDenied:
        abort(404)
    except ValidationError as error:
        if services.capabilities(current_user, session).can_open:
            board = services.board(current_user, session, help_request.occurrence_start)
            return render_template("control_center/_queue.html", board=board, oob=False,
                                   viewer=current_user, errors=error.errors), 409
        box = services.student_box(current_user, session, help_request.occurrence_start)
        return render_template("control_center/_student_box.html", box=box, oob=False,
                               viewer=current_user, errors=error.errors, form={}), 409
    if services.capabilities(current_user, session).can_open:
        board = services.board(current_user, session, help_request.occurrence_start)
        return render_template("control_center/_queue.html", board=board, oob=False,
                               viewer=current_user, errors={}) + render_board_parts(
            board, student_ids={help_request.student_id}, queue=False, timers=False,
            viewer=current_user)
    return _answer_for(session, help_request.occurrence_start, help_request.student_id)


# --- lesson reports --------------------------------------------------------------------------------

@bp.route("/sessions/<session_id>/control-center/reports")
@login_required
def reports(session_id):
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    rows = services.reports_for(session, at)
    return render_template("control_center/reports.html", session=session, at=at,
                           reports=rows, errors={}, viewer=current_user)


@bp.route("/sessions/<session_id>/control-center/reports/draft", methods=["POST"])
@login_required
def draft_reports(session_id):
    session = _tutor_session_or_404(session_id)
    at = _occurrence_or_404(session)
    services.draft_reports(current_user, session, at)
    return navigate_to(url_for("control_center.reports", session_id=session.id,
                               at=at.isoformat()))


def _report_or_404(report_id) -> LessonReport:
    report = get_scoped_or_404(LessonReport, report_id)
    if not services.can_view_report(current_user, report):
        abort(404)
    return report


@bp.route("/control-center/reports/<report_id>", methods=["POST"])
@login_required
def save_report(report_id):
    report = _report_or_404(report_id)
    body = request.form.get("body", "")
    sending = request.form.get("send") == "1"
    try:
        if sending:
            services.send_report(current_user, report, body)
        else:
            services.update_report(current_user, report, body)
    except PermissionDenied:
        abort(404)
    except ValidationError as error:
        return render_template("control_center/_report.html", report=report, body=body,
                               errors=error.errors, saved=False, viewer=current_user), 422
    return render_template("control_center/_report.html", report=report, body=report.body,
                           errors={}, saved=not sending, viewer=current_user)


@bp.route("/lesson-reports/<report_id>")
@login_required
def report_page(report_id):
    report = _report_or_404(report_id)
    session = db.session.get(VideoSession, report.session_id)
    return render_template("control_center/report_page.html", report=report, session=session,
                           viewer=current_user)
