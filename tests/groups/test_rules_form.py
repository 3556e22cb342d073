"""The group's session rules form: HTMX, validated; a refusal is a 422 with each error next to
its field and everything as typed; saving answers the form again with "saved". It is also a
section of the chat's group settings page."""
from __future__ import annotations

import html

from sqlalchemy import select

from app.extensions import db
from app.scheduling.models import GroupCreators, GroupSessionRules
from tests.groups.conftest import post_form

GOOD = {"scheduled_by": "MEMBERS", "approval_required": "1", "min_notice_hours": "24",
        "timezone": "America/New_York", "default_duration_minutes": "45",
        "default_type": "CLASS", "slots_MO": "15:00-17:00, 16:30-19:00", "slots_SA": "10-12"}


def stored(group):
    db.session.expire_all()
    return db.session.scalar(select(GroupSessionRules).where(GroupSessionRules.thread_id == group.id))


def test_defaults_until_saved(group_world, as_user):
    page = as_user(group_world.owner).get(f"/groups/{group_world.group.id}/rules")
    body = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and stored(group_world.group) is None
    # Scheduled sessions by the owner, no approval, any time, in the owner's zone.
    assert 'value="OWNER" checked' in body
    assert 'name="approval_required" value="1" checked' not in body
    assert '<option value="Europe/London" selected>' in body


def test_bad_values_are_refused_in_place_and_kept(group_world, as_user):
    world = group_world
    owner = as_user(world.owner)
    data = dict(GOOD, min_notice_hours="soon", slots_TU="19:00-15:00", slots_WE="lunch",
                timezone="Mars/Olympus", scheduled_by="EVERYONE")
    answer = post_form(owner, f"/groups/{world.group.id}/rules", data)
    assert answer.status_code == 422
    raw = answer.get_data(as_text=True)
    assert raw.lstrip().startswith("<form")  # the form alone: htmx swaps it in place
    body = html.unescape(raw)
    for field, words in [("min_notice_hours", "whole number of hours"),
                         ("slots_TU", "ends before it starts"),
                         ("slots_WE", "“lunch” is not a time range"),
                         ("timezone", "Pick a time zone"), ("scheduled_by", "Pick who")]:
        assert f'id="r-{field}-error">' in body and words in body, field
    assert 'aria-invalid="true" aria-describedby="r-slots_TU-error"' in body
    for typed in ('value="soon"', 'value="19:00-15:00"', 'value="lunch"',
                  'value="15:00-17:00, 16:30-19:00"'):
        assert typed in body
    assert stored(world.group) is None


def test_saving_stores_normalised_rules_and_says_so(group_world, as_user):
    world = group_world
    answer = post_form(as_user(world.owner), f"/groups/{world.group.id}/rules", GOOD)
    assert answer.status_code == 200
    body = html.unescape(answer.get_data(as_text=True))
    assert "Session rules saved." in body
    assert 'value="15:00-19:00"' in body  # overlapping slots joined
    row = stored(world.group)
    assert row.scheduled_by == GroupCreators.MEMBERS and row.approval_required
    assert row.min_notice_hours == 24 and row.timezone == "America/New_York"
    assert row.slots == {"MO": [[900, 1140]], "SA": [[600, 720]]}
    assert row.default_duration_minutes == 45 and row.default_type.value == "CLASS"
    assert row.instant_calls_by == GroupCreators.MEMBERS
    # Without htmx: back to the page, with the message.
    plain = post_form(as_user(world.owner), f"/groups/{world.group.id}/rules", GOOD, htmx=False)
    assert plain.status_code == 302


def test_a_default_duration_no_slot_can_hold_is_refused(group_world, as_user):
    data = dict(GOOD, default_duration_minutes="300")
    answer = post_form(as_user(group_world.owner), f"/groups/{group_world.group.id}/rules", data)
    assert answer.status_code == 422
    assert "No allowed slot is long enough" in html.unescape(answer.get_data(as_text=True))


def test_the_group_settings_page_has_the_rules_section(group_world, as_user):
    world = group_world
    page = as_user(world.owner).get(f"/chat/threads/{world.group.id}/settings")
    body = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200
    assert "Session rules" in body and 'id="group-rules-form"' in body
    assert f'hx-post="/groups/{world.group.id}/rules"' in body
    thread = as_user(world.s1).get(f"/chat/threads/{world.group.id}").get_data(as_text=True)
    assert f'href="/groups/{world.group.id}/sessions"' in thread
