"""CSV imports as background jobs with progress.

The upload is kept in Redis, an RQ job runs ``services.import_users_csv`` (one transaction) and
writes its progress and then its report next to it; the import page polls. The state is not
domain data: it lives for a day, for the admin to come back to the report, and the database
keeps the people and the audit entry. Reports hold no passwords (imports make none).
"""
from __future__ import annotations

import json
import secrets

from flask import current_app
from rq import Callback

from app.redis_conn import get_redis

TTL_SECONDS = 24 * 3600
KEY = "csv-import:{}"
FILE_KEY = "csv-import:{}:file"


class ImportUnavailable(Exception):
    """The job queue could not be reached: the import did not start."""


def _redis():
    return get_redis(current_app)


def start_import(actor, data: bytes) -> str:
    """Keep the file and queue the job; returns the import's id (random: it is in a URL)."""
    from app.accounts.tasks import run_csv_import
    from app.jobs import get_queue, record_failure

    import_id = secrets.token_urlsafe(12)
    try:
        pipe = _redis().pipeline()
        pipe.hset(KEY.format(import_id), mapping={
            "center_id": actor.center_id, "actor_id": actor.id, "state": "queued",
            "phase": "", "done": 0, "total": 0})
        pipe.expire(KEY.format(import_id), TTL_SECONDS)
        pipe.set(FILE_KEY.format(import_id), data, ex=TTL_SECONDS)
        pipe.execute()
        # No retry: a second run would find every person created by the first and report them
        # as duplicates. A failure is recorded for the admin (Jobs) and shown on the page.
        get_queue("default").enqueue(run_csv_import, import_id, job_timeout=900,
                                     on_failure=Callback(record_failure),
                                     meta={"center_id": actor.center_id},
                                     description=f"accounts.run_csv_import({import_id!r})")
    except Exception as exc:  # redis.ConnectionError and friends
        raise ImportUnavailable(str(exc)) from exc
    return import_id


def import_state(import_id: str, center_id: int) -> dict | None:
    """The import's state for a viewer of ``center_id``; None if unknown or another center's
    (the same answer, so ids of other centers' imports cannot be probed)."""
    if not import_id or len(import_id) > 40:
        return None
    raw = _redis().hgetall(KEY.format(import_id))
    if not raw:
        return None
    state = {k.decode(): v.decode() for k, v in raw.items()}
    if state.get("center_id") != str(center_id):
        return None
    state["done"], state["total"] = int(state.get("done") or 0), int(state.get("total") or 0)
    if state.get("report"):
        from app.accounts.services import ImportReport

        state["report"] = ImportReport.from_dict(json.loads(state["report"]))
    return state


def owner(import_id: str) -> tuple[int, int, str] | None:
    """(admin id, center id, state) of an import, for the job; None once it has expired."""
    raw = _redis().hmget(KEY.format(import_id), "actor_id", "center_id", "state")
    if raw[0] is None:
        return None
    return int(raw[0]), int(raw[1]), raw[2].decode()


def take_file(import_id: str) -> bytes | None:
    return _redis().get(FILE_KEY.format(import_id))


def set_progress(import_id: str, phase: str, done: int, total: int) -> None:
    _redis().hset(KEY.format(import_id), mapping={"state": "running", "phase": phase,
                                                  "done": done, "total": total})


def finish(import_id: str, report=None, error: str | None = None) -> None:
    pipe = _redis().pipeline()
    mapping = {"state": "failed" if error else "done"}
    if report is not None:
        mapping["report"] = json.dumps(report.to_dict())
    if error:
        mapping["error"] = error
    pipe.hset(KEY.format(import_id), mapping=mapping)
    pipe.delete(FILE_KEY.format(import_id))
    pipe.execute()
