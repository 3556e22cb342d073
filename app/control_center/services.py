"""The Tutor Control Center (issue 13): plans, work, help requests, notes, timers and lesson
reports for a session of one tutor and one to five learners.

Every rule and write is here; views parse and render. Functions add and flush, never commit:
the request's edge commits once, then the after-commit work runs (publishing the changed panels
on ``cc:<run>`` for the instructors' pages, and the student's own box on ``user:<id>``).

What a student may see is decided here too: ``student_box`` reads only their own rows and only
SHARED notes; a tutor-only note never leaves ``board`` (instructors) or the tutor's panel."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlparse

from flask import render_template
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from app.accounts.models import Role, User
from app.accounts.services import PermissionDenied, ValidationError, record_audit
from app.attendance import services as attendance
from app.attendance.rules import seconds_present
from app.bulk import insert_rows, one_of
from app.control_center import signals
from app.control_center.models import (OPEN_HELP_STATUSES, HelpPriority, HelpRequest,
                                       HelpStatus, LessonReport, NoteVisibility, PlanMode,
                                       StudentPlan, Timer, TutorNote, WorkItem, WorkStatus)
from app.db_types import utcnow
from app.extensions import db
from app.live.models import Run, Segment
from app.realtime.events import publish, publish_to_users
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, SessionParticipant, VideoSession
from app.transactions import savepoint

MAX_LEARNERS = 5  # the 1 + 5 star: one tutor, up to five students
SUBJECT_MAX, LEVEL_MAX, GOAL_MAX = 100, 60, 1000
TITLE_MAX, LINK_MAX, HELP_TEXT_MAX, NOTE_MAX, LABEL_MAX = 200, 500, 280, 2000, 120
REPORT_MAX = 10_000
TIMER_MAX_MINUTES = 240
ITEMS_MAX = 50  # work items per student and occurrence


# --- who and which sessions --------------------------------------------------------------------

def learner_rows(session: VideoSession) -> list[SessionParticipant]:
    """The session's learners with their accounts, by name (one query)."""
    rows = db.session.scalars(
        select(SessionParticipant).where(SessionParticipant.session_id == session.id,
                                         SessionParticipant.role == ParticipantRole.LEARNER)
        .options(joinedload(SessionParticipant.user)))
    return sorted((r for r in rows if r.user.is_active and r.user_id != session.teacher_id),
                  key=lambda r: r.user.name.lower())


def _learner_count(session: VideoSession) -> int:
    return sum(1 for p in session.participants
               if p.role == ParticipantRole.LEARNER and p.user_id != session.teacher_id)


def has_control_center(session: VideoSession) -> bool:
    """A scheduled session of one to five learners (the star a tutor can watch at once)."""
    if session.is_cancelled or session.status.is_proposal:
        return False
    return 1 <= _learner_count(session) <= MAX_LEARNERS


def is_instructor(user, session: VideoSession) -> bool:
    """The session's teacher, a co-teacher (INSTRUCTOR participant), or a center admin."""
    if user is None or not user.is_active or user.center_id != session.center_id:
        return False
    if user.role == Role.ADMIN or session.teacher_id == user.id:
        return True
    return any(p.user_id == user.id and p.role == ParticipantRole.INSTRUCTOR
               for p in session.participants)


def is_learner(user, session: VideoSession) -> bool:
    if user is None or not user.is_active or user.center_id != session.center_id:
        return False
    return any(p.user_id == user.id and p.role == ParticipantRole.LEARNER
               for p in session.participants) and user.id != session.teacher_id


@dataclass(frozen=True)
class Capabilities:
    """What a person may do in a session's control center (views and templates read these)."""

    can_open: bool = False  # see the tutor page
    can_plan: bool = False  # plans, work items, modes, notes, timers, help queue
    can_end: bool = False  # End the lesson and draft the reports
    can_send_reports: bool = False
    is_student: bool = False  # has their own box in the room


NO_CAPABILITIES = Capabilities()


def capabilities(user, session: VideoSession) -> Capabilities:
    if not has_control_center(session):
        return NO_CAPABILITIES
    if is_instructor(user, session):
        return Capabilities(can_open=True, can_plan=True, can_end=True, can_send_reports=True)
    if is_learner(user, session):
        return Capabilities(is_student=True)
    return NO_CAPABILITIES


def _require_instructor(user, session: VideoSession) -> None:
    if not capabilities(user, session).can_plan:
        raise PermissionDenied("Only the session's tutors can do that.")


def _require_learner_id(session: VideoSession, student_id: int | None) -> int:
    if student_id is None or not any(p.user_id == student_id and p.role == ParticipantRole.LEARNER
                                     for p in session.participants):
        raise ValidationError({"student": "That student is not in this session."})
    return student_id


# --- which occurrence ----------------------------------------------------------------------------

def run_of(session: VideoSession, occurrence_start: datetime) -> Run | None:
    return db.session.scalar(select(Run).where(Run.session_id == session.id,
                                               Run.occurrence_start == occurrence_start))


def live_run_of(session: VideoSession) -> Run | None:
    return db.session.scalar(select(Run).where(Run.session_id == session.id,
                                               Run.live_room_id.is_not(None)))


def is_occurrence(session: VideoSession, start: datetime) -> bool:
    for occ in scheduling.session_occurrences(session, start, start + timedelta(seconds=1)):
        if occ.start == start and not occ.cancelled:
            return True
    return run_of(session, start) is not None


