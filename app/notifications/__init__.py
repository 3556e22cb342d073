"""In-app notification center, web push (VAPID), reminders before every occurrence, and the
preferences that decide which channel each event takes."""


def init_app(app) -> None:
    """The notification center, the bell's realtime renderers, the receivers that turn every
    domain event into notifications, and the reminder, push and message-notices sweeps."""
    from app.jobs import declare_cron
    from app.notifications import realtime, receivers  # noqa: F401  (receivers: connects them)
    from app.notifications.tasks import sweep_message_notices, sweep_pushes, sweep_reminders
    from app.notifications.views import bp

    realtime.register()
    app.register_blueprint(bp)
    declare_cron(app, sweep_reminders, queue="high", interval=60)
    declare_cron(app, sweep_pushes, queue="high", interval=60)
    declare_cron(app, sweep_message_notices, queue="high", interval=60)
