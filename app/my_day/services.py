"""What My Day shows one viewer, read in a fixed number of statements however many sessions,
people, catch-ups or threads there are (the page's statement count is the same with 1 session
today as with 20: tests/my_day/test_query_counts.py).

Read-only: nothing here writes. Who may see the page is ``can_use_my_day``; where a person
lands after logging in is ``landing_url``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import url_for
from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from app.accounts.models import CourseRole, Enrollment, Role, User
from app.attendance.models import AttendanceRecord, CatchUp
from app.bulk import one_of
from app.chat import services as chat
from app.control_center import services as control_center
from app.control_center.models import HelpRequest, HelpStatus, StudentPlan, WorkItem
from app.db_types import utcnow
from app.extensions import db
from app.live import session_runs
from app.live.models import Run
from app.my_day import rules
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, Rsvp, SessionParticipant, VideoSession
from app.scheduling.recurrence import Occurrence

# The sections of the page, each one partial (templates/my_day/_<name>.html) rendered by the
# page, by GET /my-day/sections and named by the topic's events.
SECTIONS = ("today", "help", "confirm", "catch_ups", "chats")
HELP_SHOWN = 20
# A control center is for one tutor and up to five students (issue 13).
CONTROL_CENTER_MAX_LEARNERS = 5
CATCH_UPS_SHOWN = 20
CHATS_SHOWN = 12
# The longest an occurrence lasts (the session form's limit): how far before the day's start an
# occurrence still on after midnight may have begun.
LONGEST_OCCURRENCE = timedelta(minutes=scheduling.MAX_DURATION_MINUTES)


# --- who -----------------------------------------------------------------------------------------

def can_use_my_day(user: User) -> bool:
    """Teachers, and admins (whose own sessions, students and chats it shows): not students."""
    return user.is_active and user.role in (Role.TEACHER, Role.ADMIN)


def teaches(user: User) -> bool:
    """A teacher; an admin who organizes or instructs a session or teaches a course (one
    query, for admins only); never a student."""
    if user.role == Role.TEACHER:
        return True
    if user.role != Role.ADMIN:
        return False
    organizes = exists().where(VideoSession.teacher_id == user.id)
    instructs = exists().where(SessionParticipant.user_id == user.id,
                               SessionParticipant.role == ParticipantRole.INSTRUCTOR)
    teaches_course = exists().where(Enrollment.user_id == user.id,
                                    Enrollment.role == CourseRole.TEACHER)
    return bool(db.session.scalar(select(or_(organizes, instructs, teaches_course))))


def landing_url(user: User) -> str:
    """Where logging in takes someone who asked for no page: My Day for those who teach, the
    dashboard for everyone else."""
    return url_for("my_day.page") if teaches(user) else url_for("accounts.dashboard")


def _instructs_filter(user: User):
    """SQL: the sessions ``user`` teaches (organizes or co-teaches) in their center."""
    co_teaches = exists().where(SessionParticipant.session_id == VideoSession.id,
                                SessionParticipant.user_id == user.id,
                                SessionParticipant.role == ParticipantRole.INSTRUCTOR)
    return [VideoSession.center_id == user.center_id,
            or_(VideoSession.teacher_id == user.id, co_teaches)]


def _instructs(session: VideoSession, user: User) -> bool:
    return session.teacher_id == user.id or any(
        p.user_id == user.id and p.role == ParticipantRole.INSTRUCTOR
        for p in session.participants)


# --- links to the pages of the occurrence (built on other branches of issues 12 and 13) -------

def control_center_url(session_id: int) -> str:
    return f"/sessions/{session_id}/control-center"


def attendance_sheet_url(occ: Occurrence) -> str:
    # The occurrence's key is the one the occurrence routes use (app/scheduling/views.py
    # _occurrence_key): its original local start.
    return f"/sessions/{occ.session_id}/occurrences/{occ.original_start_local.isoformat()}/attendance"


def catch_up_url(catch_up_id: int) -> str:
    return f"/catch-ups/{catch_up_id}"


# --- today ---------------------------------------------------------------------------------------

@dataclass
class TodayItem:
    """One of today's occurrences as its row shows it.

    ``phase``: "cancelled"; "live" (its call is on); "open" (the Join window is open); "ended"
    (its call ended, the window still open); "over"; "later" (not yet). ``card``: its call
    card when it has one now (the Start/Join partial, live/session_call.html)."""

    occurrence: Occurrence
    phase: str
    card: session_runs.CallCard | None
    expected: list[SessionParticipant]
    held: bool  # a call took place for it (a run exists)
    can_start: bool
    can_open_control_center: bool
    can_take_attendance: bool
    # With a control center: how many of its learners have a plan with work in it.
    plans_ready: int = 0
    learner_count: int = 0

    @property
    def session(self) -> VideoSession:
        return self.occurrence.session

    @property
    def rsvp_counts(self) -> dict[str, int]:
        counts = {"yes": 0, "maybe": 0, "no": 0, "unanswered": 0}
        for p in self.expected:
            counts[{Rsvp.ACCEPTED: "yes", Rsvp.TENTATIVE: "maybe",
                    Rsvp.DECLINED: "no"}.get(p.rsvp, "unanswered")] += 1
        return counts

    @property
    def control_center_url(self) -> str:
        return control_center_url(self.occurrence.session_id)

    @property
    def attendance_url(self) -> str:
        return attendance_sheet_url(self.occurrence)


@dataclass
class ToConfirm:
    occurrence: Occurrence
    unmarked: list[User]
    recorded: bool

    @property
    def attendance_url(self) -> str:
        return attendance_sheet_url(self.occurrence)


@dataclass
class DayPlan:
    day: rules.Day
    now: datetime
    today: list[TodayItem] = field(default_factory=list)
    to_confirm: list[ToConfirm] = field(default_factory=list)
    # When a row changes by itself (a Join window opens, an occurrence starts or ends, the day
    # ends): the page refreshes the section then.
    next_change: datetime | None = None


def _sessions_of_the_day(viewer: User, day: rules.Day) -> list[VideoSession]:
    """The sessions the viewer organizes or takes part in that may have an occurrence today,
    with their overrides, participants and those people: three statements."""
    takes_part = exists().where(SessionParticipant.session_id == VideoSession.id,
                                SessionParticipant.user_id == viewer.id)
    since = day.start - LONGEST_OCCURRENCE
    return list(db.session.scalars(
        select(VideoSession)
        .where(VideoSession.center_id == viewer.center_id,
               or_(VideoSession.teacher_id == viewer.id, takes_part),
               VideoSession.status.notin_(scheduling.PROPOSAL_STATUSES),
               VideoSession.first_start_utc < day.end,
               or_(VideoSession.last_end_utc.is_(None), VideoSession.last_end_utc > since))
        .options(selectinload(VideoSession.overrides),
                 selectinload(VideoSession.participants).joinedload(SessionParticipant.user),
                 joinedload(VideoSession.teacher))
        .order_by(VideoSession.id)).unique())


def _runs_of(session_ids, since: datetime) -> dict[tuple[int, datetime], Run]:
    """(session id, occurrence start) -> run, for the day's occurrences and any run still live
    (one statement)."""
    if not session_ids:
        return {}
    return {(run.session_id, run.occurrence_start): run for run in db.session.scalars(
        select(Run).where(one_of(Run.session_id, session_ids),
                          or_(Run.occurrence_start >= since, Run.ended_at.is_(None))))}


def _statuses_of(session_ids, since: datetime, until: datetime):
    """(session id, occurrence start) -> {user id: the status that counts}, for the records of
    the day's occurrences (one statement)."""
    found: dict[tuple[int, datetime], dict] = {}
    if not session_ids:
        return found
    for session_id, start, user_id, auto, manual in db.session.execute(
            select(AttendanceRecord.session_id, AttendanceRecord.occurrence_start,
                   AttendanceRecord.user_id, AttendanceRecord.auto_status,
                   AttendanceRecord.manual_status)
            .where(one_of(AttendanceRecord.session_id, session_ids),
                   AttendanceRecord.occurrence_start >= since,
                   AttendanceRecord.occurrence_start < until)):
        found.setdefault((session_id, start), {})[user_id] = manual or auto
    return found


