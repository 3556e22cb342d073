"""Each socket is read by its request's own greenlet or thread (app/realtime/reader.py):
simple-websocket starts nothing beside it, under gevent or threads. Checked in a fresh
interpreter, as a worker starts; what is read and how a close wakes the reader is checked
against a real server in test_keepalive.py and test_compression.py, and by every browser test."""
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
from app.realtime.reader import NoReaderThread, NoWaiting
options = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "REDIS_URL": "redis://127.0.0.1:1/0"}).config["SOCK_SERVER_OPTIONS"]
print(options["thread_class"] is NoReaderThread, options["event_class"] is NoWaiting,
      options["ping_interval"], options["max_message_size"])
"""


def _options_in(kind: str) -> str:
    done = subprocess.run([sys.executable, "-c", CHECK, kind], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_no_reader_is_started_beside_a_socket_under_gevent_or_threads():
    assert _options_in("gevent") == "True True None 65536"
    assert _options_in("threads") == "True True None 65536"
