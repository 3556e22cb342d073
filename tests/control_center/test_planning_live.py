"""The control center is live before the run too (issue 13, "before it to plan"): a page opened
while planning follows ``ccplan:<session>`` (instructors only, as ``cc:<run>``), gets only the
changes of the occurrence it shows, and turns into the live page when the session starts."""
from __future__ import annotations

from datetime import timedelta

from app.accounts.models import Role
from app.control_center import services
from app.db_types import utcnow
from app.live import session_runs
from app.realtime.events import CatchUp, can_subscribe, catch_up_for
from app.realtime.hub import Connection
from tests.conftest import commit
from tests.control_center.test_control_center import _dispatch, _hub
from tests.live.test_sessions_live import make_session
from tests.realtime.test_fan_out_cost import _published


def _planning_tab(app, hub, user, session, occurrence) -> Connection:
    """A tutor's planning page as static/js/realtime.js subscribes it: the topic, with the
    occurrence it shows."""
    topic = f"ccplan:{session.id}"
    assert can_subscribe(user, topic)
    conn = Connection(ws=None, user_id=user.id, session_id=user.get_id(),
                      start_sender=lambda drain: None)
    hub.add(conn)
    hub.subscribe(conn, topic)
    with app.test_request_context("/", base_url=app.config["BASE_URL"]):
        catch_up_for(topic)(conn, user, session.id, CatchUp(have=occurrence.isoformat()))
    return conn


def _frames(conn) -> str:
    frames = "".join(conn.queued)
    conn.drop_queued()
    return frames


def test_only_instructors_may_follow_the_planning_topic(lesson_for, make, school):
    lesson = lesson_for(2, live=False)
    topic = f"ccplan:{lesson.session.id}"
    assert can_subscribe(school.teacher, topic) and can_subscribe(school.admin, topic)
    other_teacher = make.user(school.center, Role.TEACHER)
    for person in (school.students[0], school.outsider, other_teacher,
                   make.user(make.center(), Role.ADMIN)):
        assert not can_subscribe(person, topic), person.name
    assert not can_subscribe(school.teacher, "ccplan:999999")
    assert not can_subscribe(school.teacher, f"ccplan:{lesson_for(6, live=False).session.id}")


def test_the_planning_page_names_its_topic_and_occurrence(lesson_for, school, as_user):
    lesson = lesson_for(2, live=False)
    html = as_user(school.teacher).get(
        f"/sessions/{lesson.session.id}/control-center").get_data(as_text=True)
    assert f'data-realtime-topic="ccplan:{lesson.session.id}"' in html
    assert f'data-occurrence="{lesson.at.isoformat()}"' in html
    live = lesson_for(2)
    html = as_user(school.teacher).get(
        f"/sessions/{live.session.id}/control-center").get_data(as_text=True)
    assert f'data-realtime-topic="cc:{live.run.id}"' in html and "ccplan:" not in html


def test_a_second_tutor_tab_sees_plan_changes_of_its_occurrence_only(app, school, as_user):
    sara, ben = school.students
    start = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    session = make_session(school.center, school.teacher, [sara, ben], start=start, weekly=True,
                           title="Weekly tutoring")
    next_week = start + timedelta(days=7)
    hub = _hub(app)
    this_tab = _planning_tab(app, hub, school.teacher, session, start)
    assert _frames(this_tab).count('class="card cc-panel"') == 2  # the catch-up: as it stands
    admin_tab = _planning_tab(app, hub, school.admin, session, start)
    other_week_tab = _planning_tab(app, hub, school.teacher, session, next_week)
    _frames(admin_tab), _frames(other_week_tab)

    tutor = as_user(school.teacher)
    events = _published(app, lambda: tutor.post(
        f"/sessions/{session.id}/control-center/plans",
        data={"csrf_token": tutor.csrf, "at": start.isoformat(), "student": sara.id,
              "subject": "Geometry", "current_level": "Year 9", "working_level": "Year 7",
              "goal": "Angles"}, headers={"HX-Request": "true"}))
    assert [e.topic for e in events if e.name == "cc.planned"] == [f"ccplan:{session.id}"]
    _dispatch(hub, events)
    frames = _frames(this_tab)
    assert f'id="cc-panel-{sara.id}"' in frames and "Year 9 → Geometry at Year 7" in frames
    assert f'id="cc-panel-{ben.id}"' not in frames
    assert 'name="csrf_token"' not in frames  # a pushed part carries nobody's token
    assert "Geometry" in _frames(admin_tab)
    assert not other_week_tab.queued  # next week's page is not this occurrence's

    # A student is never a listener: refused at subscribe, and dropped at delivery.
    assert not can_subscribe(sara, f"ccplan:{session.id}")


def test_the_planning_page_turns_live_when_the_session_starts(app, lesson_for, school):
    lesson = lesson_for(2, live=False)
    sara = school.students[0]
    hub = _hub(app)
    tab = _planning_tab(app, hub, school.teacher, lesson.session, lesson.at)
    _frames(tab)
    runs = []
    events = _published(app, lambda: runs.append(
        session_runs.start_session_run(school.teacher, lesson.session)[0]))
    run = runs[0]
    assert any(e.name == "cc.started" and e.topic == f"ccplan:{lesson.session.id}"
               for e in events)
    _dispatch(hub, events)
    frames = _frames(tab)
    # The whole page, swapped in place, now following the run's topic.
    assert frames.count('id="cc-page"') == 1 and 'hx-swap-oob="true"' in frames
    assert f'data-realtime-topic="cc:{run.id}"' in frames and "ccplan:" not in frames
    assert ">Live</span>" in frames and 'id="cc-end"' in frames
    assert 'name="csrf_token"' not in frames
    # From now on the changes go to cc:<run>; the planning topic hears nothing more.
    events = _published(app, lambda: services.add_work_item(
        school.teacher, lesson.session, lesson.at, sara.id, "Fractions"))
    assert {e.topic for e in events if e.name == "cc.changed"} == {f"cc:{run.id}"}
    assert not [e for e in events if e.topic.startswith("ccplan:")]
    # A planning page that subscribes only after the start gets the live page at once.
    late = _planning_tab(app, hub, school.teacher, lesson.session, lesson.at)
    assert f'data-realtime-topic="cc:{run.id}"' in _frames(late)
    commit()


def test_a_planning_subscription_naming_no_real_occurrence_gets_nothing(app, lesson_for, school):
    lesson = lesson_for(2, live=False)
    hub = _hub(app)
    topic = f"ccplan:{lesson.session.id}"
    for junk in ("yesterday", {"at": 1}, None, "2001-01-01T00:00:00+00:00",
                 lesson.at.replace(tzinfo=None).isoformat()):
        conn = Connection(ws=None, user_id=school.teacher.id,
                          session_id=school.teacher.get_id(), start_sender=lambda drain: None)
        hub.add(conn)
        hub.subscribe(conn, topic)
        with app.test_request_context("/", base_url=app.config["BASE_URL"]):
            catch_up_for(topic)(conn, school.teacher, lesson.session.id, CatchUp(have=junk))
        assert not conn.queued and not conn.state, junk
    events = _published(app, lambda: services.add_note(
        school.teacher, lesson.session, lesson.at, school.students[0].id, "Plan note",
        "TUTOR_ONLY"))
    _dispatch(hub, events)
    assert not any(conn.queued for conn in hub._connections)