def default_occurrence(session: VideoSession) -> datetime | None:
    """The occurrence the page is about: the live one, else the one whose Join window is open,
    else the next one (to plan it), else the last one that ran (to finish its reports)."""
    from app.live.session_runs import current_occurrence

    live = live_run_of(session)
    if live is not None:
        return live.occurrence_start
    occ = current_occurrence(session)
    if occ is not None:
        return occ.start
    upcoming = next((o for o in scheduling.next_occurrences(session, limit=4) if not o.cancelled),
                    None)
    if upcoming is not None:
        return upcoming.start
    return db.session.scalar(select(Run.occurrence_start).where(Run.session_id == session.id)
                             .order_by(Run.occurrence_start.desc()).limit(1))


# --- the tutor's board ---------------------------------------------------------------------------

@dataclass
class Panel:
    student: User
    plan: StudentPlan | None
    open_request: HelpRequest | None
    notes: list[TutorNote]
    seconds_present: int
    present_now: bool
    timers: list[Timer] = field(default_factory=list)

    @property
    def mode(self) -> PlanMode:
        return self.plan.mode if self.plan is not None else PlanMode.OBSERVE

    @property
    def items(self) -> list[WorkItem]:
        return self.plan.items if self.plan is not None else []


@dataclass
class Board:
    session: VideoSession
    occurrence_start: datetime
    run: Run | None
    panels: list[Panel]
    queue: list[HelpRequest]
    timers: list[Timer]
    caps: Capabilities

    @property
    def is_live(self) -> bool:
        return self.run is not None and self.run.ended_at is None

    def panel(self, student_id: int) -> Panel | None:
        return next((p for p in self.panels if p.student.id == student_id), None)


def queue_order(requests) -> list[HelpRequest]:
    """Most urgent first, then the longest waiting."""
    return sorted(requests, key=lambda r: (-r.priority.rank, r.created_at, r.id))


def board(user, session: VideoSession, occurrence_start: datetime) -> Board:
    """Everything the tutor page shows, in a fixed number of queries however many students,
    work items, notes or requests."""
    caps = capabilities(user, session)
    if not caps.can_open:
        raise PermissionDenied("Only the session's tutors can open its control center.")
    return load_board(session, occurrence_start, caps)


def load_board(session: VideoSession, occurrence_start: datetime, caps: Capabilities,
               student_ids: set[int] | None = None) -> Board:
    """``board`` for a caller that checked the viewers already (the hub, whose ``cc:``
    listeners are confirmed instructors); ``student_ids``: only these panels, for a push."""
    learners = [r.user for r in learner_rows(session)
                if student_ids is None or r.user_id in student_ids]
    ids = [u.id for u in learners]
    run = run_of(session, occurrence_start)
    plans = {p.student_id: p for p in db.session.scalars(
        select(StudentPlan).where(StudentPlan.session_id == session.id,
                                  StudentPlan.occurrence_start == occurrence_start,
                                  one_of(StudentPlan.student_id, ids))
        .options(selectinload(StudentPlan.items)))} if ids else {}
    requests = _open_requests(run) if run is not None else []
    notes: dict[int, list[TutorNote]] = {}
    for note in db.session.scalars(
            select(TutorNote).where(TutorNote.session_id == session.id,
                                    TutorNote.occurrence_start == occurrence_start,
                                    one_of(TutorNote.student_id, ids))
            .options(joinedload(TutorNote.author)).order_by(TutorNote.created_at, TutorNote.id)):
        notes.setdefault(note.student_id, []).append(note)
    timers = active_timers(session, occurrence_start)
    present, live_now = _presence(run, ids)
    by_student = {r.student_id: r for r in requests}
    panels = [Panel(student=u, plan=plans.get(u.id), open_request=by_student.get(u.id),
                    notes=notes.get(u.id, []), seconds_present=present.get(u.id, 0),
                    present_now=u.id in live_now,
                    timers=[t for t in timers if t.student_id in (None, u.id)])
              for u in learners]
    return Board(session=session, occurrence_start=occurrence_start, run=run, panels=panels,
                 queue=queue_order(requests), timers=timers, caps=caps)


def _open_requests(run: Run) -> list[HelpRequest]:
    return list(db.session.scalars(
        select(HelpRequest).where(HelpRequest.run_id == run.id,
                                  HelpRequest.status.in_(OPEN_HELP_STATUSES))
        .options(joinedload(HelpRequest.student), joinedload(HelpRequest.claimed_by))))


def help_queue(run: Run | None) -> list[HelpRequest]:
    return queue_order(_open_requests(run)) if run is not None else []


def active_timers(session: VideoSession, occurrence_start: datetime) -> list[Timer]:
    """Timers not cancelled that end in the future or ended in the last minute (a page that
    loads just after one ended still shows it as ended)."""
    since = utcnow() - timedelta(minutes=1)
    return list(db.session.scalars(
        select(Timer).where(Timer.session_id == session.id,
                            Timer.occurrence_start == occurrence_start,
                            Timer.cancelled_at.is_(None), Timer.ends_at > since)
        .options(joinedload(Timer.student)).order_by(Timer.ends_at, Timer.id)))


def _presence(run: Run | None, user_ids: list[int]) -> tuple[dict[int, int], set[int]]:
    """Seconds each student has been in the run so far (the union of their segments, as
    attendance counts it) and who is connected now: one query."""
    if run is None or not user_ids:
        return {}, set()
    now = utcnow()
    end = run.ended_at or now
    segments: dict[int, list[tuple[datetime, datetime]]] = {}
    live: set[int] = set()
    for user_id, joined, seen, left in db.session.execute(
            select(Segment.user_id, Segment.joined_at, Segment.last_seen_at, Segment.left_at)
            .where(Segment.run_id == run.id, one_of(Segment.user_id, user_ids))):
        if left is None and run.ended_at is None:
            live.add(user_id)
            segments.setdefault(user_id, []).append((joined, now))
        else:
            segments.setdefault(user_id, []).append((joined, left or seen))
    return ({uid: seconds_present(spans, run.started_at, end)
             for uid, spans in segments.items()}, live)


