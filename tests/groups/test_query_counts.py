"""The group's Sessions tab costs the same number of SQL statements for 3 sessions as for 30
(one-time and weekly series, moved and cancelled occurrences, pending, declined and past ones,
made by different people)."""
from __future__ import annotations

from datetime import datetime, timedelta

from app.extensions import db
from app.scheduling import services
from app.scheduling.models import (Frequency, ParticipantRole, SessionOverride,
                                   SessionParticipant, SessionStatus, SessionType, VideoSession)
from tests.groups.conftest import monday_ahead

BOUND = 16  # statements per page view, whatever the number of sessions


def add_sessions(world, n: int) -> None:
    makers = [world.owner, world.co_teacher, world.s1, world.s2]
    statuses = [SessionStatus.SCHEDULED, SessionStatus.PENDING, SessionStatus.CANCELLED,
                SessionStatus.DECLINED, SessionStatus.SCHEDULED]
    first = datetime.combine(monday_ahead(), datetime.min.time()).replace(hour=16)
    for i in range(n):
        weekly = i % 3 == 0
        start = first + timedelta(days=i - (40 if i % 4 == 3 else 0))  # some in the past
        session = VideoSession(
            center_id=world.center.id, teacher_id=world.owner.id, group_id=world.group.id,
            created_by_id=makers[i % 4].id, title=f"Session {i}", description="",
            type=SessionType.GROUP_MEETING, status=statuses[i % 5], timezone="Europe/London",
            start_local=start, duration_minutes=60,
            frequency=Frequency.WEEKLY if weekly else Frequency.NONE,
            by_weekday="MO,TH" if weekly else "", count=6 if weekly else None)
        session.participants = [SessionParticipant(center_id=world.center.id, user_id=u.id,
                                                   role=ParticipantRole.LEARNER)
                                for u in world.students]
        if weekly:
            session.overrides = [SessionOverride(center_id=world.center.id,
                                                 original_start_local=start,
                                                 new_start_local=start + timedelta(hours=1))]
        services.refresh_bounds(session)
        db.session.add(session)
    db.session.commit()


def statements_for(world, as_user, count_queries, n: int, viewer) -> tuple[int, str]:
    add_sessions(world, n)
    browser = as_user(viewer)
    browser.get(f"/groups/{world.group.id}/sessions")  # warm caches (templates, timezones)
    with count_queries() as counter:
        answer = browser.get(f"/groups/{world.group.id}/sessions")
    assert answer.status_code == 200
    return counter.count, answer.get_data(as_text=True)


def test_sessions_tab_query_count_is_flat(group_world, as_user, count_queries):
    few, page = statements_for(group_world, as_user, count_queries, 3, group_world.owner)
    assert page.count('class="group-session ') == 3
    db.session.query(SessionOverride).delete()
    db.session.query(SessionParticipant).delete()
    db.session.query(VideoSession).delete()
    db.session.commit()
    many, page = statements_for(group_world, as_user, count_queries, 30, group_world.owner)
    assert page.count('class="group-session ') == 30
    print(f"Sessions tab: {few} statements for 3 sessions, {many} for 30")
    assert many == few, (few, many)
    assert many <= BOUND


def test_sessions_tab_query_count_is_flat_for_a_student_with_filters(group_world, as_user,
                                                                    count_queries):
    world = group_world
    add_sessions(world, 3)
    student = as_user(world.s1)
    path = f"/groups/{world.group.id}/sessions?status=SCHEDULED&creator={world.owner.id}"
    student.get(path)
    with count_queries() as counter:
        student.get(path)
    few = counter.count
    add_sessions(world, 27)
    with count_queries() as counter:
        answer = student.get(path)
    assert answer.status_code == 200
    assert counter.count == few and few <= BOUND
