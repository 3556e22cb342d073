"""Tenant scoping: the one place tenant-owned rows are selected by the current user's center.

Views never filter by center_id by hand; they call ``scoped`` or ``get_scoped_or_404``. An id
that exists in another center is indistinguishable from one that does not exist (404).
"""
from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db


def current_center_id() -> int:
    if not current_user.is_authenticated:
        abort(401)
    return current_user.center_id


def scoped(model, *criteria, center_id: int | None = None):
    """``select(model)`` limited to one center (default: the current user's)."""
    cid = current_center_id() if center_id is None else center_id
    return select(model).where(model.center_id == cid, *criteria)


# Ids are INTEGER columns (int4 on PostgreSQL): a larger number cannot name a row, and sending
# it to the database fails (out of range) instead of matching nothing.
MAX_ID = 2**31 - 1


def parse_id(value) -> int | None:
    """An id from a URL or form field, or None when it cannot be one (junk, <= 0, too large)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


def get_scoped_or_404(model, object_id, *options, center_id: int | None = None):
    object_id = parse_id(object_id)
    if object_id is None:
        abort(404)
    stmt = scoped(model, model.id == object_id, center_id=center_id)
    if options:
        stmt = stmt.options(*options)
    obj = db.session.scalar(stmt)
    if obj is None:
        abort(404)
    return obj
