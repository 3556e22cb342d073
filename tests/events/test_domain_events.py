"""Each fact is one named signal, sent once with everyone it concerns (DESIGN.md, "Domain
events"), and what its receivers write to the outside stays exactly-once."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import func, select

from app.accounts.models import User
from app.chat import services as chat
from app.chat import signals as chat_signals
from app.chat.models import Thread
from app.extensions import db
from app.invites import services as invites
from app.mail.models import EmailOutbox, OutboxStatus
from app.notifications.models import Notification, NotificationType
from app.scheduling import services as scheduling
from app.scheduling import signals
from app.scheduling.models import VideoSession
from tests.events.conftest import weekly_for
from tests.events.test_write_query_counts import second_monday_local


@contextmanager
def recording(*watched):
    """Every send of the ``watched`` signals: (signal name, sender, kwargs)."""
    sent = []

    hooks = []
    for signal in watched:
        def hook(subject, /, _name=signal.name, **kwargs):
            sent.append((_name, subject, kwargs))
        signal.connect(hook)
        hooks.append((signal, hook))
    try:
        yield sent
    finally:
        for signal, hook in hooks:
            signal.disconnect(hook)


ALL_SCHEDULING = [value for value in vars(signals).values()
                  if type(value).__name__ == "NamedSignal"]


def test_scheduling_sends_one_signal_with_every_participant(build_school):
    school = build_school(6)
    teacher = db.session.get(User, school.teacher_id)
    everyone = frozenset([school.teacher_id, *school.student_ids])
    with recording(*ALL_SCHEDULING) as sent:
        session = scheduling.schedule_session(teacher, weekly_for(school.student_ids))
    assert [(name, kwargs["user_ids"]) for name, _, kwargs in sent] == \
        [("scheduling.session-scheduled", everyone)]
    assert sent[0][1] is session and sent[0][2]["actor"] is teacher

    with recording(*ALL_SCHEDULING) as sent:
        scheduling.move_occurrence(teacher, session, second_monday_local(),
                                   second_monday_local() + timedelta(hours=1), reason="Exams")
        scheduling.cancel_occurrence(teacher, session,
                                     second_monday_local() + timedelta(weeks=1), "Snow")
        scheduling.remove_participant(teacher, session, school.student_ids[0])
    assert [(name, kwargs["user_ids"]) for name, _, kwargs in sent] == [
        ("scheduling.occurrence-moved", everyone),
        ("scheduling.occurrence-cancelled", everyone),
        ("scheduling.participants-removed", frozenset({school.student_ids[0]})),
    ]
    assert sent[0][2]["override"].reason == "Exams"


def test_every_scheduling_signal_is_documented_and_nothing_switches_on_a_change_string():
    import inspect
    from pathlib import Path

    source = inspect.getsource(signals)
    for signal in ALL_SCHEDULING:
        name = next(key for key, value in vars(signals).items() if value is signal)
        comment = source.split(f"\n{name} = ")[0].rsplit("\n\n", 1)[-1]
        assert comment.startswith("# ") and "user_ids" in comment, name
    app_dir = Path(signals.__file__).parents[1]
    offenders = [str(path) for path in app_dir.rglob("*.py")
                 if "change=" in path.read_text() or "change ==" in path.read_text()]
    assert offenders == []


def test_a_message_is_one_signal_for_the_whole_thread(build_school, run_worker):
    school = build_school(7)
    teacher = db.session.get(User, school.teacher_id)
    thread = db.session.get(Thread, school.thread_id)
    with recording(chat_signals.message_posted) as sent:
        chat.post_message(teacher, thread, "Hello, class")
    run_worker()  # its receiver queued the job that tells the members
    thread = db.session.get(Thread, school.thread_id)
    assert len(sent) == 1
    assert sent[0][2]["user_ids"] == frozenset([school.teacher_id, *school.student_ids])
    # Everyone but the sender and the muted members (one in five) is told, once.
    told = db.session.scalars(select(Notification.user_id).where(
        Notification.type == NotificationType.NEW_MESSAGE)).all()
    muted = {m.user_id for m in thread.members if m.muted}
    assert sorted(told) == sorted(set(school.student_ids) - muted)


def test_an_invitation_written_by_a_concurrent_transaction_is_skipped_not_an_error(build_school):
    """Two transactions composing the same email after the same row collide on its dedup key:
    the bulk INSERT skips the row the other one wrote (ON CONFLICT DO NOTHING): sent once."""
    school = build_school(3)
    teacher = db.session.get(User, school.teacher_id)
    session = scheduling.schedule_session(teacher, weekly_for(school.student_ids))
    session_id = session.id
    rows_before = db.session.scalar(select(func.count(EmailOutbox.id)))
    mine = db.session.scalars(select(EmailOutbox).where(
        EmailOutbox.session_id == session_id,
        EmailOutbox.recipient_user_id == school.student_ids[0])).one()
    # What the other transaction wrote: the next message this person gets about the session
    # (an updated REQUEST), its key exactly the one this transaction is about to compose.
    session = db.session.get(VideoSession, session_id)
    session.title = "Algebra II"
    participant = next(p for p in session.participants
                       if p.user_id == school.student_ids[0])
    invites.invite_series(session, [participant], updated=True)
    theirs = db.session.scalars(select(EmailOutbox).where(
        EmailOutbox.session_id == session_id,
        EmailOutbox.recipient_user_id == school.student_ids[0],
        EmailOutbox.id > mine.id)).one()
    key = theirs.dedup_key
    # Seen from this transaction, that row does not exist yet (it has not committed): no
    # session, so it is not this person's last email about the session; same key.
    theirs.session_id = None
    db.session.commit()

    invites.invite_series(db.session.get(VideoSession, session_id),
                          db.session.get(VideoSession, session_id).participants, updated=True)
    db.session.commit()
    assert db.session.scalar(select(func.count(EmailOutbox.id)).where(
        EmailOutbox.dedup_key == key)) == 1
    # The others got theirs; nobody got two.
    assert db.session.scalar(select(func.count(EmailOutbox.id))) == \
        rows_before + 1 + (len(school.student_ids) + 1 - 1)
    assert db.session.scalars(select(EmailOutbox.status).distinct()).all() == \
        [OutboxStatus.PENDING]
