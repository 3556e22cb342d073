"""A chat message's members are told by a job queued by the POST, exactly once: a second job,
two workers at once, a worker killed before its commit and a job that never reached Redis all
end with one notification per member (app/notifications/messages.py)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import select, update

from app.chat import services as chat
from app.chat.models import Message, ThreadMember
from app.db_types import utcnow
from app.extensions import db
from app.notifications.messages import (NOTICES_GIVE_UP_AFTER, NOTICES_STALE_AFTER,
                                        notices_job_id, requeue_owed_notices, tell_members)
from app.notifications.models import Notification, NotificationType
from app.redis_conn import get_redis
from tests.conftest import commit
from tests.notifications.conftest import queued_job_ids


@pytest.fixture
def group(school):
    return chat.create_group(school.teacher, "Exam prep", "", [s.id for s in school.students])


def told(message_id: int) -> list[int]:
    """Who was told of the message, one entry per notification."""
    db.session.expire_all()
    return sorted(db.session.scalars(select(Notification.user_id).where(
        Notification.type == NotificationType.NEW_MESSAGE,
        Notification.link.endswith(f"?at={message_id}"))))


def owes(message_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Message, message_id).notices_due_at is not None


def test_the_post_queues_the_job_and_a_second_run_tells_nobody_again(app, school, group,
                                                                     run_worker):
    s1, s2 = school.students
    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    commit()
    assert told(message_id) == [] and owes(message_id)  # the POST itself told nobody
    assert notices_job_id(message_id) in queued_job_ids(app, "default")
    run_worker()
    assert told(message_id) == sorted([s1.id, s2.id]) and not owes(message_id)
    # The same job again (a duplicate, a retry after its commit): it finds nothing owed.
    assert tell_members(message_id) == {"told": 0, "claimed": False}
    commit()
    assert told(message_id) == sorted([s1.id, s2.id])


def test_two_workers_running_the_same_job_at_once_tell_each_member_once(app, school, group):
    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    commit()
    start, results, errors = threading.Barrier(2), [], []

    def worker():
        try:
            with app.app_context():
                start.wait(timeout=10)
                results.append(tell_members(message_id))
                db.session.commit()  # the job runner's one commit
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(r["claimed"] for r in results) == [False, True]
    assert told(message_id) == sorted(s.id for s in school.students)


def test_a_worker_killed_before_its_commit_leaves_the_message_owing_and_the_sweep_tells_once(
        school, group, run_worker):
    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    commit()
    # The job did its work and died before committing: nothing of it stays.
    assert tell_members(message_id)["told"] == 2
    db.session.rollback()
    assert told(message_id) == [] and owes(message_id)
    run_worker()  # the job the POST queued takes it
    assert told(message_id) == sorted(s.id for s in school.students)
    # Lost altogether (Redis down at the POST's commit, or its job gone): the sweep queues it
    # once it is stale, and nothing twice.
    second = chat.post_message(school.teacher, group, "And on Tuesday").id
    commit()
    Job.fetch(notices_job_id(second), connection=get_redis()).delete()  # lost
    assert owes(second)
    assert requeue_owed_notices(utcnow())["queued"] == 0  # not stale yet
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER) == {
        "queued": 1, "waiting": 0, "given_up": 0}
    commit()
    run_worker()
    assert told(second) == sorted(s.id for s in school.students)
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER)["queued"] == 0


def test_a_job_a_dead_worker_took_off_its_queue_is_queued_again(app, school, group, run_worker):
    """The RQ worker blocks popping the queue; Redis hands it the next job id at once. Killed
    before it marks the job started (found by hand: SIGSTOP, two posts, SIGKILL), the job's
    status still says queued while no queue holds it. The sweep must not take that for a
    backlog."""
    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    commit()
    job = Job.fetch(notices_job_id(message_id), connection=get_redis())
    assert get_redis().lrem(f"rq:queue:{job.origin}", 0, job.id) == 1  # the dead worker's pop
    assert job.get_status(refresh=True) == "queued"
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER) == {
        "queued": 1, "waiting": 0, "given_up": 0}
    commit()
    run_worker()
    assert told(message_id) == sorted(s.id for s in school.students)
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER)["queued"] == 0


def test_a_job_whose_worker_died_while_running_it_is_queued_again_once_its_run_expired(
        app, school, group, run_worker):
    """A worker killed mid-job leaves the job started, with an execution in the started
    registry that nothing renews (RQ scores it the timeout plus a minute ahead). The sweep leaves
    it while that could still be a living worker's, then queues it again and drops the stale
    execution, so RQ's own maintenance cannot later fail the job's next run for it."""
    from rq import Queue
    from rq.executions import Execution
    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    commit()
    redis = get_redis()
    job = Job.fetch(notices_job_id(message_id), connection=redis)
    Queue(job.origin, connection=redis).remove(job)  # the worker popped it, started it, died
    with redis.pipeline() as pipeline:
        execution = Execution.create(job, 240, pipeline=pipeline)
        job.set_status(JobStatus.STARTED, pipeline=pipeline)
        pipeline.execute()
    registry = StartedJobRegistry(job.origin, connection=redis)
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER) == {
        "queued": 0, "waiting": 1, "given_up": 0}  # it may yet finish
    redis.zadd(registry.key, {execution.composite_key: 1}, xx=True)  # its run expired
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER) == {
        "queued": 1, "waiting": 0, "given_up": 0}
    commit()
    assert redis.zscore(registry.key, execution.composite_key) is None
    run_worker()
    assert told(message_id) == sorted(s.id for s in school.students)
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER)["queued"] == 0


def test_the_sweep_leaves_a_waiting_job_alone_and_gives_up_after_a_day(app, school, group):
    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    commit()
    # Its job is still in its queue (a backlog): left there.
    assert requeue_owed_notices(utcnow() + NOTICES_STALE_AFTER) == {
        "queued": 0, "waiting": 1, "given_up": 0}
    db.session.execute(update(Message).where(Message.id == message_id).values(
        notices_due_at=utcnow() - NOTICES_GIVE_UP_AFTER - timedelta(minutes=1)))
    assert requeue_owed_notices() == {"queued": 0, "waiting": 0, "given_up": 1}
    commit()
    assert not owes(message_id)


def test_who_has_read_it_already_or_muted_the_thread_is_not_told_nor_of_a_deleted_message(
        school, group, run_worker, make):
    s1, s2 = school.students
    # A member row of another center's person (never made by the app): never told.
    stranger = make.user(make.center(name="Other Center"))
    db.session.add(ThreadMember(center_id=stranger.center_id, thread_id=group.id,
                                user_id=stranger.id))
    message_id = chat.post_message(school.teacher, group, "Test on Monday").id
    # s1 had the thread open: they read the message before the job ran.
    db.session.execute(update(ThreadMember).where(
        ThreadMember.thread_id == group.id, ThreadMember.user_id == s1.id).values(
        last_read_message_id=message_id))
    run_worker()
    assert told(message_id) == [s2.id]

    chat.set_muted(s2, group, True)
    muted = chat.post_message(school.teacher, group, "Muted").id
    run_worker()
    assert told(muted) == [s1.id]

    gone = chat.post_message(school.teacher, group, "Oops, wrong group").id
    chat.delete_message(school.teacher, db.session.get(Message, gone))
    run_worker()
    assert told(gone) == [] and not owes(gone)
