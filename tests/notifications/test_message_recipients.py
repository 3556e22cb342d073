"""A new chat message's members are told as each of them chose, read in one statement as
columns (app/notifications/services.record_for): the sender, the muted and the deactivated get
nothing; push off keeps the in-app row only; email where chosen; quiet hours on the person's
own clock, or on their center's when they have none of their own."""
from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import Role
from app.chat import services as chat
from app.extensions import db
from app.mail.models import EmailOutbox
from app.notifications import services, tasks
from app.notifications.models import Notification, NotificationType
from tests.conftest import commit
from tests.notifications.conftest import queued_job_ids, scheduled
from tests.notifications.test_preferences import quiet_around_now


def test_each_member_is_told_as_they_chose(app, make, add_device):
    center = make.center(timezone="Australia/Sydney")
    teacher = make.user(center, Role.TEACHER)
    plain, push_off, emailed, muted, leaving = (make.user(center) for _ in range(5))
    quiet_center_clock = make.user(center)  # no zone of their own: the center's
    quiet_tokyo = make.user(center, timezone="Asia/Tokyo")
    members = [plain, push_off, emailed, muted, leaving, quiet_center_clock, quiet_tokyo]
    make.course(center, teachers=[teacher], students=members)
    group = chat.create_group(teacher, "Everyone", "", [m.id for m in members])
    for person in members:
        add_device(person)
    services.set_preferences(push_off, {NotificationType.NEW_MESSAGE: (False, False)})
    services.set_preferences(emailed, {NotificationType.NEW_MESSAGE: (True, True)})
    chat.set_muted(muted, group, True)
    center_quiet_ends = quiet_around_now(quiet_center_clock, "Australia/Sydney")
    tokyo_quiet_ends = quiet_around_now(quiet_tokyo, "Asia/Tokyo")
    leaving.is_active_flag = False
    commit()
    queued_before = set(queued_job_ids(app, "default"))  # the group's creation notices

    message = chat.post_message(teacher, group, "Test on Monday")
    commit()
    # The POST told nobody itself: it queued the job that tells the members (run here as the
    # worker runs it: the job, then its one commit).
    assert db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.NEW_MESSAGE)).all() == []
    assert set(queued_job_ids(app, "default")) - queued_before == {
        f"message-notices-{message.id}"}
    queued_before.add(f"message-notices-{message.id}")
    assert tasks.tell_message_members(message.id) == {"told": 5, "claimed": True}
    commit()

    told = {n.user_id: n for n in db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.NEW_MESSAGE))}
    assert set(told) == {plain.id, push_off.id, emailed.id, quiet_center_clock.id,
                         quiet_tokyo.id}
    for notice in told.values():
        assert (notice.title, notice.body, notice.link, notice.tag, notice.center_id) == (
            f"{teacher.name} in Everyone", "Test on Monday",
            f"/chat/threads/{group.id}?at={message.id}", f"thread-{group.id}", center.id)
    assert told[push_off.id].push_due_at is None
    pushed_now = {f"push-{told[p.id].id}" for p in (plain, emailed)}
    queued = set(queued_job_ids(app, "default")) - queued_before
    assert {job_id for job_id in queued if job_id.startswith("push-")} == pushed_now
    assert sorted(scheduled(app, "default"), key=lambda entry: entry[1]) == sorted(
        [(f"push-{told[quiet_center_clock.id].id}", center_quiet_ends),
         (f"push-{told[quiet_tokyo.id].id}", tokyo_quiet_ends)], key=lambda entry: entry[1])
    outbox = list(db.session.scalars(select(EmailOutbox)))
    assert [row.recipient_user_id for row in outbox] == [emailed.id]


def test_the_members_and_their_choices_are_one_statement_for_few_or_many(make, count_queries):
    center = make.center()
    counts = []
    for size in (3, 40):
        ids = [make.user(center).id for _ in range(size)]
        with count_queries() as counter:
            people_found, choices = services.people_and_choices(
                ids, NotificationType.NEW_MESSAGE)
        counts.append(counter.count)
        assert set(people_found) == set(choices) == set(ids)
        assert all(c == services.DeliveryChoice(True, False, False, None)
                   for c in choices.values())
    assert counts == [1, 1]
