"""The bell: its count updates live on the user's topic."""
from flask import render_template

from app.notifications import services
from app.realtime.events import Renderer, register_renderer


def _render_bell(event, viewer, cache):
    return render_template("notifications/_bell.html", unread=services.unread_count(viewer),
                           oob=True)


def register() -> None:
    register_renderer("notification.created", Renderer(_render_bell))
    register_renderer("notification.read", Renderer(_render_bell))