# --- plans and work ------------------------------------------------------------------------------

def _plan_of(session: VideoSession, occurrence_start: datetime, student_id: int
             ) -> StudentPlan | None:
    return db.session.scalar(select(StudentPlan).where(
        StudentPlan.session_id == session.id, StudentPlan.occurrence_start == occurrence_start,
        StudentPlan.student_id == student_id))


def ensure_plan(actor: User, session: VideoSession, occurrence_start: datetime,
                student_id: int) -> StudentPlan:
    """The student's plan for the occurrence, made empty on first use (two tutors making it at
    once make one: the unique constraint decides)."""
    _require_instructor(actor, session)
    _require_learner_id(session, student_id)
    plan = _plan_of(session, occurrence_start, student_id)
    if plan is not None:
        return plan
    try:
        with savepoint():
            plan = StudentPlan(center_id=session.center_id, session_id=session.id,
                               occurrence_start=occurrence_start, student_id=student_id,
                               tutor_id=actor.id, subject="", current_level="",
                               working_level="", goal="", mode=PlanMode.OBSERVE)
            db.session.add(plan)
            db.session.flush()
    except IntegrityError:
        plan = _plan_of(session, occurrence_start, student_id)
    return plan


def save_plan(actor: User, session: VideoSession, occurrence_start: datetime, student_id: int,
              *, subject: str, current_level: str, working_level: str, goal: str) -> StudentPlan:
    subject, current_level = subject.strip(), current_level.strip()
    working_level, goal = working_level.strip(), goal.strip()
    errors = {}
    for name, value, limit in (("subject", subject, SUBJECT_MAX),
                               ("current_level", current_level, LEVEL_MAX),
                               ("working_level", working_level, LEVEL_MAX),
                               ("goal", goal, GOAL_MAX)):
        if len(value) > limit:
            errors[name] = f"Keep it under {limit} characters."
    if errors:
        raise ValidationError(errors)
    plan = ensure_plan(actor, session, occurrence_start, student_id)
    plan.subject, plan.current_level, plan.working_level, plan.goal = \
        subject, current_level, working_level, goal
    db.session.flush()
    changed(session, occurrence_start, [student_id])
    return plan


def copy_last_plan(actor: User, session: VideoSession, occurrence_start: datetime,
                   student_id: int) -> StudentPlan:
    """The student's most recent earlier plan with this tutor (any session of theirs): its
    subject, levels and goal, and its work items not done yet, added as new to-dos."""
    _require_instructor(actor, session)
    _require_learner_id(session, student_id)
    last = db.session.scalar(
        select(StudentPlan).where(StudentPlan.student_id == student_id,
                                  StudentPlan.tutor_id == actor.id,
                                  StudentPlan.center_id == session.center_id,
                                  StudentPlan.occurrence_start < occurrence_start)
        .options(selectinload(StudentPlan.items))
        .order_by(StudentPlan.occurrence_start.desc(), StudentPlan.id.desc()).limit(1))
    if last is None:
        raise ValidationError({"plan": "There is no earlier plan of yours for this student."})
    plan = ensure_plan(actor, session, occurrence_start, student_id)
    plan.subject, plan.current_level = last.subject, last.current_level
    plan.working_level, plan.goal = last.working_level, last.goal
    carried = [i for i in last.items if i.status != WorkStatus.DONE]
    start = len(plan.items)
    now = utcnow()
    insert_rows(WorkItem.__table__, [
        dict(center_id=session.center_id, plan_id=plan.id, title=item.title, link=item.link,
             attachment_key=item.attachment_key, attachment_filename=item.attachment_filename,
             attachment_content_type=item.attachment_content_type,
             attachment_size=item.attachment_size,
             position=start + n, status=WorkStatus.TO_DO, progress=0, created_at=now,
             started_at=None, done_at=None, updated_at=now)
        for n, item in enumerate(carried[:ITEMS_MAX - start])])
    db.session.flush()
    db.session.expire(plan, ["items"])
    changed(session, occurrence_start, [student_id])
    signals.plan_changed.send(plan, session=session,
                              user_ids=frozenset(_instructor_ids(session)))
    return plan


def set_mode(actor: User, session: VideoSession, occurrence_start: datetime, student_id: int,
             mode: PlanMode | str, *, only: bool = False) -> StudentPlan:
    """Teach or Observe one student; ``only`` (Pop into Teach): teach them, observe the rest
    (the tutor's audio goes to one student at a time)."""
    try:
        mode = PlanMode(mode)
    except ValueError:
        raise ValidationError({"mode": "Choose Teach or Observe."}) from None
    plan = ensure_plan(actor, session, occurrence_start, student_id)
    plan.mode = mode
    touched = [student_id]
    if only and mode == PlanMode.TEACH:
        others = list(db.session.scalars(select(StudentPlan.student_id).where(
            StudentPlan.session_id == session.id, StudentPlan.occurrence_start == occurrence_start,
            StudentPlan.student_id != student_id, StudentPlan.mode == PlanMode.TEACH)))
        if others:
            db.session.execute(update(StudentPlan).where(
                StudentPlan.session_id == session.id,
                StudentPlan.occurrence_start == occurrence_start,
                one_of(StudentPlan.student_id, others)).values(mode=PlanMode.OBSERVE)
                .execution_options(synchronize_session=False))
            touched += others
    db.session.flush()
    changed(session, occurrence_start, touched)
    return plan


