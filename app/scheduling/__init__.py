"""Sessions: scheduling, recurrence and overrides, calendar views, the personal .ics feed."""


def init_app(app) -> None:
    """Session, group-rule and calendar-feed pages (scheduling receives no other domain's events:
    it emits them, app.scheduling.signals)."""
    from app.scheduling.feed_views import bp as feed_bp
    from app.scheduling.group_views import bp as groups_bp
    from app.scheduling.views import bp as scheduling_bp

    app.register_blueprint(scheduling_bp)
    app.register_blueprint(groups_bp)
    app.register_blueprint(feed_bp)
