"""Under gevent (gunicorn's workers patch threading before loading the app) each socket's
reader is a bare greenlet with gevent's Event (app/realtime/greenlets.py); elsewhere
simple-websocket keeps its threads. Checked in a fresh interpreter, as a worker starts."""
from __future__ import annotations

import subprocess
import sys

from tests.live import ROOT

CHECK = """
import sys
if sys.argv[1] == "gevent":
    from gevent import monkey
    monkey.patch_all()
from app import create_app
from app.realtime.greenlets import ReaderGreenlet
options = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "REDIS_URL": "redis://127.0.0.1:1/0"}).config["SOCK_SERVER_OPTIONS"]
event = options.get("event_class")
print(options.get("thread_class") is ReaderGreenlet, event and event.__module__.split(".")[0],
      options["ping_interval"], options["max_message_size"])
"""


def _options_in(kind: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHECK, kind], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_readers_are_greenlets_under_gevent_and_threads_elsewhere():
    assert _options_in("gevent") == "True gevent None 65536"
    assert _options_in("threads") == "False None None 65536"
