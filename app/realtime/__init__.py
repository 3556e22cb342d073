"""Realtime delivery: the /ws endpoint, topic authorization, and the Redis pub/sub hub.

Flow (DESIGN, "Realtime"): a service commits, then ``publish(topic, event, **ids)`` puts a small
event on one Redis channel; the hub in every web process receives it and hands it to the
connections subscribed to that topic; each connection renders the event for its viewer with the
same partial the HTTP views use and sends the HTML, which the htmx ws extension swaps by id.
Events carry ids only: the DB is the source of truth, and a reconnecting client asks the DB for
what it missed.
"""


def init_app(app) -> None:
    """The /ws endpoint (topics and renderers are registered by the domains that own them)."""
    from app.realtime.compression import use_for_websockets
    from app.realtime.reader import server_options
    from app.realtime.views import bp

    use_for_websockets()
    app.config["SOCK_SERVER_OPTIONS"] = server_options(app.config["SOCK_SERVER_OPTIONS"])
    app.register_blueprint(bp)
