"""`python -m bench` (or `make bench`): run every benchmark and print its figures.
`python -m bench calendar realtime` runs only those."""
from __future__ import annotations

import sys

from bench import calendar, push, realtime, reminders

BENCHMARKS = {"calendar": calendar.main, "realtime": realtime.main, "push": push.main,
              "reminders": reminders.main}


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
