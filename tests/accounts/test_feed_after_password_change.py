"""A password change gives the calendar feed a new address (issue 9, item 10): the feed URL is
a credential too, and whoever had the old password may have copied it. The page says so."""
from __future__ import annotations

from app.scheduling import services as scheduling
from tests.accounts.conftest import flashes
from tests.conftest import PASSWORD, commit, post

NEW = "a brand new password"


def change_password(browser):
    return post(browser, "/account/password", {"current_password": PASSWORD,
                                               "new_password": NEW, "confirm_password": NEW})


def test_the_old_feed_address_stops_working_and_the_page_says_so(school, as_user, client):
    user = school.students[0]
    old = scheduling.feed_token_for(user)
    commit()
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 200
    browser = as_user(user)
    response = change_password(browser)
    assert response.status_code in (200, 204, 302)
    messages = flashes(browser.get("/account").get_data(as_text=True))
    assert any("calendar feed has a new address" in text for _, text in messages), messages
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 404
    new = scheduling.feed_token_for(user)
    commit()
    assert new != old
    assert client.get(f"/calendar/feed/{new}.ics").status_code == 200


def test_without_a_feed_nothing_is_made_or_said(school, as_user):
    from sqlalchemy import func, select

    from app.extensions import db
    from app.scheduling.models import CalendarFeed

    browser = as_user(school.students[1])
    change_password(browser)
    messages = flashes(browser.get("/account").get_data(as_text=True))
    assert not any("calendar feed" in text for _, text in messages)
    assert db.session.scalar(select(func.count()).select_from(CalendarFeed)) == 0
