"""A student proposes a session in their group; the owner approves or declines it (end to end,
through the HTTP endpoints, a real RQ worker and a real SMTP server on loopback).

Pending proposals reach only the owner: no invitations, reminders, calendars or feeds until
approved; approving runs the normal scheduling path (notifications, iCal REQUEST emails)."""
from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar
from sqlalchemy import select

from app.extensions import db
from app.mail.models import EmailOutbox
from app.notifications.models import Notification, NotificationType
from app.notifications.reminders import sweep
from app.scheduling import services
from app.scheduling.models import SessionStatus, VideoSession
from tests.groups.conftest import (WEEKDAYS_15_19, local, monday_ahead, post_form, session_form,
                                   set_rules)


GROUP_CHAT_TYPES = (NotificationType.GROUP_CHAT_CREATED, NotificationType.ADDED_TO_GROUP,
                    NotificationType.NEW_MESSAGE)


def notifications(user, type_=None):
    """The user's notifications about sessions (not the group chat's own)."""
    stmt = select(Notification).where(Notification.user_id == user.id,
                                      Notification.type.notin_(GROUP_CHAT_TYPES))
    if type_ is not None:
        stmt = stmt.where(Notification.type == type_)
    return list(db.session.scalars(stmt.order_by(Notification.id)))


def only_session() -> VideoSession:
    db.session.expire_all()
    [session] = db.session.scalars(select(VideoSession)).all()
    return session


def calendar_emails(received, address):
    found = []
    for item in received:
        if address not in item.rcpt_tos:
            continue
        for part in item.message.walk():
            if part.get_content_type() == "text/calendar":
                found.append(Calendar.from_ical(part.get_content()))
    return found


def test_proposal_waits_for_the_owner_then_approval_invites_everyone(group_world, as_user,
                                                                     smtp, run_worker):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", approval=True, notice=24, slots=WEEKDAYS_15_19)
    student = as_user(world.s1)
    day = monday_ahead()

    answer = post_form(student, f"/groups/{world.group.id}/sessions/new",
                       session_form(day, "16:00", title="Mock exam review"))
    assert answer.status_code == 204, answer.get_data(as_text=True)[:1500]
    assert f"/groups/{world.group.id}/sessions" in answer.headers["HX-Location"]

    session = only_session()
    assert session.status == SessionStatus.PENDING
    assert session.group_id == world.group.id
    assert session.created_by_id == world.s1.id and session.teacher_id == world.owner.id
    assert services.schedule_of(session).start_local == local(day, "16:00").replace(tzinfo=None)

    # Only the owner hears of it; nothing is queued for anyone else.
    [told] = notifications(world.owner, NotificationType.SESSION_PROPOSED)
    assert "Mock exam review" in told.title and world.s1.name in told.title
    assert told.link == f"/groups/{world.group.id}/sessions"
    assert not notifications(world.s2) and not notifications(world.co_teacher)
    assert db.session.scalars(select(EmailOutbox)).all() == []
    run_worker()
    assert smtp.received == []

    # Not in anyone's calendar or feed, no reminder; the owner sees it on the Sessions tab.
    window = (local(day, "00:00"), local(day, "23:59"))
    for person in (world.owner, world.s1, world.s2):
        assert services.visible_occurrences(person, *window) == []
        assert session.id not in {s.id for s in services.feed_sessions(person)}
    assert sweep(local(day, "15:50")) == {"occurrences": 0, "reminders": 0}
    owner = as_user(world.owner)
    tab = owner.get(f"/groups/{world.group.id}/sessions").get_data(as_text=True)
    assert "Waiting for approval" in tab and "Approve Mock exam review" in tab
    other_student = as_user(world.s2).get(f"/groups/{world.group.id}/sessions")
    assert "Mock exam review" not in other_student.get_data(as_text=True)
    assert as_user(world.s2).get(f"/sessions/{session.id}").status_code == 404

    # The proposer cannot approve it; the owner does.
    refused = post_form(student, f"/groups/{world.group.id}/sessions/{session.id}/approve", {})
    assert refused.status_code == 403
    approved = post_form(owner, f"/groups/{world.group.id}/sessions/{session.id}/approve", {})
    assert approved.status_code == 204
    session = only_session()
    assert session.status == SessionStatus.SCHEDULED

    [ok] = notifications(world.s1, NotificationType.PROPOSAL_APPROVED)
    assert ok.link == f"/sessions/{session.id}"
    assert notifications(world.s2, NotificationType.SESSION_SCHEDULED)
    # The proposer was told by "approved" (with the time): not a second time as "New session".
    assert not notifications(world.s1, NotificationType.SESSION_SCHEDULED)
    run_worker()
    delivered = smtp.received
    for person in (world.s1, world.s2):
        [cal] = calendar_emails(delivered, person.email)
        assert cal["METHOD"] == "REQUEST"
        [event] = list(cal.walk("VEVENT"))
        assert str(event["SUMMARY"]) == "Mock exam review"
    assert services.visible_occurrences(world.s2, *window)

    # Answered once only.
    again = post_form(owner, f"/groups/{world.group.id}/sessions/{session.id}/approve", {})
    assert again.status_code == 204
    assert "already answered" in owner.get(f"/groups/{world.group.id}/sessions").get_data(as_text=True)