def _phase(occ: Occurrence, card, now: datetime) -> str:
    if occ.cancelled:
        return "cancelled"
    if card is not None and card.state in ("live", "open", "ended"):
        return card.state
    return "over" if occ.end <= now else "later"


def day_plan(viewer: User, now: datetime | None = None) -> DayPlan:
    """Today's occurrences for ``viewer`` in order (their day, in their zone) and those of them
    whose attendance is still to confirm. Six statements, whatever the day holds."""
    now = now or utcnow()
    day = rules.day_of(now, viewer.tz)
    plan = DayPlan(day, now)
    sessions = _sessions_of_the_day(viewer, day)
    since = day.start - LONGEST_OCCURRENCE
    occurrences = [occ for occ in scheduling.occurrences_between(sessions, since, day.end)
                   if rules.is_today(occ.start, occ.end, day)]
    ids = sorted({occ.session_id for occ in occurrences})
    runs = _runs_of(ids, since - session_runs.join_early())
    cards = session_runs.upcoming_calls(viewer, occurrences, runs=runs, now=now)
    instructed = {s.id for s in sessions if _instructs(s, viewer)}
    statuses = _statuses_of(sorted(instructed), since, day.end)
    planned = _ready_plans_of(sorted(instructed), since, day.end)
    changes = [day.end]
    for occ in occurrences:
        session = occ.session
        card = cards.get(occ.key)
        learners = [p for p in session.participants if p.role == ParticipantRole.LEARNER]
        instructs = occ.session_id in instructed
        held = (occ.session_id, occ.start) in runs
        phase = _phase(occ, card, now)
        plan.today.append(TodayItem(
            occurrence=occ, phase=phase, card=card,
            expected=[p for p in session.participants
                      if p.user_id != viewer.id and p.user_id != session.teacher_id],
            held=held, can_start=instructs and phase in ("open", "ended"),
            can_open_control_center=instructs and phase != "cancelled"
            and 1 <= len(learners) <= CONTROL_CENTER_MAX_LEARNERS,
            can_take_attendance=instructs and phase != "cancelled" and bool(learners)
            and (held or occ.end <= now),
            plans_ready=len(planned.get((occ.session_id, occ.start), set())
                            & {p.user_id for p in learners}),
            learner_count=len(learners)))
        if not occ.cancelled:
            changes += [t for t in (occ.start - session_runs.join_early(), occ.start, occ.end)
                        if t > now]
        live = card is not None and card.state == "live"
        if instructs:
            confirmation = rules.attendance_to_confirm(
                start=occ.start, end=occ.end, now=now, cancelled=occ.cancelled, live=live,
                learners_added={p.user_id: p.created_at for p in learners},
                statuses=statuses.get((occ.session_id, occ.start), {}))
            if confirmation is not None:
                people = {p.user_id: p.user for p in learners}
                plan.to_confirm.append(ToConfirm(
                    occ, sorted((people[i] for i in confirmation.unmarked if people.get(i)),
                                key=lambda u: u.name.lower()),
                    confirmation.recorded))
    plan.next_change = min(changes)
    return plan


