"""The peer for bench/my_day.py: the My Day page as a developer would first write it, with the
ORM's lazy loading and a query or a few per session, per occurrence, per person and per thread
in loops. It builds the same objects as app/my_day/services.py and renders the same template,
so the two pages are the same HTML; only how the data is read differs. Registered on the
bench's app as GET /bench/my-day-naive (never part of Classhub)."""
from __future__ import annotations

from flask import render_template
from flask_login import current_user, login_required
from sqlalchemy import exists, func, or_, select

from app.attendance.models import AttendanceRecord, CatchUp
from app.chat.models import Message, Thread, ThreadKind, ThreadMember
from app.chat.services import ThreadSummary
from app.db_types import utcnow
from app.extensions import db
from app.live import session_runs
from app.live.models import Run
from app.my_day import rules, services
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, SessionParticipant, VideoSession


def _today(viewer, now) -> services.DayPlan:
    day = rules.day_of(now, viewer.tz)
    plan = services.DayPlan(day, now)
    takes_part = exists().where(SessionParticipant.session_id == VideoSession.id,
                                SessionParticipant.user_id == viewer.id)
    sessions = db.session.scalars(select(VideoSession).where(
        VideoSession.center_id == viewer.center_id,
        or_(VideoSession.teacher_id == viewer.id, takes_part),
        VideoSession.status.notin_(scheduling.PROPOSAL_STATUSES))).all()
    since = day.start - services.LONGEST_OCCURRENCE
    occurrences = []
    for session in sessions:  # each one's overrides: a query per session
        occurrences += [o for o in scheduling.session_occurrences(session, since, day.end)
                        if rules.is_today(o.start, o.end, day)]
    occurrences.sort(key=lambda o: (o.start, o.session_id))
    for occ in occurrences:
        session = occ.session
        runs = session_runs.recent_runs([session.id], now)  # a query per occurrence
        card = session_runs.upcoming_calls(viewer, [occ], runs=runs, now=now).get(occ.key)
        held = db.session.scalar(select(Run.id).where(  # and another
            Run.session_id == session.id, Run.occurrence_start == occ.start)) is not None
        participants = session.participants  # a query per session, then one per person
        learners = [p for p in participants if p.role == ParticipantRole.LEARNER]
        instructs = session.teacher_id == viewer.id or any(
            p.user_id == viewer.id and p.role == ParticipantRole.INSTRUCTOR for p in participants)
        phase = services._phase(occ, card, now)
        plan.today.append(services.TodayItem(
            occurrence=occ, phase=phase, card=card,
            expected=[p for p in participants
                      if p.user_id != viewer.id and p.user_id != session.teacher_id],
            held=held, can_start=instructs and phase in ("open", "ended"),
            can_open_control_center=instructs and phase != "cancelled"
            and 1 <= len(learners) <= services.CONTROL_CENTER_MAX_LEARNERS,
            can_take_attendance=instructs and phase != "cancelled" and bool(learners)
            and (held or occ.end <= now)))
        for p in participants:
            p.user  # noqa: B018  (the names the row shows: a query per person)
        if instructs:
            statuses = {r.user_id: r.status for r in db.session.scalars(
                select(AttendanceRecord).where(AttendanceRecord.session_id == session.id,
                                               AttendanceRecord.occurrence_start == occ.start))}
            confirmation = rules.attendance_to_confirm(
                start=occ.start, end=occ.end, now=now, cancelled=occ.cancelled,
                live=card is not None and card.state == "live",
                learners_added={p.user_id: p.created_at for p in learners}, statuses=statuses)
            if confirmation is not None:
                plan.to_confirm.append(services.ToConfirm(
                    occ, sorted((p.user for p in learners if p.user_id in confirmation.unmarked),
                                key=lambda u: u.name.lower()), confirmation.recorded))
    plan.next_change = day.end
    return plan


def _catch_ups(viewer, now) -> services.OverdueCatchUps:
    mine = db.session.scalars(select(VideoSession).where(
        VideoSession.center_id == viewer.center_id, VideoSession.teacher_id == viewer.id)).all()
    items, next_due = [], None
    for session in mine:  # a query per session, and one per catch-up's person
        for catch_up in db.session.scalars(select(CatchUp).where(
                CatchUp.session_id == session.id, CatchUp.done_at.is_(None))):
            if catch_up.due_at < now:
                items.append((catch_up, session.title, catch_up.user))
            elif next_due is None or catch_up.due_at < next_due:
                next_due = catch_up.due_at
    items.sort(key=lambda item: (item[0].due_at, item[0].id))
    return services.OverdueCatchUps([(c, title) for c, title, _ in items[:services.CATCH_UPS_SHOWN]],
                                    len(items), next_due)


def _chats(viewer) -> services.UnreadChats:
    summaries, total = [], 0
    for member in db.session.scalars(select(ThreadMember).where(ThreadMember.user_id == viewer.id)):
        unread = db.session.scalar(select(func.count(Message.id)).where(  # a query per thread
            Message.thread_id == member.thread_id, Message.id > member.last_read_message_id,
            or_(Message.sender_id.is_(None), Message.sender_id != viewer.id),
            Message.deleted_at.is_(None)))
        if not unread:
            continue
        total += unread
        thread = db.session.get(Thread, member.thread_id)
        other = None
        if thread.kind == ThreadKind.DIRECT:
            other = next((m.user for m in thread.members if m.user_id != viewer.id), None)
        title = other.name if other is not None else thread.name
        if thread.last_message is not None:
            thread.last_message.sender  # noqa: B018
        summaries.append(ThreadSummary(thread, member, title, unread, other))
    summaries.sort(key=lambda s: s.thread.last_activity_at, reverse=True)
    return services.UnreadChats(summaries[:services.CHATS_SHOWN], len(summaries), total)


@login_required
def naive_my_day():
    viewer = current_user._get_current_object()
    now = utcnow()
    day = services.MyDay(plan=_today(viewer, now), catch_ups=_catch_ups(viewer, now),
                         chats=_chats(viewer))
    return render_template("my_day/page.html", day=day, oob=False)


def register(app) -> None:
    app.add_url_rule("/bench/my-day-naive", "bench_my_day_naive", naive_my_day)
