"""What the control center's live updates cost the hub: a student's progress re-renders one row,
not the board, and a burst of changes waiting in the hub together is rendered once with the
latest state (nothing lost), in statements and renders that do not grow with the burst.

The events are the real ones (the HTTP POSTs the room's student box sends, each committed as
its request's edge commits), taken from Redis and handed together to a hub of the test's own,
as its listener hands a batch (Hub.dispatch_batch)."""
from __future__ import annotations

import re
import threading

from app.control_center import services
from app.control_center.models import WorkStatus
from app.realtime.events import Event, coalesced
from app.realtime.hub import Hub
from tests.conftest import commit
from tests.control_center.test_control_center import SECRET, _connect, _hub
from tests.realtime.test_fan_out_cost import _published

_PROGRESS = re.compile(r'id="cc-item-(\d+)"[^>]*>.*?<progress class="cc-progress" max="100" '
                       r'value="(\d+)"', re.S)


def _started_items(lesson, school):
    """One item per learner, already started (DOING): progress alone then changes nothing
    else in the panel."""
    items = [services.add_work_item(school.teacher, lesson.session, lesson.at, learner.id,
                                    f"Exercises for {learner.name}")
             for learner in lesson.learners]
    for item in items:
        services.update_work_item(school.teacher, item, status="DOING")
    commit()
    return items


def _post_progress(as_user, learners, items, values):
    """Each (learner index, value) a POST of its own, as the student box sends it."""
    clients = {}

    def run():
        for index, value in values:
            learner, item = learners[index], items[index]
            client = clients.get(index) or clients.setdefault(index, as_user(learner))
            answer = client.post(f"/control-center/items/{item.id}",
                                 data={"csrf_token": client.csrf, "progress": str(value)},
                                 headers={"HX-Request": "true"})
            assert answer.status_code == 200
            commit()  # each POST its own request: its own commit, its own events

    return run


def _dispatch_together(hub: Hub, events, count_queries):
    """The events handed to the hub as one batch from Redis, on a thread of its own (the hub's
    own request context and DB session, as its listener has)."""
    with count_queries() as counter:
        listener = threading.Thread(target=hub.dispatch_batch, args=(events,))
        listener.start()
        listener.join()
    return counter.count


def _burst(app, lesson, school, as_user, count_queries, posts: int):
    items = _started_items(lesson, school)
    hub = _hub(app)
    tutor = _connect(hub, school.teacher, f"cc:{lesson.run.id}")
    # Every learner in turn, values rising: the last POST of each is what must show.
    values = [(n % len(items), 10 + n) for n in range(posts)]
    events = _published(app, _post_progress(as_user, lesson.learners, items, values))
    assert sum(e.name == "cc.changed" for e in events) == posts  # one per POST, none lost
    statements = _dispatch_together(hub, events, count_queries)
    latest = {items[index].id: value for index, value in values}
    return statements, list(tutor.queued), latest


def test_a_burst_of_progress_costs_the_hub_the_same_whatever_its_length(app, lesson_for, school,
                                                                        as_user,
                                                                        count_queries):
    one_statements, one_frames, one_latest = _burst(app, lesson_for(5), school, as_user,
                                                    count_queries, 1)
    burst_statements, burst_frames, burst_latest = _burst(app, lesson_for(5), school, as_user,
                                                          count_queries, 25)
    assert burst_statements == one_statements <= 6
    # One render for the whole burst, however long: the latest value of every item it moved,
    # as rows (no panel, no queue: nothing else changed).
    assert len(one_frames) == len(burst_frames) == 1
    for frames, latest in ((one_frames, one_latest), (burst_frames, burst_latest)):
        shown = {int(item): int(value) for item, value in _PROGRESS.findall(frames[0])}
        assert shown == latest
        assert 'class="card cc-panel"' not in frames[0] and 'id="cc-queue"' not in frames[0]
        assert frames[0].count('hx-swap-oob="true"') == len(latest)


