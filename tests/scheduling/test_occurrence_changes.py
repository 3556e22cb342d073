"""What participants see of one occurrence's changes: the reasons given for moves and
cancellations (session page, occurrence list, calendar tooltip and agenda, notification and
email), restoring a cancelled occurrence (service, view, iCal REQUEST for that instance, audit,
notifications), and the links between a split series and its continuation.

Emails go through the real outbox, a real RQ worker and an aiosmtpd server on loopback (the
invites suite's fixtures)."""
from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from app.accounts.models import AuditLog, Role
from app.accounts.services import PermissionDenied, ValidationError
from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import Notification
from app.scheduling import ical, services
from app.scheduling.models import SessionOverride, VideoSession
from app.scheduling.recurrence import local_to_utc
from tests.conftest import login, post
from tests.invites.conftest import (LONDON, _mail_settings, calendar_of, calendar_part, deliver,  # noqa: F401
                                    one_to, originals, recipients, smtp, smtp_server, text_of,
                                    vevents, weekly_input)

HTMX = {"HX-Request": "true", "HX-Target": "dialog-body"}


@pytest.fixture
def series(school):
    return services.schedule_session(school.teacher, weekly_input(school.students))


def page_of(client, session) -> str:
    return client.get(f"/sessions/{session.id}").get_data(as_text=True)


def fresh(session) -> VideoSession:
    db.session.expire_all()
    return db.session.get(VideoSession, session.id)


def notifications_of(user) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


# --- reasons shown to participants ---------------------------------------------------------------

def test_reasons_show_on_the_session_page_calendar_and_agenda(client, school, series):
    moved, cancelled = originals(series)[1], originals(series)[2]
    services.move_occurrence(school.teacher, series, moved, moved + timedelta(hours=1),
                             reason="Parents' evening")
    services.cancel_occurrence(school.teacher, series, cancelled, reason="Mock exams")
    student = school.students[0]
    login(client, student)
    page = page_of(client, series)
    assert "Moved: Parents&#39; evening" in page
    assert "Cancelled: Mock exams" in page
    day = moved.date() - timedelta(days=moved.weekday())
    for view in ("week", "agenda"):
        calendar = client.get(f"/calendar?view={view}&date={day.isoformat()}").get_data(
            as_text=True)
        assert "Moved: Parents&#39; evening" in calendar
    week = client.get(f"/calendar?view=week&date={cancelled.date().isoformat()}").get_data(
        as_text=True)
    assert "(60 min). Cancelled: Mock exams" in week  # the card's tooltip
    agenda = client.get(f"/calendar?view=agenda&date={cancelled.date().isoformat()}").get_data(
        as_text=True)
    assert '<p class="ag-reason">Cancelled: Mock exams</p>' in agenda
    # Without a reason, the tooltip still says what happened (a short card has no badge).
    quiet = originals(series)[3]
    services.cancel_occurrence(school.teacher, fresh(series), quiet)
    week = client.get(f"/calendar?view=week&date={quiet.date().isoformat()}").get_data(
        as_text=True)
    assert '(60 min). Cancelled"' in week


def test_reasons_reach_notifications_and_emails(school, series, deliver):  # noqa: F811
    deliver()
    original = originals(series)[3]
    services.cancel_occurrence(school.teacher, series, original, reason="Mock exams")
    received = deliver()
    for user in school.students:
        assert "Mock exams" in text_of(one_to(received, user.email))
        assert notifications_of(user)[-1].body == "Mock exams"
    services.move_occurrence(school.teacher, series, originals(series)[4],
                             originals(series)[4] + timedelta(hours=2), reason="Room booked")
    received = deliver()
    for user in school.students:
        assert "Room booked" in text_of(one_to(received, user.email))
        assert notifications_of(user)[-1].body.endswith("· Room booked")


def test_occurrence_reason(school, series):
    first, second = originals(series)[:2]
    assert services.occurrence_reason(services.find_occurrence(series, first)) == ""
    services.cancel_occurrence(school.teacher, series, first, reason="Snow")
    services.move_occurrence(school.teacher, series, second, second + timedelta(minutes=30))
    assert services.occurrence_reason(services.find_occurrence(series, first)) == "Snow"
    assert services.occurrence_reason(services.find_occurrence(series, second)) == ""
    services.cancel_series(school.teacher, series, reason="Course closed")
    assert services.occurrence_reason(services.find_occurrence(series, second)) == \
        "Course closed"


# --- restoring a cancelled occurrence ------------------------------------------------------------

