"""Threads (direct, group, class, session), members and read state, messages, attachments,
search. Realtime delivery goes through app.realtime."""


def init_app(app) -> None:
    """Chat pages, the thread topics and renderers on the realtime hub, and the receivers that keep
    class and session threads in step with their courses and sessions."""
    from app.chat import realtime, receivers  # noqa: F401  (receivers: connects them)
    from app.chat.views import bp

    realtime.register()
    app.register_blueprint(bp)
