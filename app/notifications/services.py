"""notify(): the one entry point every feature uses to tell people about an event.

It records an in-app Notification per recipient (always), updates their bell live, and after
commit queues the web push (when their preference allows it and they have a device) on the high
or default queue, and the email where the user chose email for that type. Normal-priority pushes that fall in the recipient's quiet hours are held until
the quiet hours end; high priority goes through."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from flask import current_app
from flask import url_for
from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import joinedload

from app.accounts.models import User
from app.accounts.services import ValidationError
from app.bulk import one_of, one_of_parameter, reusable
from app.db_types import utcnow
from app.extensions import db
from app.jobs import enqueue_after_commit, without_a_waiting_job
from app.notifications import endpoints
from app.notifications.models import (HIGH_PRIORITY, DeliveryStatus, Notification,
                                      NotificationPreference, NotificationType, Priority,
                                      PushDelivery, PushSubscription, QuietHours)
from app.realtime.events import publish, publish_to_users

PAGE_SIZE = 30
# Counted by the Chats badge (unread messages), not by the bell; still listed in the center.
NOT_ON_THE_BELL = (NotificationType.NEW_MESSAGE,)
HIGH_PRIORITY_TTL = 15 * 60  # a reminder or a call is useless an hour late
NORMAL_TTL = 24 * 3600


@dataclass(frozen=True)
class PushOptions:
    ttl: int
    urgency: str


def push_options(type_: NotificationType) -> PushOptions:
    if type_ in HIGH_PRIORITY:
        return PushOptions(ttl=HIGH_PRIORITY_TTL, urgency="high")
    return PushOptions(ttl=NORMAL_TTL, urgency="normal")


# --- preferences -------------------------------------------------------------------------------

def preferences_for(user_ids) -> dict[tuple[int, NotificationType], NotificationPreference]:
    rows = db.session.scalars(select(NotificationPreference)
                              .where(one_of(NotificationPreference.user_id, user_ids)))
    return {(p.user_id, p.type): p for p in rows}


# What someone who never chose gets for a type (the settings page and notify alike).
PUSH_BY_DEFAULT, EMAIL_BY_DEFAULT = True, False


def wants_push(prefs, user_id: int, type_: NotificationType) -> bool:
    pref = prefs.get((user_id, type_))
    return PUSH_BY_DEFAULT if pref is None else pref.push


def wants_email(prefs, user_id: int, type_: NotificationType) -> bool:
    pref = prefs.get((user_id, type_))
    return EMAIL_BY_DEFAULT if pref is None else pref.email


def set_preferences(user: User, choices: dict[NotificationType, tuple[bool, bool]]) -> None:
    existing = {p.type: p for p in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id))}
    for type_, (push, email) in choices.items():
        pref = existing.get(type_)
        if pref is None:
            pref = NotificationPreference(user_id=user.id, type=type_)
            db.session.add(pref)
        pref.push, pref.email = push, email


def quiet_hours_for(user: User) -> QuietHours | None:
    return db.session.scalar(select(QuietHours).where(QuietHours.user_id == user.id))


def set_quiet_hours(user: User, enabled: bool, start: time | None, end: time | None) -> None:
    if enabled and (start is None or end is None):
        raise ValidationError({"quiet_hours": "Give both the start and the end of quiet hours."})
    if enabled and start == end:
        raise ValidationError({"quiet_hours": "Quiet hours need different start and end times."})
    row = quiet_hours_for(user) or QuietHours(user_id=user.id, start=time(22), end=time(7))
    row.enabled = enabled
    if start is not None and end is not None:
        row.start, row.end = start, end
    db.session.add(row)


def quiet_until(quiet: QuietHours | QuietWindow | None, user, now: datetime) -> datetime | None:
    """When the user's quiet hours (in their own zone) end, if ``now`` falls inside them."""
    if quiet is None or not quiet.enabled:
        return None
    local = now.astimezone(user.tz)
    start, end, clock = quiet.start, quiet.end, local.time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=user.tz).astimezone(now.tzinfo)


# --- notify ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Notice:
    """What one person is told about an event: notify_each's unit, for events whose wording
    differs per person (a time in their own zone). ``user``: a User, or anything with its id,
    center_id, is_active and tz (the reminder sweep reads its people as such columns)."""

    user: User
    title: str
    body: str = ""
    link: str = "/"
    tag: str = ""


def notify(recipients, type_: NotificationType, title: str, body: str = "", link: str = "/",
           *, tag: str = "") -> list[Notification]:
    """Record and deliver one event to each recipient. Call inside the transaction that made
    the change: rows are part of it; the bell update and pushes go out after it commits. (A
    push to someone reading the thread it is about is dropped by the job: push.is_reading.)"""
    unique = {r.id: r for r in recipients if r is not None}.values()
    return notify_each(type_, [Notice(user, title, body, link, tag) for user in unique])


