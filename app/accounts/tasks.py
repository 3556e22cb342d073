"""RQ jobs of the accounts domain."""
from __future__ import annotations

import logging

from flask import current_app

from app.accounts import imports, services
from app.accounts.models import Role, User
from app.extensions import db

log = logging.getLogger(__name__)


def run_csv_import(import_id: str) -> None:
    """Run an uploaded people import (``imports.start_import``), reporting progress as it goes.
    The admin who started it must still be an active admin of the same center."""
    found = imports.owner(import_id)
    if found is None:
        return  # expired before a worker got to it: nothing to do
    actor_id, center_id, state = found
    if state in ("done", "failed"):
        return  # already run (a duplicated job)
    actor = db.session.get(User, actor_id)
    if actor is None or not actor.is_active or actor.role != Role.ADMIN \
            or actor.center_id != center_id:
        imports.finish(import_id, error="Only an active admin of this center can import people.")
        return
    data = imports.take_file(import_id)
    if data is None:
        imports.finish(import_id, error="The uploaded file is no longer kept: upload it again.")
        return
    try:
        report = services.import_users_csv(
            actor, data, max_rows=current_app.config["CSV_IMPORT_MAX_ROWS"],
            progress=lambda phase, done, total: imports.set_progress(import_id, phase, done,
                                                                     total))
    except Exception:
        db.session.rollback()
        log.exception("CSV import %s failed", import_id)
        imports.finish(import_id, error="The import failed and nothing was created. Try again; "
                                        "if it fails again, see Jobs.")
        raise
    imports.finish(import_id, report)
