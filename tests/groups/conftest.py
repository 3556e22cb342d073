"""Fixtures for group session rules (issue 14): a teacher's group with a co-teacher and two
students, rules set through the service the settings form uses, and times that are always in
the future (the Monday of a week a few weeks ahead, in the group's zone)."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.accounts.models import Role
from app.chat import services as chat_services

from app.db_types import utcnow
from app.extensions import db
from tests.conftest import commit
from app.scheduling import group_rules, group_services
from app.scheduling.recurrence import WEEKDAY_CODES

LONDON = ZoneInfo("Europe/London")
HTMX = {"HX-Request": "true"}
WEEKDAYS_15_19 = {code: "15:00-19:00" for code in ("MO", "TU", "WE", "TH", "FR")}


def monday_ahead(weeks: int = 3) -> date:
    today = utcnow().astimezone(LONDON).date()
    return today + timedelta(days=(7 - today.weekday()) + 7 * (weeks - 1))


@pytest.fixture
def group_world(school, make):
    """``school`` plus a co-teacher and a GROUP thread owned by the teacher with both students
    and the co-teacher as members."""
    teacher, (s1, s2) = school.teacher, school.students
    co_teacher = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    group = chat_services.create_group(teacher, "Exam prep", "Past papers", [s1.id, s2.id])
    # A teacher colleague in the group, added the way the group settings' co-teacher picker does.
    chat_services.add_group_members(teacher, group, [co_teacher.id])
    return type("GroupWorld", (), dict(
        center=school.center, admin=school.admin, owner=teacher, co_teacher=co_teacher,
        s1=s1, s2=s2, students=[s1, s2], outsider=school.outsider, course=school.course,
        group=group))


def set_rules(world, *, scheduled_by="OWNER", approval=False, notice=0, slots=None,
              timezone="Europe/London", duration=60, type_="GROUP_MEETING"):
    """Store the group's rules the way the settings form does."""
    data = group_rules.RulesInput(scheduled_by=scheduled_by, approval_required=approval,
                                  min_notice_hours=str(notice), timezone=timezone,
                                  default_duration_minutes=str(duration), default_type=type_,
                                  slots=dict(slots or {}))
    rules = group_services.save_rules(world.owner, world.group, data)
    commit()  # as the settings form's request edge would
    return rules


def session_form(day: date, start: str = "16:00", **fields) -> dict:
    """What the group's session form posts."""
    data = {"title": "Past paper 3", "description": "", "type": "GROUP_MEETING",
            "date": day.isoformat(), "start_time": start, "duration_minutes": "60",
            "frequency": "NONE", "ends": "count", "count": "4"}
    data.update(fields)
    return data


def post_form(browser, path, data, htmx=True):
    data = dict(data)
    data.setdefault("csrf_token", browser.csrf)
    return browser.post(path, data=data, headers=HTMX if htmx else {})


def local(day: date, clock: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=LONDON)


__all__ = ["WEEKDAY_CODES"]


@pytest.fixture
def smtp(app):
    """A loopback SMTP server (aiosmtpd) the app sends through for one test."""
    from tests.invites.conftest import SmtpServer

    saved = {key: app.config.get(key) for key in ("SMTP_URL", "MAIL_FROM")}
    server = SmtpServer()
    app.config["SMTP_URL"] = server.url
    app.config["MAIL_FROM"] = "Classhub <invites@classhub.test>"
    server.start()
    yield server
    server.stop()
    app.config.update(saved)
