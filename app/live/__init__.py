"""Live calls: rooms, runs and their participants, the call engines (mesh built in, Janus),
signalling over /ws, moderation. Realtime delivery goes through app.realtime."""


def init_app(app) -> None:
    """The room pages, the ``room:`` topic and its renderers, the receivers in other domains'
    terms (the CALL message, the ringing), and the sweep that closes segments whose page went
    away and ends runs left empty."""
    from app.jobs import declare_cron
    from app.live import realtime, session_runs, session_views, signals, tasks  # noqa: F401
    from app.live.views import bp

    realtime.register()
    session_views.register_realtime()
    signals.run_ended.connect(session_runs.on_run_ended)
    app.register_blueprint(bp)
    declare_cron(app, tasks.sweep_live_runs, queue="default", interval=30)
    declare_cron(app, tasks.sweep_session_runs, queue="default", interval=60)
