"""Who gets what: per-type push preferences, muted threads, the sender, people reading the thread
right now, and quiet hours (normal pushes wait until they end, in the user's own zone; urgent
ones go through)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from rq.job import Job
from sqlalchemy import select

from app.accounts.services import ValidationError
from app.chat import services as chat
from app.extensions import db
from app.notifications import services
from app.notifications.models import (NotificationPreference, NotificationType, QuietHours)
from app.realtime.presence import mark_absent, mark_present
from app.redis_conn import get_redis
from tests.notifications.conftest import (make_due, notifications_of, queued_job_ids,
                                          scheduled)

UTC = timezone.utc


@pytest.fixture
def group(school):
    s1, s2 = school.students
    return chat.create_group(school.teacher, "Study group", "Homework help", [s1.id, s2.id])


# --- per-type preferences -----------------------------------------------------------------------

def test_push_off_for_a_type_keeps_the_in_app_record_only(app, school, group, add_device,
                                                          push_service, run_worker):
    s1, s2 = school.students
    d1, d2 = add_device(s1), add_device(s2)
    services.set_preferences(s1, {NotificationType.NEW_MESSAGE: (False, False)})
    run_worker()  # the group's creation notices
    before = {d.id: len(push_service.requests_for(d)) for d in (d1, d2)}

    chat.post_message(school.teacher, group, "Quiz on Friday")
    run_worker()

    assert [n.body for n in notifications_of(s1, NotificationType.NEW_MESSAGE)] == ["Quiz on Friday"]
    assert len(push_service.requests_for(d1)) == before[d1.id]
    assert [p["body"] for p in push_service.delivered(d2)][before[d2.id]:] == ["Quiz on Friday"]


def test_preferences_are_saved_from_the_settings_form(school, as_user, add_device,
                                                      push_service, run_worker):
    s1 = school.students[0]
    device = add_device(s1)
    browser = as_user(s1)
    form = {f"push_{t.value}": "on" for t in NotificationType if t != NotificationType.NEW_MESSAGE}
    form.update({"email_SESSION_CANCELLED": "on", "csrf_token": browser.csrf})
    response = browser.post("/notifications/settings", data=form)
    assert response.status_code == 302
    prefs = services.preferences_for([s1.id])
    assert not services.wants_push(prefs, s1.id, NotificationType.NEW_MESSAGE)
    assert services.wants_push(prefs, s1.id, NotificationType.SESSION_REMINDER)
    assert services.wants_email(prefs, s1.id, NotificationType.SESSION_CANCELLED)
    assert not services.wants_email(prefs, s1.id, NotificationType.NEW_MESSAGE)
    page = browser.get("/notifications/settings").get_data(as_text=True)
    assert 'name="push_NEW_MESSAGE"' in page
    assert 'name="push_NEW_MESSAGE" checked' not in page
    assert 'name="push_SESSION_REMINDER" checked' in page

    direct = chat.get_or_create_direct(school.teacher, s1)
    chat.post_message(school.teacher, direct, "See you at four")
    services.notify([s1], NotificationType.SESSION_REMINDER, "Algebra starts in 15 min")
    db.session.commit()
    run_worker()
    assert [p["type"] for p in push_service.delivered(device)] == ["SESSION_REMINDER"]


def test_no_preference_rows_means_push_on_and_email_off(school):
    s1 = school.students[0]
    prefs = services.preferences_for([s1.id])
    assert prefs == {}
    assert all(services.wants_push(prefs, s1.id, t) for t in NotificationType)
    assert not any(services.wants_email(prefs, s1.id, t) for t in NotificationType)
    services.set_preferences(s1, {NotificationType.NEW_MESSAGE: (False, True)})
    services.set_preferences(s1, {NotificationType.NEW_MESSAGE: (True, False)})
    [row] = db.session.scalars(select(NotificationPreference)).all()
    assert (row.push, row.email) == (True, False)


# --- who is told about a message ------------------------------------------------------------------

def test_a_muted_thread_notifies_no_one_who_muted_it(school, group, run_worker):
    s1, s2 = school.students
    chat.set_muted(s1, group, True)
    message = chat.post_message(school.teacher, group, "Muted for one")
    run_worker()  # the members are told by a job
    assert notifications_of(s1, NotificationType.NEW_MESSAGE) == []
    [notice] = notifications_of(s2, NotificationType.NEW_MESSAGE)
    assert notice.link == f"/chat/threads/{group.id}?at={message.id}"


def test_the_sender_is_not_notified_of_their_own_message(school, group, run_worker):
    chat.post_message(school.students[0], group, "My own words")
    run_worker()  # the members are told by a job
    assert notifications_of(school.students[0], NotificationType.NEW_MESSAGE) == []
    assert len(notifications_of(school.teacher, NotificationType.NEW_MESSAGE)) == 1
    assert len(notifications_of(school.students[1], NotificationType.NEW_MESSAGE)) == 1


def test_someone_reading_the_thread_gets_the_record_but_no_push(app, school, group, add_device,
                                                                push_service, run_worker):
    s1, s2 = school.students
    d1, d2 = add_device(s1), add_device(s2)
    mark_present(app, f"thread:{group.id}", s1.id, "socket-1")
    chat.post_message(school.teacher, group, "While you are reading")
    run_worker()
    assert [n.body for n in notifications_of(s1, NotificationType.NEW_MESSAGE)] == [
        "While you are reading"]
    assert push_service.requests_for(d1) == []
    assert [p["body"] for p in push_service.delivered(d2)] == ["While you are reading"]

    mark_absent(app, f"thread:{group.id}", s1.id, "socket-1")
    chat.post_message(school.teacher, group, "After you left")
    run_worker()
    assert [p["body"] for p in push_service.delivered(d1)] == ["After you left"]


def test_presence_in_another_thread_does_not_hold_back_the_push(app, school, group, add_device,
                                                                push_service, run_worker):
    s1 = school.students[0]
    device = add_device(s1)
    direct = chat.get_or_create_direct(school.teacher, s1)
    mark_present(app, f"thread:{direct.id}", s1.id, "socket-1")
    chat.post_message(school.teacher, group, "In the group")
    run_worker()
    assert [p["body"] for p in push_service.delivered(device)] == ["In the group"]


def test_deactivated_users_get_nothing(school, make):
    gone = make.user(school.center, active=False)
    assert services.notify([gone, None], NotificationType.NEW_MESSAGE, "Hello") == []
    db.session.commit()
    assert notifications_of(gone) == []


# --- quiet hours ------------------------------------------------------------------------------------

def quiet_around_now(user, zone: str):
    """Quiet hours for ``user`` from an hour ago to two hours ahead on their own clock; returns
    when they end, as an instant."""
    local_now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    start = (local_now - timedelta(hours=1)).replace(second=0, microsecond=0)
    end = (local_now + timedelta(hours=2)).replace(second=0, microsecond=0)
    services.set_quiet_hours(user, True, start.time(), end.time())
    return end.astimezone(UTC)


def test_a_normal_push_in_quiet_hours_waits_until_they_end(app, make, school, add_device,
                                                           push_service, run_worker):
    tokyo = make.user(school.center, timezone="Asia/Tokyo")
    device = add_device(tokyo)
    ends = quiet_around_now(tokyo, "Asia/Tokyo")
    [notification] = services.notify([tokyo], NotificationType.NEW_MESSAGE, "Late message")
    db.session.commit()

    assert queued_job_ids(app, "default") == []
    [(job_id, when)] = scheduled(app, "default")
    assert when == ends  # the end of quiet hours on the user's clock, as UTC
    job = Job.fetch(job_id, connection=get_redis(app))
    assert job.args == (notification.id,)
    run_worker(with_scheduler=True)
    assert push_service.all_requests() == []
    assert scheduled(app, "default") == [(job_id, when)]
    # The in-app record is there at once; only the push waits.
    assert [n.title for n in notifications_of(tokyo)] == ["Late message"]

    make_due(app, "default")  # quiet hours are over
    run_worker(with_scheduler=True)
    assert [p["title"] for p in push_service.delivered(device)] == ["Late message"]


def test_an_urgent_push_goes_through_quiet_hours(app, make, school, add_device, push_service,
                                                 run_worker):
    tokyo = make.user(school.center, timezone="Asia/Tokyo")
    device = add_device(tokyo)
    quiet_around_now(tokyo, "Asia/Tokyo")
    services.notify([tokyo], NotificationType.SESSION_REMINDER, "Algebra starts in 15 min")
    db.session.commit()
    assert len(queued_job_ids(app, "high")) == 1
    assert scheduled(app, "high") == [] and scheduled(app, "default") == []
    run_worker()
    [payload] = push_service.delivered(device)
    assert payload["title"] == "Algebra starts in 15 min"


def test_quiet_hours_are_on_each_users_own_clock(app, make, school, add_device, push_service,
                                                run_worker):
    tokyo = make.user(school.center, timezone="Asia/Tokyo")
    new_york = make.user(school.center, timezone="America/New_York")
    d_tokyo, d_new_york = add_device(tokyo), add_device(new_york)
    quiet_around_now(tokyo, "Asia/Tokyo")
    # The same wall-clock hours: 13 or 14 hours away from now in New York.
    tokyo_quiet = services.quiet_hours_for(tokyo)
    services.set_quiet_hours(new_york, True, tokyo_quiet.start, tokyo_quiet.end)
    services.notify([tokyo, new_york], NotificationType.SESSION_SCHEDULED, "New session")
    db.session.commit()
    run_worker()
    assert push_service.delivered(d_tokyo) == []
    assert [p["title"] for p in push_service.delivered(d_new_york)] == ["New session"]
    assert len(scheduled(app, "default")) == 1


NY = "America/New_York"


@pytest.mark.parametrize("zone, start, end, now, expected", [
    # Across midnight, evening side: until 07:00 the next morning (EST = UTC-5).
    (NY, time(22), time(7), datetime(2026, 1, 15, 3, 30, tzinfo=UTC),
     datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
    # Across midnight, morning side: until 07:00 the same day.
    (NY, time(22), time(7), datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
     datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
    # The end is exclusive, the start inclusive.
    (NY, time(22), time(7), datetime(2026, 1, 15, 12, 0, tzinfo=UTC), None),
    (NY, time(22), time(7), datetime(2026, 1, 15, 2, 59, tzinfo=UTC), None),
    (NY, time(22), time(7), datetime(2026, 1, 15, 3, 0, tzinfo=UTC),
     datetime(2026, 1, 15, 12, 0, tzinfo=UTC)),
    # The night the clocks go forward (8 March 2026): 07:00 EDT is 11:00 UTC.
    (NY, time(22), time(7), datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
     datetime(2026, 3, 8, 11, 0, tzinfo=UTC)),
    # The same instant is 04:30 in London (quiet) and 13:30 in Tokyo (not).
    ("Europe/London", time(22), time(7), datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
     datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
    ("Asia/Tokyo", time(22), time(7), datetime(2026, 3, 8, 4, 30, tzinfo=UTC), None),
    # A daytime window.
    ("Asia/Tokyo", time(13), time(15), datetime(2026, 3, 8, 4, 30, tzinfo=UTC),
     datetime(2026, 3, 8, 6, 0, tzinfo=UTC)),
])
def test_quiet_until(make, school, zone, start, end, now, expected):
    user = make.user(school.center, timezone=zone)
    quiet = QuietHours(user_id=user.id, enabled=True, start=start, end=end)
    assert services.quiet_until(quiet, user, now) == expected


def test_disabled_or_missing_quiet_hours_hold_nothing(make, school):
    user = make.user(school.center, timezone=NY)
    now = datetime(2026, 1, 15, 3, 30, tzinfo=UTC)
    assert services.quiet_until(None, user, now) is None
    off = QuietHours(user_id=user.id, enabled=False, start=time(22), end=time(7))
    assert services.quiet_until(off, user, now) is None


def test_quiet_hours_need_a_start_and_a_different_end(school, as_user):
    s1 = school.students[0]
    with pytest.raises(ValidationError):
        services.set_quiet_hours(s1, True, time(22), time(22))
    with pytest.raises(ValidationError):
        services.set_quiet_hours(s1, True, None, time(7))
    browser = as_user(s1)
    response = browser.post("/notifications/settings", data={
        "csrf_token": browser.csrf, "quiet_enabled": "on", "quiet_start": "21:00",
        "quiet_end": "21:00"})
    assert response.status_code == 422
    assert "different start and end" in response.get_data(as_text=True)
    response = browser.post("/notifications/settings", data={
        "csrf_token": browser.csrf, "quiet_enabled": "on", "quiet_start": "21:30",
        "quiet_end": "06:45"})
    assert response.status_code == 302
    quiet = services.quiet_hours_for(s1)
    assert (quiet.enabled, quiet.start, quiet.end) == (True, time(21, 30), time(6, 45))
    page = browser.get("/notifications/settings").get_data(as_text=True)
    assert 'value="21:30"' in page and 'value="06:45"' in page
