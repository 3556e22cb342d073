"""No answer to something cancelled (issue 9, item 10): the email's links and the session page
refuse an RSVP once the session is cancelled, and the links in the email about one moved
occurrence stop working once that occurrence is cancelled. Nothing is recorded."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from app.extensions import db
from app.scheduling import services
from app.scheduling.models import Rsvp
from tests.conftest import csrf_token
from tests.invites.conftest import originals, outbox_rows, weekly_input

LINKS = re.compile(r"^(Accept|Decline): http://127\.0\.0\.1:5000(/rsvp/\S+)$", re.MULTILINE)


def links(row) -> dict[str, str]:
    return dict(LINKS.findall(row.text_body))


def rsvp_of(session, user) -> Rsvp:
    db.session.expire_all()
    return next(p for p in session.participants if p.user_id == user.id).rsvp


def test_links_and_the_page_refuse_an_answer_to_a_cancelled_session(school, client, as_user):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    sara = school.students[0]
    [invitation] = outbox_rows(recipient=sara.email)
    accept = links(invitation)["Accept"]
    token = csrf_token(client, accept)
    services.cancel_series(school.teacher, session, "Course ended")

    page = client.get(accept)
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "Nothing to answer" in html and "was cancelled" in html
    assert client.post(accept, data={"csrf_token": token}).status_code == 410
    assert rsvp_of(session, sara) == Rsvp.NEEDS_ACTION

    browser = as_user(sara)
    assert "Will you come?" not in browser.get(f"/sessions/{session.id}").get_data(as_text=True)
    response = browser.post(f"/sessions/{session.id}/rsvp",
                            data={"csrf_token": browser.csrf, "answer": "ACCEPTED"})
    assert response.status_code == 400
    assert "was cancelled" in response.get_data(as_text=True)
    assert rsvp_of(session, sara) == Rsvp.NEEDS_ACTION


def test_the_links_about_one_occurrence_stop_when_it_is_cancelled(school, client):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    sara = school.students[0]
    original = originals(session)[2]
    services.move_occurrence(school.teacher, session, original,
                             datetime.combine(original.date() + timedelta(days=1), time(18)))
    moved = outbox_rows(recipient=sara.email)[-1]
    assert moved.subject.startswith("Moved:")
    first = outbox_rows(recipient=sara.email)[0]
    services.cancel_occurrence(school.teacher, session, original, "Snow day")

    assert client.get(links(moved)["Accept"]).status_code == 410
    assert rsvp_of(session, sara) == Rsvp.NEEDS_ACTION
    # The series' own invitation still works: the other occurrences go ahead.
    series_accept = links(first)["Accept"]
    assert client.get(series_accept).status_code == 200
    response = client.post(series_accept, data={"csrf_token": csrf_token(client, series_accept)})
    assert response.status_code == 200
    assert rsvp_of(session, sara) == Rsvp.ACCEPTED
