"""`python -m bench` (or `make bench`): run every benchmark, print its figures, then the summary
table (Classhub | peer | ratio). `python -m bench realtime push` runs only those.

DATABASE_URL set: every bench runs on a throwaway PostgreSQL database created on that server
(and dropped after); unset: SQLite and an embedded Redis. BENCH_SCALE=small: every bench at a
tenth of its size or less, for developing the benches (the figures then mean little).
"""
from __future__ import annotations

import signal
import sys
import time

from bench import (attendance, calendar, control_center, live, my_day, push, realtime, reminders,
                   writes)
from bench.common import database_kind, format_table, load_average, scale

BENCHMARKS = {"calendar": calendar.main, "writes": writes.main, "reminders": reminders.main,
              "push": push.main, "realtime": realtime.main,
              "live": live.main, "attendance": attendance.main, "my_day": my_day.main,
              "control_center": control_center.main}
# The summary follows issue 10's table: realtime, push, reminders, statements.
SUMMARY_ORDER = ("realtime", "push", "reminders", "writes", "live", "attendance", "my_day",
                 "control_center")


def _interrupted(signum, frame):
    raise KeyboardInterrupt  # run every bench's clean-up (servers, databases, files)


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    sys.stdout.reconfigure(line_buffering=True)
    load_before = load_average()
    started = time.perf_counter()
    rows = {}
    try:
        for name in chosen:
            # Again before each: an RQ worker (push) installs its own SIGTERM handler.
            signal.signal(signal.SIGTERM, _interrupted)
            print(f"\n=== {name} ===", flush=True)
            rows[name] = BENCHMARKS[name]() or []
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    summary = [row for name in SUMMARY_ORDER for row in rows.get(name, [])]
    if summary:
        print(f"\n=== summary: {database_kind()}, scale {scale().name}, one gevent worker / one "
              f"RQ worker; ratio = Classhub ÷ peer ===")
        print(format_table(summary))
        print(f"load average before: {load_before}; after: {load_average()}; "
              f"{time.perf_counter() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