def record(recipients, type_: NotificationType, title: str, body: str = "", link: str = "/",
           *, tag: str = "") -> list[Recorded]:
    """notify() for callers that do not use the new notifications (the domain events'
    receivers): the same rows, bell update, pushes and emails, without loading the rows back
    as ORM objects (one statement fewer)."""
    unique = {r.id: r for r in recipients if r is not None}.values()
    return record_each(type_, [Notice(user, title, body, link, tag) for user in unique])


def record_for(user_ids, type_: NotificationType, title: str, body: str = "", link: str = "/",
               *, tag: str = "") -> list[Recorded]:
    """record() for people known by their ids (a chat message's members): they are read as
    columns in the same statement as their delivery choices (``people_and_choices``), never
    loaded as ORM users. The inactive are left out; the rest are told in the order of their
    ids."""
    people, choices = people_and_choices(user_ids, type_)
    notices = [Notice(people[user_id], title, body, link, tag) for user_id in sorted(people)]
    return _notify(type_, notices, load_all=False, choices=choices)[0]


def notify_each(type_: NotificationType, notices) -> list[Notification]:
    """notify() with each person's own wording, in one pass however many notices there are:
    one query for everyone's delivery choices (``people_and_choices``: preference, devices and
    quiet hours, with one array parameter for the people: bulk.one_of; psycopg parsed a
    statement with a placeholder per person anew every time), then per NOTIFY_BATCH notices one
    INSERT … RETURNING and one SELECT of the new rows. One person may get several notices (a
    teacher with two sessions starting at once). Returns the rows in the notices' order
    (inactive people are left out)."""
    recorded, loaded = _notify(type_, notices, load_all=True)
    return [loaded[row.id] for row in recorded]


class Recorded(NamedTuple):
    """A notification record_each wrote, as the columns its push job and callers need: what a
    sweep of 10,000 reminders gets back instead of 10,000 ORM objects (loading them, then
    expiring them at the chunk's commit, cost more than inserting them)."""

    id: int
    center_id: int
    user_id: int
    priority: Priority


def record_each(type_: NotificationType, notices) -> list[Recorded]:
    """notify_each without loading the new rows back as ORM objects: the same rows, bell
    update, pushes and emails, with one statement fewer per NOTIFY_BATCH notices. Returns the
    rows written (ids and what a push needs), in the notices' order."""
    return _notify(type_, notices, load_all=False)[0]


class Person(NamedTuple):
    """What notifying someone needs to know of them (Notice.user), read as columns (a chat
    message's members, a reminder sweep's chunk of 1,000: as ORM users, each with its center
    joined, they cost more than the rest of notifying them)."""

    id: int
    center_id: int
    is_active: bool
    tz: ZoneInfo


class QuietWindow(NamedTuple):
    """Someone's enabled quiet hours, as quiet_until reads them."""

    start: time
    end: time
    enabled: bool = True


class DeliveryChoice(NamedTuple):
    """How one person wants one type of notification delivered, beyond the in-app row."""

    push: bool  # their preference (PUSH_BY_DEFAULT when they never chose)
    email: bool  # their preference (EMAIL_BY_DEFAULT when they never chose)
    has_device: bool  # an active push subscription
    quiet: QuietWindow | None  # enabled quiet hours


def _choices_query():
    """Everyone's preference for the type ``:type``, whether they have an active device and their
    enabled quiet hours, one row per person of ``:user_ids``: the preference and quiet hours
    are unique per person (and type), so the outer joins never multiply rows."""
    has_device = select(PushSubscription.id).where(PushSubscription.user_id == User.id,
                                                   PushSubscription.active.is_(True)).exists()
    return (select(User.id, NotificationPreference.push, NotificationPreference.email,
                   has_device.label("has_device"), QuietHours.start, QuietHours.end)
            .outerjoin(NotificationPreference,
                       and_(NotificationPreference.user_id == User.id,
                            NotificationPreference.type == bindparam(
                                "type", type_=NotificationPreference.type.type)))
            .outerjoin(QuietHours, and_(QuietHours.user_id == User.id,
                                        QuietHours.enabled.is_(True)))
            .where(one_of_parameter(User.id, "user_ids")))


def _people_and_choices_query():
    from app.accounts.models import Center

    return (_choices_query()
            .add_columns(User.center_id, User.timezone, Center.timezone.label("center_timezone"))
            .join(Center, Center.id == User.center_id)
            .where(User.is_active_flag.is_(True)))


