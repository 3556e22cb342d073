"""Attendance (issue 12): per run and person, computed from live's join/leave segments when the
run ends, overridden by teachers, audited; an absence owes a catch-up."""


def init_app(app) -> None:
    """The catch-up pages, and the receiver of live's ``run_ended`` (connected after live's
    own, so the run is already marked over when attendance is computed)."""
    from app.attendance import realtime, services
    from app.attendance.catch_up_views import bp as catch_ups_bp
    from app.live import signals

    app.register_blueprint(catch_ups_bp)
    realtime.register()

    app.config.setdefault("ATTENDANCE_CATCH_UP_DAYS", 7)
    signals.session_went_live.connect(services.on_session_went_live)
    signals.run_ended.connect(services.on_run_ended)
