"""A group's owner adds the center's other teachers as co-teachers from the group settings
page; only teachers of the same center can be added that way, and a co-teacher then schedules
for the group when its rules let co-teachers do so."""
from __future__ import annotations

from app.accounts.models import Role
from app.chat import services as chat_services
from app.chat.models import ThreadMember
from app.extensions import db
from tests.groups.conftest import monday_ahead, post_form, session_form, set_rules


def members(group) -> set[int]:
    db.session.expire_all()
    return {m.user_id for m in db.session.query(ThreadMember).filter_by(thread_id=group.id)}


def test_the_owner_adds_a_colleague_from_the_settings_page(school, make, as_user):
    colleague = make.user(school.center, Role.TEACHER, name="Cole Colleague")
    stranger = make.user(make.center(), Role.TEACHER, name="Far Away")
    group = chat_services.create_group(school.teacher, "Exam prep", "", [school.students[0].id])
    owner = as_user(school.teacher)

    html = owner.get(f"/chat/threads/{group.id}/settings").get_data(as_text=True)
    assert "Add co-teachers" in html and "Cole Colleague" in html
    assert "Far Away" not in html

    answer = post_form(owner, f"/chat/threads/{group.id}/settings",
                       {"action": "add", "member_ids": [colleague.id]})
    assert answer.status_code < 400
    assert colleague.id in members(group)
    # Once in, the colleague is a member and no longer offered (the only colleague: no picker).
    html = owner.get(f"/chat/threads/{group.id}/settings").get_data(as_text=True)
    assert "Remove Cole Colleague" in html and "Add co-teachers" not in html


def test_a_teacher_of_another_center_cannot_be_added(school, make, as_user):
    stranger = make.user(make.center(), Role.TEACHER, name="Far Away")
    group = chat_services.create_group(school.teacher, "Exam prep", "", [school.students[0].id])
    answer = post_form(as_user(school.teacher), f"/chat/threads/{group.id}/settings",
                       {"action": "add", "member_ids": [stranger.id]})
    assert answer.status_code == 422
    assert stranger.id not in members(group)


def test_an_added_co_teacher_schedules_when_the_rules_allow(group_world, as_user):
    set_rules(group_world, scheduled_by="CO_TEACHERS")
    answer = post_form(as_user(group_world.co_teacher),
                       f"/groups/{group_world.group.id}/sessions/new",
                       session_form(monday_ahead()))
    assert answer.status_code < 400, answer.get_data(as_text=True)[:400]
    set_rules(group_world, scheduled_by="OWNER")
    answer = post_form(as_user(group_world.co_teacher),
                       f"/groups/{group_world.group.id}/sessions/new",
                       session_form(monday_ahead(4)))
    assert answer.status_code in (403, 422)
