"""Sessions made for a group: its stored rules, proposals and their approval, the group's
Sessions tab. The rules themselves (who, when, how much notice) live in ``group_rules``; this
module reads and writes the rows and tells people. ``services.schedule_session`` and the edit
services call the checks here, so every way of scheduling for a group obeys the same rules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import User
from app.accounts.services import PermissionDenied, ValidationError, record_audit
from app.chat.models import MemberRole, Thread, ThreadKind, ThreadMember
from app.db_types import utcnow
from app.extensions import db
from app.scheduling import group_rules
from app.scheduling.group_rules import GroupRole, Rules
from app.scheduling.models import (GroupSessionRules, ParticipantRole, SessionParticipant,
                                   SessionStatus, SessionType, VideoSession)
from app.scheduling.recurrence import Schedule
from app.scheduling import signals

MAX_REASON = 500
PAST_LIMIT = 50  # past sessions the tab lists (newest first)


# --- the group and its rules ---------------------------------------------------------------------

def owner_of(thread: Thread) -> User | None:
    member = next((m for m in thread.members if m.role == MemberRole.OWNER), None)
    return member.user if member else None


def rules_row(thread: Thread) -> GroupSessionRules | None:
    return db.session.scalar(select(GroupSessionRules)
                             .where(GroupSessionRules.thread_id == thread.id))


def rules_for(thread: Thread) -> Rules:
    """The group's rules; the defaults (in the owner's zone) until someone saves some."""
    row = rules_row(thread)
    if row is not None:
        return group_rules.rules_from_row(row)
    owner = owner_of(thread)
    return group_rules.default_rules(owner.effective_timezone if owner else "UTC")


def save_rules(actor: User, thread: Thread, data: group_rules.RulesInput) -> Rules:
    if not group_rules.manages(group_rules.group_role(actor, thread)):
        raise PermissionDenied("Only the group's owner or a center admin can change its rules.")
    row = rules_row(thread)
    current = rules_for(thread)
    rules = group_rules.validate_rules_input(data, current.instant_calls_by)
    if row is None:
        row = GroupSessionRules(center_id=thread.center_id, thread_id=thread.id)
        db.session.add(row)
    row.scheduled_by = rules.scheduled_by
    row.instant_calls_by = rules.instant_calls_by
    row.approval_required = rules.approval_required
    row.min_notice_hours = rules.min_notice_hours
    row.slots = group_rules.slots_for_storage(rules)
    row.timezone = rules.timezone
    row.default_duration_minutes = rules.default_duration_minutes
    row.default_type = SessionType(rules.default_type)
    row.updated_by_id = actor.id
    record_audit(actor, "group.session_rules_updated", "thread", thread.id,
                 scheduled_by=rules.scheduled_by.value, approval=rules.approval_required,
                 notice_hours=rules.min_notice_hours, slots=rules.describe_slots(),
                 timezone=rules.timezone)
    return rules


def forget_group(thread: Thread) -> None:
    """A group is being deleted: its rules go and its sessions stay, no longer tied to it.
    Explicitly, not by ON DELETE alone: SQLite enforces no foreign keys here and reuses the
    highest rowid, so a new group could otherwise inherit the old one's rules and sessions."""
    db.session.execute(delete(GroupSessionRules).where(GroupSessionRules.thread_id == thread.id))
    db.session.execute(update(VideoSession).where(VideoSession.group_id == thread.id)
                       .values(group_id=None))


# --- scheduling for a group (called by services.schedule_session and the edit services) ----------

@dataclass
class GroupDecision:
    """What the rules say about a new session for a group, before and after its times."""

    group: Thread
    rules: Rules
    role: GroupRole

    @property
    def pending(self) -> bool:
        return group_rules.needs_approval(self.rules, self.role)

    @property
    def checks_conflicts(self) -> bool:
        # A student is not shown other people's bookings (their titles and names); the owner
        # sees conflicts when scheduling, and every participant's calendar once approved.
        return self.role != GroupRole.STUDENT


