"""The serving processes' collector settings (app/gc_tuning.py): applied by the gunicorn worker
hook and by every RQ worker built, once per process (a second freeze would keep every cycle
alive at that moment for good)."""
from __future__ import annotations

import gc
import runpy
from pathlib import Path

from app import gc_tuning
from worker import build_worker


def test_a_worker_runs_with_rarer_young_collections_tuned_once(app):
    build_worker(app)
    assert gc.get_threshold() == (gc_tuning.YOUNG_THRESHOLD, *gc_tuning.OLDER_THRESHOLDS)
    frozen = gc.get_freeze_count()
    cycles = []
    for _ in range(100):
        cycle = []
        cycle.append(cycle)
        cycles.append(cycle)
    del cycles
    build_worker(app)
    gc_tuning.tune_for_server()
    assert gc.get_freeze_count() == frozen  # nothing made since was frozen


def test_gunicorn_workers_tune_once_the_app_is_loaded():
    config = runpy.run_path(str(Path(__file__).parents[2] / "gunicorn.conf.py"))
    hook = config["post_worker_init"]
    gc_tuning._tuned_in = None  # as in a freshly forked worker
    hook(worker=None)
    assert gc_tuning._tuned_in is not None
    assert gc.get_threshold()[0] == gc_tuning.YOUNG_THRESHOLD
