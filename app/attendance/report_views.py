"""Attendance reports (issue 12): the series grid, the course grid, a person's history, and
each as CSV or JSON. Thin: parse the range, call app/attendance/reports.py, render or stream."""
from __future__ import annotations

from flask import Blueprint, Response, abort, request, url_for
from flask_login import current_user, login_required

from app.attendance import reports
from app.scheduling.permissions import can_view_session
from app.web import page_arg, render_page

bp = Blueprint("attendance_reports", __name__)

_FORMATS = {"csv": ("text/csv; charset=utf-8", reports.csv_chunks),
            "json": ("application/json; charset=utf-8", reports.json_chunks)}


def _viewer():
    return current_user._get_current_object()


def _range(viewer):
    return reports.parse_range(viewer, request.args.get("from"), request.args.get("to"))


def _typed() -> dict:
    """What the person typed in the range form, shown back as it was (even when wrong)."""
    return {"from": request.args.get("from", ""), "to": request.args.get("to", "")}


def _session_or_404(session_id, viewer):
    session = reports.load_session(session_id, viewer.center_id)
    if session is None or not can_view_session(viewer, session):
        abort(404)  # another center's, or one the viewer may not even see: not said to exist
    return session


def _course_or_404(course_id, viewer):
    course = reports.load_course(course_id, viewer.center_id)
    if course is None:
        abort(404)
    return course


def _person_or_404(person_id, viewer):
    person = reports.person_for_history(person_id, viewer)
    if person is None or not reports.can_view_history(viewer, person):
        abort(404)  # like the person page: whose history exists is not said to strangers
    return person


def _stream(plan: reports.ExportPlan, fmt: str, date_range: reports.DateRange) -> Response:
    mimetype, chunks = _FORMATS[fmt]
    filename = f"{plan.name}-{date_range.first_day}-to-{date_range.last_day}.{fmt}"
    # A plain generator: it reads on a connection of its own (reports.export_rows), after
    # the request's contexts are gone and its one commit is done.
    return Response(chunks(plan), content_type=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store"})


def _export(viewer, fmt: str, plan_for) -> Response:
    """A report as a file for the asked range (``plan_for(date_range)`` says what goes in it);
    a wrong range is a 422 in plain words."""
    date_range, errors = _range(viewer)
    if errors:
        return Response("The dates are not right: " + " ".join(errors.values()), status=422,
                        content_type="text/plain; charset=utf-8")
    return _stream(plan_for(date_range), fmt, date_range)


def _grid_page(viewer, template: str, grid_for, here: str, here_args: dict, **subject):
    """A grid report page for the asked range (``grid_for(date_range)`` builds the grid); a
    wrong range is a 422 that shows the form as typed, without a grid."""
    date_range, errors = _range(viewer)
    grid = None if errors else grid_for(date_range)
    return render_page(template, "attendance/_report_grid.html", 422 if errors else 200,
                       grid=grid, errors=errors, typed=_typed(), here=here, here_args=here_args,
                       export=here + "_export", **subject)


# --- a session series ------------------------------------------------------------------------------

@bp.route("/sessions/<session_id>/attendance")
@login_required
def series(session_id):
    viewer = _viewer()
    session = _session_or_404(session_id, viewer)
    return _grid_page(viewer, "attendance/report_series.html",
                      lambda date_range: reports.series_grid(viewer, session, date_range,
                                                             page_arg()),
                      "attendance_reports.series", {"session_id": session.id}, session=session)


@bp.route("/sessions/<session_id>/attendance.<any(csv, json):fmt>")
@login_required
def series_export(session_id, fmt):
    viewer = _viewer()
    session = _session_or_404(session_id, viewer)
    return _export(viewer, fmt,
                   lambda date_range: reports.series_export(viewer, session, date_range))


# --- a course -----------------------------------------------------------------------------------

@bp.route("/courses/<course_id>/attendance")
@login_required
def course(course_id):
    viewer = _viewer()
    course = _course_or_404(course_id, viewer)
    return _grid_page(viewer, "attendance/report_course.html",
                      lambda date_range: reports.course_grid(viewer, course, date_range,
                                                             page_arg()),
                      "attendance_reports.course", {"course_id": course.id}, course=course)


@bp.route("/courses/<course_id>/attendance.<any(csv, json):fmt>")
@login_required
def course_export(course_id, fmt):
    viewer = _viewer()
    course = _course_or_404(course_id, viewer)
    return _export(viewer, fmt,
                   lambda date_range: reports.course_export(viewer, course, date_range))


# --- a person's history ----------------------------------------------------------------------------

def _history_page(viewer, person, *, own: bool):
    date_range, errors = _range(viewer)
    history = None if errors else reports.student_history(viewer, person, date_range)
    here, args = (("attendance_reports.my_history", {}) if own else
                  ("attendance_reports.person_history", {"person_id": person.id}))
    return render_page("attendance/report_history.html", "attendance/_report_history.html",
                       422 if errors else 200, person=person, history=history, errors=errors,
                       typed=_typed(), own=own, here=here, here_args=args,
                       export=here + "_export")


@bp.route("/attendance/me")
@login_required
def my_history():
    viewer = _viewer()
    return _history_page(viewer, viewer, own=True)


@bp.route("/attendance/me.<any(csv, json):fmt>")
@login_required
def my_history_export(fmt):
    viewer = _viewer()
    return _export(viewer, fmt,
                   lambda date_range: reports.history_export(viewer, viewer, date_range))


@bp.route("/people/<person_id>/attendance")
@login_required
def person_history(person_id):
    viewer = _viewer()
    person = _person_or_404(person_id, viewer)
    return _history_page(viewer, person, own=person.id == viewer.id)


@bp.route("/people/<person_id>/attendance.<any(csv, json):fmt>")
@login_required
def person_history_export(person_id, fmt):
    viewer = _viewer()
    person = _person_or_404(person_id, viewer)
    return _export(viewer, fmt,
                   lambda date_range: reports.history_export(viewer, person, date_range))


def report_url(endpoint: str, args: dict, date_range: reports.DateRange, **extra) -> str:
    """A link to a report (or its export) for the same range."""
    return url_for(endpoint, **args, **date_range.query_args(), **extra)