def group_for_scheduling(actor: User, teacher: User, group_id: int) -> GroupDecision:
    """The group a new session is for (``teacher``, the session's organizer, owns it), after
    checking that ``actor`` may create its sessions. Raises ValidationError for a group that
    is not the teacher's, PermissionDenied (naming the rule) for an actor the rules refuse."""
    group = db.session.scalar(
        select(Thread).where(Thread.id == group_id, Thread.center_id == teacher.center_id,
                             Thread.kind == ThreadKind.GROUP, Thread.archived_at.is_(None))
        .options(selectinload(Thread.members).joinedload(ThreadMember.user)))
    if group is None or owner_of(group) is None or owner_of(group).id != teacher.id:
        # The same answer (and field) as the dialog's own check of a "whole group".
        raise ValidationError({"participant_ids": "Pick one of your groups."})
    rules = rules_for(group)
    role = group_rules.group_role(actor, group)
    group_rules.require_may_create(rules, role)
    return GroupDecision(group, rules, role)


def check_new_schedule(decision: GroupDecision, schedule: Schedule) -> None:
    group_rules.check_schedule(decision.rules, schedule, utcnow())


def co_teacher_participants(session: VideoSession, group: Thread) -> None:
    """The group's co-teachers join its sessions as instructors (they teach it too)."""
    from app.accounts.services import users_by_id

    present = {p.user_id for p in session.participants}
    users_by_id(m.user_id for m in group.members)  # each member's .user without a query each
    for member in group.members:
        if member.user_id not in present and member.role != MemberRole.OWNER and \
                member.user.role.value == "TEACHER" and member.user.is_active:
            session.participants.append(SessionParticipant(
                center_id=session.center_id, user_id=member.user_id,
                role=ParticipantRole.INSTRUCTOR))


def _group_of(session: VideoSession) -> Thread | None:
    if session.group_id is None:
        return None
    return db.session.get(Thread, session.group_id)


def _known_starts(session: VideoSession, now: datetime) -> set[datetime]:
    from app.scheduling.services import session_occurrences

    return {o.start for o in session_occurrences(session, now, now + group_rules.ENDLESS_HORIZON)
            if not o.cancelled}


def check_changed_schedule(session: VideoSession, schedule: Schedule, changes=None) -> None:
    """A series edited or split: every occurrence still to come must fit the group's slots;
    the notice applies to start times nobody had been told about."""
    group = _group_of(session)
    if group is None:
        return
    now = utcnow()
    group_rules.check_schedule(rules_for(group), schedule, now, changes=changes,
                               notice_exempt=_known_starts(session, now))


def check_moved_occurrence(session: VideoSession, start: datetime, end: datetime,
                           current_start: datetime | None) -> None:
    """One occurrence moved (or given a new duration): its new time must fit."""
    group = _group_of(session)
    if group is None:
        return
    violation = group_rules.occurrence_violation(rules_for(group), start, end, utcnow(),
                                                 check_notice=start != current_start)
    if violation is not None:
        raise violation


# --- proposals -------------------------------------------------------------------------------------

def sessions_link(group_id: int) -> str:
    return f"/groups/{group_id}/sessions"


def announce_proposal(session: VideoSession, proposer: User, group: Thread) -> None:
    """A member proposed a session: only the owner hears of it (no invitations, no reminders,
    nothing in anyone's calendar until it is approved)."""
    owner = owner_of(group)
    signals.proposal_submitted.send(session, actor=proposer, group=group,
                                    user_ids=frozenset({owner.id} if owner else ()))


def _require_answerable(actor: User, session: VideoSession) -> Thread:
    group = _group_of(session)
    if group is None or group.center_id != actor.center_id or \
            not group_rules.manages(group_rules.group_role(actor, group)):
        raise PermissionDenied("Only the group's owner or a center admin answers proposals.")
    if session.status != SessionStatus.PENDING:
        raise ValidationError({"session": f"This proposal was already answered "
                                          f"({session.status.label.lower()})."})
    return group


def approve_proposal(actor: User, session: VideoSession) -> None:
    """PENDING -> SCHEDULED: from here the normal path runs (session thread, notifications,
    iCal invitations, reminders, calendars and feeds)."""
    from app.scheduling.services import next_occurrences, participant_ids

    group = _require_answerable(actor, session)
    if not next_occurrences(session, 1):
        raise ValidationError({"session": "Its time has already passed: decline it instead."})
    session.status = SessionStatus.SCHEDULED
    db.session.flush()
    record_audit(actor, "session.proposal_approved", "session", session.id,
                 proposer_id=session.created_by_id, group_id=group.id)
    proposers = _proposer_ids(session)
    signals.proposal_approved.send(session, actor=actor, group=group, user_ids=proposers)
    signals.session_scheduled.send(session, actor=actor, user_ids=participant_ids(session),
                                   split_from=None, announced_to=proposers)


