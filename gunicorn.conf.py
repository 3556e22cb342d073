# gunicorn settings for Classhub. gevent workers hold thousands of idle websockets each
# (flask-sock); see FIELD-NOTES and the README's scaling section.
import os

worker_class = "gevent"
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "5000"))
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
graceful_timeout = 10
timeout = 60
accesslog = os.environ.get("ACCESS_LOG", "-") or None  # ACCESS_LOG="" turns it off
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 27's control socket lives at one fixed path per user: several servers on one machine
# (tests start their own) would fight over it, and Classhub does not use it.
control_socket_disable = True


def post_worker_init(worker):
    # The app is loaded in the worker by now (no preload): see app/gc_tuning.py.
    from app.gc_tuning import tune_for_server

    tune_for_server()


def worker_exit(server, worker):
    # Websockets are served by greenlets of their own, not gunicorn's request greenlets (see
    # app/realtime/reader.py, take_over): gunicorn does not wait for them, so close them here,
    # with "service restart" (the pages reconnect at once), and let each clean up after itself.
    from app.realtime.hub import hub

    left = hub.close_all_and_wait(timeout=graceful_timeout / 2)
    if left:
        worker.log.warning("%d websockets had not cleaned up when the worker exited", left)
