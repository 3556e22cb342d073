"""The personal calendar feed over HTTP, read back with icalendar and recurring-ical-events.

Sessions are scheduled, moved, cancelled and split through the services; the feed must say the
same thing the app's own calendar says: the same occurrences at the same instants over a year.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from flask import url_for
from icalendar import Calendar, vRecur
from sqlalchemy import select
from werkzeug.routing import BuildError

from app.accounts.models import Role, User
from app.db_types import utcnow
from app.demo import seed_demo
from app.extensions import db
from app.scheduling import ical, recurrence, services
from app.scheduling.models import Frequency, SessionStatus, SessionType, VideoSession
from app.scheduling.services import SessionInput
from tests.conftest import csrf_token, login, post

UTC = timezone.utc
RESET_MESSAGE = "Your calendar feed address was reset; the old one no longer works."


# --- helpers ---------------------------------------------------------------------------------

def monday_ahead():
    """Next week's Monday: every scheduled time below is in the future."""
    today = utcnow().date()
    return today + timedelta(days=7 - today.weekday())


def schedule(teacher, **fields):
    data = SessionInput(**{"duration_minutes": 60, "timezone": "Europe/London", **fields})
    return services.schedule_session(teacher, data, allow_conflicts=True)


def originals(session, n):
    return recurrence.original_starts_between(services.schedule_of(session),
                                              session.start_local, datetime.max)[:n]


def fetch(client, token):
    response = client.get(f"/calendar/feed/{token}.ics")
    assert response.status_code == 200, response.status_code
    return response, Calendar.from_ical(response.data)


def events_by_uid(calendar):
    found: dict[str, list] = {}
    for event in calendar.walk("VEVENT"):
        found.setdefault(str(event["UID"]), []).append(event)
    return found


def master_of(events):
    masters = [e for e in events if "RECURRENCE-ID" not in e]
    assert len(masters) == 1
    return masters[0]


def instances_of(events):
    return [e for e in events if "RECURRENCE-ID" in e]


