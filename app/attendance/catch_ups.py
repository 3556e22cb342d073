"""Catch-ups (issue 12): what an absentee missed of one occurrence, the work a teacher set,
until when, and whether the student has done it.

Who may do what, in one place: the student reads their own and marks it done or not done yet;
the session's teacher and co-teachers (and the center's admins) read and edit it. Everyone else,
another center included, is told it does not exist (the views answer 404). Like every service
these add and flush; the request commits once."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload

from app.accounts.models import User
from app.accounts.services import PermissionDenied, ValidationError, record_audit
from app.attendance.models import CatchUp
from app.bulk import one_of
from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import NotificationType
from app.notifications.services import Notice, notify_each
from app.scheduling.models import ParticipantRole, SessionParticipant, VideoSession
from app.timezones import when

WORK_MAX = 4000
LINK_MAX = 500
# A due date more than this far ahead is a typo (a year instead of a month), not a plan.
DUE_MAX_AHEAD = timedelta(days=365)
# What the page shows of the chat during the run; the thread itself has the rest.
MESSAGES_SHOWN = 200
DASHBOARD_LIMIT = 10
LIST_PAGE_SIZE = 50

STATES = ("open", "overdue", "done", "all")


# --- who may do what ---------------------------------------------------------------------------

def _teaches(user: User, session: VideoSession | None) -> bool:
    if session is None:
        return False
    if session.teacher_id == user.id:
        return True
    return any(p.user_id == user.id and p.role == ParticipantRole.INSTRUCTOR
               for p in session.participants)


def can_manage_catch_up(user: User, catch_up: CatchUp) -> bool:
    """Edit the work, link and due date: the center's admins and the session's teachers. A
    catch-up without a session (none are made today: instant calls mark nobody absent) falls
    back to who may take the run's attendance."""
    if user is None or not user.is_active or user.center_id != catch_up.center_id:
        return False
    if user.is_admin:
        return True
    if catch_up.session_id is not None:
        return _teaches(user, catch_up.session)
    if catch_up.run is not None:
        from app.attendance.services import can_manage

        return can_manage(user, catch_up.run)
    return False


def can_view_catch_up(user: User, catch_up: CatchUp) -> bool:
    if user is None or not user.is_active or user.center_id != catch_up.center_id:
        return False
    return catch_up.user_id == user.id or can_manage_catch_up(user, catch_up)


def can_mark_done(user: User, catch_up: CatchUp) -> bool:
    """Only the student says whether they caught up: a teacher's view of it is the due date."""
    return user is not None and user.is_active and catch_up.user_id == user.id


# --- reading one -------------------------------------------------------------------------------

@dataclass
class CatchUpPage:
    """Everything the catch-up page shows, with the capability flags its template reads."""

    catch_up: CatchUp
    session: VideoSession | None
    occurrence_start: datetime | None
    held_without_call: bool
    thread_id: int | None
    can_open_thread: bool
    messages: list = field(default_factory=list)
    more_messages: bool = False
    can_edit: bool = False
    can_mark_done: bool = False
    is_overdue: bool = False
    work_max: int = WORK_MAX
    link_max: int = LINK_MAX


def missed_window(catch_up: CatchUp) -> tuple[datetime, datetime] | None:
    """When what was missed happened: the run as it went, else the occurrence as scheduled."""
    run = catch_up.run
    if run is not None:
        return run.started_at, run.ended_at or utcnow()
    if catch_up.occurrence_start is not None and catch_up.session is not None:
        return (catch_up.occurrence_start,
                catch_up.occurrence_start + timedelta(minutes=catch_up.session.duration_minutes))
    return None


