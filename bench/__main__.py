"""`python -m bench`: run every benchmark and print its figures."""
from __future__ import annotations

import sys

from bench import calendar


def main() -> int:
    calendar.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
