"""The ``myday:<user id>`` topic: only a page showing My Day follows it (as only a page showing
the thread list follows ``threads:<id>``), so the events that change a section cost nothing to
anyone elsewhere. An event names the sections that changed; the page fetches them from
GET /my-day/sections (the same partials as the page), so the hub renders no section itself."""
from __future__ import annotations

from flask import render_template

from app.my_day import services
from app.realtime.events import Renderer, publish_to_users, register_renderer, register_topic

CHANGED = "myday.changed"


def announce(user_ids, *sections: str) -> None:
    """After commit: the pages showing My Day of ``user_ids`` refresh ``sections``."""
    assert all(name in services.SECTIONS for name in sections), sections
    publish_to_users("myday", user_ids, CHANGED, sections=sorted(set(sections)))


def _may_follow(user, user_id: int) -> bool:
    return user.id == user_id and services.can_use_my_day(user)


def _render_changed(event, viewer, cache):
    return render_template("my_day/_stale.html", sections=event.data.get("sections") or ())


def register() -> None:
    register_topic("myday", _may_follow)
    # The same few bytes for everyone the event reaches: no statement, one render.
    register_renderer(CHANGED, Renderer(_render_changed,
                                        lambda event, viewer, cache: "all"))
