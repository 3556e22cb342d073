"""Background work for Classhub.

    python worker.py            RQ worker on queues high, default, low, with the scheduler
                                (enqueue_at/enqueue_in); several may run.
    python worker.py --burst    work until the queues are empty, then exit (tests, one-offs)
    python worker.py --cron     RQ's cron scheduler for periodic jobs (reminder sweep);
                                run exactly one per deployment (RQ cron takes no lock; a duplicate
                                tick is harmless anyway: every effect is keyed by a unique row).
    --quiet                     log only warnings and failed jobs (`flask serve` runs both so: the
                                periodic sweeps would print a dozen routine lines a minute)

Jobs run inside the Flask app context, in this process (SimpleWorker: ~1 ms a job instead of a
fork each, see FIELD-NOTES); each job reloads what it needs from the database by id.
"""
from __future__ import annotations

import sys

from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from app import create_app
from app.gc_tuning import tune_for_server
from app.jobs import QUEUE_NAMES, register_cron
from app.redis_conn import get_redis
from app.transactions import CommittingJob


class AppWorker(SimpleWorker):
    """Runs each job in a fresh app context, so every job gets its own DB session, which its
    CommittingJob commits once when the job returns (or rolls back when it raises)."""

    job_class = CommittingJob

    def __init__(self, *args, flask_app, **kwargs):
        super().__init__(*args, **kwargs)
        self.flask_app = flask_app

    def perform_job(self, job, queue, execution):
        with self.flask_app.app_context():
            return super().perform_job(job, queue, execution)


def build_worker(app, name: str | None = None) -> AppWorker:
    tune_for_server()  # a job may load thousands of ORM objects (app/gc_tuning.py)
    connection = get_redis(app)
    queues = [Queue(queue, connection=connection) for queue in QUEUE_NAMES]
    return AppWorker(queues, connection=connection, name=name, flask_app=app)


def build_cron(app, logging_level: str = "INFO") -> CronScheduler:
    scheduler = CronScheduler(connection=get_redis(app), logging_level=logging_level)
    register_cron(scheduler, app)
    return scheduler


def main(argv: list[str]) -> int:
    app = create_app()
    quiet = "--quiet" in argv
    logging_level = "WARNING" if quiet else "INFO"
    if "--cron" in argv:
        scheduler = build_cron(app, logging_level)
        if quiet:  # RQ's own start-up lines are INFO: say once that it runs
            print(f"Cron scheduler: {len(scheduler.get_jobs())} periodic jobs", flush=True)
        scheduler.start()
        return 0
    worker = build_worker(app)
    if quiet:
        print(f"RQ worker: listening on {', '.join(QUEUE_NAMES)}", flush=True)
    worker.work(burst="--burst" in argv, with_scheduler=True, logging_level=logging_level)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