def as_list(value):
    """A property that may occur several times is a list when it does, else the one value."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def exdates(event):
    return [d.dt for one in as_list(event.get("EXDATE")) for d in one.dts]


def tzid(event, name):
    return event[name].params.get("TZID")


def naive(dt):
    return dt.replace(tzinfo=None)


def feed_occurrences(calendar, window_start, window_end):
    """(UID, start, end) of every non-cancelled occurrence starting in [window_start, window_end),
    expanded by recurring-ical-events (a day of margin, then the same half-open window)."""
    found = set()
    for component in recurring_ical_events.of(calendar).between(window_start - timedelta(days=1),
                                                                window_end):
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            continue
        start = component.start.astimezone(UTC)
        if window_start <= start < window_end:
            found.add((str(component["UID"]), start, component.end.astimezone(UTC)))
    return found


def app_occurrences(user, window_start, window_end):
    return {(occ.session.ical_uid, occ.start, occ.end)
            for occ in services.occurrences_between(services.feed_sessions(user), window_start,
                                                    window_end)
            if not occ.cancelled}


# --- the scenario ------------------------------------------------------------------------------

@pytest.fixture
def timetable(make, school):
    teacher, (sara, ben) = school.teacher, school.students
    monday = monday_ahead()

    weekly = schedule(teacher, title="Algebra class", description="Bring a calculator.",
                      course_id=school.course.id, date=monday, start_time=time(16),
                      frequency="WEEKLY", weekdays=["MO", "TH"], ends="count", count=10)
    w = originals(weekly, 10)
    moved_to = datetime.combine(w[2].date() + timedelta(days=1), time(18, 30))
    services.move_occurrence(teacher, weekly, w[2], moved_to, 45, "Room change",
                             allow_conflicts=True)
    services.cancel_occurrence(teacher, weekly, w[5], "Holiday")
    services.move_occurrence(teacher, weekly, w[7], w[7] + timedelta(hours=2),
                             allow_conflicts=True)
    services.cancel_occurrence(teacher, weekly, w[7])

    daily = schedule(teacher, title="Morning drills", participant_ids=[ben.id],
                     timezone="America/New_York", date=monday + timedelta(days=1),
                     start_time=time(9), duration_minutes=30, frequency="DAILY", ends="until",
                     until_date=monday + timedelta(days=20))
    d = originals(daily, 5)
    services.cancel_occurrence(teacher, daily, d[4])
    services.move_occurrence(teacher, daily, d[1], d[1].replace(hour=10, minute=15),
                             allow_conflicts=True)

    # Endless and weekly in London: crosses both DST changes within the year.
    clinic = schedule(teacher, title="Homework clinic", participant_ids=[sara.id],
                      date=monday + timedelta(days=2), start_time=time(17),
                      frequency="WEEKLY", weekdays=["WE"],
                      ends="never")
    c = originals(clinic, 6)
    data = replace(services.input_from_session(clinic), date=c[5].date(),
                   start_time=time(17, 30), duration_minutes=50)
    clinic_later = services.split_series(teacher, clinic, c[5], data, allow_conflicts=True)

    dropped = schedule(teacher, title="Tokyo mornings", participant_ids=[sara.id],
                       timezone="Asia/Tokyo", date=monday + timedelta(days=2),
                       start_time=time(8), frequency="DAILY", ends="count", count=5)
    services.cancel_series(teacher, dropped, "Not enough interest")

    single = schedule(teacher, title="Exam review", type="ONE_ON_ONE", participant_ids=[ben.id],
                      date=monday + timedelta(days=3), start_time=time(12), duration_minutes=90)

    # Someone else's: another teacher of the same center, and another center altogether.
    other_teacher = make.user(school.center, Role.TEACHER, name="Olly Other")
    make.course(school.center, "Chemistry", teachers=[other_teacher], students=[school.outsider])
    other = schedule(other_teacher, title="Chemistry lab", participant_ids=[school.outsider.id],
                     date=monday, start_time=time(11))
    far_center = make.center("Far away")
    far_teacher = make.user(far_center, Role.TEACHER)
    far_student = make.user(far_center)
    make.course(far_center, teachers=[far_teacher], students=[far_student])
    far = schedule(far_teacher, title="Far lesson", participant_ids=[far_student.id],
                   date=monday, start_time=time(16))

    return type("Timetable", (), dict(
        school=school, teacher=teacher, sara=sara, ben=ben, monday=monday, weekly=weekly,
        weekly_originals=w, moved_to=moved_to, daily=daily, daily_originals=d, clinic=clinic,
        clinic_originals=c, clinic_later=clinic_later, dropped=dropped, single=single,
        other=other, far=far))


def year_window(timetable):
    start = datetime.combine(timetable.monday - timedelta(days=3), time(0), tzinfo=UTC)
    return start, start + timedelta(days=365)


# --- the document -----------------------------------------------------------------------------

def test_feed_response_is_a_private_calendar_without_cookies(client, timetable):
    token = services.feed_token_for(timetable.teacher)
    response, calendar = fetch(client, token)
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "max-age=" in cache and "public" not in cache
    assert "Set-Cookie" not in response.headers
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == ical.PRODID
    assert calendar["CALSCALE"] == "GREGORIAN"
    assert timetable.teacher.name in str(calendar["X-WR-CALNAME"])
    assert calendar["METHOD"] == "PUBLISH"
    # The calendar's own UID is stable from fetch to fetch (and is not the token).
    assert fetch(client, token)[1]["UID"] == calendar["UID"] and token not in calendar["UID"]
    # The feed does not hand out classmates' addresses.
    assert b"ATTENDEE" not in response.data


def test_every_series_is_one_master_with_its_uid_sequence_stamp_and_zone(client, timetable):
    t = timetable
    _, calendar = fetch(client, services.feed_token_for(t.teacher))
    by_uid = events_by_uid(calendar)
    mine = [t.weekly, t.daily, t.clinic, t.clinic_later, t.dropped, t.single]
    assert set(by_uid) == {s.ical_uid for s in mine}
    assert {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")} == {
        "Europe/London", "America/New_York", "Asia/Tokyo"}
    now = utcnow()
    for session in mine:
        db.session.refresh(session)
        events = by_uid[session.ical_uid]
        master = master_of(events)
        for event in events:
            assert event["SEQUENCE"] == session.sequence
            stamp = event["DTSTAMP"].dt
            assert stamp.utcoffset() == timedelta(0)
            assert abs(stamp - now) < timedelta(minutes=2)
            assert tzid(event, "DTSTART") == session.timezone
            assert str(event["URL"]) == f"http://127.0.0.1:5000/sessions/{session.id}"
            assert str(event["SUMMARY"]) == session.title
            assert str(event["ORGANIZER"]) == f"mailto:{t.teacher.email}"
            assert event["ORGANIZER"].params["CN"] == t.teacher.name
        assert naive(master["DTSTART"].dt) == session.start_local
        assert master["DTSTART"].dt.utcoffset() == session.tz.utcoffset(session.start_local)
        start = recurrence.local_to_utc(session.start_local, session.tz)
        assert master["DTEND"].dt.astimezone(UTC) == start + session.duration
        expected_rule = recurrence.rrule_string(services.schedule_of(session))
        if expected_rule is None:
            assert "RRULE" not in master
        else:
            assert master["RRULE"].to_ical() == vRecur.from_ical(expected_rule).to_ical()
    # Sequences really moved: the weekly series was changed four times.
    assert t.weekly.sequence == 4


def test_rules_exdates_and_recurrence_ids(client, timetable):
    t = timetable
    response, calendar = fetch(client, services.feed_token_for(t.teacher))
    text = response.data.decode()
    by_uid = events_by_uid(calendar)
    london, new_york = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")

    weekly = by_uid[t.weekly.ical_uid]
    master = master_of(weekly)
    rule = master["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"] and rule["BYDAY"] == ["MO", "TH"] and rule["COUNT"] == [10]
    w = t.weekly_originals
    # Cancelled: EXDATE at the original start, with the TZID; the one moved and then cancelled
    # too, and it has no instance of its own.
    assert exdates(master) == [w[5].replace(tzinfo=london), w[7].replace(tzinfo=london)]
    assert {v.params.get("TZID") for v in as_list(master["EXDATE"])} == {"Europe/London"}
    [moved] = instances_of(weekly)
    assert tzid(moved, "RECURRENCE-ID") == "Europe/London"
    assert naive(moved["RECURRENCE-ID"].dt) == w[2]
    assert naive(moved["DTSTART"].dt) == t.moved_to and tzid(moved, "DTSTART") == "Europe/London"
    assert moved["DTEND"].dt - moved["DTSTART"].dt == timedelta(minutes=45)
    assert "Room change" in str(moved["DESCRIPTION"])

    daily = by_uid[t.daily.ical_uid]
    master = master_of(daily)
    until = recurrence.local_to_utc(datetime.combine(t.monday + timedelta(days=20),
                                                     time(23, 59, 59)), new_york)
    assert master["RRULE"]["UNTIL"] == [until]
    assert f"UNTIL={until:%Y%m%dT%H%M%S}Z" in text.replace("\r\n ", "")
    assert exdates(master) == [t.daily_originals[4].replace(tzinfo=new_york)]
    [moved] = instances_of(daily)
    assert naive(moved["RECURRENCE-ID"].dt) == t.daily_originals[1]
    assert naive(moved["DTSTART"].dt) == t.daily_originals[1].replace(hour=10, minute=15)
    assert moved["DTEND"].dt - moved["DTSTART"].dt == timedelta(minutes=30)

    # The split: the old series ends before the split occurrence, the new one has its own UID.
    c = t.clinic_originals
    old = master_of(by_uid[t.clinic.ical_uid])
    assert old["RRULE"]["UNTIL"] == [recurrence.local_to_utc(c[5] - timedelta(seconds=1), london)]
    new = master_of(by_uid[t.clinic_later.ical_uid])
    assert t.clinic_later.ical_uid != t.clinic.ical_uid
    assert naive(new["DTSTART"].dt) == c[5].replace(hour=17, minute=30)
    assert "UNTIL" not in new["RRULE"] and "COUNT" not in new["RRULE"]

    # A cancelled series stays in the feed, cancelled.
    dropped = master_of(by_uid[t.dropped.ical_uid])
    assert dropped["STATUS"] == "CANCELLED"
    assert "Not enough interest" in str(dropped["DESCRIPTION"])
    assert master_of(weekly)["STATUS"] == "CONFIRMED"

    single = by_uid[t.single.ical_uid]
    assert len(single) == 1 and "RRULE" not in single[0] and "EXDATE" not in single[0]


def test_expanded_feed_matches_the_app_calendar_over_a_year(client, timetable):
    t = timetable
    window_start, window_end = year_window(t)
    for user in (t.teacher, t.sara, t.ben, t.school.outsider):
        _, calendar = fetch(client, services.feed_token_for(user))
        expected = app_occurrences(user, window_start, window_end)
        assert feed_occurrences(calendar, window_start, window_end) == expected, user.name

    teacher_view = app_occurrences(t.teacher, window_start, window_end)
    by_session = {}
    for uid, start, end in teacher_view:
        by_session.setdefault(uid, []).append((start, end))
    # 10 weekly - 2 cancelled; the daily one minus a cancellation; ~52 Wednesdays; no Tokyo.
    assert len(by_session[t.weekly.ical_uid]) == 8
    assert len(by_session[t.daily.ical_uid]) == len(originals(t.daily, 100)) - 1
    assert t.dropped.ical_uid not in by_session
    clinic = sorted(by_session[t.clinic.ical_uid] + by_session[t.clinic_later.ical_uid])
    assert 50 <= len(clinic) <= 53
    moved_start = recurrence.local_to_utc(t.moved_to, ZoneInfo("Europe/London"))
    assert (moved_start, moved_start + timedelta(minutes=45)) in by_session[t.weekly.ical_uid]
    # Across both DST changes the clinic stays at 17:00 / 17:30 London time.
    london = ZoneInfo("Europe/London")
    offsets = {start.astimezone(london).utcoffset() for start, _ in clinic}
    assert offsets == {timedelta(0), timedelta(hours=1)}
    assert {start.astimezone(london).time() for start, _ in clinic} == {time(17), time(17, 30)}


def test_each_user_sees_only_their_own_sessions(client, timetable):
    t = timetable

    def uids(user):
        return set(events_by_uid(fetch(client, services.feed_token_for(user))[1]))

    assert uids(t.sara) == {t.weekly.ical_uid, t.clinic.ical_uid, t.clinic_later.ical_uid,
                            t.dropped.ical_uid}
    assert uids(t.ben) == {t.weekly.ical_uid, t.daily.ical_uid, t.single.ical_uid}
    assert uids(t.school.outsider) == {t.other.ical_uid}
    assert uids(t.school.admin) == {s.ical_uid for s in (
        t.weekly, t.daily, t.clinic, t.clinic_later, t.dropped, t.single, t.other)}
    assert t.far.ical_uid not in uids(t.school.admin)


def test_feed_query_count_does_not_grow_with_sessions(client, school, count_queries):
    teacher, students = school.teacher, school.students
    monday = monday_ahead()
    token = services.feed_token_for(teacher)

    def queries():
        db.session.expire_all()
        with count_queries() as counter:
            fetch(client, token)
        return counter.count

    def add(n, offset):
        for i in range(n):
            session = schedule(teacher, title=f"Lesson {offset + i}", course_id=school.course.id,
                               date=services.first_day_on_weekdays(
                                   monday + timedelta(days=offset + i), ["TU"]),
                               start_time=time(9),
                               frequency="WEEKLY", weekdays=["TU"], ends="count", count=6)
            services.cancel_occurrence(teacher, session, originals(session, 2)[1])

    add(2, 0)
    few = queries()
    add(8, 10)
    assert queries() == few
    assert len(students) == 2


def test_series_events_can_carry_attendees_for_invitations(timetable):
    t = timetable
    events = ical.series_events(t.weekly, "https://classhub.example/")
    assert all("ATTENDEE" not in event for event in events)  # not by default
    events = ical.series_events(t.weekly, "https://classhub.example", with_attendees=True)
    assert len(events) == 2  # the master and the moved occurrence
    for event in events:
        attendees = as_list(event["ATTENDEE"])
        assert sorted(str(a) for a in attendees) == sorted(
            f"mailto:{s.email}" for s in (t.sara, t.ben))
        assert {a.params["PARTSTAT"] for a in attendees} == {"NEEDS-ACTION"}
        assert {a.params["ROLE"] for a in attendees} == {"REQ-PARTICIPANT"}
        assert str(event["URL"]) == f"https://classhub.example/sessions/{t.weekly.id}"
    calendar = ical.new_calendar(method="REQUEST")
    for event in events:
        calendar.add_component(event)
    ical.add_timezones(calendar, [t.weekly])
    parsed = Calendar.from_ical(calendar.to_ical())
    assert parsed["METHOD"] == "REQUEST" and "UID" not in parsed
    assert [str(z["TZID"]) for z in parsed.walk("VTIMEZONE")] == ["Europe/London"]



def unsaved_session(**fields) -> VideoSession:
    """A session that is never stored: the VEVENT builders need no database."""
    teacher = User(id=1, email="t@example.com", name="Tia Teacher")
    values = dict(id=7, title="Late lesson", description="", timezone="Europe/London",
                  duration_minutes=60, frequency=Frequency.NONE, interval=1, by_weekday="",
                  count=None, until_local=None, status=SessionStatus.SCHEDULED,
                  ical_uid="late@classhub", sequence=3, type=SessionType.CLASS,
                  teacher=teacher, teacher_id=1, cancel_reason="")
    return VideoSession(**{**values, **fields})


def round_trip(session) -> list:
    calendar = ical.new_calendar()
    for event in ical.series_events(session, "https://classhub.example"):
        calendar.add_component(event)
    ical.add_timezones(calendar, [session])
    return Calendar.from_ical(calendar.to_ical()).walk("VEVENT")


def test_times_around_dst_changes_name_the_same_instants_as_the_app():
    london = ZoneInfo("Europe/London")
    # Ends at 01:00 in the repeated hour (the second, GMT one): that wall-clock time alone
    # would mean the first, so DTEND is written in UTC.
    [event] = round_trip(unsaved_session(start_local=datetime(2027, 10, 31, 0, 30),
                                         duration_minutes=90))
    assert tzid(event, "DTSTART") == "Europe/London"
    assert event["DTSTART"].dt.astimezone(UTC) == datetime(2027, 10, 30, 23, 30, tzinfo=UTC)
    assert event["DTEND"].dt == datetime(2027, 10, 31, 1, 0, tzinfo=UTC)
    # An ordinary end stays in the session's zone.
    [event] = round_trip(unsaved_session(start_local=datetime(2027, 10, 31, 0, 30),
                                         duration_minutes=30))
    assert tzid(event, "DTEND") == "Europe/London"
    assert naive(event["DTEND"].dt) == datetime(2027, 10, 31, 1, 0)
    assert event["DTEND"].dt.astimezone(UTC) == datetime(2027, 10, 31, 0, 0, tzinfo=UTC)
    # A start in the spring-forward gap is written as the wall-clock time it was given and read
    # back as the instant the app uses (the offset before the gap).
    [event] = round_trip(unsaved_session(start_local=datetime(2027, 3, 28, 1, 30)))
    assert naive(event["DTSTART"].dt) == datetime(2027, 3, 28, 1, 30)
    assert event["DTSTART"].dt.astimezone(UTC) == recurrence.local_to_utc(
        datetime(2027, 3, 28, 1, 30), london)
    assert event["DTEND"].dt.astimezone(UTC) == datetime(2027, 3, 28, 2, 30, tzinfo=UTC)


# --- tokens -------------------------------------------------------------------------------------

def test_unknown_or_inactive_tokens_are_not_found(client, make, school):
    assert client.get("/calendar/feed/not-a-token.ics").status_code == 404
    assert client.get(f"/calendar/feed/{'x' * 100}.ics").status_code == 404
    token = services.feed_token_for(school.students[0])
    assert client.get(f"/calendar/feed/{token}.ics").status_code == 200
    assert client.get(f"/calendar/feed/{token}x.ics").status_code == 404
    gone = make.user(school.center, active=False)
    assert client.get(f"/calendar/feed/{services.feed_token_for(gone)}.ics").status_code == 404


def expected_back(app, fallback):
    with app.test_request_context():
        try:
            return url_for("scheduling.calendar")
        except BuildError:
            return fallback


def test_reset_revokes_the_old_address_and_gives_a_new_one(app, client, school):
    teacher = school.teacher
    old = services.feed_token_for(teacher)
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 200
    login(client, teacher)
    response = post(client, "/calendar/feed/reset", headers={"Referer": "http://localhost/account"})
    assert response.status_code == 302
    assert response.headers["Location"] == expected_back(app, "/account")
    with client.session_transaction() as flask_session:
        assert ("success", RESET_MESSAGE) in flask_session["_flashes"]
    db.session.expire_all()
    new = services.feed_token_for(teacher)
    assert new != old and len(new) >= 32
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 404
    assert client.get(f"/calendar/feed/{new}.ics").status_code == 200
    # Another site as the referrer never becomes the redirect target.
    response = post(client, "/calendar/feed/reset", headers={"Referer": "http://evil.example/x"})
    assert response.headers["Location"] == expected_back(app, "/")


def test_reset_needs_the_csrf_token_and_a_login(client, school):
    teacher = school.teacher
    token = services.feed_token_for(teacher)
    anonymous = client.post("/calendar/feed/reset",
                            data={"csrf_token": csrf_token(client, "/login")})
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, teacher)
    refused = client.post("/calendar/feed/reset")
    assert refused.status_code == 400
    assert "form token is missing or expired" in refused.get_data(as_text=True)
    assert client.get("/calendar/feed/reset").status_code == 405
    db.session.expire_all()
    assert services.feed_token_for(teacher) == token



# --- the demo data --------------------------------------------------------------------------------

def test_demo_timetable_is_idempotent_and_its_feeds_match_the_calendar(client):
    assert seed_demo()["sessions"] == 5
    assert seed_demo()["sessions"] == 0
    start = datetime.combine(utcnow().date() - timedelta(days=1), time(0), tzinfo=UTC)
    end = start + timedelta(days=366)
    feeds = {}
    for email in ("teacher@example.com", "teacher2@example.com", "student4@example.com"):
        user = db.session.scalar(select(User).where(User.email == email))
        _, feeds[email] = fetch(client, services.feed_token_for(user))
        expected = app_occurrences(user, start, end)
        assert expected and feed_occurrences(feeds[email], start, end) == expected, email

    def series(email, title):
        events = [e for e in feeds[email].walk("VEVENT") if str(e["SUMMARY"]) == title]
        return master_of(events), instances_of(events)

    weekly, _ = series("teacher@example.com", "GCSE Mathematics: weekly class")
    assert weekly["RRULE"]["BYDAY"] == ["MO", "TH"] and weekly["RRULE"]["COUNT"] == [20]
    sprint, [moved] = series("teacher@example.com", "Revision sprint")
    assert len(exdates(sprint)) == 1 and "EXDATE" in sprint
    assert moved["DTSTART"].dt - moved["RECURRENCE-ID"].dt == timedelta(hours=1)
    # Maya's feed: her one-on-one in New York time, and the physics class across a DST change
    # (18:00 in Berlin throughout; two different UTC times).
    one_on_one, _ = series("student4@example.com", "One-on-one: projectiles practice")
    assert tzid(one_on_one, "DTSTART") == "America/New_York"
    physics_uid = str(series("student4@example.com", "A-level Physics: problem class")[0]["UID"])
    physics = [o for o in feed_occurrences(feeds["student4@example.com"], start, end)
               if o[0] == physics_uid]
    berlin = ZoneInfo("Europe/Berlin")
    assert len(physics) == 8
    assert {o[1].astimezone(berlin).time() for o in physics} == {time(18)}
    assert len({o[1].time() for o in physics}) == 2
