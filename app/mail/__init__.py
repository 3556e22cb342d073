"""Email: the outbox (every email Classhub sends is a row, written in the transaction that
caused it), SMTP delivery (or .eml files when no SMTP server is configured), the jobs that send
each row exactly once and the sweep that re-queues what was left behind, and the admin's
outbox pages. Other domains compose their emails and hand the rows to
``app.mail.services.queue_outbox_rows``."""


def init_app(app) -> None:
    """The outbox pages and the outbox sweep."""
    from app.jobs import declare_cron
    from app.mail.tasks import sweep_outbox
    from app.mail.views import bp

    app.register_blueprint(bp)
    declare_cron(app, sweep_outbox, queue="low", interval=300)
