"""A control center's run is a star (issue 13): learners connect to the instructors only, at
every size (the tutor's Teach/Observe then decides who hears the tutor, and students never hear
each other); a tutor with five students fits; one page per instructor is in the call."""
from __future__ import annotations

import json

from sqlalchemy import select

from app.accounts.models import Role
from app.extensions import db
from app.live import services, session_runs
from app.live.models import LiveRole, Room, Segment
from tests.control_center.conftest import lesson_for  # noqa: F401
from tests.live.test_sessions_live import join, make_session, now_plus


def roster_of(room_id) -> dict:
    db.session.expire_all()
    room = db.session.get(Room, room_id)
    return services.roster_state(services.live_run(room))


def test_a_control_centers_run_is_a_star_at_every_size(lesson_for, as_user):
    lesson = lesson_for(2)
    room_id = lesson.run.room_id
    tutor, s1, s2 = as_user(lesson.teacher), *(as_user(u) for u in lesson.learners)
    assert join(tutor, room_id, "aaaaaaaaaaa1").status_code == 200
    assert join(s1, room_id, "bbbbbbbbbbb1").status_code == 200
    assert join(s2, room_id, "ccccccccccc1").status_code == 200
    # Three people: under the mesh limit, yet a star.
    assert roster_of(room_id)["topology"] == "star"


def test_a_tutor_with_five_students_fits_and_other_small_calls_stay_a_mesh(lesson_for, as_user,
                                                                             school, make):
    lesson = lesson_for(5)
    room_id = lesson.run.room_id
    answers = [join(as_user(lesson.teacher), room_id, "a0000000000a").status_code]
    answers += [join(as_user(u), room_id, f"b000000000{n:02d}").status_code
                for n, u in enumerate(lesson.learners)]
    assert answers == [200] * 6
    assert roster_of(room_id)["topology"] == "star"

    # A class of three with a control center, not a tutoring session: its students talk to
    # each other, a mesh.
    trio = [make.user(school.center, Role.STUDENT, name=f"Trio {n}") for n in range(3)]
    class_session = make_session(school.center, school.teacher, trio, start=now_plus(-5),
                                 title="Small class")
    class_run, _ = session_runs.start_session_run(school.teacher, class_session)
    db.session.commit()
    assert not services.is_star_run(class_run)
    assert services.topology(class_run, {u.id: LiveRole.LEARNER for u in trio}) == "mesh"

    # Six learners: no control center, so the usual rule: a mesh up to the limit.
    learners = [make.user(school.center, Role.STUDENT, name=f"Pupil {n}") for n in range(6)]
    session = make_session(school.center, school.teacher, learners, start=now_plus(-5))
    run_for_six, _ = session_runs.start_session_run(school.teacher, session)
    db.session.commit()
    assert services.topology(run_for_six, {u.id: LiveRole.LEARNER for u in learners[:3]}) == "mesh"
    assert not services.is_star_run(run_for_six)


def test_the_topology_rule(lesson_for):
    lesson = lesson_for(2)
    run = lesson.run
    tutor, co = LiveRole.INSTRUCTOR, LiveRole.INSTRUCTOR
    learners = {10 + n: LiveRole.LEARNER for n in range(5)}
    assert services.topology(run, {1: tutor, **learners}, star=True) == "star"
    assert services.topology(run, {1: tutor, 2: co, **learners}, star=True) == "star"
    assert services.topology(run, {10: LiveRole.LEARNER, 11: LiveRole.LEARNER}, star=True) \
        == "star"  # before the tutor comes: the students do not connect to each other
    # Without a control center: a mesh up to the limit, a star for 1 + 5, else nothing.
    assert services.topology(run, {1: tutor, 10: LiveRole.LEARNER}, star=False) == "mesh"
    assert services.topology(run, {1: tutor, **learners}, star=False) == "star"
    assert services.topology(run, {1: tutor, 2: co, **learners}, star=False) is None


def test_one_page_per_instructor_is_in_the_call(lesson_for, as_user, monkeypatch):
    published = []
    monkeypatch.setattr(services, "publish",
                        lambda topic, name, **data: published.append((topic, name, data)))
    lesson = lesson_for(1)
    room_id = lesson.run.room_id
    tutor, student = as_user(lesson.teacher), as_user(lesson.learners[0])
    assert join(tutor, room_id, "aaaaaaaaaaa1").status_code == 200  # the room page
    assert join(student, room_id, "bbbbbbbbbbb1").status_code == 200
    assert join(student, room_id, "bbbbbbbbbbb2").status_code == 200  # a student's second tab
    published.clear()
    assert join(tutor, room_id, "aaaaaaaaaaa2").status_code == 200  # the control center

    open_pages = set(db.session.scalars(select(Segment.connection_id)
                                        .where(Segment.left_at.is_(None))))
    assert open_pages == {"aaaaaaaaaaa2", "bbbbbbbbbbb1", "bbbbbbbbbbb2"}
    replaced = [(topic, data) for topic, name, data in published if name == "room.replaced"]
    assert replaced == [(f"room:{room_id}", {"to": "aaaaaaaaaaa1", "run_id": lesson.run.id})]
    # The tutor never left the run (attendance and the roster see one person throughout).
    roster = roster_of(room_id)
    assert [c["connection"] for c in roster["connections"] if c["user"] == lesson.teacher.id] \
        == ["aaaaaaaaaaa2"]
    assert json.dumps(roster)  # the roster stays JSON for the pages

    # The page that lost the call is no longer in it: its heartbeat says so.
    answer = tutor.post(f"/live/rooms/{room_id}/heartbeat", json={"connection": "aaaaaaaaaaa1"},
                        headers={"X-CSRFToken": tutor.csrf})
    assert (answer.status_code, answer.json) == (200, {"in_call": False})


def test_the_room_page_points_a_tutor_to_the_control_center(lesson_for, as_user):
    lesson = lesson_for(2)
    page = as_user(lesson.teacher).get(f"/live/rooms/{lesson.run.room_id}")
    assert page.status_code == 200
    assert f'href="/sessions/{lesson.session.id}/control-center"' in page.text
    student_page = as_user(lesson.learners[0]).get(f"/live/rooms/{lesson.run.room_id}")
    assert 'id="room-cc-hint"' not in student_page.text
    assert 'id="cc-tutor-with"' in student_page.text
    assert "Your tutor is with another student" in student_page.text
