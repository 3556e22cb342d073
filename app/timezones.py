"""IANA time zones offered in pickers, and formatting of instants in a viewer's zone (``when``:
the one place that turns an instant into words for a person)."""
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


def _zone_key(viewer) -> str | None:
    """The IANA name of ``viewer``'s zone: a user (their effective zone), a ZoneInfo, a zone
    name, or None (no conversion: the instant as it stands)."""
    if viewer is None or isinstance(viewer, str):
        return viewer
    if isinstance(viewer, ZoneInfo):
        return viewer.key
    return getattr(viewer, "effective_timezone", None) or viewer.tz.key  # a user, or a center


@lru_cache(maxsize=4096)
def _when_in(instant: datetime, zone: str | None, fmt: str) -> str:
    local = instant.astimezone(ZoneInfo(zone)) if zone else instant
    text = local.strftime(fmt)
    if "{" in fmt:
        text = (text.replace("{abbr}", local.tzname() or "")
                .replace("{zone}", (zone or local.tzname() or "").replace("_", " ")))
    return text


def when(instant: datetime, viewer, fmt: str = "%a %d %b %Y, %H:%M {abbr}") -> str:
    """``instant`` as ``viewer`` reads it: in their zone, worded by ``fmt`` (strftime, plus
    ``{abbr}`` for the zone's abbreviation then, e.g. CET, and ``{zone}`` for the zone's name,
    e.g. America/New York). Worded once per zone, instant and format, not once per person: a
    notification to a class in one zone formats its time once.

    ``viewer`` is a user, a ZoneInfo, a zone name, or None for no conversion (a naive wall-clock
    time, such as a session's local start, is shown as it stands)."""
    return _when_in(instant, _zone_key(viewer), fmt)
