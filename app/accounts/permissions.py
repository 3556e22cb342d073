"""Role checks for views. Per-resource rules (can_view_thread, ...) live in each domain."""
from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from app.accounts.models import Role


def roles_required(*roles: Role):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


admin_required = roles_required(Role.ADMIN)
teacher_required = roles_required(Role.TEACHER)
staff_required = roles_required(Role.ADMIN, Role.TEACHER)


@dataclass(frozen=True)
class PersonCapabilities:
    """What ``viewer`` may do to ``person``'s account from the admin pages."""

    can_edit: bool  # name and email
    # An admin never changes their own role nor deactivates themselves: that would lock a
    # center out of its admin pages by mistake (the services refuse it with a message too).
    can_change_role: bool
    can_set_active: bool


def person_capabilities(viewer, person) -> PersonCapabilities:
    """No query: both people are loaded. Another center's person, or a viewer who is not an
    active admin: all false."""
    admin = (viewer.is_active and viewer.role == Role.ADMIN
             and person.center_id == viewer.center_id)
    return PersonCapabilities(can_edit=admin, can_change_role=admin and person.id != viewer.id,
                              can_set_active=admin and person.id != viewer.id)
