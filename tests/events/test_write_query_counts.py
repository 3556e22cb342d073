"""Writes cost the same number of SQL statements however many people they concern
(DESIGN.md, "Query counts stay flat"): scheduling a session, changing one of its occurrences or
the whole series, and posting a chat message each make one pass over their recipients (one
preference query, bulk inserts of notification and outbox rows), not one round per person."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.accounts.models import User
from app.chat import services as chat
from app.chat.models import Thread
from app.extensions import db
from app.mail.models import EmailOutbox
from app.notifications.models import Notification
from app.scheduling import services as scheduling
from app.scheduling.models import VideoSession
from tests.conftest import commit
from tests.events.conftest import next_monday, weekly_for

SCHEDULE_BOUND = 40  # statements to schedule a session, whatever the number of participants
CHANGE_BOUND = 40  # to move, cancel or restore one occurrence, or edit or cancel the series
# To post a chat message, whatever the number of members: the membership, the INSERT and the
# two UPDATEs (one statement on PostgreSQL: see chat.services._write_message), the members' ids
# (4 when written, 8 with the savepoint around the INSERT).
POST_BOUND = 5
# The job a POST queues to tell the message's members (notifications, pushes, emails): 7 when
# written.
TELL_BOUND = 10


def fresh(model, id_):
    """What a request starts with: nothing loaded yet but the object it names (the setup before
    it committed, as its own request's edge would)."""
    commit()
    db.session.remove()
    return db.session.get(model, id_)


def second_monday_local() -> datetime:
    return datetime.combine(next_monday() + timedelta(weeks=1), datetime.min.time()).replace(hour=16)


def scheduled(school) -> int:
    session = scheduling.schedule_session(db.session.get(User, school.teacher_id),
                                          weekly_for(school.student_ids), allow_conflicts=True)
    return session.id


def _schedule(school, count_queries):
    teacher = fresh(User, school.teacher_id)
    with count_queries() as counter:
        scheduling.schedule_session(teacher, weekly_for(school.student_ids))
    return counter.count


def _change(operation):
    def measure(school, count_queries):
        session_id = scheduled(school)
        if operation == "restore":
            scheduling.cancel_occurrence(db.session.get(User, school.teacher_id),
                                         db.session.get(VideoSession, session_id),
                                         second_monday_local(), "Snow day")
        teacher, session = fresh(User, school.teacher_id), db.session.get(VideoSession, session_id)
        with count_queries() as counter:
            if operation == "move":
                scheduling.move_occurrence(teacher, session, second_monday_local(),
                                           second_monday_local() + timedelta(hours=2),
                                           reason="Exams")
            elif operation == "cancel":
                scheduling.cancel_occurrence(teacher, session, second_monday_local(), "Snow day")
            elif operation == "restore":
                scheduling.restore_occurrence(teacher, session, second_monday_local())
            elif operation == "edit":
                data = scheduling.input_from_session(session)
                data.start_time = data.start_time.replace(hour=17)
                scheduling.update_series(teacher, session, data)
            elif operation == "cancel series":
                scheduling.cancel_series(teacher, session, "Course closed")
            elif operation == "split":
                data = scheduling.input_from_session(session)
                data.date, data.count = second_monday_local().date(), None
                data.start_time = data.start_time.replace(hour=18)
                scheduling.split_series(teacher, session, second_monday_local(), data)
        return counter.count
    return measure


def _add_participants(school, count_queries):
    """Everyone but the first student joins a session that had only them."""
    first, *others = school.student_ids
    session_id = scheduling.schedule_session(db.session.get(User, school.teacher_id),
                                             weekly_for([first]), allow_conflicts=True).id
    teacher, session = fresh(User, school.teacher_id), db.session.get(VideoSession, session_id)
    with count_queries() as counter:
        scheduling.add_participants(teacher, session, others)
    return counter.count


def _post(school, count_queries):
    teacher, thread = fresh(User, school.teacher_id), db.session.get(Thread, school.thread_id)
    with count_queries() as counter:
        chat.post_message(teacher, thread, "Homework: page 12, exercises 1 to 5.")
    return counter.count


def _tell_members(school, count_queries):
    """The job a message's POST queues: its members' notifications, pushes and emails."""
    from app.notifications.messages import tell_members

    teacher, thread = fresh(User, school.teacher_id), db.session.get(Thread, school.thread_id)
    message_id = chat.post_message(teacher, thread, "Homework: page 12, exercises 1 to 5.").id
    commit()
    with count_queries() as counter:
        told = tell_members(message_id)
    assert told["told"] == len(school.student_ids) - len(school.student_ids) // 5  # not muted
    return counter.count


@pytest.mark.parametrize("what, measure, sizes, bound", [
    ("schedule", _schedule, (5, 50), SCHEDULE_BOUND),
    ("move", _change("move"), (5, 50), CHANGE_BOUND),
    ("cancel", _change("cancel"), (5, 50), CHANGE_BOUND),
    ("restore", _change("restore"), (5, 50), CHANGE_BOUND),
    ("edit", _change("edit"), (5, 50), CHANGE_BOUND),
    ("cancel series", _change("cancel series"), (5, 50), CHANGE_BOUND),
    ("split", _change("split"), (5, 50), CHANGE_BOUND),
    ("add participants", _add_participants, (5, 50), CHANGE_BOUND),
    ("post", _post, (5, 200), POST_BOUND),
    ("tell a message's members", _tell_members, (5, 200), TELL_BOUND),
])
def test_write_costs_the_same_for_few_and_many(build_school, count_queries, what, measure,
                                               sizes, bound):
    counts = []
    for size in sizes:
        counts.append(measure(build_school(size), count_queries))
    print(f"{what}: {counts[0]} statements for {sizes[0]} people, {counts[1]} for {sizes[1]}")
    assert counts[0] == counts[1], counts
    assert counts[1] <= bound, counts
