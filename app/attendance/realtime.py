"""A student's dashboard card follows their catch-ups live (over ``user:<id>``): one made when
they are marked absent, one gone when the absence is taken back, one done in another tab. One
event for everyone concerned, published after the commit that changed them; each process
reads the open catch-ups of all the viewers it delivers to in one statement."""
from __future__ import annotations

from flask import render_template

from app.attendance import catch_ups
from app.db_types import utcnow
from app.realtime.events import Renderer, publish_to_users, register_renderer

CATCH_UPS_CHANGED = "attendance.catch-ups-changed"


def announce(user_ids) -> None:
    """Staged: goes out only if the transaction commits (app/realtime/events.py)."""
    if user_ids:
        publish_to_users("user", set(user_ids), CATCH_UPS_CHANGED)


def _prepare(event, viewers, cache) -> None:
    cache["open"] = catch_ups.open_catch_ups_by_student({v.id for v in viewers})
    cache["now"] = utcnow()


def _render(event, viewer, cache):
    rows, total = cache["open"].get(viewer.id, ([], 0))
    return render_template("attendance/_catch_up_card_update.html", open_catch_ups=rows,
                           open_catch_up_total=total, now_utc=cache["now"], zone=viewer.tz)


def on_catch_ups_changed(sender, *, student_ids, **_) -> None:
    """Their dashboards show the card as it now is (after commit; a done catch-up that stayed
    renders as it was)."""
    announce(student_ids)


def register() -> None:
    from app.attendance import signals

    register_renderer(CATCH_UPS_CHANGED, Renderer(_render, prepare=_prepare))
    signals.catch_ups_changed.connect(on_catch_ups_changed)
