"""The center's attendance settings (admins): how late is late, and how short a stay counts as
"left early". Thin: the rules and the audit live in services.update_settings."""
from __future__ import annotations

from flask import Blueprint, flash, request
from flask_login import current_user

from app.accounts.permissions import admin_required
from app.accounts.services import ValidationError
from app.attendance import services
from app.web import navigate_to, render_page

bp = Blueprint("attendance_settings", __name__, url_prefix="/admin")


def _form(typed=None, errors=None, saved=False):
    current = services.settings_for(current_user.center_id)
    values = typed or {"late_grace_minutes": str(int(current.late_grace.total_seconds() // 60)),
                       "left_early_percent": str(current.left_early_percent)}
    return dict(values=values, errors=errors or {}, saved=saved,
                grace_max=services.LATE_GRACE_MAX_MINUTES)


@bp.route("/attendance", methods=["GET", "POST"])
@admin_required
def settings():
    if request.method == "GET":
        return render_page("attendance/settings.html", "attendance/_settings_form.html",
                           **_form())
    typed = {name: request.form.get(name, "")[:20]
             for name in ("late_grace_minutes", "left_early_percent")}
    try:
        services.update_settings(current_user, typed["late_grace_minutes"],
                                 typed["left_early_percent"])
    except ValidationError as exc:
        return render_page("attendance/settings.html", "attendance/_settings_form.html",
                           status=422, **_form(typed, exc.errors))
    if request.headers.get("HX-Request"):
        return render_page("attendance/settings.html", "attendance/_settings_form.html",
                           **_form(saved=True))
    flash("Attendance settings saved.", "success")
    return navigate_to(request.path)