def _clean_link(raw: str) -> str:
    link = raw.strip()
    if not link:
        return ""
    parsed = urlparse(link)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(link) > LINK_MAX:
        raise ValidationError({"link": "A link starts with http:// or https:// (or leave it "
                                       "empty)."})
    return link


def add_work_item(actor: User, session: VideoSession, occurrence_start: datetime,
                  student_id: int, title: str, link: str = "", upload=None) -> WorkItem:
    """``upload``: an optional file (werkzeug FileStorage), checked and stored by chat's
    attachment store (size, type and content limits; a random storage name)."""
    from app.chat import attachments as files

    title = title.strip()
    errors = {}
    if not title:
        errors["title"] = "Say what the work is."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    try:
        link = _clean_link(link)
    except ValidationError as error:
        errors.update(error.errors)
    checked = None
    if upload is not None and upload.filename:
        try:
            checked = files.check_upload(upload)
        except files.AttachmentError as error:
            errors["attachment"] = str(error)
    if errors:
        raise ValidationError(errors)
    plan = ensure_plan(actor, session, occurrence_start, student_id)
    if len(plan.items) >= ITEMS_MAX:
        raise ValidationError({"title": f"A student has at most {ITEMS_MAX} work items."})
    item = WorkItem(center_id=session.center_id, plan_id=plan.id, title=title, link=link,
                    position=(max((i.position for i in plan.items), default=-1) + 1),
                    status=WorkStatus.TO_DO, progress=0, attachment_filename="",
                    attachment_content_type="", attachment_size=0)
    if checked is not None:
        # Stored last, once nothing can refuse the item: the store removes the file again if
        # this unit of work is rolled back.
        item.attachment_key = files.store(checked.data)
        item.attachment_filename = checked.filename
        item.attachment_content_type = checked.content_type
        item.attachment_size = len(checked.data)
    db.session.add(item)
    db.session.flush()
    db.session.expire(plan, ["items"])
    changed(session, occurrence_start, [student_id])
    signals.plan_changed.send(plan, session=session,
                              user_ids=frozenset(_instructor_ids(session)))
    return item


def work_item_context(item: WorkItem) -> tuple[StudentPlan, VideoSession]:
    plan = item.plan
    return plan, db.session.get(VideoSession, plan.session_id)


def can_update_item(user, item: WorkItem) -> bool:
    plan, session = work_item_context(item)
    if not has_control_center(session):
        return False
    return is_instructor(user, session) or (is_learner(user, session)
                                            and plan.student_id == user.id)


def can_download_attachment(user, item: WorkItem) -> bool:
    """A work item's file: the session's instructors, and the student it is assigned to (never
    another student, whose items are not theirs to see)."""
    return item.has_attachment and can_update_item(user, item)


def update_work_item(actor, item: WorkItem, *, status: str | None = None,
                     progress: str | int | None = None) -> WorkItem:
    """A tutor or the item's own student marks it (to do, doing, done) or sets its progress.
    Starting one item stops the student's other DOING one: "time on current work" is one item."""
    if not can_update_item(actor, item):
        raise PermissionDenied("That work item is not yours.")
    plan, session = work_item_context(item)
    errors = {}
    new_status = None
    if status not in (None, ""):
        try:
            new_status = WorkStatus(status)
        except ValueError:
            errors["status"] = "Choose to do, working on it or done."
    new_progress = None
    if progress not in (None, ""):
        try:
            new_progress = int(progress)
        except (TypeError, ValueError):
            new_progress = -1
        if not 0 <= new_progress <= 100:
            errors["progress"] = "Progress is a number from 0 to 100."
    if errors:
        raise ValidationError(errors)
    now = utcnow()
    status_before = item.status
    if new_progress is not None:
        item.progress = new_progress
        if new_status is None and new_progress == 100:
            new_status = WorkStatus.DONE
        elif new_status is None and item.status == WorkStatus.TO_DO and new_progress > 0:
            new_status = WorkStatus.DOING
    if new_status is not None and new_status != item.status:
        if new_status == WorkStatus.DOING:
            for other in plan.items:
                if other.id != item.id and other.status == WorkStatus.DOING:
                    other.status = WorkStatus.TO_DO
            item.started_at = now
            item.done_at = None
        elif new_status == WorkStatus.DONE:
            item.done_at = now
            item.progress = 100
            item.started_at = item.started_at or now
        else:
            item.done_at = None
        item.status = new_status
    db.session.flush()
    # Progress alone moves one row of the panel; a new status moves the "current work" clock
    # and maybe another item (one DOING at a time): then the whole panel.
    changed(session, plan.occurrence_start, [plan.student_id],
            item_ids=[item.id] if item.status == status_before else ())
    return item


def panel_items(session_id: int, occurrence_start: datetime, item_ids) -> list[WorkItem]:
    """These work items with their plans, only those of this session's occurrence (one
    query): the rows a push re-renders when only their progress moved. By id: the hub's
    delivery has just checked the session's followers, and needs nothing else of it."""
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        return []
    return list(db.session.scalars(
        select(WorkItem).join(WorkItem.plan)
        .where(one_of(WorkItem.id, ids), StudentPlan.session_id == session_id,
               StudentPlan.occurrence_start == occurrence_start)
        .options(contains_eager(WorkItem.plan)).order_by(WorkItem.id)))


# --- help requests -------------------------------------------------------------------------------

def open_request_of(run: Run, student_id: int) -> HelpRequest | None:
    return db.session.scalar(select(HelpRequest).where(
        HelpRequest.run_id == run.id, HelpRequest.student_id == student_id,
        HelpRequest.status.in_(OPEN_HELP_STATUSES)))