# Built once (bulk.reusable): notifying is on every chat message's way.
_CHOICES = reusable(_choices_query)
_PEOPLE_AND_CHOICES = reusable(_people_and_choices_query)


def _choice(row) -> DeliveryChoice:
    return DeliveryChoice(PUSH_BY_DEFAULT if row.push is None else bool(row.push),
                          EMAIL_BY_DEFAULT if row.email is None else bool(row.email),
                          bool(row.has_device),
                          QuietWindow(row.start, row.end) if row.start is not None else None)


def delivery_choices(user_ids, type_: NotificationType) -> dict[int, DeliveryChoice]:
    """Each person's DeliveryChoice for ``type_``, in one statement."""
    return {row.id: _choice(row) for row in db.session.execute(
        _CHOICES(), {"user_ids": list(user_ids), "type": type_})}


def people_and_choices(user_ids, type_: NotificationType
                       ) -> tuple[dict[int, Person], dict[int, DeliveryChoice]]:
    """The active people among ``user_ids`` (as Person) and their delivery choices, in one
    statement."""
    people, choices = {}, {}
    for row in db.session.execute(_PEOPLE_AND_CHOICES(),
                                  {"user_ids": list(user_ids), "type": type_}):
        people[row.id] = Person(row.id, row.center_id, True,
                                ZoneInfo(row.timezone or row.center_timezone))
        choices[row.id] = _choice(row)
    return people, choices


def _notify(type_: NotificationType, notices, *, load_all: bool,
            choices: dict[int, DeliveryChoice] | None = None
            ) -> tuple[list[Recorded], dict[int, Notification]]:
    """notify_each's and record_each's work; ``load_all``: also load every new row as an ORM
    object (one SELECT per NOTIFY_BATCH), else only the ones an email is rendered from.
    ``choices``: the people's delivery choices when the caller read them already."""
    notices = [n for n in notices if n.user is not None and n.user.is_active]
    if not notices:
        return [], {}
    priority = Priority.HIGH if type_ in HIGH_PRIORITY else Priority.NORMAL
    if choices is None:
        choices = delivery_choices({n.user.id for n in notices}, type_)
    now = utcnow()
    rows, pushes = [], []
    for notice in notices:
        user, due, held_until = notice.user, None, None
        choice = choices.get(user.id)
        wants = choice is not None and choice.has_device and choice.push
        if wants:
            held_until = None if priority == Priority.HIGH else \
                quiet_until(choice.quiet, user, now)
            due = held_until or now
        # push_due_at is written with the row: the push stays owed until a worker takes it,
        # even if Redis is down when this transaction commits.
        rows.append({"center_id": user.center_id, "user_id": user.id, "type": type_,
                     "priority": priority, "title": notice.title[:200],
                     "body": notice.body[:1000], "link": notice.link[:500],
                     "tag": notice.tag[:100], "created_at": now, "read_at": None,
                     "push_due_at": due})
        pushes.append((wants, held_until))
    created: list[Recorded] = []
    for first in range(0, len(rows), NOTIFY_BATCH):
        created += _insert_notifications(rows[first:first + NOTIFY_BATCH], priority)
    if type_ not in NOT_ON_THE_BELL:  # the bell would show the same number again
        # One event for everyone's bell (app/notifications/realtime.py counts them grouped).
        publish_to_users("user", {n.user_id for n in created}, "notification.created")
    for notification, (wants, held_until) in zip(created, pushes):
        if wants:
            queue_push(notification, held_until=held_until)
    loaded: dict[int, Notification] = {}
    if load_all:
        new_ids = [n.id for n in created]
        for first in range(0, len(new_ids), NOTIFY_BATCH):
            loaded.update((n.id, n) for n in db.session.scalars(select(Notification).where(
                one_of(Notification.id, new_ids[first:first + NOTIFY_BATCH]))))
    emailed = [n.id for n in created
               if (choice := choices.get(n.user_id)) is not None and choice.email]
    if emailed:
        from app.mail.services import queue_notification_emails

        if not load_all:
            # Rendered from the notification and its person: loaded for these only (one
            # statement, the people joined: a sweep's people are columns, not ORM users).
            loaded.update((n.id, n) for n in db.session.scalars(
                select(Notification).where(one_of(Notification.id, emailed))
                .options(joinedload(Notification.user))))
        queue_notification_emails([loaded[i] for i in emailed])  # one INSERT for all of them
    return created, loaded


# Notifications inserted per statement.
NOTIFY_BATCH = 1000


