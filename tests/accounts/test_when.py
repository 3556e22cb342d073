"""One wording of an instant for a person (app.timezones.when): every caller's format, the zone
it is read in, and one formatting per zone rather than per person."""
from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from app.timezones import _when_in, when

WINTER = datetime(2026, 1, 12, 17, 5, tzinfo=timezone.utc)
SUMMER = datetime(2026, 7, 13, 17, 5, tzinfo=timezone.utc)


def test_an_instant_in_the_viewers_zone_names_the_zone_then():
    parisian = SimpleNamespace(effective_timezone="Europe/Paris")
    assert when(WINTER, parisian) == "Mon 12 Jan 2026, 18:05 CET"
    assert when(SUMMER, parisian) == "Mon 13 Jul 2026, 19:05 CEST"
    assert when(WINTER, ZoneInfo("America/New_York"), "%a %-d %b, %H:%M {abbr}") == \
        "Mon 12 Jan, 12:05 EST"
    # A letter read outside the app names the zone in full.
    assert when(WINTER, "America/New_York", "%A %-d %B %Y, %H:%M ({zone}, {abbr})") == \
        "Monday 12 January 2026, 12:05 (America/New York, EST)"


def test_no_viewer_keeps_the_time_as_it_stands():
    assert when(WINTER, None) == "Mon 12 Jan 2026, 17:05 UTC"
    wall_clock = datetime(2026, 3, 2, 9, 30)  # a session's local start, no zone
    assert when(wall_clock, None, "%a %-d %b %Y, %H:%M") == "Mon 2 Mar 2026, 09:30"


def test_worded_once_per_zone_not_once_per_person():
    _when_in.cache_clear()
    class_in_one_zone = [SimpleNamespace(effective_timezone="Asia/Tokyo") for _ in range(30)]
    words = {when(SUMMER, person) for person in class_in_one_zone}
    assert words == {"Tue 14 Jul 2026, 02:05 JST"}
    assert _when_in.cache_info().misses == 1