def test_declined_proposal_tells_the_proposer_why_and_sends_nothing(group_world, as_user, smtp,
                                                                    run_worker):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", approval=True)
    student = as_user(world.s2)
    day = monday_ahead()
    assert post_form(student, f"/groups/{world.group.id}/sessions/new",
                     session_form(day, "17:00", title="Extra practice")).status_code == 204
    session = only_session()
    owner = as_user(world.owner)
    path = f"/groups/{world.group.id}/sessions/{session.id}/decline"

    # A reason is required; what was typed is kept.
    empty = post_form(owner, path, {"reason": "   "})
    assert empty.status_code == 422 and "Tell the proposer why" in empty.get_data(as_text=True)
    assert only_session().status == SessionStatus.PENDING

    declined = post_form(owner, path, {"reason": "We have the mock exam that week."})
    assert declined.status_code == 204
    session = only_session()
    assert session.status == SessionStatus.DECLINED
    [told] = notifications(world.s2, NotificationType.PROPOSAL_DECLINED)
    assert "We have the mock exam that week." in told.body
    assert not notifications(world.s1)
    run_worker()
    assert smtp.received == []
    assert db.session.scalars(select(EmailOutbox)).all() == []
    page = student.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "Declined because" in page and "We have the mock exam that week." in page
    # A declined proposal cannot be edited, approved or cancelled into announcements.
    assert post_form(owner, f"/groups/{world.group.id}/sessions/{session.id}/approve",
                     {}).status_code == 204
    assert only_session().status == SessionStatus.DECLINED
    cancel = post_form(owner, f"/sessions/{session.id}/cancel", {"reason": "x"})
    assert cancel.status_code == 422 and "proposal" in cancel.get_data(as_text=True)


def test_without_approval_a_member_schedules_directly(group_world, as_user, smtp, run_worker):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", approval=False)
    answer = post_form(as_user(world.s1), f"/groups/{world.group.id}/sessions/new",
                       session_form(monday_ahead(), "16:00"))
    assert answer.status_code == 204
    session = only_session()
    assert session.status == SessionStatus.SCHEDULED and session.created_by_id == world.s1.id
    run_worker()
    assert {a for r in smtp.received for a in r.rcpt_tos} >= {world.s1.email, world.s2.email}


def test_a_proposal_whose_time_passed_cannot_be_approved(group_world, as_user):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", approval=True)
    assert post_form(as_user(world.s1), f"/groups/{world.group.id}/sessions/new",
                     session_form(monday_ahead(), "16:00")).status_code == 204
    session = only_session()
    session.start_local -= timedelta(days=60)
    services.refresh_bounds(session)
    db.session.commit()
    owner = as_user(world.owner)
    post_form(owner, f"/groups/{world.group.id}/sessions/{session.id}/approve", {})
    assert only_session().status == SessionStatus.PENDING
    assert "decline it instead" in owner.get(
        f"/groups/{world.group.id}/sessions").get_data(as_text=True)


def test_deleting_the_group_drops_its_rules_and_keeps_its_sessions(group_world, as_user):
    from app.chat import services as chat_services
    from app.scheduling.models import GroupSessionRules

    world = group_world
    set_rules(world, scheduled_by="MEMBERS", slots=WEEKDAYS_15_19)
    assert post_form(as_user(world.owner), f"/groups/{world.group.id}/sessions/new",
                     session_form(monday_ahead(), "16:00")).status_code == 204
    chat_services.delete_group(world.owner, world.group)
    session = only_session()
    assert session.group_id is None and session.status == SessionStatus.SCHEDULED
    assert db.session.scalars(select(GroupSessionRules)).all() == []
    # A new group (SQLite may give it the old id) starts from the defaults, with no sessions.
    again = chat_services.create_group(world.owner, "Fresh", "", [world.s1.id])
    page = as_user(world.owner).get(f"/groups/{again.id}/sessions").get_data(as_text=True)
    assert "The owner only may create sessions" in page and "No upcoming sessions" in page
