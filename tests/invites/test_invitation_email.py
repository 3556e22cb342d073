"""Scheduling a series emails an iMIP invitation (RFC 6047) to every participant and the teacher,
through a real SMTP server: the MIME structure mail clients rely on, texts in the recipient's
own time zone, and the iTIP REQUEST (RFC 5546) read back with icalendar."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from icalendar import Calendar

from app.accounts.models import Role
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import ParticipantRole
from app.scheduling.recurrence import local_to_utc
from tests.invites.conftest import (LONDON, MAIL_FROM, MAIL_FROM_ADDRESS, calendar_of,
                                    calendar_part, html_of, one_to, recipients, text_of, vevents,
                                    weekly_input)

UTC = timezone.utc


def mime_tree(part):
    if part.is_multipart():
        return (part.get_content_type(), [mime_tree(p) for p in part.iter_parts()])
    return part.get_content_type()


def when_text(instant: datetime, user) -> str:
    """How the email must state the start for ``user``: their own wall-clock time and zone."""
    local = instant.astimezone(user.tz)
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M}"


@pytest.fixture
def invited(school, make, deliver):
    """A weekly Monday + Thursday series of 10 at 16:00 London for the teacher and two students
    (Ben lives in New York), then an observer (another teacher) added to it."""
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    first = deliver()
    observer = make.user(school.center, Role.TEACHER, name="Olive Observer")
    services.add_participants(school.teacher, session, [observer.id],
                              role=ParticipantRole.OBSERVER)
    second = deliver()
    return session, first, observer, second


def test_every_participant_and_the_teacher_get_one_message_each_addressed_to_them(
        school, invited):
    session, first, observer, second = invited
    teacher, (sara, ben) = school.teacher, school.students
    assert recipients(first) == sorted([teacher.email, sara.email, ben.email])
    assert recipients(second) == [observer.email]
    for user in (teacher, sara, ben):
        message = one_to(first, user.email)
        assert [a.addr_spec for a in message["To"].addresses] == [user.email]
        assert message["To"].addresses[0].display_name == user.name
        assert message["Cc"] is None and message["Bcc"] is None
        assert message["From"].addresses[0].addr_spec == MAIL_FROM_ADDRESS
        assert message["Message-ID"]
    for received in first + second:
        assert received.mail_from == MAIL_FROM_ADDRESS


def test_mime_structure_is_mixed_alternative_with_calendar_part_and_ics_attachment(
        school, invited):
    session, first, _, _ = invited
    message = one_to(first, school.students[0].email)
    assert mime_tree(message) == (
        "multipart/mixed", [("multipart/alternative", ["text/plain", "text/html",
                                                       "text/calendar"]),
                            "application/ics"])
    part = calendar_part(message)
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    assert not part.is_attachment()
    calendar = Calendar.from_ical(part.get_content())
    assert calendar["METHOD"] == part.get_param("method")

    [attachment] = [p for p in message.iter_attachments()]
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_content().decode("utf-8") == part.get_content()


def test_subject_and_text_give_the_time_in_the_recipients_own_zone(school, invited):
    session, first, _, _ = invited
    teacher, (sara, ben) = school.teacher, school.students
    start = local_to_utc(session.start_local, LONDON)
    url = f"http://127.0.0.1:5000/sessions/{session.id}"

    ben_message = one_to(first, ben.email)
    ben_local = start.astimezone(ben.tz)
    subject = str(ben_message["Subject"])
    assert subject.startswith("Invitation: Algebra")
    assert when_text(start, ben) in subject
    assert "America/New York" in subject and ben_local.tzname() in subject
    assert "16:00" not in subject  # the teacher's wall clock is not Ben's
    text = text_of(ben_message)
    assert f"When: {when_text(start, ben)} (America/New York, {ben_local.tzname()})" in text
    assert "America/New_York" in text  # the footer names the zone too
    html = html_of(ben_message)
    assert when_text(start, ben) in html and "America/New York" in html

    for user in (teacher, sara):  # no zone of their own: the center's (Europe/London)
        message = one_to(first, user.email)
        london = when_text(start, user)
        assert london.endswith("16:00")
        assert london in str(message["Subject"]) and "Europe/London" in str(message["Subject"])
        assert f"When: {london} (Europe/London, " in text_of(message)

    for user in (teacher, sara, ben):
        message = one_to(first, user.email)
        assert f"Join and details: {url}" in text_of(message)
        assert f'href="{url}"' in html_of(message)
        assert "Every Monday, Thursday, 10 times" in text_of(message)


def test_students_get_accept_and_decline_links_the_teacher_does_not(school, invited):
    session, first, observer, second = invited
    teacher, (sara, ben) = school.teacher, school.students
    links = re.compile(r"^(Accept|Decline): (http://127\.0\.0\.1:5000/rsvp/\S+)$", re.MULTILINE)
    seen = set()
    for message in (one_to(first, sara.email), one_to(first, ben.email),
                    one_to(second, observer.email)):
        text, html = text_of(message), html_of(message)
        found = dict(links.findall(text))
        assert set(found) == {"Accept", "Decline"}
        assert found["Accept"] != found["Decline"]
        for link in found.values():
            assert f'href="{link}"' in html
            seen.add(link)
        assert ">Accept</a>" in html and ">Decline</a>" in html
    assert len(seen) == 6  # a link of its own for each person and answer

    teacher_message = one_to(first, teacher.email)
    assert "/rsvp/" not in text_of(teacher_message)
    assert "/rsvp/" not in html_of(teacher_message)
    assert "Accept" not in text_of(teacher_message)


def test_the_request_is_one_series_with_organizer_attendees_and_the_join_link(school, invited):
    session, first, observer, second = invited
    teacher, (sara, ben) = school.teacher, school.students
    url = f"http://127.0.0.1:5000/sessions/{session.id}"
    calendar = calendar_of(one_to(second, observer.email))
    raw = calendar.to_ical().decode()

    assert calendar["METHOD"] == "REQUEST"
    [event] = vevents(calendar)
    assert str(event["UID"]) == session.ical_uid
    assert event["SEQUENCE"] == 0

    assert event["DTSTAMP"].dt.utcoffset() == timedelta(0)
    assert re.search(r"^DTSTAMP:\d{8}T\d{6}Z\r?$", raw, re.MULTILINE)

    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event["DTSTART"].dt == session.start_local.replace(tzinfo=LONDON)
    assert str(event["DTSTART"].dt.tzinfo) == "Europe/London"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=60)
    assert event["RRULE"] == {"FREQ": ["WEEKLY"], "COUNT": [10], "BYDAY": ["MO", "TH"]}

    organizer = event["ORGANIZER"]
    assert str(organizer) == f"mailto:{MAIL_FROM_ADDRESS}"
    assert organizer.params["CN"] == teacher.name
    assert MAIL_FROM.endswith(f"<{MAIL_FROM_ADDRESS}>")

    attendees = {str(a).removeprefix("mailto:"): a.params for a in event["ATTENDEE"]}
    assert set(attendees) == {teacher.email, sara.email, ben.email, observer.email}
    roles = {teacher.email: "CHAIR", sara.email: "REQ-PARTICIPANT",
             ben.email: "REQ-PARTICIPANT", observer.email: "OPT-PARTICIPANT"}
    names = {u.email: u.name for u in (teacher, sara, ben, observer)}
    for address, params in attendees.items():
        assert params["CN"] == names[address]
        assert params["CUTYPE"] == "INDIVIDUAL"
        assert params["ROLE"] == roles[address]
        assert params["PARTSTAT"] == "NEEDS-ACTION"
        assert params["RSVP"] == "TRUE"

    assert event["SUMMARY"] == "Algebra"
    assert "Chapter 3: linear equations" in event["DESCRIPTION"]
    assert url in event["DESCRIPTION"]
    assert event["URL"] == url
    assert url in event["LOCATION"]
    assert event["CONFERENCE"] == url
    assert event["CONFERENCE"].params["VALUE"] == "URI"

    # Everyone's copy of the first REQUEST is the same event; the teacher's lists everyone,
    # a student's only the teacher and that student (tests/invites/test_attendee_privacy.py).
    for user in (teacher, sara, ben):
        [theirs] = vevents(calendar_of(one_to(first, user.email)))
        assert str(theirs["UID"]) == session.ical_uid and theirs["SEQUENCE"] == 0
        listed = {u for u in (teacher, sara, ben) if user in (teacher, u)} | {teacher}
        assert {str(a) for a in theirs["ATTENDEE"]} == {f"mailto:{u.email}" for u in listed}


def test_names_and_titles_beyond_ascii_survive_headers_and_calendar(school, deliver):
    teacher, sara = school.teacher, school.students[0]
    teacher.name = 'Zoë O\'Brien, "PhD"'
    sara.name = "Łukasz Żółć; Jr."
    db.session.commit()
    title = "Álgebra – repaso de ecuaciones lineales y cuadráticas para el examen final 😀"
    session = services.schedule_session(teacher, weekly_input(school.students, title=title))
    message = one_to(deliver(), sara.email)
    start = local_to_utc(session.start_local, LONDON)
    assert str(message["Subject"]) == \
        f"Invitation: {title} · {when_text(start, sara)} (Europe/London, {start.astimezone(LONDON):%Z})"
    [to] = message["To"].addresses
    assert (to.display_name, to.addr_spec) == (sara.name, sara.email)
    [event] = vevents(calendar_of(message))
    assert event["SUMMARY"] == title
    assert event["ORGANIZER"].params["CN"] == teacher.name
    names = {str(a): a.params["CN"] for a in event["ATTENDEE"]}
    assert names[f"mailto:{sara.email}"] == sara.name
    assert names[f"mailto:{teacher.email}"] == teacher.name
    assert f"{teacher.name} invites you to {title}." in text_of(message)
