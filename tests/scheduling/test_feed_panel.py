"""The calendar page shows the personal feed (the README's promise): its https:// and webcal://
addresses, how to add them to Google, Outlook or Apple Calendar, and a reset form. The token is
made once, on the first full page, and never by the calendar's HTMX navigation."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from app.accounts.models import AuditLog
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import CalendarFeed
from tests.conftest import login

HTMX_NAV = {"HX-Request": "true", "HX-Target": "calendar"}


def feeds() -> int:
    return db.session.scalar(select(func.count()).select_from(CalendarFeed))


def test_calendar_page_shows_the_feed_addresses_and_how_to_use_them(app, client, school):
    student = school.students[0]
    login(client, student)
    assert feeds() == 0
    page = client.get("/calendar").get_data(as_text=True)
    token = services.feed_token_for(student)
    base = app.config["BASE_URL"].rstrip("/").split("://", 1)[1]
    https_url = f"{app.config['BASE_URL'].rstrip('/')}/calendar/feed/{token}.ics"
    webcal_url = f"webcal://{base}/calendar/feed/{token}.ics"
    assert f'id="feed-https" type="text" readonly value="{https_url}"' in page
    assert f'id="feed-webcal" type="text" readonly value="{webcal_url}"' in page
    assert f'data-copy-text="{https_url}"' in page and f'data-copy-text="{webcal_url}"' in page
    assert f'href="{webcal_url}"' in page
    for app_name in ("Google Calendar", "Outlook", "Apple Calendar"):
        assert app_name in page
    assert re.search(r'<form class="feed-reset" method="post" action="/calendar/feed/reset" '
                     r'hx-confirm="[^"]+">\s*<input type="hidden" name="csrf_token"', page)
    # Made once, without an audit entry (only a reset is one); the same on every visit.
    assert feeds() == 1
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.action == "calendar.feed_reset")) is None
    assert https_url in client.get("/calendar?view=week").get_data(as_text=True)
    assert feeds() == 1


def test_calendar_navigation_neither_shows_nor_makes_the_feed(client, school):
    login(client, school.teacher)
    fragment = client.get("/calendar?view=week", headers=HTMX_NAV).get_data(as_text=True)
    assert 'id="calendar"' in fragment and "feed-https" not in fragment
    assert feeds() == 0


def test_an_existing_feed_is_reused(client, school):
    token = services.feed_token_for(school.teacher)
    login(client, school.teacher)
    assert f"/calendar/feed/{token}.ics" in client.get("/calendar").get_data(as_text=True)
    assert feeds() == 1
