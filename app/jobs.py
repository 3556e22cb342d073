"""RQ queues, enqueue-after-commit, failure records and the periodic (cron) schedule.

Jobs take ids, reload from the database and are safe to run twice (exactly-once effects are
guarded by unique DB rows, not by job ids: see FIELD-NOTES on RQ)."""
from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app
from rq import Callback, Queue, Retry
from rq.job import Job

from app.after_commit import redis_after_commit
from app.extensions import db
from app.redis_conn import get_redis, web_redis

log = logging.getLogger(__name__)

QUEUE_NAMES = ("high", "default", "low")
DEFAULT_RETRY = Retry(max=4, interval=[10, 60, 300, 900])


def get_queue(name: str = "default", app=None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis(app or current_app))


def _web_queue(name: str, app) -> Queue:
    """Queues for enqueueing from web requests, kept per process: RQ asks a new Queue for the
    server's version (a round trip) before its first enqueue."""
    queues = app.extensions.setdefault("classhub_web_queues", {})
    if name not in queues:
        queues[name] = Queue(name, connection=web_redis(app))
    return queues[name]


def enqueue_after_commit(func, *args, queue: str = "default", at: datetime | None = None,
                         center_id: int | None = None, retry: Retry | None = DEFAULT_RETRY,
                         **job_options) -> None:
    """Queue ``func(*args)`` when the current DB transaction commits; nothing if it rolls back.
    ``at``: run then (the worker's scheduler moves it to the queue). The job goes out in the
    commit's one Redis pipeline; if Redis is down then, the job's durable row (its reason to
    exist in the database) is what its sweep queues again."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    app = current_app._get_current_object()
    options = dict(job_options, retry=retry, on_failure=Callback(record_failure),
                   meta={"center_id": center_id}, description=_describe(func, args))

    def enqueue(pipeline):
        target = _web_queue(queue, app)
        if at is not None:
            target.enqueue_at(at, func, *args, pipeline=pipeline, **options)
        else:
            target.enqueue(func, *args, pipeline=pipeline, **options)

    redis_after_commit(db.session(), app, enqueue)


def without_a_waiting_job(items: list, job_id) -> list:
    """The ``items`` whose job (``job_id(item)``) is not waiting in Redis (queued, scheduled,
    started or deferred): what a sweep queues again; a job still waiting (a backlog) is left
    alone. Two round trips for all of them, three with a started one among them.

    A job whose status says queued but that is in no queue is not waiting: a worker took it off
    its queue (the blocking pop hands it over at once) and died before it marked it started,
    e.g. killed while it waited. Nothing would ever run it; trusting its status kept its
    message owing forever.

    Nor is a job whose status says started while its worker is gone: its execution in the
    started registry has expired (RQ scores it the job's timeout plus a minute ahead, and a
    living worker's heartbeat keeps it ahead). RQ itself notices that only at a worker's
    maintenance, every ten minutes; the sweep, every minute, takes it up sooner, and drops the
    expired execution so that the maintenance cannot later take the job's next run for it."""
    from rq.job import JobStatus

    redis = get_redis()
    jobs = Job.fetch_many([job_id(item) for item in items], connection=redis)
    waiting = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}
    queued = [job for job in jobs
              if job is not None and job.get_status(refresh=False) == JobStatus.QUEUED]
    started = [job for job in jobs
               if job is not None and job.get_status(refresh=False) == JobStatus.STARTED]
    in_a_queue = set()
    if queued:
        pipeline = redis.pipeline(transaction=False)
        for job in queued:
            pipeline.lpos(Queue(job.origin, connection=redis).key, job.id)
        in_a_queue = {job.id for job, position in zip(queued, pipeline.execute())
                      if position is not None}
    abandoned = _abandoned(redis, started) if started else set()
    return [item for item, job in zip(items, jobs)
            if job is None or job.get_status(refresh=False) not in waiting
            or (job.get_status(refresh=False) == JobStatus.QUEUED and job.id not in in_a_queue)
            or job.id in abandoned]


def _abandoned(redis, started: list[Job]) -> set[str]:
    """The ids of the ``started`` jobs with no unexpired execution left in their queue's started
    registry (their worker died); their expired executions are removed from it."""
    from rq.registry import StartedJobRegistry
    from rq.utils import current_timestamp

    registries = {job.origin: StartedJobRegistry(job.origin, connection=redis) for job in started}
    names = list(registries)
    pipeline = redis.pipeline(transaction=False)
    for name in names:
        pipeline.zrange(registries[name].key, 0, -1, withscores=True)
    now = current_timestamp()
    executions = dict(zip(names, pipeline.execute()))
    abandoned = set()
    for job in started:
        mine = [(entry, score) for entry, score in executions[job.origin]
                if StartedJobRegistry.parse_job_id(entry) == job.id]
        if all(score <= now for _, score in mine):
            abandoned.add(job.id)
            if mine:
                redis.zrem(registries[job.origin].key, *(entry for entry, _ in mine))
    return abandoned


def _describe(func, args) -> str:
    return f"{func.__module__.rsplit('.', 2)[-2]}.{func.__name__}({', '.join(map(repr, args))})"[:300]


def record_failure(job: Job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: a job that failed for good gets a row admins can see and retry.
    (RQ calls this on every failure; one with retries left is not final.)"""
    if job.retries_left:
        return
    from app.notifications.models import JobFailure

    try:
        db.session.rollback()
        db.session.add(JobFailure(center_id=(job.meta or {}).get("center_id"), job_id=job.id,
                                  func_name=job.func_name, description=job.description or "",
                                  error=f"{exc_type.__name__}: {exc_value}"[:4000]))
        # The job runner's own edge: the job's work was rolled back (CommittingJob); this row,
        # written after it, is committed on its own.
        db.session.commit()
    except Exception:  # never let bookkeeping hide the job's own failure
        log.exception("could not record the failure of job %s", job.id)
        db.session.rollback()


def retry_failed_job(failure, app=None) -> bool:
    """Put a failed job back on its queue (the admin's "Retry")."""
    from app.db_types import utcnow

    connection = get_redis(app or current_app)
    try:
        job = Job.fetch(failure.job_id, connection=connection)
    except Exception:
        return False
    job.requeue()
    failure.retried_at = utcnow()  # committed by the request's edge
    return True


def declare_cron(app, func, *, queue: str, interval: int) -> None:
    """A domain's periodic job (declared by its ``init_app``): ``func`` on ``queue`` every
    ``interval`` seconds, once `python worker.py --cron` runs."""
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}")
    app.extensions.setdefault("classhub_cron", []).append((func, queue, interval))


def register_cron(scheduler, app=None) -> None:
    """The periodic work the domains declared, run by `python worker.py --cron` (one cron
    scheduler per deployment; a duplicate tick is harmless, every effect is keyed by a unique
    row)."""
    for func, queue, interval in (app or current_app).extensions.get("classhub_cron", ()):
        scheduler.register(func, queue_name=queue, interval=interval)
