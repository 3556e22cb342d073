"""Attendance (issue 12): per occurrence and person, computed from live's join/leave segments
when the run ends, marked and overridden by teachers (before, during and after the run),
audited; an absence owes a catch-up. The sheet pages and their live rows, the reports (grids,
histories, exports) and the catch-up pages."""


def init_app(app) -> None:
    """The receivers of live's events (blinker calls a signal's receivers in no fixed order:
    computing a run needs only what live wrote before sending ``run_ended``); the sheet, report
    and catch-up pages; the renderers of their live parts; the capability the course lists ask
    for each course (app/attendance/reports.py)."""
    from app.attendance import realtime, report_views, reports, services, sheet_realtime
    from app.attendance.catch_up_views import bp as catch_ups_bp
    from app.attendance.settings_views import bp as settings_bp
    from app.attendance.views import bp as sheet_bp
    from app.live import signals

    app.register_blueprint(sheet_bp)
    app.register_blueprint(report_views.bp)
    app.register_blueprint(catch_ups_bp)
    app.register_blueprint(settings_bp)
    realtime.register()
    sheet_realtime.register()
    app.jinja_env.globals["can_view_course_attendance"] = _course_capability(reports)
    app.jinja_env.globals["report_url"] = report_views.report_url

    app.config.setdefault("ATTENDANCE_CATCH_UP_DAYS", 7)
    signals.session_went_live.connect(services.on_session_went_live)
    signals.run_ended.connect(services.on_run_ended)
    signals.participant_joined.connect(services.on_presence_changed)
    signals.participant_left.connect(services.on_presence_changed)


def _course_capability(reports):
    def can_view_course_attendance(course) -> bool:
        from flask_login import current_user

        return bool(current_user and current_user.is_authenticated
                    and reports.can_view_course(current_user, course))

    return can_view_course_attendance
