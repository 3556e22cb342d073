"""Garbage-collector settings for the long-running processes (gunicorn workers, RQ workers).

A web worker holds thousands of websockets, and a fan-out or a push job allocates thousands of
ORM objects at once. With CPython's default thresholds (a young collection every 700 net
allocations, a full one every 100 young ones) those allocations set off collections that walk
every object the process holds: profiling one message to a 2,000-member class in a process
with its 2,000 connections, 150 of its 180 ms of CPU went to the collector (31 ms with it off).
Young collections are made rarer (the cycles they would find are few: most objects are freed
by reference counting) and what exists once the app is loaded (modules, templates, mappers) is
moved out of the collector's sight with gc.freeze(), so the full collections left walk only
what the process made since."""
from __future__ import annotations

import gc
import os

YOUNG_THRESHOLD = 20_000  # allocations between young collections (default 700)
OLDER_THRESHOLDS = (20, 20)  # collections of the generation below before the next (default 10)


_tuned_in: int | None = None  # the process id it was done in (a forked child does it again)


def tune_for_server() -> None:
    """Call once the app is loaded, in the process that serves (after any fork). Once per
    process: what is frozen is never collected, so freezing again and again (a test building
    many workers) would keep every cycle alive at each call."""
    global _tuned_in
    if _tuned_in == os.getpid():
        return
    _tuned_in = os.getpid()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
