"""Role checks for views. Per-resource rules (can_view_thread, ...) live in each domain."""
from __future__ import annotations

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