def catch_up_page(viewer: User, catch_up: CatchUp) -> CatchUpPage:
    """The page's content for someone who may view it (the view checked can_view_catch_up).
    The chat's messages are shown only to those who may read the thread (a center admin who
    is not in it sees the summary written when the catch-up was made)."""
    from app.chat import services as chat

    session = catch_up.session
    can_open_thread = catch_up.thread_id is not None and chat.can_view_thread_id(
        viewer, catch_up.thread_id)
    messages, more = [], False
    window = missed_window(catch_up)
    if can_open_thread and window is not None:
        messages, more = chat.messages_during(catch_up.thread_id, *window, limit=MESSAGES_SHOWN)
    return CatchUpPage(
        catch_up=catch_up, session=session, occurrence_start=catch_up.occurrence_start,
        held_without_call=catch_up.run_id is None, thread_id=catch_up.thread_id,
        can_open_thread=can_open_thread, messages=messages, more_messages=more,
        can_edit=can_manage_catch_up(viewer, catch_up),
        can_mark_done=can_mark_done(viewer, catch_up),
        is_overdue=catch_up.is_overdue(utcnow()))


# --- the student's answer ----------------------------------------------------------------------

def mark_done(user: User, catch_up: CatchUp, done: bool = True) -> None:
    """"Mark done" / "Not done yet". Marking done twice keeps the first time it was done."""
    if not can_mark_done(user, catch_up):
        raise PermissionDenied("Only the student it is for can mark a catch-up done.")
    if done and catch_up.done_at is None:
        catch_up.done_at = utcnow()
    elif not done:
        catch_up.done_at = None
    db.session.flush()
    _changed(catch_up)


def _changed(catch_up: CatchUp) -> None:
    """One catch-up changed: attendance's ``catch_ups_changed`` for its student and the
    session's teachers (the student's dashboard card, the teachers' My Day)."""
    from app.attendance import signals
    from app.scheduling.models import ParticipantRole

    session = catch_up.session
    teachers = set() if session is None else {session.teacher_id} | {
        p.user_id for p in session.participants if p.role == ParticipantRole.INSTRUCTOR}
    signals.catch_ups_changed.send(catch_up, student_ids=frozenset({catch_up.user_id}),
                                   user_ids=frozenset({catch_up.user_id} | teachers))


# --- the teacher's edit ------------------------------------------------------------------------

@dataclass
class WorkForm:
    """The edit form as typed (kept when it is refused) or as stored."""

    assigned_work: str = ""
    assigned_link: str = ""
    due_date: str = ""

    @classmethod
    def of(cls, catch_up: CatchUp) -> "WorkForm":
        return cls(catch_up.assigned_work, catch_up.assigned_link,
                   due_day(catch_up).isoformat())


def due_zone(catch_up: CatchUp) -> ZoneInfo:
    """A due date is a day in the student's own zone: "by Friday" means by the end of their
    Friday, whoever sets it."""
    return catch_up.user.tz


def due_day(catch_up: CatchUp) -> date:
    return catch_up.due_at.astimezone(due_zone(catch_up)).date()


def _end_of_day(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(23, 59), tzinfo=zone).astimezone(ZoneInfo("UTC"))


def _valid_link(link: str) -> bool:
    parts = urlsplit(link)
    return (parts.scheme in ("http", "https") and bool(parts.netloc)
            and not any(c.isspace() for c in link))


