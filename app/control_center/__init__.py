"""The Tutor Control Center (issue 13): one tutor and up to five students, each on their own
work, seen at once: plans, work items, help requests, notes, timers and lesson reports."""


def init_app(app) -> None:
    """The tutor page and the student's actions, the ``cc:`` and ``ccplan:`` topics and their
    renderers, and the receivers of other domains' facts (receivers.py)."""
    from app.control_center import realtime, receivers  # noqa: F401  (receivers: connects them)
    from app.control_center.views import bp

    realtime.register()
    app.register_blueprint(bp)
    app.add_template_filter(_seconds_since, "seconds_since")
    app.add_template_filter(_seconds_until, "seconds_until")


def _seconds_since(instant) -> int:
    """Whole seconds from ``instant`` to now (0 if it is in the future): the first value of a
    clock the page then ticks on."""
    from app.db_types import utcnow

    return max(0, int((utcnow() - instant).total_seconds()))


def _seconds_until(instant) -> int:
    from app.db_types import utcnow

    return max(0, int((instant - utcnow()).total_seconds()))
