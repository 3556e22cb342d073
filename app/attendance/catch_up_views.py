"""Catch-up pages: the list (/catch-ups), one catch-up, the student's "Mark done" / "Not done
yet" and the teacher's work form. Thin: app/attendance/catch_ups.py holds the rules."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404
from app.attendance import catch_ups
from app.attendance.models import CatchUp
from app.db_types import utcnow
from app.extensions import db
from app.web import navigate_to, page_arg, render_page, wants_fragment

bp = Blueprint("catch_ups", __name__)


def _catch_up_or_404(catch_up_id) -> CatchUp:
    """Another center's catch-up, or one the person may not see (another student's), is a 404:
    a 403 would say that it exists."""
    catch_up = get_scoped_or_404(CatchUp, catch_up_id, joinedload(CatchUp.user),
                                 joinedload(CatchUp.session))
    if not catch_ups.can_view_catch_up(current_user, catch_up):
        abort(404)
    return catch_up


@bp.route("/catch-ups")
@login_required
def index():
    viewer = current_user._get_current_object()
    filters = catch_ups.parse_filters(viewer, request.args.get("state"),
                                      request.args.get("student"))
    pagination = db.paginate(catch_ups.catch_ups_query(viewer, filters), page=page_arg(),
                             per_page=catch_ups.LIST_PAGE_SIZE, error_out=False)
    return render_page("attendance/catch_ups.html", "attendance/_catch_up_list.html",
                       pagination=pagination, filters=filters, now=utcnow(),
                       students=[] if wants_fragment()
                       else catch_ups.students_with_catch_ups(viewer))


def _page(catch_up: CatchUp, form=None, errors=None, status: int = 200):
    viewer = current_user._get_current_object()
    return render_template("attendance/catch_up.html",
                           page=catch_ups.catch_up_page(viewer, catch_up),
                           form=form or catch_ups.WorkForm.of(catch_up),
                           errors=errors or {}), status


@bp.route("/catch-ups/<catch_up_id>")
@login_required
def show(catch_up_id):
    return _page(_catch_up_or_404(catch_up_id))


@bp.route("/catch-ups/<catch_up_id>/done", methods=["POST"])
@login_required
def done(catch_up_id):
    return _answer(catch_up_id, True)


@bp.route("/catch-ups/<catch_up_id>/not-done", methods=["POST"])
@login_required
def not_done(catch_up_id):
    return _answer(catch_up_id, False)


def _answer(catch_up_id, done_: bool):
    catch_up = _catch_up_or_404(catch_up_id)
    try:
        catch_ups.mark_done(current_user, catch_up, done_)
    except PermissionDenied:
        abort(403)
    if wants_fragment():
        return render_template("attendance/_catch_up_status.html",
                               page=catch_ups.catch_up_page(current_user, catch_up), swapped=True)
    return redirect(url_for("catch_ups.show", catch_up_id=catch_up.id))


@bp.route("/catch-ups/<catch_up_id>/work", methods=["POST"])
@login_required
def work(catch_up_id):
    catch_up = _catch_up_or_404(catch_up_id)
    form = catch_ups.WorkForm(request.form.get("assigned_work", ""),
                              request.form.get("assigned_link", ""),
                              request.form.get("due_date", ""))
    try:
        changed = catch_ups.set_work(current_user, catch_up, form)
    except PermissionDenied:
        abort(403)
    except ValidationError as error:
        db.session.rollback()
        catch_up = _catch_up_or_404(catch_up_id)
        if wants_fragment():
            return render_template("attendance/_catch_up_work_form.html",
                                   page=catch_ups.catch_up_page(current_user, catch_up),
                                   form=form, errors=error.errors), 422
        return _page(catch_up, form, error.errors, 422)
    flash(f"Saved. {catch_up.user.name} was told about the change." if changed
          else "Nothing changed.", "success" if changed else "info")
    return navigate_to(url_for("catch_ups.show", catch_up_id=catch_up.id))
