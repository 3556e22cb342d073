"""Accept / Decline links from the invitation: no login needed (the signed token is the
authority); a GET only shows what the link will do (mail scanners fetch links), a POST records
it; a changed link is refused (400) and an old one has expired (410), and neither records."""
from __future__ import annotations

import re
import time as clock

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from app.invites import services as invites
from app.scheduling import services
from app.scheduling.models import Rsvp
from tests.conftest import csrf_token
from tests.invites.conftest import outbox_rows, weekly_input

LINKS = re.compile(r"^(Accept|Decline): http://127\.0\.0\.1:5000(/rsvp/\S+)$", re.MULTILINE)


def links_for(user) -> dict[str, str]:
    [row] = outbox_rows(recipient=user.email)
    return dict(LINKS.findall(row.text_body))


def participant_of(session, user):
    from app.extensions import db

    db.session.expire_all()
    return next(p for p in session.participants if p.user_id == user.id)


def answer(client, path):
    """What a person does: open the link, then press the button on the page."""
    page = client.get(path)
    assert page.status_code == 200
    token = csrf_token(client, path)
    return client.post(path, data={"csrf_token": token})


def test_opening_the_link_asks_first_and_pressing_the_button_records_the_answer(
        school, client, new_client):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    sara, ben = school.students

    accept = links_for(sara)["Accept"]
    for _ in range(2):  # e.g. a mail scanner, then the person
        page = client.get(accept)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "Algebra" in html and "accept the invitation from Terry Teacher" in html
        assert '<form method="post">' in html
    assert participant_of(session, sara).rsvp == Rsvp.NEEDS_ACTION  # a GET records nothing

    done = answer(client, accept)
    assert done.status_code == 200
    assert "You&#39;re coming" in done.get_data(as_text=True)
    sara_part = participant_of(session, sara)
    assert sara_part.rsvp == Rsvp.ACCEPTED and sara_part.rsvp_at is not None

    declined = answer(new_client(), links_for(ben)["Decline"])
    assert declined.status_code == 200
    assert "You declined" in declined.get_data(as_text=True)
    assert participant_of(session, ben).rsvp == Rsvp.DECLINED
    assert participant_of(session, sara).rsvp == Rsvp.ACCEPTED

    # Changed their mind: the other link of the same email.
    answer(client, links_for(sara)["Decline"])
    assert participant_of(session, sara).rsvp == Rsvp.DECLINED


def test_a_changed_link_is_refused_and_records_nothing(school, client):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    sara = school.students[0]
    accept = links_for(sara)["Accept"]
    # Another first character of the signature (not the last: its low bits are padding in
    # base64, so some changes there decode to the same bytes), and a payload swapped for the
    # Decline one.
    signed, _, signature = accept.removeprefix("/rsvp/").rpartition(".")
    tampered = f"/rsvp/{signed}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    _, _, stamp_and_signature = accept.removeprefix("/rsvp/").partition(".")
    decline_payload = links_for(sara)["Decline"].removeprefix("/rsvp/").partition(".")[0]
    swapped = f"/rsvp/{decline_payload}.{stamp_and_signature}"
    for path in (tampered, swapped, "/rsvp/not-a-token"):
        page = client.get(path)
        assert page.status_code == 400, path
        html = page.get_data(as_text=True)
        assert "This link does not work" in html
        assert "not valid" in html
        posted = client.post(path, data={"csrf_token": csrf_token(client, "/login")})
        assert posted.status_code == 400
    assert participant_of(session, sara).rsvp == Rsvp.NEEDS_ACTION


class _SignedLongAgo(TimestampSigner):
    """Signs with a timestamp 200 days old (what a link mailed back then carries)."""

    def get_timestamp(self) -> int:
        return int(clock.time()) - 200 * 24 * 3600


def test_an_expired_link_says_so_and_records_nothing(app, school, client):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    sara = school.students[0]
    participant = participant_of(session, sara)
    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=invites.RSVP_SALT,
                                 signer=_SignedLongAgo)
    token = old.dumps({"p": participant.id, "s": session.id, "a": Rsvp.ACCEPTED.value})
    assert invites.RSVP_MAX_AGE.days < 200

    page = client.get(f"/rsvp/{token}")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "This link has expired" in html and "expired" in html.lower()
    posted = client.post(f"/rsvp/{token}", data={"csrf_token": csrf_token(client, "/login")})
    assert posted.status_code == 410
    assert participant_of(session, sara).rsvp == Rsvp.NEEDS_ACTION

    # The same answer signed today works: only the age made the difference.
    fresh = invites._serializer().dumps({"p": participant.id, "s": session.id,
                                          "a": Rsvp.ACCEPTED.value})
    assert client.get(f"/rsvp/{fresh}").status_code == 200


def test_a_link_of_someone_taken_off_the_session_no_longer_applies(school, client):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    ben = school.students[1]
    accept = links_for(ben)["Accept"]
    services.remove_participant(school.teacher, session, ben.id)
    page = client.get(accept)
    assert page.status_code == 400
    assert "no longer applies" in page.get_data(as_text=True)
