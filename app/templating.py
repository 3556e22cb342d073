"""Jinja filters and globals: every time is shown in the viewer's zone, saying which."""
from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask_login import current_user

from app.timezones import timezone_choices, when


def viewer_tz():
    if current_user and current_user.is_authenticated:
        return current_user.tz
    return None


def format_local(instant: datetime | None, fmt: str = "%a %d %b %Y, %H:%M", zone=None) -> str:
    if instant is None:
        return ""
    return when(instant, zone or viewer_tz(), fmt + " {abbr}")


def clock(instant: datetime | None, viewer) -> str:
    """14:05 in the viewer's zone (for message times; the page says which zone)."""
    return instant.astimezone(viewer.tz).strftime("%H:%M") if instant else ""


def local_date(instant: datetime, viewer):
    return instant.astimezone(viewer.tz).date()


def day_label(instant: datetime, viewer) -> str:
    from app.db_types import utcnow

    day = local_date(instant, viewer)
    today = local_date(utcnow(), viewer)
    if day == today:
        return "Today"
    if (today - day).days == 1:
        return "Yesterday"
    return day.strftime("%A %-d %B %Y" if day.year != today.year else "%A %-d %B")


def init_templating(app: Flask) -> None:
    app.jinja_env.filters["localtime"] = format_local
    app.jinja_env.filters["clock"] = clock
    app.jinja_env.filters["local_date"] = local_date
    app.jinja_env.filters["day_label"] = day_label
    from app.chat.formatting import preview_text

    app.jinja_env.filters["preview"] = preview_text

    @app.context_processor
    def inject_now():
        from app.db_types import utcnow

        return {"now_utc": utcnow()}
    app.jinja_env.globals["timezone_choices"] = timezone_choices
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    @app.context_processor
    def inject_nav():
        if not (current_user and current_user.is_authenticated):
            return {"nav_items": [], "nav_unread": lambda: 0, "nav_notifications": lambda: 0}
        items = [("accounts.dashboard", "Dashboard"), ("scheduling.calendar", "Calendar"),
                 ("chat.index", "Chats")]
        if not current_user.is_student:
            # A teacher's landing page (and an admin's own sessions, students and chats).
            items.insert(0, ("my_day.page", "My Day"))
        if current_user.is_teacher:
            items.append(("accounts.students", "Students"))
        if current_user.is_student:
            items += [("accounts.teachers", "Teachers"),
                      ("attendance_reports.my_history", "Attendance")]
        items.append(("catch_ups.index", "Catch-ups"))
        if current_user.is_admin:
            items += [("admin.users", "People"), ("admin.courses", "Courses"),
                      ("admin.audit", "Audit log"), ("mail.outbox", "Outbox"),
                      ("notifications.failed_jobs", "Jobs")]
        from app.chat.services import unread_total

        # A callable: only the page header asks, partials never pay for the query.
        user = current_user._get_current_object()
        from app.notifications.services import unread_count

        return {"nav_items": items, "nav_unread": lambda: unread_total(user),
                "nav_notifications": lambda: unread_count(user)}