def _proposer_ids(session: VideoSession) -> frozenset[int]:
    return frozenset({session.created_by_id} if session.created_by_id else ())


def decline_proposal(actor: User, session: VideoSession, reason: str) -> None:
    group = _require_answerable(actor, session)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Tell the proposer why (they will see it)."})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": f"Use at most {MAX_REASON} characters."})
    session.status = SessionStatus.DECLINED
    session.cancel_reason = reason
    record_audit(actor, "session.proposal_declined", "session", session.id,
                 proposer_id=session.created_by_id, group_id=group.id, reason=reason)
    signals.proposal_declined.send(session, actor=actor, group=group, reason=reason,
                                   user_ids=_proposer_ids(session))


# --- the Sessions tab ------------------------------------------------------------------------------

@dataclass
class SessionFilters:
    status: SessionStatus | None = None
    date_from: date | None = None  # local dates in the viewer's zone, inclusive
    date_to: date | None = None
    creator_id: int | None = None


@dataclass
class SessionRow:
    session: VideoSession
    next_start: datetime | None  # the next occurrence not yet over (None: none left)
    creator: User


@dataclass
class GroupSessions:
    pending: list[SessionRow]
    upcoming: list[SessionRow]
    past: list[SessionRow]
    more_past: bool


def group_sessions(viewer: User, group: Thread, filters: SessionFilters) -> GroupSessions:
    """The group's sessions the viewer may see, filtered: a fixed number of queries however
    many there are. Managers (owner, admins) see every proposal; others only their own."""
    from app.scheduling.services import local_day_bounds, next_occurrences

    role = group_rules.group_role(viewer, group)
    stmt = (select(VideoSession)
            .where(VideoSession.center_id == group.center_id, VideoSession.group_id == group.id)
            .options(selectinload(VideoSession.overrides), joinedload(VideoSession.teacher),
                     joinedload(VideoSession.created_by))
            .order_by(VideoSession.first_start_utc, VideoSession.id))
    if not group_rules.manages(role):
        stmt = stmt.where(or_(VideoSession.status.notin_([SessionStatus.PENDING,
                                                          SessionStatus.DECLINED]),
                              VideoSession.created_by_id == viewer.id))
    if filters.status is not None:
        stmt = stmt.where(VideoSession.status == filters.status)
    if filters.creator_id is not None:
        stmt = stmt.where(or_(VideoSession.created_by_id == filters.creator_id,
                              (VideoSession.created_by_id.is_(None))
                              & (VideoSession.teacher_id == filters.creator_id)))
    if filters.date_from is not None:
        start = local_day_bounds(filters.date_from, viewer.tz)[0]
        stmt = stmt.where(or_(VideoSession.last_end_utc.is_(None),
                              VideoSession.last_end_utc > start))
    if filters.date_to is not None:
        end = local_day_bounds(filters.date_to, viewer.tz)[1]
        stmt = stmt.where(VideoSession.first_start_utc < end)
    now = utcnow()
    pending, upcoming, past = [], [], []
    for session in db.session.scalars(stmt).unique():
        row = SessionRow(session, None, session.created_by or session.teacher)
        over = session.last_end_utc is not None and session.last_end_utc <= now
        if not over:
            upcoming_occ = next_occurrences(session, 1)
            row.next_start = upcoming_occ[0].start if upcoming_occ else None
            over = row.next_start is None
        if session.status == SessionStatus.PENDING and not over:
            pending.append(row)
        elif over:
            past.append(row)
        else:
            upcoming.append(row)
    upcoming.sort(key=lambda r: (r.next_start, r.session.id))
    past.sort(key=lambda r: (r.session.last_end_utc or r.session.first_start_utc), reverse=True)
    return GroupSessions(pending, upcoming, past[:PAST_LIMIT], len(past) > PAST_LIMIT)


def group_creators(group: Thread) -> list[User]:
    """The people a Sessions tab can filter by (the group's members, owner first)."""
    return [m.user for m in sorted(group.members, key=lambda m: (
        m.role != MemberRole.OWNER, m.user.name.lower()))]