def test_a_mixed_burst_keeps_every_change_and_tutor_only_notes_stay_with_tutors(
        app, lesson_for, school, as_user, count_queries):
    lesson = lesson_for(3)
    sara, ben, third = lesson.learners
    items = _started_items(lesson, school)
    hub = _hub(app)
    tutor = _connect(hub, school.teacher, f"cc:{lesson.run.id}")
    sara_socket = _connect(hub, sara, f"user:{sara.id}")
    ben_socket = _connect(hub, ben, f"user:{ben.id}")

    def changes():
        _post_progress(as_user, lesson.learners, items, [(0, 30), (0, 45)])()
        services.update_work_item(school.teacher, items[1], status="DONE")  # Ben's panel
        commit()
        services.add_note(school.teacher, lesson.session, lesson.at, ben.id, SECRET,
                          "TUTOR_ONLY")
        commit()
        services.raise_help(third, lesson.session, "HIGH", "Stuck on question 4")  # + queue
        commit()

    events = _published(app, changes)
    merged, _ = coalesced(events)
    assert [e.name for e in merged].count("cc.changed") == 1
    _dispatch_together(hub, events, count_queries)
    assert len(tutor.queued) == 1
    frame = tutor.queued[0]
    # Sara's row with her latest progress alone; Ben's and the third learner's whole panels
    # (a status, a note, a help request), and the queue.
    assert f'id="cc-item-{items[0].id}"' in frame and 'value="45"' in frame
    assert f'id="cc-panel-{sara.id}"' not in frame
    assert f'id="cc-panel-{ben.id}"' in frame and SECRET in frame
    assert f'id="cc-panel-{third.id}"' in frame and 'id="cc-queue"' in frame
    assert "Stuck on question 4" in frame
    # Each student's socket: their own box, as it stands, once; never the tutor-only note.
    assert len(sara_socket.queued) == len(ben_socket.queued) == 1
    assert 'id="cc-student-box"' in sara_socket.queued[0] and 'value="45"' in sara_socket.queued[0]
    assert SECRET not in sara_socket.queued[0] and SECRET not in ben_socket.queued[0]
    assert f"Exercises for {sara.name}" not in ben_socket.queued[0]


def test_only_events_of_one_topic_and_name_merge_and_at_the_latest_place():
    def changed(run, **data):
        return Event(f"cc:{run}", "cc.changed", {"session_id": run, "occurrence": "2030-01-01",
                                                 "student_ids": [], "item_ids": [],
                                                 "queue": False, "timers": False, **data})

    other = Event("thread:9", "message.created", {"message_id": 1})
    events = [changed(1, item_ids=[5]), changed(2, item_ids=[7]), other,
              changed(1, student_ids=[3], queue=True), changed(1, item_ids=[6])]
    merged, away = coalesced(events)
    assert [e.topic for e in merged] == ["cc:2", "thread:9", "cc:1"]
    assert merged[2].data["item_ids"] == [5, 6] and merged[2].data["student_ids"] == [3]
    assert merged[2].data["queue"] is True and merged[2].data["timers"] is False
    assert len(away) == 2
    # Another occurrence of the same run's topic is never folded in.
    later = changed(1, occurrence="2030-01-08", item_ids=[8])
    assert len(coalesced([changed(1, item_ids=[5]), later])[0]) == 2


def test_the_students_progress_answer_is_their_row_and_a_new_status_their_box(lesson_for,
                                                                             school, as_user,
                                                                             count_queries):
    lesson = lesson_for(2)
    items = _started_items(lesson, school)
    student = as_user(lesson.learners[0])
    url = f"/control-center/items/{items[0].id}"
    with count_queries() as counter:
        answer = student.post(url, data={"csrf_token": student.csrf, "progress": "40"},
                              headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and answer.headers["HX-Retarget"] == \
        f"#cc-my-item-{items[0].id}" and answer.headers["HX-Reswap"] == "outerHTML"
    assert html.lstrip().startswith(f'<li class="cc-item" id="cc-my-item-{items[0].id}"')
    assert 'value="40"' in html and 'name="csrf_token"' in html
    assert counter.count <= 9
    # Done moves the status: the whole box answers, as before.
    answer = student.post(url, data={"csrf_token": student.csrf, "status": "DONE"},
                          headers={"HX-Request": "true"})
    assert answer.status_code == 200 and "HX-Retarget" not in answer.headers
    assert 'id="cc-student-box"' in answer.get_data(as_text=True)
    commit()
    assert items[0].status == WorkStatus.DONE
    # Bad input still answers the box with the message, as a 422; another's item is a 404.
    answer = student.post(url, data={"csrf_token": student.csrf, "progress": "140"},
                          headers={"HX-Request": "true"})
    assert answer.status_code == 422
    assert "Progress is a number from 0 to 100" in answer.get_data(as_text=True)
    assert student.post(f"/control-center/items/{items[1].id}",
                        data={"csrf_token": student.csrf, "progress": "40"},
                        headers={"HX-Request": "true"}).status_code == 404
