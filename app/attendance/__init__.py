"""Attendance (issue 12): per run and person, computed from live's join/leave segments when the
run ends, overridden by teachers, audited; an absence owes a catch-up."""


def init_app(app) -> None:
    """The receiver of live's ``run_ended`` (connected after live's own, so the run is already
    marked over when attendance is computed); the reports' pages and the catch-up pages; the
    capability the course lists ask for each course (app/attendance/reports.py)."""
    from app.attendance import realtime, report_views, reports, services
    from app.attendance.catch_up_views import bp as catch_ups_bp
    from app.live import signals

    app.register_blueprint(report_views.bp)
    app.register_blueprint(catch_ups_bp)
    realtime.register()
    app.jinja_env.globals["can_view_course_attendance"] = _course_capability(reports)
    app.jinja_env.globals["report_url"] = report_views.report_url

    app.config.setdefault("ATTENDANCE_CATCH_UP_DAYS", 7)
    signals.session_went_live.connect(services.on_session_went_live)
    signals.run_ended.connect(services.on_run_ended)


def _course_capability(reports):
    def can_view_course_attendance(course) -> bool:
        from flask_login import current_user

        return bool(current_user and current_user.is_authenticated
                    and reports.can_view_course(current_user, course))

    return can_view_course_attendance
