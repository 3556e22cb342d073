"""My Day (issue 13): a tutor's landing page. Today's occurrences with their Start/Join, who is
expected, attendance still to confirm from earlier today, their students' overdue catch-ups and
their unread chats, each section refreshed live over the ``myday:<user id>`` topic."""


def init_app(app) -> None:
    """The page, its topic and the receivers of the facts that change a section (live's runs,
    chat's messages and reads, attendance's statuses and catch-ups)."""
    from app.my_day import realtime, receivers
    from app.my_day.views import bp

    app.register_blueprint(bp)
    realtime.register()
    receivers.connect()