def raise_help(student: User, session: VideoSession, priority: str, text: str) -> HelpRequest:
    """A raised hand in the live run. One open per student: the service says so clearly, and
    the partial unique index settles two submits at the same moment."""
    if not capabilities(student, session).is_student:
        raise PermissionDenied("Only the session's students can ask for help here.")
    run = live_run_of(session)
    if run is None:
        raise ValidationError({"help": "The session is not live: ask when it has started."})
    text = text.strip()
    errors = {}
    try:
        priority = HelpPriority(priority or "NORMAL")
    except ValueError:
        errors["priority"] = "Choose low, normal, high or urgent."
    if len(text) > HELP_TEXT_MAX:
        errors["text"] = f"Keep it under {HELP_TEXT_MAX} characters."
    if errors:
        raise ValidationError(errors)
    already = "You have already asked for help: your tutor will be with you soon."
    if open_request_of(run, student.id) is not None:
        raise ValidationError({"help": already})
    try:
        with savepoint():
            request = HelpRequest(center_id=session.center_id, session_id=session.id,
                                  occurrence_start=run.occurrence_start, run_id=run.id,
                                  student_id=student.id, priority=priority, text=text,
                                  status=HelpStatus.PENDING, created_at=utcnow())
            db.session.add(request)
            db.session.flush()
    except IntegrityError:
        raise ValidationError({"help": already}) from None
    changed(session, run.occurrence_start, [student.id], queue=True)
    signals.help_requested.send(request, session=session,
                                user_ids=frozenset(_instructor_ids(session)))
    return request


HELP_ACTIONS = ("claim", "resolve", "cancel")