def set_work(actor: User, catch_up: CatchUp, form: WorkForm,
             now: datetime | None = None) -> bool:
    """A teacher sets or changes the work, its link and the due date. Returns whether anything
    changed; when it did, the change is audited and the student is told once (in-app, and push
    and email as their settings say). Saving the form unchanged tells nobody anything.

    The due date is a day in the student's zone (due at 23:59 there). Keeping the day the
    catch-up already has keeps its exact time, even when that day has passed (a teacher may fix
    the wording of overdue work); a new day must be today or later, and within a year."""
    if not can_manage_catch_up(actor, catch_up):
        raise PermissionDenied("Only the session's teachers can set catch-up work.")
    now = now or utcnow()
    work = form.assigned_work.replace("\r\n", "\n").strip()
    link = form.assigned_link.strip()
    errors = {}
    if len(work) > WORK_MAX:
        errors["assigned_work"] = f"The work is at most {WORK_MAX} characters (it has {len(work)})."
    if len(link) > LINK_MAX:
        errors["assigned_link"] = f"A link is at most {LINK_MAX} characters."
    elif link and not _valid_link(link):
        errors["assigned_link"] = "Use a web address that starts with http:// or https://."
    due_at = catch_up.due_at
    zone = due_zone(catch_up)
    try:
        day = date.fromisoformat(form.due_date.strip())
    except ValueError:
        errors["due_date"] = "Choose a due date."
    else:
        if day != due_day(catch_up):
            today = now.astimezone(zone).date()
            if day < today:
                errors["due_date"] = "The due date has passed: choose today or a later day."
            elif day > today + DUE_MAX_AHEAD:
                errors["due_date"] = "Choose a due date within a year."
            else:
                due_at = _end_of_day(day, zone)
    if errors:
        raise ValidationError(errors)
    before = (catch_up.assigned_work, catch_up.assigned_link, catch_up.due_at)
    if (work, link, due_at) == before:
        return False
    had_work = bool(catch_up.assigned_work or catch_up.assigned_link)
    catch_up.assigned_work, catch_up.assigned_link, catch_up.due_at = work, link, due_at
    db.session.flush()
    record_audit(actor, "attendance.catch_up_updated", "catch_up", catch_up.id,
                 center_id=catch_up.center_id, user_id=catch_up.user_id,
                 title=catch_up.session.title if catch_up.session is not None else "a call",
                 work_changed=work != before[0], link_changed=link != before[1],
                 due_from=before[2].isoformat(), due_to=due_at.isoformat())
    _tell_student(catch_up, new_work=not had_work and bool(work or link))
    _changed(catch_up)  # a new due date moves it on their dashboard card and My Day
    return True


def _tell_student(catch_up: CatchUp, *, new_work: bool) -> None:
    student = catch_up.user
    what = catch_up.session.title if catch_up.session is not None else "a call"
    title = (f"Catch-up work for {what}" if new_work
             else f"Your catch-up for {what} was changed")
    due = when(catch_up.due_at, student)
    body = f"{catch_up.assigned_work[:300]}\nDue {due}." if catch_up.assigned_work \
        else f"Due {due}."
    notify_each(NotificationType.CATCH_UP_UPDATED, [
        Notice(student, title, body, catch_up_path(catch_up.id), f"catch-up-{catch_up.id}")])


def catch_up_path(catch_up_id: int) -> str:
    """The page a catch-up's notifications open (a plain path: notifications store links)."""
    return f"/catch-ups/{catch_up_id}"


# --- lists -------------------------------------------------------------------------------------

def _visible(viewer: User):
    """The catch-ups ``viewer`` may list: a student's own; a teacher's sessions' (as teacher
    or co-teacher); every one of an admin's center."""
    stmt = select(CatchUp).where(CatchUp.center_id == viewer.center_id)
    if viewer.is_admin:
        return stmt
    if viewer.is_student:
        return stmt.where(CatchUp.user_id == viewer.id)
    taught = select(VideoSession.id).where(VideoSession.teacher_id == viewer.id).union(
        select(SessionParticipant.session_id).where(
            SessionParticipant.user_id == viewer.id,
            SessionParticipant.role == ParticipantRole.INSTRUCTOR))
    return stmt.where(CatchUp.session_id.in_(taught))


def _in_state(stmt, state: str, now: datetime):
    if state == "open":
        return stmt.where(CatchUp.done_at.is_(None))
    if state == "overdue":
        return stmt.where(CatchUp.done_at.is_(None), CatchUp.due_at < now)
    if state == "done":
        return stmt.where(CatchUp.done_at.is_not(None))
    return stmt


