"""A chat message's members are told by a job, not by the POST that stored it.

Telling them is per-recipient work (everyone's delivery choices read, a notification row each,
pushes queued, emails rendered into the outbox): a quarter of a POST's CPU for a class of 30,
growing with the class. The POST stores the message with ``notices_due_at`` set (chat's
post_message) and this domain's receiver queues ``tell_members`` after the commit. What reaches
people at once is unchanged: the thread, the Chats badge and the thread list are the hub's
(app/chat/realtime.py), and a new message is not on the bell (NOT_ON_THE_BELL).

Exactly once: the job clears ``notices_due_at`` with an UPDATE that only one transaction can
win (a second job, a second worker, a retry after a crash finds it cleared) and writes the rows
in that same transaction, committed once by the job runner. A job that never reached a worker
(Redis down at the commit, a lost job) is queued again by ``requeue_owed_notices``, the cron
sweep, once the message has owed for NOTICES_STALE_AFTER. A worker killed mid-job leaves its
transaction uncommitted, so the message still owes: RQ runs the job again when it finds it
abandoned (its retry; a few minutes, the job's timeout), or the sweep queues it if that job is
gone (tried with a real worker SIGKILLed while its INSERT waited on a lock: told once)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from app.accounts.models import User
from app.chat.formatting import preview_text
from app.chat.models import Message, Thread, ThreadKind, ThreadMember
from app.db_types import utcnow
from app.extensions import db
from app.jobs import enqueue_after_commit, without_a_waiting_job
from app.notifications.models import NotificationType

NOTICES_STALE_AFTER = timedelta(minutes=2)
# A message nobody was told of within a day is left untold (a push or an email that late is
# noise: the Chats badge has shown it all along).
NOTICES_GIVE_UP_AFTER = timedelta(days=1)
NOTICES_SWEEP_BATCH = 1000


def notices_job_id(message_id: int) -> str:
    # One job id per message: the sweep can tell a job still waiting in Redis from one that
    # never got there.
    return f"message-notices-{message_id}"


def queue_notices(message_id: int, center_id: int) -> None:
    from app.notifications import tasks

    enqueue_after_commit(tasks.tell_message_members, message_id, queue="default",
                         center_id=center_id, job_id=notices_job_id(message_id))


def tell_members(message_id: int) -> dict:
    """The job: claim the message's notices, then notify its members (not the sender, not who
    muted the thread, not who has read it already: they were reading the thread when it came)
    in one pass (notifications.services.record_for). Statements: the claim, the message with
    its thread and sender, the members, then record_for's (the same for 5 members or 500)."""
    from app.notifications.services import record_for

    claimed = db.session.execute(
        update(Message).where(Message.id == message_id, Message.notices_due_at.is_not(None))
        .values(notices_due_at=None)).rowcount
    if not claimed:
        return {"told": 0, "claimed": False}
    found = db.session.execute(
        select(Message.thread_id, Message.center_id, Message.sender_id, Message.body,
               Message.deleted_at, Thread.kind, Thread.name, User.name.label("sender_name"))
        .join(Thread, Thread.id == Message.thread_id)
        .outerjoin(User, User.id == Message.sender_id)
        .where(Message.id == message_id)).one_or_none()
    if found is None or found.deleted_at is not None:
        return {"told": 0, "claimed": True}  # deleted before anyone was told: nothing to say
    # The thread's members of the message's own center only (a job is checked like a
    # request: nobody of another center is ever told).
    recipients = {member.user_id for member in db.session.execute(
        select(ThreadMember.user_id, ThreadMember.muted, ThreadMember.last_read_message_id)
        .where(ThreadMember.thread_id == found.thread_id,
               ThreadMember.center_id == found.center_id))
        if member.user_id != found.sender_id and not member.muted
        and member.last_read_message_id < message_id}
    if not recipients:
        return {"told": 0, "claimed": True}
    body = preview_text(found.body, 140) or "Sent an attachment"
    sender = found.sender_name or "Someone"
    # A direct thread is called after the other person, the sender to each recipient; every
    # other kind has one name for all its members: one title, one record_for for everyone.
    title = sender if found.kind == ThreadKind.DIRECT else f"{sender} in {found.name}"
    told = record_for(recipients, NotificationType.NEW_MESSAGE, title, body,
                      f"/chat/threads/{found.thread_id}?at={message_id}",
                      tag=f"thread-{found.thread_id}")
    return {"told": len(told), "claimed": True}


def requeue_owed_notices(now: datetime | None = None) -> dict:
    """The sweep (every minute): queue again the messages whose notices job never reached a
    worker or died mid-way; a job still waiting in Redis is left alone; messages owing for
    longer than NOTICES_GIVE_UP_AFTER are given up."""
    now = now or utcnow()
    given_up = db.session.execute(
        update(Message).where(Message.notices_due_at < now - NOTICES_GIVE_UP_AFTER)
        .values(notices_due_at=None)).rowcount or 0
    owed = db.session.execute(
        select(Message.id, Message.center_id)
        .where(Message.notices_due_at <= now - NOTICES_STALE_AFTER)
        .order_by(Message.notices_due_at).limit(NOTICES_SWEEP_BATCH)).all()
    if not owed:
        return {"queued": 0, "waiting": 0, "given_up": given_up}
    again = without_a_waiting_job(owed, lambda row: notices_job_id(row.id))
    for row in again:
        queue_notices(row.id, row.center_id)
    return {"queued": len(again), "waiting": len(owed) - len(again), "given_up": given_up}
