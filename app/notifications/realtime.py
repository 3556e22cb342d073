"""The bell: its count updates live on the user's topic, and again on every (re)subscribe."""
from flask import render_template

from app.notifications import services
from app.realtime.events import Renderer, register_catch_up, register_renderer


def _render_bell(event, viewer, cache):
    return render_template("notifications/_bell.html", unread=services.unread_count(viewer),
                           oob=True)


def catch_up_bell(conn, user, user_id, since) -> None:
    """Notifications that arrived while the socket was away (or before it subscribed)."""
    conn.send(_render_bell(None, user, {}))


def register() -> None:
    register_renderer("notification.created", Renderer(_render_bell))
    register_renderer("notification.read", Renderer(_render_bell))
    register_catch_up("user", catch_up_bell)
