"""The bell: its count updates live on the user's topic, and again on every (re)subscribe.

A notification for many people is one event for all of them ("user:*", see notify_each): each
process counts the unread notifications of its connected recipients in one grouped statement
and renders the bell once per distinct count."""
from flask import render_template
from sqlalchemy import func, select

from app.bulk import one_of
from app.extensions import db
from app.notifications import services
from app.notifications.models import Notification
from app.realtime.events import Renderer, register_catch_up, register_renderer


def _bell_html(unread: int) -> str:
    return render_template("notifications/_bell.html", unread=unread, oob=True)


def _prepare_bell(event, viewers, cache) -> None:
    """services.unread_count for every viewer at once."""
    cache["bell"] = dict(db.session.execute(
        select(Notification.user_id, func.count(Notification.id))
        .where(one_of(Notification.user_id, [v.id for v in viewers]),
               Notification.read_at.is_(None),
               Notification.type.not_in(services.NOT_ON_THE_BELL))
        .group_by(Notification.user_id)).all())


def _bell_key(event, viewer, cache) -> int:
    return cache["bell"].get(viewer.id, 0)


def _render_bell(event, viewer, cache):
    return _bell_html(_bell_key(event, viewer, cache))


def catch_up_bell(conn, user, user_id, since) -> None:
    """Notifications that arrived while the socket was away (or before it subscribed)."""
    conn.send(_bell_html(services.unread_count(user)))


def register() -> None:
    bell = Renderer(_render_bell, _bell_key, prepare=_prepare_bell)
    register_renderer("notification.created", bell)
    register_renderer("notification.read", bell)
    register_catch_up("user", catch_up_bell)
