"""`make run`'s `flask serve`: Ctrl-C (pressed twice, as people do) stops the web server, the
worker and the cron scheduler cleanly: exit status 0, no traceback from any of them. The worker
and the scheduler run quiet there (warnings and failed jobs only), each saying once that it
started."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from tests.live import ROOT, free_port


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "flask serve exited early"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"flask serve did not answer within {timeout}s")


def test_ctrl_c_stops_everything_without_a_traceback(app, database_url, redis_url, test_dirs):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, PORT=str(port),
               WEB_CONCURRENCY="1", SECRET_KEY="serve-test", FLASK_APP="wsgi",
               PYTHONUNBUFFERED="1")
    log = open(test_dirs / "serve.log", "w+b")
    # Its own session, like a terminal's foreground job: Ctrl-C signals this process group.
    process = subprocess.Popen([sys.executable, "-m", "flask", "serve"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/login", process)
        # The worker and the cron scheduler are up too before the interrupt.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            log.seek(0)
            text = log.read().decode(errors="replace")
            if "Cron scheduler: " in text and "RQ worker: listening on " in text:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"the worker or the cron scheduler did not start: {text[-3000:]}")
        os.killpg(process.pid, signal.SIGINT)
        time.sleep(0.3)
        os.killpg(process.pid, signal.SIGINT)
        status = process.wait(timeout=40)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log.seek(0)
    output = log.read().decode(errors="replace")
    log.close()
    assert status == 0, output[-4000:]
    assert "Traceback" not in output and "Aborted!" not in output, output[-4000:]
    assert "Shutting down: Master" in output
    # Nothing is left listening.
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2)
        still_up = True
    except OSError:
        still_up = False
    assert not still_up


def test_a_quiet_worker_logs_a_failed_job_and_not_a_routine_one(app, database_url, redis_url):
    from rq import Queue

    from app.redis_conn import get_redis

    queue = Queue("low", connection=get_redis(app))
    queue.enqueue("builtins.len", [1, 2, 3])
    failing = queue.enqueue("builtins.int", "not a number")
    env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url,
               SECRET_KEY="serve-test", PYTHONUNBUFFERED="1")
    finished = subprocess.run([sys.executable, "worker.py", "--burst", "--quiet"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    assert output.startswith("RQ worker: listening on high, default, low"), output
    assert f"job {failing.id}: exception raised" in output, output
    assert "ValueError: invalid literal for int()" in output, output
    assert "builtins.len" not in output and "Job OK" not in output, output


def test_a_port_already_taken_is_said_before_anything_starts(database_url, redis_url):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, PORT=str(port),
                   SECRET_KEY="serve-test", FLASK_APP="wsgi")
        finished = subprocess.run([sys.executable, "-m", "flask", "serve"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port} (Address already in use)" in finished.stderr
    assert "PORT=5001 make run" in finished.stderr
    assert "Classhub is running" not in finished.stdout, finished.stdout