def _ready_plans_of(session_ids, since: datetime, until: datetime
                    ) -> dict[tuple[int, datetime], set[int]]:
    """(session id, occurrence start) -> the students whose control-center plan for it has
    work in it (a plan "ready"): one statement."""
    if not session_ids:
        return {}
    ready: dict[tuple[int, datetime], set[int]] = {}
    for session_id, start, student_id in db.session.execute(
            select(StudentPlan.session_id, StudentPlan.occurrence_start, StudentPlan.student_id)
            .where(one_of(StudentPlan.session_id, session_ids),
                   StudentPlan.occurrence_start >= since, StudentPlan.occurrence_start < until,
                   exists().where(WorkItem.plan_id == StudentPlan.id))):
        ready.setdefault((session_id, start), set()).add(student_id)
    return ready


# --- help requests -------------------------------------------------------------------------------

@dataclass
class OpenHelp:
    items: list[tuple[HelpRequest, str]]  # (request, the session's title), most urgent first
    total: int

    def url(self, request: HelpRequest) -> str:
        return control_center_url(request.session_id)


def open_help_requests(viewer: User) -> OpenHelp:
    """The help requests still waiting or being handled in the live runs of the sessions
    ``viewer`` teaches, most urgent then longest waiting first: one statement."""
    rows = db.session.execute(
        select(HelpRequest, VideoSession.title)
        .join(VideoSession, VideoSession.id == HelpRequest.session_id)
        .join(Run, Run.id == HelpRequest.run_id)
        .where(HelpRequest.center_id == viewer.center_id, Run.ended_at.is_(None),
               HelpRequest.status.in_([HelpStatus.PENDING, HelpStatus.IN_PROGRESS]),
               *_instructs_filter(viewer))
        .options(joinedload(HelpRequest.student), joinedload(HelpRequest.claimed_by))).all()
    titles = {request.id: title for request, title in rows}
    ordered = control_center.queue_order([request for request, _ in rows])
    return OpenHelp([(r, titles[r.id]) for r in ordered[:HELP_SHOWN]], len(ordered))