def _listed(stmt):
    """Open ones first, the earliest due (so the overdue) at the top; then done ones, the most
    recently done first. The student and the session come in the same statement."""
    return (stmt.options(joinedload(CatchUp.user), joinedload(CatchUp.session))
            .order_by(case((CatchUp.done_at.is_(None), 0), else_=1), CatchUp.due_at,
                      CatchUp.done_at.desc(), CatchUp.id))


@dataclass
class ListFilters:
    state: str
    student_id: int | None


def default_state(viewer: User) -> str:
    """A student sees all of theirs, done too; a teacher starts from what is still owed."""
    return "all" if viewer.is_student else "open"


def parse_filters(viewer: User, state: str | None, student: str | None) -> ListFilters:
    """The list's filters from the query string; anything unknown means "no filter" rather
    than an error (they come from links and a select)."""
    from app.accounts.tenancy import parse_id

    state = state if state in STATES else default_state(viewer)
    student_id = parse_id(student) if student and not viewer.is_student else None
    return ListFilters(state, student_id)


def catch_ups_query(viewer: User, filters: ListFilters, now: datetime | None = None):
    stmt = _in_state(_visible(viewer), filters.state, now or utcnow())
    if filters.student_id is not None:
        stmt = stmt.where(CatchUp.user_id == filters.student_id)
    return _listed(stmt)


def students_with_catch_ups(viewer: User) -> list[User]:
    """Whom the list's student filter offers: the students of the catch-ups the viewer sees."""
    if viewer.is_student:
        return []
    ids = _visible(viewer).with_only_columns(CatchUp.user_id).distinct()
    return list(db.session.scalars(select(User).where(User.id.in_(ids.scalar_subquery()))
                                   .order_by(User.name, User.id)))


def open_catch_ups(student: User, limit: int = DASHBOARD_LIMIT) -> tuple[list[CatchUp], int]:
    """The student's dashboard card: their open catch-ups, the overdue first, and how many
    there are in all (the card shows ``limit`` and links to the rest)."""
    stmt = _in_state(select(CatchUp).where(CatchUp.center_id == student.center_id,
                                           CatchUp.user_id == student.id), "open", utcnow())
    return _first_and_total(stmt, limit)


def _first_and_total(stmt, limit: int) -> tuple[list[CatchUp], int]:
    """The first ``limit`` rows and how many there are, in one statement (a window count), so
    a card costs the same with 3 catch-ups as with 30."""
    rows = db.session.execute(_listed(stmt.add_columns(func.count().over().label("total")))
                              .limit(limit)).all()
    return [row[0] for row in rows], rows[0].total if rows else 0


def open_catch_ups_by_student(user_ids, limit: int = DASHBOARD_LIMIT
                              ) -> dict[int, tuple[list[CatchUp], int]]:
    """open_catch_ups for several students at once (the dashboard card pushed over the
    socket to everyone an event concerns): one statement, however many students."""
    if not user_ids:
        return {}
    stmt = _in_state(select(CatchUp).where(one_of(CatchUp.user_id, user_ids)), "open", utcnow())
    found: dict[int, tuple[list[CatchUp], int]] = {}
    for catch_up in db.session.scalars(_listed(stmt)):
        rows, total = found.get(catch_up.user_id, ([], 0))
        if len(rows) < limit:
            rows.append(catch_up)
        found[catch_up.user_id] = (rows, total + 1)
    return found


def open_catch_ups_of(viewer: User, person: User, limit: int = DASHBOARD_LIMIT
                      ) -> tuple[list[CatchUp], int] | None:
    """A student's open catch-ups as ``viewer`` may see them (their person page), or None when
    the page should not show the section (the viewer is not a teacher or admin, or the person
    is not a student)."""
    if viewer.is_student or not person.is_student:
        return None
    stmt = _in_state(_visible(viewer).where(CatchUp.user_id == person.id), "open", utcnow())
    return _first_and_total(stmt, limit)

