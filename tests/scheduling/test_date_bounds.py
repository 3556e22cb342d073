"""Dates at the ends of the calendar and wall-clock times that do not exist (issue 9, item 11).

Every scheduling entry point (new session, edit series, this and following, move, calendar
navigation) takes dates only within services.scheduling_window (ten years either side of
today), with a clear 4xx message, never an OverflowError. A row written before that bound (an
occurrence moved to 9999-12-31) can still be shown, moved back and cancelled. A start in the
spring-forward gap is refused with the time it would become; a series occurrence that falls in
a gap is listed at its real time with a note, so the session page and its list agree."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import SessionOverride
from tests.conftest import login, post
from tests.scheduling.test_views import form, fresh, html, make_session, session_count, winter_monday

LONDON = ZoneInfo("Europe/London")
FAR_DATES = ["9999-12-31", "9999-12-30", "0001-01-01", "0001-01-02",
             f"{utcnow().year + 11}-06-01", f"{utcnow().year - 11}-06-01"]
EDGE_ZONES = ["Pacific/Kiritimati", "America/New_York", "Pacific/Pago_Pago", "Europe/London"]


def next_spring_forward(tz=LONDON) -> date:
    """The next day (at least a week ahead) on which the zone's clocks go forward."""
    day = utcnow().date() + timedelta(days=7)
    while True:
        before = datetime.combine(day, time(0), tzinfo=tz).utcoffset()
        after = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).utcoffset()
        if after > before:
            return day
        day += timedelta(days=1)


@pytest.mark.parametrize("zone", EDGE_ZONES)
@pytest.mark.parametrize("far", FAR_DATES)
def test_a_new_session_far_from_today_is_a_422(client, school, far, zone):
    login(client, school.teacher)
    for extra in ({"frequency": "NONE"},
                  {"frequency": "WEEKLY", "weekdays": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]},
                  {"frequency": "DAILY", "ends": "never"}):
        response = post(client, "/sessions", form(school, date=far, timezone=zone,
                                                  start_time="23:30", **extra))
        assert response.status_code == 422, (far, zone, extra)
        assert "Pick a date between" in html(response)
    assert session_count() == 0


@pytest.mark.parametrize("far", ["9999-12-31", "0001-01-01"])
def test_an_end_date_far_from_today_is_a_422(client, school, far):
    login(client, school.teacher)
    response = post(client, "/sessions", form(school, frequency="DAILY", ends="until",
                                              until_date=far, start_time="23:30",
                                              timezone="America/New_York"))
    assert response.status_code == 422
    assert "Pick a date between" in html(response) or "before the first" in html(response)
    assert session_count() == 0


@pytest.mark.parametrize("far", ["9999-12-31", "0001-01-01"])
def test_edits_splits_and_moves_refuse_far_dates(client, school, far):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, time(16)), weekly_on="MO", count=6,
                           tz="America/New_York")
    login(client, school.teacher)
    first = f"{monday.isoformat()}T16:00:00"
    third = f"{(monday + timedelta(weeks=2)).isoformat()}T16:00:00"
    everyday = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    for path, data in (
            (f"/sessions/{session.id}/edit", form(school, date=far, frequency="WEEKLY",
                                                   weekdays=everyday, timezone="America/New_York",
                                                   start_time="23:30")),
            (f"/sessions/{session.id}/occurrences/{third}/split",
             form(school, date=far, frequency="WEEKLY", weekdays=everyday,
                  timezone="America/New_York", start_time="23:30")),
            (f"/sessions/{session.id}/occurrences/{first}/move",
             {"date": far, "start_time": "23:30", "duration_minutes": "60"})):
        response = post(client, path, data)
        assert response.status_code == 422, path
        assert "Pick a date between" in html(response), path
    assert fresh(session).start_local == datetime.combine(monday, time(16))
    assert db.session.scalar(select(SessionOverride)) is None


@pytest.mark.parametrize("far", ["9999-12-31", "0001-01-01", "2999-01-01"])
def test_the_calendar_refuses_far_dates_with_a_400(client, school, far):
    login(client, school.teacher)
    for view in ("month", "week", "agenda"):
        response = client.get(f"/calendar?view={view}&date={far}")
        assert response.status_code == 400, view
        assert "Pick a date between" in html(response)