def act_on_help(actor, request: HelpRequest, action: str) -> HelpRequest:
    """claim (PENDING → IN_PROGRESS), resolve or cancel (an open request). Tutors do all three;
    a student may cancel their own."""
    session = db.session.get(VideoSession, request.session_id)
    tutor = capabilities(actor, session).can_plan
    own = request.student_id == actor.id and is_learner(actor, session)
    if action not in HELP_ACTIONS:
        raise ValidationError({"help": "Unknown action."})
    if not tutor and not (own and action == "cancel"):
        raise PermissionDenied("Only the session's tutors can do that.")
    now = utcnow()
    allowed = {"claim": (HelpStatus.PENDING,),
               "resolve": (HelpStatus.PENDING, HelpStatus.IN_PROGRESS),
               "cancel": (HelpStatus.PENDING, HelpStatus.IN_PROGRESS)}[action]
    # A conditional UPDATE: two tutors claiming at once, one wins, the other is told.
    values = {"claim": dict(status=HelpStatus.IN_PROGRESS, claimed_by_id=actor.id,
                            claimed_at=now),
              "resolve": dict(status=HelpStatus.RESOLVED, closed_at=now),
              "cancel": dict(status=HelpStatus.CANCELLED, closed_at=now)}[action]
    done = db.session.execute(update(HelpRequest).where(
        HelpRequest.id == request.id, HelpRequest.status.in_([s.value for s in allowed]))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(request)
    if not done:
        raise ValidationError({"help": f"This request is {request.status.label.lower()} "
                                       "already."})
    changed(session, request.occurrence_start, [request.student_id], queue=True)
    signals.help_request_updated.send(
        request, session=session, action=action, actor=actor,
        user_ids=frozenset(_instructor_ids(session) | {request.student_id}))
    return request


# --- notes and timers ----------------------------------------------------------------------------

def add_note(actor: User, session: VideoSession, occurrence_start: datetime, student_id: int,
             body: str, visibility: str) -> TutorNote:
    _require_instructor(actor, session)
    _require_learner_id(session, student_id)
    body = body.strip()
    errors = {}
    if not body:
        errors["body"] = "Write the note first."
    elif len(body) > NOTE_MAX:
        errors["body"] = f"Keep a note under {NOTE_MAX} characters."
    try:
        visibility = NoteVisibility(visibility or "TUTOR_ONLY")
    except ValueError:
        errors["visibility"] = "Choose who sees the note."
    if errors:
        raise ValidationError(errors)
    note = TutorNote(center_id=session.center_id, session_id=session.id,
                     occurrence_start=occurrence_start, student_id=student_id,
                     author_id=actor.id, body=body, visibility=visibility, created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    # The student's box changes only for a shared note: a tutor-only one is not even announced.
    changed(session, occurrence_start, [student_id],
            tell_student=visibility == NoteVisibility.SHARED)
    return note


NOTES_HISTORY_LIMIT = 100  # the newest notes on a person page; older ones stay in the reports


@dataclass(frozen=True)
class HistoryNote:
    note: TutorNote
    session_id: int
    session_title: str


def can_see_tutor_only_notes(viewer) -> bool:
    """Tutors and admins may read tutor-only notes (of the sessions ``notes_history`` lets them
    see); a student never, not even about someone else."""
    return viewer is not None and not viewer.is_student


def notes_history(viewer, person) -> list[HistoryNote] | None:
    """A student's notes from every session, newest first, as ``viewer`` may read them, or None
    when the person page shows no notes at all (the person is not a student, or the viewer is
    neither them, an admin, nor one of their tutors).

    The student reads the notes SHARED with them, whoever wrote them. An admin reads all of
    them. A teacher reads both kinds, but only of the sessions they teach (as teacher or
    co-teacher): a note belongs to its session, and "tutors only" means that session's tutors,
    as attendance history is narrowed the same way. One query, whatever the number of notes."""
    if viewer is None or person is None or not person.is_student \
            or viewer.center_id != person.center_id or not viewer.is_active:
        return None
    stmt = (select(TutorNote, VideoSession.id, VideoSession.title)
            .join(VideoSession, VideoSession.id == TutorNote.session_id)
            .where(TutorNote.student_id == person.id, TutorNote.center_id == person.center_id)
            .options(joinedload(TutorNote.author))
            .order_by(TutorNote.created_at.desc(), TutorNote.id.desc())
            .limit(NOTES_HISTORY_LIMIT))
    if viewer.id == person.id:
        stmt = stmt.where(TutorNote.visibility == NoteVisibility.SHARED)
    elif viewer.is_admin:
        pass
    elif viewer.is_teacher:
        taught = select(SessionParticipant.session_id).where(
            SessionParticipant.user_id == viewer.id,
            SessionParticipant.role == ParticipantRole.INSTRUCTOR)
        stmt = stmt.where((VideoSession.teacher_id == viewer.id)
                          | VideoSession.id.in_(taught))
    else:
        return None
    return [HistoryNote(note=note, session_id=session_id, session_title=title)
            for note, session_id, title in db.session.execute(stmt)]


def start_timer(actor: User, session: VideoSession, occurrence_start: datetime,
                student_id: int | None, minutes: str | int, label: str) -> Timer:
    _require_instructor(actor, session)
    if student_id is not None:
        _require_learner_id(session, student_id)
    label = label.strip()
    errors = {}
    try:
        minutes = float(minutes)
    except (TypeError, ValueError):
        minutes = 0
    if not 0 < minutes <= TIMER_MAX_MINUTES:
        errors["minutes"] = f"Give the minutes: more than 0, at most {TIMER_MAX_MINUTES}."
    if len(label) > LABEL_MAX:
        errors["label"] = f"Keep the label under {LABEL_MAX} characters."
    if errors:
        raise ValidationError(errors)
    now = utcnow()
    run = run_of(session, occurrence_start)
    timer = Timer(center_id=session.center_id, session_id=session.id,
                  occurrence_start=occurrence_start, run_id=run.id if run else None,
                  student_id=student_id, label=label or f"{minutes:g} minutes",
                  ends_at=now + timedelta(minutes=minutes), created_by_id=actor.id,
                  created_at=now)
    db.session.add(timer)
    db.session.flush()
    _timers_changed(session, occurrence_start, student_id)
    return timer


def cancel_timer(actor: User, timer: Timer) -> Timer:
    session = db.session.get(VideoSession, timer.session_id)
    _require_instructor(actor, session)
    if timer.cancelled_at is None:
        timer.cancelled_at = utcnow()
        db.session.flush()
    _timers_changed(session, timer.occurrence_start, timer.student_id)
    return timer


def _timers_changed(session: VideoSession, occurrence_start: datetime,
                    student_id: int | None) -> None:
    students = [student_id] if student_id is not None else \
        [r.user_id for r in session.participants if r.role == ParticipantRole.LEARNER]
    changed(session, occurrence_start, students, timers=True)


# --- the student's own box -----------------------------------------------------------------------

@dataclass
class StudentBox:
    session: VideoSession
    occurrence_start: datetime
    run: Run | None
    plan: StudentPlan | None
    request: HelpRequest | None  # open, else the latest of this run (its outcome)
    notes: list[TutorNote]  # SHARED only
    timers: list[Timer]  # for them or for all

    @property
    def items(self) -> list[WorkItem]:
        return self.plan.items if self.plan is not None else []


def student_box(student, session: VideoSession, occurrence_start: datetime) -> StudentBox:
    """The student's own data and nothing else: their plan and work, their latest help
    request, the notes shared with them, timers for them or for everyone."""
    if not capabilities(student, session).is_student:
        raise PermissionDenied("Only the session's students have a work list here.")
    run = run_of(session, occurrence_start)
    plan = db.session.scalar(select(StudentPlan).where(
        StudentPlan.session_id == session.id, StudentPlan.occurrence_start == occurrence_start,
        StudentPlan.student_id == student.id).options(selectinload(StudentPlan.items)))
    request = db.session.scalar(select(HelpRequest).where(
        HelpRequest.run_id == run.id, HelpRequest.student_id == student.id)
        .options(joinedload(HelpRequest.claimed_by))
        .order_by(HelpRequest.created_at.desc(), HelpRequest.id.desc()).limit(1)) \
        if run is not None else None
    notes = list(db.session.scalars(select(TutorNote).where(
        TutorNote.session_id == session.id, TutorNote.occurrence_start == occurrence_start,
        TutorNote.student_id == student.id, TutorNote.visibility == NoteVisibility.SHARED)
        .options(joinedload(TutorNote.author)).order_by(TutorNote.created_at, TutorNote.id)))
    timers = [t for t in active_timers(session, occurrence_start)
              if t.student_id in (None, student.id)]
    return StudentBox(session=session, occurrence_start=occurrence_start, run=run, plan=plan,
                      request=request, notes=notes, timers=timers)


def room_box(student, room) -> StudentBox | None:
    """The box a student's room page shows: a session's room, its run live, the session with
    a control center and the person one of its learners."""
    if room.session_id is None:
        return None
    session = db.session.get(VideoSession, room.session_id)
    if session is None or not capabilities(student, session).is_student:
        return None
    run = live_run_of(session)
    if run is None:
        return None
    return student_box(student, session, run.occurrence_start)


def is_control_center_learner(user, room) -> bool:
    """Whether ``user`` is one of the learners of the session with a control center whose room
    this is (live or not: a lobby's page is given its box when the run starts)."""
    if room.session_id is None:
        return False
    session = db.session.get(VideoSession, room.session_id)
    return session is not None and capabilities(user, session).is_student


def tutors_call_page(user, room) -> VideoSession | None:
    """The session whose control center is ``user``'s page in the call of ``room``: a session's
    room with a live run, the session with a control center and the person one of its
    instructors (their microphone reaches each student by Teach/Observe there only)."""
    if room.session_id is None:
        return None
    session = db.session.get(VideoSession, room.session_id)
    if session is None or not capabilities(user, session).can_plan:
        return None
    return session if live_run_of(session) is not None else None


# --- end of the lesson and reports ---------------------------------------------------------------

def end_lesson(actor: User, session: VideoSession, occurrence_start: datetime
               ) -> list[LessonReport]:
    """End: the occurrence's live call ends (if it is live) and a report is drafted for each
    student who has none yet."""
    from app.live import session_runs

    _require_instructor(actor, session)
    run = live_run_of(session)
    if run is not None and run.occurrence_start == occurrence_start:
        if not session_runs.may_start(session, actor):
            # A center admin watching the board: the call is the session's teachers' to end.
            raise ValidationError({"call": "Only the session's teacher or a co-teacher can end "
                                           "the call; the reports are drafted when it ends."})
        session_runs.end_session_run(actor, session)
    return draft_reports(actor, session, occurrence_start)


def draft_reports(actor: User, session: VideoSession, occurrence_start: datetime
                  ) -> list[LessonReport]:
    _require_instructor(actor, session)
    existing = {r.student_id for r in reports_for(session, occurrence_start)}
    learners = [r.user for r in learner_rows(session) if r.user_id not in existing]
    if learners:
        drafts = compose_drafts(session, occurrence_start, learners)
        now = utcnow()
        insert_rows(LessonReport.__table__, [
            dict(center_id=session.center_id, session_id=session.id,
                 occurrence_start=occurrence_start, student_id=u.id, body=drafts[u.id][:REPORT_MAX],
                 drafted_by_id=actor.id, sent_by_id=None, sent_at=None, created_at=now,
                 updated_at=now) for u in learners],
            skip_duplicates_of=["session_id", "occurrence_start", "student_id"])
        record_audit(actor, "control_center.reports_drafted", "session", session.id,
                     occurrence=occurrence_start.isoformat(), students=len(learners))
    return reports_for(session, occurrence_start)


def reports_for(session: VideoSession, occurrence_start: datetime) -> list[LessonReport]:
    return sorted(db.session.scalars(select(LessonReport).where(
        LessonReport.session_id == session.id, LessonReport.occurrence_start == occurrence_start)
        .options(joinedload(LessonReport.student))), key=lambda r: r.student.name.lower())


def compose_drafts(session: VideoSession, occurrence_start: datetime, learners: list[User]
                   ) -> dict[int, str]:
    """Each student's draft from their plan and work, the notes SHARED with them, their
    attendance and their help requests (a handful of queries for all of them). Tutor-only notes
    are never read here."""
    ids = [u.id for u in learners]
    plans = {p.student_id: p for p in db.session.scalars(
        select(StudentPlan).where(StudentPlan.session_id == session.id,
                                  StudentPlan.occurrence_start == occurrence_start,
                                  one_of(StudentPlan.student_id, ids))
        .options(selectinload(StudentPlan.items)))}
    notes: dict[int, list[str]] = {}
    for note in db.session.scalars(select(TutorNote).where(
            TutorNote.session_id == session.id, TutorNote.occurrence_start == occurrence_start,
            one_of(TutorNote.student_id, ids), TutorNote.visibility == NoteVisibility.SHARED)
            .order_by(TutorNote.created_at, TutorNote.id)):
        notes.setdefault(note.student_id, []).append(note.body)
    run = run_of(session, occurrence_start)
    helps: dict[int, list[HelpRequest]] = {}
    records = {}
    if run is not None:
        for request in db.session.scalars(select(HelpRequest).where(
                HelpRequest.run_id == run.id, one_of(HelpRequest.student_id, ids))
                .order_by(HelpRequest.created_at)):
            helps.setdefault(request.student_id, []).append(request)
        records = attendance.records_for(run)
    drafts = {}
    for user in learners:
        drafts[user.id] = render_template(
            "control_center/report_draft.txt", student=user, session=session,
            plan=plans.get(user.id), notes=notes.get(user.id, []),
            helps=helps.get(user.id, []), record=records.get(user.id)).strip()
    return drafts


def report_path(report_id: int) -> str:
    """Where a student reads their report (views.report_page)."""
    return f"/lesson-reports/{report_id}"


def can_view_report(user, report: LessonReport) -> bool:
    if user is None or user.center_id != report.center_id:
        return False
    session = db.session.get(VideoSession, report.session_id)
    if is_instructor(user, session):
        return True
    return report.student_id == user.id and report.sent_at is not None


def _clean_report_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise ValidationError({"body": "The report is empty."})
    if len(body) > REPORT_MAX:
        raise ValidationError({"body": f"Keep the report under {REPORT_MAX} characters."})
    return body


def update_report(actor: User, report: LessonReport, body: str) -> LessonReport:
    session = db.session.get(VideoSession, report.session_id)
    _require_instructor(actor, session)
    if report.sent_at is not None:
        raise ValidationError({"body": "This report was sent already: it cannot change now."})
    report.body = _clean_report_body(body)
    db.session.flush()
    return report


def send_report(actor: User, report: LessonReport, body: str | None = None) -> bool:
    """Send it to the student (with ``body`` as its final text): in-app notification and
    email, exactly once. The text and ``sent_at`` are written by one conditional UPDATE, so a
    double click or two tutors sending at once send once, and the one that lost changes
    nothing; the email's outbox row is keyed by the report. Returns whether this call sent it."""
    session = db.session.get(VideoSession, report.session_id)
    _require_instructor(actor, session)
    if report.sent_at is not None:
        return False
    values = dict(sent_at=utcnow(), sent_by_id=actor.id)
    if body is not None:
        values["body"] = _clean_report_body(body)
    claimed = db.session.execute(update(LessonReport).where(
        LessonReport.id == report.id, LessonReport.sent_at.is_(None))
        .values(**values).execution_options(synchronize_session=False)).rowcount
    db.session.refresh(report)
    if not claimed:
        return False
    now = report.sent_at
    from app.mail.services import base_url, queue_outbox_rows
    from app.mail.models import OutboxStatus
    from app.notifications.models import NotificationType
    from app.notifications.services import notify

    student = report.student
    title = f"Lesson report: {session.title}"
    # A path, not url_for: sending may happen outside a request (a job, a test's service call).
    link = report_path(report.id)
    notify([student], NotificationType.LESSON_REPORT, title, report.body[:300], link,
           tag=f"lesson-report-{report.id}")
    context = dict(report=report, session=session, student=student, tutor=actor,
                   link=f"{base_url()}{link}")
    queue_outbox_rows([dict(
        center_id=report.center_id, dedup_key=f"lesson-report:{report.id}",
        session_id=session.id, recipient_user_id=student.id, recipient=student.email,
        subject=title[:300],
        text_body=render_template("control_center/report_email.txt", **context),
        html_body=render_template("control_center/report_email.html", **context),
        ics="", method="", status=OutboxStatus.PENDING, attempts=0, created_at=now)])
    record_audit(actor, "control_center.report_sent", "lesson_report", report.id,
                 student_id=student.id)
    signals.lesson_report_sent.send(report, session=session, sender_user=actor,
                                    user_ids=frozenset({student.id}))
    return True


# --- realtime --------------------------------------------------------------------------------------

def _instructor_ids(session: VideoSession) -> set[int]:
    return {session.teacher_id} | {p.user_id for p in session.participants
                                    if p.role == ParticipantRole.INSTRUCTOR}


def changed(session: VideoSession, occurrence_start: datetime, student_ids, *,
            item_ids=(), queue: bool = False, timers: bool = False,
            tell_student: bool = True) -> None:
    """After commit: the instructors' pages of the live run re-render these students' panels
    (and the queue, the timers) from ``cc:<run>``; the students' own boxes from their
    ``user:`` topic. With ``item_ids``, only those work items' rows changed in the students'
    panels (their progress), and the pages get just the rows. Ids only: each page renders what
    its viewer may see."""
    student_ids = sorted(set(student_ids))
    item_ids = sorted(set(item_ids))
    panels = [] if item_ids else student_ids
    run = run_of(session, occurrence_start)
    data = dict(session_id=session.id, occurrence=occurrence_start.isoformat(),
                student_ids=panels, item_ids=item_ids, queue=queue, timers=timers)
    if run is not None:
        publish(f"cc:{run.id}", "cc.changed", **data)
    else:
        # Planning: no run yet, so the pages open on this occurrence listen on the session's
        # planning topic (each gets only its own occurrence's changes: realtime.py).
        publish(f"ccplan:{session.id}", "cc.planned", **data)
    if tell_student:
        publish_to_users("user", student_ids, "cc.student", session_id=session.id,
                         occurrence=occurrence_start.isoformat())


def on_session_went_live(run: Run, session: VideoSession | None = None, **_) -> None:
    """live's ``session_went_live``: the learners' pages waiting in the lobby get their box and
    whether their tutor is talking to them (the room page holds places for them), one event for
    all of them on their ``user:`` topics."""
    if session is None or not has_control_center(session):
        return
    learners = [p.user_id for p in session.participants
                if p.role == ParticipantRole.LEARNER and p.user_id != session.teacher_id]
    publish_to_users("user", learners, "cc.student", session_id=session.id,
                     occurrence=run.occurrence_start.isoformat())


def can_follow(user, run_id: int) -> bool:
    """The ``cc:<run>`` topic: the run's session's instructors (and center admins), only for a
    session with a control center."""
    run = db.session.get(Run, run_id)
    if run is None or run.session_id is None or run.center_id != user.center_id:
        return False
    session = db.session.get(VideoSession, run.session_id)
    return session is not None and capabilities(user, session).can_plan


def followers(users, run_id: int) -> set[int]:
    """Which of ``users`` may still receive ``cc:<run>`` (checked on every delivery)."""
    run = db.session.get(Run, run_id)
    if run is None or run.session_id is None:
        return set()
    session = db.session.get(VideoSession, run.session_id)
    if session is None or not has_control_center(session):
        return set()
    return {u.id for u in users if is_instructor(u, session)}


def can_follow_plans(user, session_id: int) -> bool:
    """``ccplan:<session>``, the planning pages' topic (before an occurrence's run exists):
    authorised as ``cc:<run>`` is, the session's instructors (and center admins) only."""
    session = db.session.get(VideoSession, session_id)
    if session is None or session.center_id != user.center_id:
        return False
    return capabilities(user, session).can_plan


def plan_followers(users, session_id: int) -> set[int]:
    """Which of ``users`` may still receive ``ccplan:<session>`` (checked on every delivery)."""
    session = db.session.get(VideoSession, session_id)
    if session is None or not has_control_center(session):
        return set()
    return {u.id for u in users if is_instructor(u, session)}


def run_started(session: VideoSession, run: Run) -> None:
    """After commit: the planning pages open on this occurrence turn into the live page (they
    then follow ``cc:<run>``) without a reload."""
    if has_control_center(session):
        publish(f"ccplan:{session.id}", "cc.started", session_id=session.id,
                occurrence=run.occurrence_start.isoformat(), run_id=run.id)
