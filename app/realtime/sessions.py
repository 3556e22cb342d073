"""Sockets end with the login session they were opened in, and are rendered for the person as
they are now.

Whatever invalidates a user's sessions (a password change, a deactivation, a logout that
revokes) does so by changing ``User.session_version`` or ``is_active`` (see
accounts.load_user_for_session). Watching those two attributes here, rather than calling the hub
from each of those services, covers every path that changes them, present and future: once the
change commits, an event on the user's topic makes every process check that user's sockets
against their session (hub.dispatch) and close those that no longer stand. The same check runs
on every subscribe and delivery, so a lost event only delays the close until the next one.
"""
from __future__ import annotations

from sqlalchemy import event, inspect

from app.accounts.models import Center, User
from app.realtime.events import Renderer, publish, register_renderer
from app.realtime.hub import SESSION_REVOKED  # the hub stops trusting what it confirmed
from app.realtime.hub import VIEWER_CHANGED  # the hub forgets the viewer it kept


def _announce(name: str, prefix: str):
    """An attribute listener publishing ``name`` on ``<prefix>:<id>`` once a persistent row's
    value really changes (published after the commit, like every event)."""
    def changed(target, value, oldvalue, initiator) -> None:
        if target.id is None or not inspect(target).persistent or value == oldvalue:
            return
        publish(f"{prefix}:{target.id}", name)
    return changed


for _attribute in (User.session_version, User.is_active_flag):
    event.listen(_attribute, "set", _announce(SESSION_REVOKED, "user"))
# Nothing is sent to sockets whose session still stands (the hub closes the others first).
register_renderer(SESSION_REVOKED, Renderer(lambda event, viewer, cache: None))


# What a Viewer holds (hub.Viewer: name, role, time zone, the center's time zone) is kept across
# events, and the hottest events (a new message, the members' badges and lists) trust it
# without reading it again: every change to it is announced, by the same attribute events, so
# no path that changes it (the profile, an admin's edit, an import, a future one) is missed.
for _attribute in (User.name, User.timezone, User.role):
    event.listen(_attribute, "set", _announce(VIEWER_CHANGED, "user"))
event.listen(Center.timezone, "set", _announce(VIEWER_CHANGED, "center"))
# Delivered to nobody (hub.forget_confirmed has already acted on it): no statement, no frame.
register_renderer(VIEWER_CHANGED, Renderer(lambda event, viewer, cache: None,
                                           only_for=lambda event, conn: False))