def test_restoring_brings_the_occurrence_back_with_a_request_audit_and_notifications(
        school, series, deliver):  # noqa: F811
    deliver()
    original = originals(series)[2]
    services.cancel_occurrence(school.teacher, series, original, reason="Mock exams")
    deliver()
    sequence = fresh(series).sequence

    occurrence = services.restore_occurrence(school.teacher, fresh(series), original)
    session = fresh(series)
    assert not occurrence.cancelled
    assert occurrence.start == local_to_utc(original, LONDON)
    assert session.overrides == []  # nothing else was special about it: no EXDATE left
    assert session.sequence == sequence + 1
    assert db.session.scalar(select(AuditLog).where(
        AuditLog.action == "session.occurrence_restored")) is not None
    [master] = ical.series_events(session, "http://x")
    assert "EXDATE" not in master

    received = deliver()
    assert recipients(received) == sorted([school.teacher.email] +
                                          [s.email for s in school.students])
    for user in [school.teacher, *school.students]:
        message = one_to(received, user.email)
        assert calendar_part(message).get_param("method") == "REQUEST"
        calendar = calendar_of(message)
        [event] = vevents(calendar)
        assert calendar["METHOD"] == "REQUEST"
        assert str(event["UID"]) == series.ical_uid
        assert event["RECURRENCE-ID"].dt == original.replace(tzinfo=LONDON)
        assert event["DTSTART"].dt == original.replace(tzinfo=LONDON)
        assert event["STATUS"] == "CONFIRMED"
        assert event["SEQUENCE"] == sequence + 1
        assert str(message["Subject"]).startswith("Back on: Algebra")
        assert "takes place after all" in text_of(message)
    for user in school.students:
        latest = notifications_of(user)[-1]
        assert latest.title.startswith("Algebra on ") and latest.title.endswith("is back on")
        assert latest.type.value == "SESSION_RESCHEDULED"
    # The teacher restored it: no notification to themselves about it.
    assert not any("back on" in n.title for n in notifications_of(school.teacher))


def test_a_moved_then_cancelled_occurrence_comes_back_at_its_own_time(school, series):
    original = originals(series)[1]
    new_start = original + timedelta(days=1, hours=2)
    services.move_occurrence(school.teacher, series, original, new_start, reason="Trip")
    services.cancel_occurrence(school.teacher, series, original, reason="Trip cancelled")
    occurrence = services.restore_occurrence(school.teacher, fresh(series), original)
    assert occurrence.start == local_to_utc(new_start, LONDON) and occurrence.moved
    [override] = fresh(series).overrides
    assert (override.cancelled, override.reason) == (False, "")


def test_restoring_is_refused_when_it_makes_no_sense(school, series):
    first, second = originals(series)[:2]
    with pytest.raises(ValidationError, match="not cancelled"):
        services.restore_occurrence(school.teacher, series, first)
    services.cancel_occurrence(school.teacher, series, second)
    with pytest.raises(PermissionDenied):
        services.restore_occurrence(school.students[0], fresh(series), second)
    services.cancel_series(school.teacher, fresh(series))
    with pytest.raises(ValidationError, match="whole series is cancelled"):
        services.restore_occurrence(school.teacher, fresh(series), second)


