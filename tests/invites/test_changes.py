"""What each change of a session sends (RFC 5546): an updated REQUEST for the series, a REQUEST
or CANCEL for one instance (RECURRENCE-ID), a CANCEL for the series, "this and following" as an
ended series plus a new UID, and invitations or cancellations for people added or removed."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone

import pytest
import recurring_ical_events

from app.scheduling import services
from app.scheduling.recurrence import local_to_utc
from tests.invites.conftest import (LONDON, calendar_of, calendar_part, one_to, originals,
                                    recipients, text_of, vevents, weekly_input)

UTC = timezone.utc


def everyone(school):
    return [school.teacher, *school.students]


def only_event(message):
    calendar = calendar_of(message)
    [event] = vevents(calendar)
    return calendar, event


def rid_of(event) -> datetime:
    return event["RECURRENCE-ID"].dt


@pytest.fixture
def series(school, deliver):
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    assert len(deliver()) == 3
    return session


def test_update_series_sends_a_request_with_the_same_uid_and_a_higher_sequence(
        school, series, deliver):
    data = services.input_from_session(series)
    data.start_time = time(17, 30)
    services.update_series(school.teacher, series, data)
    received = deliver()
    assert recipients(received) == sorted(u.email for u in everyone(school))
    for user in everyone(school):
        message = one_to(received, user.email)
        assert calendar_part(message).get_param("method") == "REQUEST"
        assert str(message["Subject"]).startswith("Updated invitation: Algebra")
        calendar, event = only_event(message)
        assert calendar["METHOD"] == "REQUEST"
        assert str(event["UID"]) == series.ical_uid
        assert event["SEQUENCE"] == 1
        assert event["DTSTART"].dt == series.start_local.replace(hour=17, minute=30,
                                                                 tzinfo=LONDON)
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert "RECURRENCE-ID" not in event and "RRULE" in event


def test_moving_one_occurrence_sends_only_that_instance(school, series, deliver):
    original = originals(series)[2]
    new_start = datetime.combine(original.date() + timedelta(days=1), time(18, 0))
    services.move_occurrence(school.teacher, series, original, new_start, reason="Parents' evening")
    received = deliver()
    assert recipients(received) == sorted(u.email for u in everyone(school))
    for user in everyone(school):
        message = one_to(received, user.email)
        assert calendar_part(message).get_param("method") == "REQUEST"
        calendar, event = only_event(message)  # one VEVENT: just that instance
        assert calendar["METHOD"] == "REQUEST"
        assert str(event["UID"]) == series.ical_uid
        assert event["SEQUENCE"] == 1
        assert "RRULE" not in event
        assert event["RECURRENCE-ID"].params["TZID"] == "Europe/London"
        assert rid_of(event) == original.replace(tzinfo=LONDON)
        assert event["DTSTART"].params["TZID"] == "Europe/London"
        assert event["DTSTART"].dt == new_start.replace(tzinfo=LONDON)
        assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(minutes=60)
        new_local = local_to_utc(new_start, LONDON).astimezone(user.tz)
        assert str(message["Subject"]).startswith("Moved: Algebra")
        assert f"{new_local:%H:%M}" in str(message["Subject"])
        assert "Parents' evening" in text_of(message)
        assert "Was " in text_of(message)


def test_cancelling_one_occurrence_sends_a_cancel_for_that_instance(school, series, deliver):
    original = originals(series)[4]
    services.cancel_occurrence(school.teacher, series, original, reason="Bank holiday")
    received = deliver()
    assert recipients(received) == sorted(u.email for u in everyone(school))
    for user in everyone(school):
        message = one_to(received, user.email)
        assert calendar_part(message).get_param("method") == "CANCEL"
        calendar, event = only_event(message)
        assert calendar["METHOD"] == "CANCEL"
        assert str(event["UID"]) == series.ical_uid
        assert event["SEQUENCE"] == 1
        assert event["STATUS"] == "CANCELLED"
        assert event["RECURRENCE-ID"].params["TZID"] == "Europe/London"
        assert rid_of(event) == original.replace(tzinfo=LONDON)
        assert "RRULE" not in event
        assert str(message["Subject"]).startswith("Cancelled: Algebra")
        assert "Bank holiday" in text_of(message)
        assert "/rsvp/" not in text_of(message)


def test_cancelling_the_series_sends_a_cancel_for_the_whole_event(school, series, deliver):
    services.cancel_series(school.teacher, series, reason="Course closed")
    received = deliver()
    assert recipients(received) == sorted(u.email for u in everyone(school))
    for user in everyone(school):
        message = one_to(received, user.email)
        assert calendar_part(message).get_param("method") == "CANCEL"
        calendar, event = only_event(message)
        assert calendar["METHOD"] == "CANCEL"
        assert str(event["UID"]) == series.ical_uid
        assert "RECURRENCE-ID" not in event
        assert event["STATUS"] == "CANCELLED"
        assert event["SEQUENCE"] == 1
        assert str(message["Subject"]) == "Cancelled: Algebra"
        assert "Course closed" in text_of(message)
        assert "/rsvp/" not in text_of(message)


def test_this_and_following_ends_the_old_uid_with_until_in_utc_and_starts_a_new_uid(
        school, deliver):
    first_day = weekly_input([]).date
    session = services.schedule_session(school.teacher, weekly_input(
        school.students, ends="until", count=None, until_date=first_day + timedelta(weeks=8)))
    received = deliver()
    _, event = only_event(one_to(received, school.students[0].email))
    raw = calendar_part(one_to(received, school.students[0].email)).get_content()
    # DTSTART has a TZID: UNTIL must be in UTC (RFC 5545 3.3.10).
    assert re.search(r"^RRULE:.*UNTIL=\d{8}T\d{6}Z", raw, re.MULTILINE)
    assert event["RRULE"]["UNTIL"][0].utcoffset() == timedelta(0)

    split_at = originals(session)[5]
    data = services.input_from_session(session)
    data.date, data.start_time, data.title = split_at.date(), time(18, 0), "Algebra II"
    new = services.split_series(school.teacher, session, split_at, data)
    assert new.ical_uid != session.ical_uid
    received = deliver()
    for user in everyone(school):
        mine = [r.message for r in received if r.rcpt_tos == [user.email]]
        assert len(mine) == 2
        by_uid = {}
        for message in mine:
            assert calendar_part(message).get_param("method") == "REQUEST"
            calendar, event = only_event(message)
            by_uid[str(event["UID"])] = (calendar, event, message)
        assert set(by_uid) == {session.ical_uid, new.ical_uid}

        old_calendar, old_event, _ = by_uid[session.ical_uid]
        assert old_event["SEQUENCE"] == 1
        old_raw = old_calendar.to_ical().decode()
        assert re.search(r"^RRULE:.*UNTIL=\d{8}T\d{6}Z", old_raw, re.MULTILINE)
        until = old_event["RRULE"]["UNTIL"][0]
        assert until.utcoffset() == timedelta(0)
        split_utc = local_to_utc(split_at, LONDON)
        assert until < split_utc
        last = recurring_ical_events.of(old_calendar).between(
            datetime(2000, 1, 1, tzinfo=UTC), split_utc + timedelta(days=400))
        assert len(last) == 5
        assert max(o.start for o in last) < split_utc

        new_calendar, new_event, new_message = by_uid[new.ical_uid]
        assert new_event["SEQUENCE"] == 0
        assert new_event["SUMMARY"] == "Algebra II"
        assert new_event["DTSTART"].dt == datetime.combine(split_at.date(), time(18, 0),
                                                           tzinfo=LONDON)
        assert new_event["DTSTART"].params["TZID"] == "Europe/London"
        assert re.search(r"^RRULE:.*UNTIL=\d{8}T\d{6}Z", new_calendar.to_ical().decode(),
                         re.MULTILINE)
        assert str(new_message["Subject"]).startswith("Invitation: Algebra II")


def test_added_people_get_a_request_and_removed_people_a_cancel_naming_them(
        school, make, series, deliver):
    newcomer = make.user(school.center, name="Nina Newcomer")
    make.course(school.center, "Geometry", teachers=[school.teacher], students=[newcomer])

    services.add_participants(school.teacher, series, [newcomer.id])
    received = deliver()
    assert recipients(received) == [newcomer.email]
    message = one_to(received, newcomer.email)
    assert calendar_part(message).get_param("method") == "REQUEST"
    _, event = only_event(message)
    assert str(event["UID"]) == series.ical_uid
    assert f"mailto:{newcomer.email}" in {str(a) for a in event["ATTENDEE"]}
    assert "Accept: http://" in text_of(message)

    ben = school.students[1]
    services.remove_participant(school.teacher, series, ben.id)
    received = deliver()
    assert recipients(received) == [ben.email]
    message = one_to(received, ben.email)
    assert calendar_part(message).get_param("method") == "CANCEL"
    calendar, event = only_event(message)
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["UID"]) == series.ical_uid
    assert event["STATUS"] == "CANCELLED"
    assert "RECURRENCE-ID" not in event
    attendee = event["ATTENDEE"]
    assert not isinstance(attendee, list)  # names only the person taken off
    assert str(attendee) == f"mailto:{ben.email}"
    assert attendee.params["CN"] == ben.name
    assert str(message["Subject"]) == "Removed: Algebra"
    assert "/rsvp/" not in text_of(message)

    # Taken off and put back: the person gets the invitation again (their calendar dropped it).
    services.add_participants(school.teacher, series, [ben.id])
    received = deliver()
    assert recipients(received) == [ben.email]
    message = one_to(received, ben.email)
    assert calendar_part(message).get_param("method") == "REQUEST"
    _, event = only_event(message)
    assert str(event["UID"]) == series.ical_uid
    assert "STATUS" not in event or event["STATUS"] != "CANCELLED"


def test_someone_taken_off_and_put_back_is_invited_again(school, series, deliver):
    """Nothing else changed in between: the REQUEST is the very one they got first, but their
    calendar dropped the event on the CANCEL, so it must go out again."""
    ben = school.students[1]
    services.remove_participant(school.teacher, series, ben.id)
    assert [calendar_part(one_to(deliver(), ben.email)).get_param("method")] == ["CANCEL"]

    services.add_participants(school.teacher, series, [ben.id])
    received = deliver()
    assert recipients(received) == [ben.email]
    message = one_to(received, ben.email)
    assert calendar_part(message).get_param("method") == "REQUEST"
    _, event = only_event(message)
    assert str(event["UID"]) == series.ical_uid
    assert f"mailto:{ben.email}" in {str(a) for a in event["ATTENDEE"]}
    assert "Accept: http://" in text_of(message)


def test_a_change_undone_is_sent_again(school, series, deliver):
    """A new title does not bump SEQUENCE (not a change of time). Renamed and then renamed back,
    the last REQUEST is byte for byte the first one again (DTSTAMP aside), yet calendars hold
    the interim title: it must go out."""
    data = services.input_from_session(series)
    data.title = "Algebra (room 4)"
    services.update_series(school.teacher, series, data)
    assert {str(only_event(r.message)[1]["SUMMARY"]) for r in deliver()} == {"Algebra (room 4)"}

    data.title = "Algebra"
    services.update_series(school.teacher, series, data)
    received = deliver()
    assert recipients(received) == sorted(u.email for u in everyone(school))
    assert {str(only_event(r.message)[1]["SUMMARY"]) for r in received} == {"Algebra"}

    # Saving the form again without a change sends nothing.
    services.update_series(school.teacher, series, data)
    assert deliver() == []
