"""Domains register themselves (init_app): the app factory and the job module know no domain's
pages, receivers or jobs, and the worker's cron gets every job a domain declared."""
import inspect

import app as app_package
from app import jobs
from app.invites.invitations import expire_invitations
from app.live.tasks import sweep_live_runs, sweep_session_runs
from app.mail.tasks import sweep_outbox
from app.notifications.tasks import sweep_message_notices, sweep_pushes, sweep_reminders


class Recorder:
    def __init__(self):
        self.registered = []

    def register(self, func, **options):
        self.registered.append((func, options["queue_name"], options["interval"]))


def test_cron_gets_the_jobs_the_domains_declared(app):
    recorder = Recorder()
    jobs.register_cron(recorder, app)
    assert sorted(recorder.registered, key=lambda r: r[0].__qualname__) == sorted(
        [(sweep_reminders, "high", 60), (sweep_pushes, "high", 60),
         (sweep_message_notices, "high", 60),
         (sweep_outbox, "low", 300), (expire_invitations, "low", 300),
         (sweep_live_runs, "default", 30), (sweep_session_runs, "default", 60)],
        key=lambda r: r[0].__qualname__)


def test_the_factory_and_jobs_name_no_domain_module():
    assert all(callable(domain.init_app) for domain in app_package.DOMAINS)
    factory = inspect.getsource(app_package.create_app)
    for domain in app_package.DOMAINS:
        assert f"{domain.__name__}." not in factory  # no views, receivers or realtime by name
        assert f"{domain.__name__}." not in inspect.getsource(jobs.register_cron)