def test_a_past_occurrence_cannot_be_restored(school, series):
    # Cancelled long ago, restored after it took place: refused (the database is set back in
    # time rather than waiting for a week to pass).
    original = originals(series)[0]
    services.cancel_occurrence(school.teacher, series, original)
    session = fresh(series)
    ahead = local_to_utc(original, LONDON) - utcnow()
    session.start_local -= timedelta(weeks=ahead.days // 7 + 2)  # same weekday, weeks ago
    db.session.commit()
    original = fresh(series).start_local
    override = db.session.scalar(select(SessionOverride))
    override.original_start_local = original
    db.session.commit()
    with pytest.raises(ValidationError, match="is over"):
        services.restore_occurrence(school.teacher, fresh(series), original)


def test_restoring_checks_conflicts_like_a_move(make, school, series):
    original = originals(series)[3]
    services.cancel_occurrence(school.teacher, series, original)
    clash = weekly_input([school.students[0]], title="Chemistry", frequency="NONE",
                         date=original.date(), start_time=time(16, 30))
    services.schedule_session(school.teacher, clash, allow_conflicts=True)
    with pytest.raises(services.ConflictsFound) as caught:
        services.restore_occurrence(school.teacher, fresh(series), original)
    assert {c.person.id for c in caught.value.conflicts} == {school.teacher.id,
                                                             school.students[0].id}
    services.restore_occurrence(school.teacher, fresh(series), original, allow_conflicts=True)
    assert not services.find_occurrence(fresh(series), original).cancelled


def test_restore_in_the_dialog(as_user, school, series):
    original = originals(series)[2]
    services.cancel_occurrence(school.teacher, series, original, reason="Mock exams")
    key = original.isoformat()
    url = f"/sessions/{series.id}/occurrences/{key}/restore"

    student = as_user(school.students[0])
    assert student.get(url, headers=HTMX).status_code == 403
    assert "Restore</a>" not in page_of(student, series)

    client = as_user(school.teacher)
    page = page_of(client, series)
    assert f'hx-get="{url}"' in page and "Cancelled: Mock exams" in page
    dialog = client.get(url, headers=HTMX)
    assert dialog.status_code == 200
    body = dialog.get_data(as_text=True)
    assert 'id="dialog-title"' in body and "Restore occurrence" in body
    assert "participants get it back in their calendars and are told" in body

    answer = post(client, url, headers=HTMX)
    assert answer.status_code == 200 and answer.headers["HX-Redirect"] == f"/sessions/{series.id}"
    assert not services.find_occurrence(fresh(series), original).cancelled
    assert "The occurrence was restored" in page_of(client, series)
    # Again: it is not cancelled any more, said in the dialog (422), nothing changes.
    again = post(client, url, headers=HTMX)
    assert again.status_code == 422
    assert "That occurrence is not cancelled." in again.get_data(as_text=True)
    # Junk in the URL is a 404, not a 500.
    assert post(client, f"/sessions/{series.id}/occurrences/9999-99-99/restore").status_code \
        == 404


def test_restore_conflicts_offer_restore_anyway(client, school, series):
    original = originals(series)[3]
    services.cancel_occurrence(school.teacher, series, original)
    services.schedule_session(school.teacher, weekly_input(
        [school.students[1]], title="Chemistry", frequency="NONE", date=original.date(),
        start_time=time(16, 15)), allow_conflicts=True)
    login(client, school.teacher)
    url = f"/sessions/{series.id}/occurrences/{original.isoformat()}/restore"
    answer = post(client, url, headers=HTMX)
    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert "Already booked at that time" in body and "Restore anyway" in body
    assert post(client, url, {"allow_conflicts": "1"}, headers=HTMX).status_code == 200
    assert not services.find_occurrence(fresh(series), original).cancelled


# --- split series link both ways ------------------------------------------------------------------

def test_a_split_series_links_to_its_continuation_and_back(as_user, make, school, series):
    at = originals(series)[4]
    data = services.input_from_session(series)
    data.date, data.start_time, data.title = at.date(), time(17, 0), "Algebra (later)"
    data.count = 6
    later = services.split_series(school.teacher, series, at, data)

    client = as_user(school.students[0])
    old_page, new_page = page_of(client, series), page_of(client, later)
    assert (f'<dt>Continues as</dt><dd><a class="continues-as" href="/sessions/{later.id}">'
            f'Algebra (later)</a>, from {at:%-d %b %Y}') in old_page
    assert (f'<dt>Continued from</dt><dd><a id="continued-from" href="/sessions/{series.id}">'
            "Algebra</a>") in new_page

    # Someone who may see only the continuation is not shown a link to the other one.
    newcomer = make.user(school.center, Role.STUDENT, name="Nina New")
    school.course.enrollments  # noqa: B018 (loaded before the new enrolment below)
    make.course(school.center, "Extra", teachers=[school.teacher], students=[newcomer])
    services.add_participants(school.teacher, fresh(later), [newcomer.id])
    client = as_user(newcomer)
    page = page_of(client, later)
    assert "Continued from" not in page
    assert client.get(f"/sessions/{series.id}").status_code == 404


def test_session_page_query_count_does_not_grow_with_continuations(client, school, series,
                                                                    count_queries):
    login(client, school.teacher)

    def queries():
        db.session.expire_all()
        with count_queries() as counter:
            assert client.get(f"/sessions/{series.id}").status_code == 200
        return counter.count

    data = services.input_from_session(series)
    at = originals(series)[6]
    data.date, data.start_time = at.date(), time(18, 0)
    services.split_series(school.teacher, fresh(series), at, data)
    one = queries()
    data = services.input_from_session(fresh(series))
    at = originals(fresh(series))[3]
    data.date, data.start_time, data.count = at.date(), time(19, 0), 2
    services.split_series(school.teacher, fresh(series), at, data)
    page = client.get(f"/sessions/{series.id}").get_data(as_text=True)
    assert page.count("<dt>Continues as</dt>") == 2
    assert queries() == one
