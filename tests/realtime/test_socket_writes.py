"""How the hub writes to a socket (Connection._write_queued): from the caller, without waiting,
as long as the socket takes the frames at once; the rest by a sender of its own. Run under
gevent in a process of its own (tests/realtime/gevent_writes.py), as gunicorn's gevent worker
runs it, over real socket pairs whose send buffer is small."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def seen() -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.realtime.gevent_writes"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def test_frames_to_a_reader_that_keeps_up_are_written_by_the_caller(seen):
    # Every frame and ping arrived whole and in order, and no sender greenlet was started
    # (one a write cost 15 us of 21).
    assert seen["quick"] == {"messages": True, "pings": 20, "senders": 0}


def test_a_reader_that_falls_behind_gets_the_rest_from_a_sender_whole_and_in_order(seen):
    slow = seen["slow"]
    # The socket took part of a frame written at the end of a batch: its end waited first.
    assert slow["rest_after_batch"] == "_Rest"
    assert slow["waiting"] > 1  # later frames queued behind it...
    assert slow["senders"] == 1  # ...for one sender, started once
    assert not slow["closed"]
    assert slow["whole_in_order"]
    assert slow["messages"] < 60  # what had queued went out joined


def test_a_close_while_a_frame_is_half_written_ends_the_frame_first(seen):
    closing = seen["closing"]
    # Whatever arrived is whole and in order (the half-written frame was finished, the queued
    # ones dropped), and the close frame follows, readable.
    assert closing["prefix"] and closing["messages"] >= 1
    assert closing["others"] == [["close", 1012, "server restarting"]]


def test_a_write_to_a_peer_that_is_gone_closes_the_connection(seen):
    assert seen["gone"] == {"closed": True, "queued": 0}


def test_one_message_framed_once_still_reaches_each_socket_as_it_negotiated(seen):
    # A frame's bytes are shared by sockets that frame alike (compression.framed_text): ten
    # messages to five sockets were framed ten times, not fifty; a socket that negotiated
    # deflate and one that did not each read every message.
    assert seen["framings"] == {"plain": True, "shared": True, "framed_by_wsproto": 10,
                                "compressed": True, "compressed_on_the_wire": True}
