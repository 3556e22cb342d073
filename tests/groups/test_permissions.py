"""Who may create a group's sessions: the three settings × three roles (owner, co-teacher,
student member), on the UI (the Sessions tab's button, the form) and on every endpoint that
creates a session for the group (the group's form, the scheduling dialog's "whole group").
Only the owner and center admins see and change the rules."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.scheduling.models import SessionStatus, VideoSession
from tests.groups.conftest import monday_ahead, post_form, session_form, set_rules

SETTINGS = ["OWNER", "CO_TEACHERS", "MEMBERS"]
ROLES = ["owner", "co_teacher", "student"]
ALLOWED = {("OWNER", "owner"), ("CO_TEACHERS", "owner"), ("CO_TEACHERS", "co_teacher"),
           ("MEMBERS", "owner"), ("MEMBERS", "co_teacher"), ("MEMBERS", "student")}
RULE_LABEL = {"OWNER": "the owner only", "CO_TEACHERS": "the owner and co-teachers",
              "MEMBERS": "all members"}


def person(world, role):
    return {"owner": world.owner, "co_teacher": world.co_teacher, "student": world.s1}[role]


def session_count() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(VideoSession.id)))


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("role", ROLES)
def test_who_may_create_sessions_on_the_ui_and_the_endpoint(group_world, as_user, setting, role):
    world = group_world
    set_rules(world, scheduled_by=setting)
    browser = as_user(person(world, role))
    allowed = (setting, role) in ALLOWED

    tab = browser.get(f"/groups/{world.group.id}/sessions")
    assert tab.status_code == 200
    html = tab.get_data(as_text=True)
    assert ('id="new-group-session"' in html) is allowed
    assert f"{RULE_LABEL[setting].capitalize()} may create sessions" in html

    form = browser.get(f"/groups/{world.group.id}/sessions/new")
    assert form.status_code == (200 if allowed else 403)

    answer = post_form(browser, f"/groups/{world.group.id}/sessions/new",
                       session_form(monday_ahead(), "16:00"))
    if allowed:
        assert answer.status_code == 204, answer.get_data(as_text=True)[:1000]
        assert session_count() == 1
        session = db.session.scalars(select(VideoSession)).one()
        assert session.status == SessionStatus.SCHEDULED  # no approval asked for
        assert session.group_id == world.group.id
        assert session.created_by_id == person(world, role).id
    else:
        assert answer.status_code == 403
        refusal = answer.get_data(as_text=True)
        assert "who may create sessions" in refusal and RULE_LABEL[setting] in refusal
        assert session_count() == 0


@pytest.mark.parametrize("role", ROLES)
def test_approval_applies_to_members_never_to_the_owner(group_world, as_user, role):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", approval=True)
    browser = as_user(person(world, role))
    html = browser.get(f"/groups/{world.group.id}/sessions").get_data(as_text=True)
    assert ("Propose a session" in html) is (role != "owner")
    answer = post_form(browser, f"/groups/{world.group.id}/sessions/new",
                       session_form(monday_ahead(), "16:00"))
    assert answer.status_code == 204
    session = db.session.scalars(select(VideoSession)).one()
    assert session.status == (SessionStatus.SCHEDULED if role == "owner"
                              else SessionStatus.PENDING)


def test_the_dialogs_whole_group_obeys_the_groups_rules(group_world, as_user):
    """The calendar's dialog is the owner's other way in: it records the group and applies the
    same rules; another teacher cannot name a group that is not theirs."""
    world = group_world
    set_rules(world, slots={"MO": "15:00-19:00"})
    owner = as_user(world.owner)
    data = {"title": "Dialog lesson", "type": "CLASS", "group_id": str(world.group.id),
            "date": monday_ahead().isoformat(), "start_time": "20:00",
            "timezone": "Europe/London", "duration_minutes": "60", "frequency": "NONE",
            "ends": "count", "count": "1"}
    refused = post_form(owner, "/sessions", data)
    assert refused.status_code == 422
    assert "allowed time slots" in refused.get_data(as_text=True)
    assert session_count() == 0
    data["start_time"] = "16:00"
    assert post_form(owner, "/sessions", data).status_code == 200
    session = db.session.scalars(select(VideoSession)).one()
    assert session.group_id == world.group.id and session.created_by_id == world.owner.id
    assert {p.user_id for p in session.participants} >= {world.s1.id, world.s2.id,
                                                         world.co_teacher.id}

    colleague = as_user(world.co_teacher)
    data["title"] = "Not my group"
    answer = post_form(colleague, "/sessions", data)
    text = answer.get_data(as_text=True)
    assert answer.status_code == 422 and "Pick one of your groups" in text


@pytest.mark.parametrize("role,status", [("owner", 200), ("admin", 200), ("co_teacher", 403),
                                         ("student", 403), ("outsider", 404)])
def test_only_the_owner_and_admins_see_and_change_the_rules(group_world, as_user, role, status):
    world = group_world
    user = {"owner": world.owner, "admin": world.admin, "co_teacher": world.co_teacher,
            "student": world.s1, "outsider": world.outsider}[role]
    browser = as_user(user)
    assert browser.get(f"/groups/{world.group.id}/rules").status_code == status
    answer = post_form(browser, f"/groups/{world.group.id}/rules",
                       {"scheduled_by": "MEMBERS", "min_notice_hours": "0",
                        "timezone": "Europe/London", "default_duration_minutes": "60",
                        "default_type": "CLASS"})
    assert answer.status_code == status
    tab = browser.get(f"/groups/{world.group.id}/sessions").get_data(as_text=True)
    assert (">Session rules</a>" in tab) is (status == 200)


def test_another_centers_group_is_not_found(group_world, make, as_user):
    from app.accounts.models import Role

    other = make.center("Elsewhere")
    stranger = make.user(other, Role.ADMIN)
    browser = as_user(stranger)
    for path in (f"/groups/{group_world.group.id}/sessions", f"/groups/{group_world.group.id}/rules",
                 f"/groups/{group_world.group.id}/sessions/new"):
        assert browser.get(path).status_code == 404


def test_a_direct_thread_is_not_a_group(group_world, as_user):
    from app.chat import services as chat_services

    direct = chat_services.get_or_create_direct(group_world.owner, group_world.s1)
    assert as_user(group_world.owner).get(f"/groups/{direct.id}/sessions").status_code == 404