def _insert_notifications(rows: list[dict], priority: Priority) -> list[Recorded]:
    """The rows inserted in one statement (app/bulk.insert_rows: the ORM's own flush sends one
    INSERT per row on SQLite), in ``rows``' order. Each id is matched to its row by what the
    row says, so the order RETURNING gives does not matter: rows that say the same thing to
    the same person are interchangeable."""
    from app.bulk import insert_rows

    def said(row) -> tuple:
        return row["user_id"], row["title"], row["body"], row["link"], row["tag"]

    table = Notification.__table__
    ids_by_content: dict[tuple, list[int]] = {}
    for returned in insert_rows(table, rows, (table.c.id, table.c.user_id, table.c.title,
                                              table.c.body, table.c.link, table.c.tag)):
        key = (returned.user_id, returned.title, returned.body, returned.link, returned.tag)
        ids_by_content.setdefault(key, []).append(returned.id)
    return [Recorded(ids_by_content[said(row)].pop(), row["center_id"], row["user_id"], priority)
            for row in rows]


def push_job_id(notification_id: int) -> str:
    # One job id per notification: the push sweep can tell a job still waiting in Redis from
    # one that never got there (RQ job ids allow [A-Za-z0-9_-] only).
    return f"push-{notification_id}"


def queue_push(notification: Notification | Recorded, held_until: datetime | None = None) -> None:
    from app.notifications import tasks

    queue = "high" if notification.priority == Priority.HIGH else "default"
    # center_id: a push that fails for good is shown to that center's admins (/admin/jobs).
    enqueue_after_commit(tasks.send_push, notification.id, queue=queue, at=held_until,
                         center_id=notification.center_id, job_id=push_job_id(notification.id))


PUSH_STALE_AFTER = timedelta(minutes=2)
PUSH_SWEEP_BATCH = 1000


def requeue_owed_pushes(now: datetime | None = None) -> dict:
    """The push sweep (every minute): queue again the pushes whose job never reached a worker
    (Redis was down when their transaction committed, or the job was lost). A job still waiting
    in Redis is left alone; pushes too old to matter are given up."""
    now = now or utcnow()
    given_up = db.session.execute(update(Notification).where(
        Notification.push_due_at.is_not(None),
        or_(Notification.push_due_at < now - timedelta(seconds=NORMAL_TTL),
            and_(Notification.priority == Priority.HIGH,
                 Notification.push_due_at < now - timedelta(seconds=HIGH_PRIORITY_TTL))))
        .values(push_due_at=None)).rowcount or 0
    owed = list(db.session.scalars(
        select(Notification).where(Notification.push_due_at <= now - PUSH_STALE_AFTER)
        .order_by(Notification.push_due_at).limit(PUSH_SWEEP_BATCH)))
    owed += _pushes_left_by_dead_jobs(now, exclude={n.id for n in owed})
    if not owed:
        return {"queued": 0, "waiting": 0, "given_up": given_up}
    again = without_a_waiting_job(owed, lambda n: push_job_id(n.id))
    for notification in again:
        queue_push(notification)
    return {"queued": len(again), "waiting": len(owed) - len(again), "given_up": given_up}


def _pushes_left_by_dead_jobs(now: datetime, exclude: set[int]) -> list[Notification]:
    """Notifications whose deliveries a job claimed and never finished (the worker was killed
    mid-send): their claims are stale, so a new job takes them again. Only within a day of the
    claim (the longest push TTL); the push service drops what is older anyway."""
    from app.notifications.push import CLAIM_TIMEOUT

    stale = (select(PushDelivery.notification_id)
             .where(PushDelivery.status == DeliveryStatus.SENDING,
                    PushDelivery.claimed_at < now - CLAIM_TIMEOUT,
                    PushDelivery.claimed_at > now - CLAIM_TIMEOUT - timedelta(seconds=NORMAL_TTL))
             .distinct().limit(PUSH_SWEEP_BATCH))
    return [notification for notification in db.session.scalars(
        select(Notification).where(Notification.id.in_(stale)))
        if notification.id not in exclude]


# --- the notification center ----------------------------------------------------------------------

def unread_count(user: User) -> int:
    """The bell's number. New chat messages are left out: the Chats badge counts them already
    (as unread messages), and counting them twice made the bell a second chat counter."""
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None),
        Notification.type.not_in(NOT_ON_THE_BELL)))


def mark_thread_read(user: User, thread_id: int) -> int:
    """Someone read a chat thread to its end: its notifications (new messages, added to the
    group...) are read too. One UPDATE; the bell updates live when it changed."""
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.tag == f"thread-{thread_id}",
        Notification.read_at.is_(None)).values(read_at=utcnow()))
    if result.rowcount:
        publish(f"user:{user.id}", "notification.read")
    return result.rowcount or 0


