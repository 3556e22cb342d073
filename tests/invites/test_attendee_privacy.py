"""Invitation emails do not hand students their classmates' addresses (issue 9, item 11a).

Every message is read back from the loopback SMTP server: its calendar (both the inline
text/calendar part and the invite.ics attachment) and its whole raw text. A learner's copy names
the organizer, the teacher (CHAIR) and that learner; the teacher's and an observer's copies name
everyone."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from icalendar import Calendar

from app.accounts.models import CourseRole, Enrollment, Role
from app.extensions import db
from app.scheduling import services
from app.scheduling.models import ParticipantRole
from tests.invites.conftest import calendar_of, originals, vevents, weekly_input


@pytest.fixture
def classmates(school, make):
    extra = [make.user(school.center, name=f"Classmate {n}") for n in range(3)]
    for person in extra:
        db.session.add(Enrollment(center_id=school.center.id, course_id=school.course.id,
                                  user_id=person.id, role=CourseRole.STUDENT))
    db.session.commit()
    return [*school.students, *extra]


def addresses_in(calendar: Calendar) -> set[str]:
    found = set()
    for event in vevents(calendar):
        attendees = event.get("ATTENDEE", [])
        attendees = attendees if isinstance(attendees, list) else [attendees]
        found |= {str(a).removeprefix("mailto:") for a in attendees}
    return found


def attendee_addresses(message) -> set[str]:
    return addresses_in(calendar_of(message))


def attachment_calendar(message) -> Calendar:
    [part] = [p for p in message.walk() if p.get_filename() == "invite.ics"]
    return Calendar.from_ical(part.get_content())


def assert_private(received, school, students, staff=()):
    teacher = school.teacher
    everyone = {teacher.email, *(s.email for s in students), *(u.email for u in staff)}
    for mail in received:
        [address] = mail.rcpt_tos
        message = mail.message
        raw = mail.content.decode("utf-8", "replace")
        if address in {teacher.email, *(u.email for u in staff)}:
            assert attendee_addresses(message) == everyone, address
            continue
        assert attendee_addresses(message) == {teacher.email, address}, address
        assert addresses_in(attachment_calendar(message)) == {teacher.email, address}, address
        # Not anywhere in the message either (base64 parts are decoded by walking them).
        for part in message.walk():
            if part.is_multipart():
                continue
            content = part.get_content()
            text = content if isinstance(content, str) else content.decode("utf-8", "replace")
            for other in everyone - {teacher.email, address}:
                assert other not in text, (address, other, part.get_content_type())
        for other in everyone - {teacher.email, address}:
            assert other not in raw, (address, other)


def test_a_new_series_invites_each_student_without_the_others(school, classmates, deliver, make):
    session = services.schedule_session(school.teacher, weekly_input(classmates))
    received = deliver()
    assert len(received) == len(classmates) + 1
    assert_private(received, school, classmates)

    observer = make.user(school.center, Role.TEACHER, name="Olive Observer")
    services.add_participants(school.teacher, session, [observer.id],
                              role=ParticipantRole.OBSERVER)
    [to_observer] = deliver()
    assert attendee_addresses(to_observer.message) == {
        school.teacher.email, observer.email, *(s.email for s in classmates)}

    # Updating, moving and cancelling one occurrence, cancelling the series: same rule.
    data = services.input_from_session(session)
    data.start_time = time(17, 30)
    services.update_series(school.teacher, session, data)
    assert_private(deliver(), school, classmates, staff=[observer])

    original = originals(session)[2]
    services.move_occurrence(school.teacher, session, original,
                             datetime.combine(original.date() + timedelta(days=1), time(18)))
    assert_private(deliver(), school, classmates, staff=[observer])

    services.cancel_occurrence(school.teacher, session, originals(session)[4], "Snow day")
    assert_private(deliver(), school, classmates, staff=[observer])

    services.cancel_series(school.teacher, session, "End of term")
    received = deliver()
    assert len(received) == len(classmates) + 2
    assert_private(received, school, classmates, staff=[observer])
