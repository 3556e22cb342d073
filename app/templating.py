"""Jinja filters and globals: every time is shown in the viewer's zone, saying which."""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_login import current_user

from app.timezones import timezone_choices


def viewer_tz():
    if current_user and current_user.is_authenticated:
        return current_user.tz
    return None


def format_local(instant: datetime | None, fmt: str = "%a %d %b %Y, %H:%M", zone=None) -> str:
    if instant is None:
        return ""
    tz = zone or viewer_tz()
    local = instant.astimezone(tz) if tz else instant
    return f"{local.strftime(fmt)} {local.tzname()}"


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.globals["timezone_choices"] = timezone_choices
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def inject_nav():
        if not (current_user and current_user.is_authenticated):
            return {"nav_items": []}
        items = [("accounts.dashboard", "Dashboard")]
        if current_user.is_teacher:
            items.append(("accounts.students", "Students"))
        if current_user.is_student:
            items.append(("accounts.teachers", "Teachers"))
        if current_user.is_admin:
            items += [("admin.users", "People"), ("admin.courses", "Courses"),
                      ("admin.audit", "Audit log")]
        return {"nav_items": items}
