"""IANA time zones offered in pickers, and formatting of instants in a viewer's zone."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


@lru_cache(maxsize=1)
def timezone_choices() -> list[str]:
    # Canonical region/city names only: drop legacy aliases (EST5EDT, Etc/GMT+3, US/Eastern...).
    regions = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/",
               "Europe/", "Indian/", "Pacific/")
    zones = sorted(z for z in available_timezones() if z.startswith(regions))
    return ["UTC"] + zones


def is_valid_timezone(name: str | None) -> bool:
    return bool(name) and name in set(timezone_choices())


def to_zone(instant: datetime, zone: str | ZoneInfo) -> datetime:
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return instant.astimezone(tz)