# --- catch-ups -----------------------------------------------------------------------------------

@dataclass
class OverdueCatchUps:
    items: list[tuple[CatchUp, str]]  # (catch-up, the session's title)
    total: int
    next_due: datetime | None  # the next open catch-up to fall due (the section changes then)

    def url(self, catch_up: CatchUp) -> str:
        return catch_up_url(catch_up.id)


def overdue_catch_ups(viewer: User, now: datetime | None = None) -> OverdueCatchUps:
    """The open catch-ups past their due instant of the sessions ``viewer`` teaches, oldest due
    first (at most CATCH_UPS_SHOWN, with how many there are): two statements."""
    now = now or utcnow()
    mine = [CatchUp.center_id == viewer.center_id, CatchUp.done_at.is_(None),
            *_instructs_filter(viewer)]
    rows = db.session.execute(
        select(CatchUp, VideoSession.title, func.count().over())
        .join(VideoSession, VideoSession.id == CatchUp.session_id)
        .where(*mine, CatchUp.due_at < now)
        .options(joinedload(CatchUp.user))
        .order_by(CatchUp.due_at, CatchUp.id).limit(CATCH_UPS_SHOWN)).all()
    next_due = db.session.scalar(
        select(func.min(CatchUp.due_at)).join(VideoSession, VideoSession.id == CatchUp.session_id)
        .where(*mine, CatchUp.due_at >= now))
    return OverdueCatchUps([(c, title) for c, title, _ in rows],
                           rows[0][2] if rows else 0, next_due)


# --- chats ---------------------------------------------------------------------------------------

@dataclass
class UnreadChats:
    summaries: list[chat.ThreadSummary]
    threads: int  # threads with unread messages
    messages: int


def unread_chats(viewer: User) -> UnreadChats:
    """The viewer's threads with unread messages, latest first (the chat list's own rows and
    counts: chat.services), at most CHATS_SHOWN."""
    counts = chat.unread_counts(viewer)
    summaries = [s for s in chat.thread_summaries(viewer, thread_ids=list(counts)) if s.unread]
    return UnreadChats(summaries[:CHATS_SHOWN], len(summaries), sum(counts.values()))


# --- the whole page ------------------------------------------------------------------------------

@dataclass
class MyDay:
    plan: DayPlan | None = None
    catch_ups: OverdueCatchUps | None = None
    chats: UnreadChats | None = None
    help: OpenHelp | None = None

    def refresh_in(self, section: str) -> int | None:
        """Seconds until the section changes by itself (None: it does not)."""
        if section in ("today", "confirm") and self.plan is not None:
            at = self.plan.next_change
        elif section == "catch_ups" and self.catch_ups is not None:
            at = self.catch_ups.next_due
        else:
            return None
        now = self.plan.now if self.plan is not None else utcnow()
        return None if at is None else max(1, int((at - now).total_seconds()) + 1)


def my_day(viewer: User, sections=SECTIONS, now: datetime | None = None) -> MyDay:
    """The sections asked for (the page: all of them; a refresh: the ones that changed)."""
    now = now or utcnow()
    result = MyDay()
    if "today" in sections or "confirm" in sections:
        result.plan = day_plan(viewer, now)
    if "help" in sections:
        result.help = open_help_requests(viewer)
    if "catch_ups" in sections:
        result.catch_ups = overdue_catch_ups(viewer, now)
    if "chats" in sections:
        result.chats = unread_chats(viewer)
    return result