def test_an_occurrence_already_moved_to_9999_can_be_shown_moved_back_and_cancelled(
        client, school, as_user):
    monday = winter_monday(1)
    session = make_session(school.teacher, school.students,
                           datetime.combine(monday, time(16)), weekly_on="MO", count=4,
                           tz="America/New_York", commit=False)
    # As written before dates were bounded: the last minute of 9999 in New York is already
    # year 10000 in UTC.
    session.overrides.append(SessionOverride(
        center_id=session.center_id, original_start_local=datetime.combine(monday, time(16)),
        new_start_local=datetime(9999, 12, 31, 23, 30), reason="typo", cancelled=False,
        sequence=1))
    services.refresh_bounds(session)
    db.session.commit()
    first = f"{monday.isoformat()}T16:00:00"
    login(client, school.teacher)
    assert client.get(f"/sessions/{session.id}").status_code == 200
    assert client.get(f"/sessions/{session.id}/occurrences/{first}/move").status_code == 200
    for view in ("month", "week", "agenda"):
        assert client.get(f"/calendar?view={view}").status_code == 200
    token = services.feed_token_for(school.students[0])
    assert client.get(f"/calendar/feed/{token}.ics").status_code == 200

    back = monday + timedelta(days=1)
    response = post(client, f"/sessions/{session.id}/occurrences/{first}/move",
                    {"date": back.isoformat(), "start_time": "17:00", "duration_minutes": "60"})
    assert response.status_code == 302, html(response)[:500]
    db.session.expire_all()
    override = db.session.scalar(select(SessionOverride))
    assert override.new_start_local == datetime.combine(back, time(17))

    # And the same for cancelling one left at 9999.
    override.new_start_local = datetime(9999, 12, 31, 23, 30)
    db.session.commit()
    response = post(client, f"/sessions/{session.id}/occurrences/{first}/cancel",
                    {"reason": "was a typo"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(SessionOverride)).cancelled


# --- the spring-forward gap -----------------------------------------------------------------------

def test_a_start_in_the_spring_forward_gap_is_refused_with_the_time_it_would_be(client, school):
    gap_day = next_spring_forward()
    login(client, school.teacher)
    response = post(client, "/sessions", form(school, date=gap_day.isoformat(),
                                              start_time="01:30", timezone="Europe/London"))
    assert response.status_code == 422
    page = html(response)
    assert "01:30 does not exist on" in page and "Pick 02:30" in page
    assert session_count() == 0
    # The suggested time is accepted, and the page and its occurrence list say the same.
    response = post(client, "/sessions", form(school, date=gap_day.isoformat(),
                                              start_time="02:30", timezone="Europe/London"))
    assert response.status_code == 302
    page = html(client.get(response.headers["Location"]))
    assert "02:30–03:30 (Europe/London)" in page
    assert f"{gap_day:%a} {gap_day.day} {gap_day:%b %Y}, 02:30" in page


def test_moving_into_the_gap_is_refused(client, school):
    gap_day = next_spring_forward()
    before = gap_day - timedelta(days=gap_day.weekday())  # the Monday of that week
    session = make_session(school.teacher, school.students, datetime.combine(before, time(16)),
                           weekly_on="MO", count=3)
    login(client, school.teacher)
    response = post(client, f"/sessions/{session.id}/occurrences/{before.isoformat()}T16:00:00/move",
                    {"date": gap_day.isoformat(), "start_time": "01:15", "duration_minutes": "60"})
    assert response.status_code == 422
    assert "01:15 does not exist on" in html(response) and "Pick 02:15" in html(response)
    assert db.session.scalar(select(SessionOverride)) is None


def test_a_series_occurrence_in_the_gap_is_listed_at_its_real_time_with_a_note(client, school):
    gap_day = next_spring_forward()  # London: always a Sunday
    start = gap_day - timedelta(weeks=1)
    session = make_session(school.teacher, school.students, datetime.combine(start, time(1, 30)),
                           weekly_on="SU", count=3)
    login(client, school.teacher)
    page = html(client.get(f"/sessions/{session.id}"))
    assert f"{start:%a} {start.day} {start:%b %Y}, 01:30" in page
    assert f"{gap_day:%a} {gap_day.day} {gap_day:%b %Y}, 02:30" in page
    assert "01:30 does not exist that day in Europe/London (the clocks go forward)" in page
    occurrences = services.next_occurrences(session, 3)
    assert [o.dst_shifted for o in occurrences] == [False, True, False]


def test_an_occurrence_is_found_by_its_key_and_junk_or_far_keys_name_none(school):
    """The key the session and attendance pages name an occurrence by (its original local
    start): a real start finds it; junk, a zone, a time off the series and a year past the
    horizon find nothing (and never walk the recurrence that far)."""
    start = datetime.combine(winter_monday(1), time(16))
    session = make_session(school.teacher, school.students, start, weekly_on="MO")
    for weeks in (0, 1, 5):
        key = (start + timedelta(weeks=weeks)).isoformat()
        assert services.occurrence_by_key(session, key).original_start_local == \
            start + timedelta(weeks=weeks)
    past_the_horizon = start + timedelta(weeks=52 * 14)
    assert past_the_horizon.weekday() == start.weekday()
    for key in (None, "", "junk", "2030-02-31T16:00:00", "9" * 33,
                start.isoformat() + "+00:00", (start + timedelta(hours=1)).isoformat(),
                (start - timedelta(weeks=1)).isoformat(), past_the_horizon.isoformat()):
        assert services.occurrence_by_key(session, key) is None, key
