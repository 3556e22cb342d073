"""Attendance (issue 12): per occurrence and person, computed from live's join/leave segments
when the run ends, marked and overridden by teachers (before, during and after the run),
audited; an absence owes a catch-up. The sheet pages and their live rows."""


def init_app(app) -> None:
    """The receivers of live's events (blinker calls a signal's receivers in no fixed order:
    computing a run needs only what live wrote before sending ``run_ended``), the sheet pages,
    and the renderer of their live rows on the room's topic."""
    from app.attendance import realtime, services
    from app.attendance.views import bp
    from app.live import signals

    app.config.setdefault("ATTENDANCE_CATCH_UP_DAYS", 7)
    signals.session_went_live.connect(services.on_session_went_live)
    signals.run_ended.connect(services.on_run_ended)
    signals.participant_joined.connect(services.on_presence_changed)
    signals.participant_left.connect(services.on_presence_changed)
    realtime.register()
    app.register_blueprint(bp)