def destination(notification: Notification) -> str:
    """Where opening a notification goes: always a path on this site (``/\\host`` and
    ``//host`` are other sites to a browser)."""
    link = notification.link or ""
    if link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return url_for("accounts.dashboard")


def notifications_page(user: User, page: int = 1, per_page: int = PAGE_SIZE):
    stmt = (select(Notification).where(Notification.user_id == user.id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()))
    return db.paginate(stmt, page=page, per_page=per_page, error_out=False)


def mark_read(user: User, notification: Notification) -> None:
    if notification.user_id != user.id:
        raise PermissionError("not your notification")
    if notification.read_at is None:
        notification.read_at = utcnow()
        publish(f"user:{user.id}", "notification.read")


def mark_all_read(user: User) -> int:
    result = db.session.execute(update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)).values(read_at=utcnow()))
    publish(f"user:{user.id}", "notification.read")
    return result.rowcount or 0


# --- devices -----------------------------------------------------------------------------------

def _describe_agent(agent: str) -> tuple[str, str]:
    agent_l = agent.lower()
    browser = next((name for key, name in (("edg/", "Edge"), ("opr/", "Opera"),
                                           ("firefox", "Firefox"), ("samsungbrowser", "Samsung Internet"),
                                           ("chrome", "Chrome"), ("safari", "Safari"))
                    if key in agent_l), "Browser")
    platform = next((name for key, name in (("android", "Android"), ("iphone", "iPhone"),
                                            ("ipad", "iPad"), ("windows", "Windows"),
                                            ("mac os", "macOS"), ("cros", "ChromeOS"),
                                            ("linux", "Linux")) if key in agent_l), "Unknown")
    return browser, platform


class SubscriptionTaken(ValidationError):
    """The endpoint is registered to another account."""


def save_subscription(user: User, data: dict, user_agent: str = "") -> PushSubscription:
    """Store the browser's PushSubscription JSON ({endpoint, keys: {p256dh, auth}})."""
    try:
        endpoint = str(data["endpoint"])
        p256dh, auth = str(data["keys"]["p256dh"]), str(data["keys"]["auth"])
    except (KeyError, TypeError):
        raise ValidationError({"subscription": "That is not a push subscription."}) from None
    problem = endpoints.endpoint_problem(
        endpoint, allowed_hosts=endpoints.parse_host_patterns(
            current_app.config.get("PUSH_ENDPOINT_HOSTS")),
        allow_loopback=bool(current_app.config.get("PUSH_ALLOW_LOOPBACK_ENDPOINTS")))
    if problem:
        raise ValidationError({"subscription": problem})
    if not 40 <= len(p256dh) <= 200 or not 10 <= len(auth) <= 100:
        raise ValidationError({"subscription": "That push subscription is malformed."})
    browser, platform = _describe_agent(user_agent or "")
    sub = db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if sub is None:
        sub = PushSubscription(endpoint=endpoint)
    elif sub.user_id != user.id:
        # One browser profile, two accounts (a shared computer where someone never logged
        # out): moving the device silently would send one person's notifications to the
        # other, across centers even. Its owner logs out there (or removes the device).
        raise SubscriptionTaken({"subscription": (
            "This browser already gets notifications for another account. That person can log "
            "out here or remove this device under Notification settings; then try again.")})
    sub.center_id, sub.user_id = user.center_id, user.id
    sub.p256dh, sub.auth = p256dh, auth
    sub.user_agent, sub.browser, sub.platform = (user_agent or "")[:300], browser, platform
    sub.active, sub.failures, sub.last_error = True, 0, ""
    # Added only once complete: reading ``user`` (expired after a commit) autoflushes.
    db.session.add(sub)
    db.session.flush()  # its id is the caller's answer
    return sub


def devices(user: User) -> list[PushSubscription]:
    return list(db.session.scalars(select(PushSubscription).where(
        PushSubscription.user_id == user.id).order_by(PushSubscription.created_at.desc())))


def remove_subscription(user: User, subscription_id: int | None = None,
                        endpoint: str | None = None) -> bool:
    stmt = select(PushSubscription).where(PushSubscription.user_id == user.id)
    if subscription_id is not None:
        stmt = stmt.where(PushSubscription.id == subscription_id)
    elif endpoint:
        stmt = stmt.where(PushSubscription.endpoint == endpoint)
    else:
        return False
    sub = db.session.scalar(stmt)
    if sub is None:
        return False
    db.session.delete(sub)
    return True
