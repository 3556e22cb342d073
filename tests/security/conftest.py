"""Fixtures for the security tests: a school with a weekly series and a chat group."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from app.db_types import utcnow
from app.scheduling import services


def winter_monday() -> date:
    day = date(utcnow().year + 1, 1, 11)
    return day - timedelta(days=day.weekday())


@pytest.fixture
def series(school):
    monday = winter_monday()
    data = services.SessionInput(
        title="Algebra", description="", type="CLASS",
        participant_ids=[s.id for s in school.students], date=monday, start_time=time(16),
        timezone="Europe/London", duration_minutes=60, frequency="WEEKLY", weekdays=["MO"],
        ends="count", count=6)
    session = services.schedule_session(school.teacher, data)
    session.first_original = datetime.combine(monday, time(16))
    return session
