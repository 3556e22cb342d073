"""Times the group's rules refuse, through every endpoint that schedules for a group: the
group's form (one-time and series), moving an occurrence, editing a series. Each refusal is a
422 that names the rule, says what would be allowed (the next allowed starts in the group's
zone) and keeps what was typed."""
from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import func, select

from app.db_types import utcnow
from app.extensions import db
from app.scheduling.models import VideoSession
from tests.groups.conftest import (LONDON, WEEKDAYS_15_19, monday_ahead, post_form, session_form,
                                   set_rules)


def count() -> int:
    return db.session.scalar(select(func.count(VideoSession.id)))


def text(answer) -> str:
    return html.unescape(answer.get_data(as_text=True))


def test_outside_the_slots_names_the_rule_and_the_next_allowed_starts(group_world, as_user):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", approval=True, slots=WEEKDAYS_15_19)
    student = as_user(world.s1)
    day = monday_ahead()
    answer = post_form(student, f"/groups/{world.group.id}/sessions/new",
                       session_form(day, "20:00", title="Late revision <b>night</b>"))
    assert answer.status_code == 422
    body = text(answer)
    assert "“allowed time slots”" in body and "Mon–Fri 15:00–19:00" in body
    assert f"{day:%a %-d %b} 20:00–21:00 Europe/London" in body
    # The next three allowed starts, soonest first, each a link that fills the form in.
    starts = re.findall(r"Next allowed starts: ([^.]*) \(Europe/London\)", body)
    assert starts, body[:3000]
    assert len(starts[0].split(", ")) == 3
    links = re.findall(r'href="(/groups/\d+/sessions/new\?[^"]+)"', answer.get_data(as_text=True))
    assert len(links) == 3
    assert 'value="Late revision &lt;b&gt;night&lt;/b&gt;"' in answer.get_data(as_text=True)
    assert count() == 0
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(html.unescape(links[0])).query)
    prefilled = student.get(html.unescape(links[0])).get_data(as_text=True)
    assert f'value="{query["time"][0]}"' in prefilled and f'value="{query["date"][0]}"' in prefilled
    assert 'value="Late revision &lt;b&gt;night&lt;/b&gt;"' in prefilled


def test_inside_the_notice_names_the_rule_and_the_earliest_allowed_start(group_world, as_user):
    world = group_world
    set_rules(world, scheduled_by="MEMBERS", notice=72)
    student = as_user(world.s1)
    tomorrow = (utcnow() + timedelta(days=1)).astimezone(LONDON).date()
    answer = post_form(student, f"/groups/{world.group.id}/sessions/new",
                       session_form(tomorrow, "16:00"))
    assert answer.status_code == 422
    body = text(answer)
    assert "“minimum notice”" in body and "3 days of notice" in body
    assert "Earliest allowed start:" in body
    assert count() == 0


def test_a_series_is_refused_at_the_first_occurrence_that_does_not_fit(group_world, as_user):
    world = group_world
    set_rules(world, slots={"MO": "15:00-19:00", "WE": "15:00-19:00"})
    owner = as_user(world.owner)
    day = monday_ahead()
    answer = post_form(owner, f"/groups/{world.group.id}/sessions/new",
                       session_form(day, "16:00", frequency="WEEKLY", weekdays=["MO", "FR"],
                                    count="6"))
    assert answer.status_code == 422
    body = text(answer)
    friday = day + timedelta(days=4)
    assert f"The occurrence on {friday:%a %-d %b} 16:00" in body and "allowed time slots" in body
    assert count() == 0
    fitting = post_form(owner, f"/groups/{world.group.id}/sessions/new",
                        session_form(day, "16:00", frequency="WEEKLY", weekdays=["MO", "WE"],
                                     count="6"))
    assert fitting.status_code == 204 and count() == 1


def test_moving_and_editing_a_groups_session_obey_its_rules(group_world, as_user):
    world = group_world
    set_rules(world, slots=WEEKDAYS_15_19)
    owner = as_user(world.owner)
    day = monday_ahead()
    assert post_form(owner, f"/groups/{world.group.id}/sessions/new",
                     session_form(day, "16:00", frequency="WEEKLY", weekdays=["MO"],
                                  count="4")).status_code == 204
    session = db.session.scalars(select(VideoSession)).one()
    original = session.start_local.isoformat()

    moved = post_form(owner, f"/sessions/{session.id}/occurrences/{original}/move",
                      {"date": (day + timedelta(days=5)).isoformat(), "start_time": "16:00",
                       "duration_minutes": "60"})
    assert moved.status_code == 422 and "allowed time slots" in text(moved)
    ok = post_form(owner, f"/sessions/{session.id}/occurrences/{original}/move",
                   {"date": (day + timedelta(days=1)).isoformat(), "start_time": "17:30",
                    "duration_minutes": "60"})
    assert ok.status_code in (200, 204), text(ok)[:2000]

    edit = {"title": "Renamed", "type": "GROUP_MEETING", "date": day.isoformat(),
            "start_time": "18:30", "timezone": "Europe/London", "duration_minutes": "60",
            "frequency": "WEEKLY", "weekdays": ["MO"], "ends": "count", "count": "4"}
    refused = post_form(owner, f"/sessions/{session.id}/edit", edit)
    assert refused.status_code == 422 and "allowed time slots" in text(refused)
    edit["start_time"] = "16:00"  # only the title changes: nothing to check
    assert post_form(owner, f"/sessions/{session.id}/edit", edit).status_code in (200, 204)
