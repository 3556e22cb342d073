"""The sessions calendar, session pages and the scheduling dialog.

Thin views: parse input, call ``app.scheduling.services``, render. Everything shown is in the
viewer's time zone (``current_user.tz``). Forms open in a <dialog> when the request comes from
HTMX (the dialog's body is the swap target) and as full pages otherwise, so every action also
works without script and from a bookmark.

Occurrences are named in URLs by their original local start in the series' zone, as ISO 8601
(``2026-12-03T16:00:00``): the RECURRENCE-ID, stable while the occurrence moves.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload

from app.accounts import services as accounts
from app.accounts.models import CourseRole, Role
from app.accounts.permissions import roles_required
from app.accounts.services import PermissionDenied, ValidationError
from app.accounts.tenancy import get_scoped_or_404, parse_id
from app.db_types import utcnow
from app.errors import render_error
from app.extensions import db
from app.scheduling import services
from app.scheduling.permissions import can_schedule_sessions, session_capabilities
from app.scheduling.forms import (TYPE_CHOICES, WEEKDAY_LABELS, MoveForm, ReasonForm,
                                  SessionForm, parse_date, parse_time)
from app.scheduling.models import ParticipantRole, SessionParticipant, SessionStatus, VideoSession
from app.scheduling.recurrence import WEEKDAY_CODES, Occurrence
from app.web import navigate_to, render_page, wants_fragment

bp = Blueprint("scheduling", __name__)

VIEWS = ("month", "week", "agenda")
AGENDA_DAYS = 30
MONTH_VISIBLE = 3  # sessions a month cell lists before "+N more"
WEEK_FIRST_HOUR, WEEK_LAST_HOUR = 7, 21  # the week grid's span, widened to fit any session
MAX_LANES = 4  # side-by-side columns for overlapping sessions in a week-day
# The sessions' occurrences a session page lists.
NEXT_OCCURRENCES = 8
# The events the calendar (and calendar.js) listen to after the dialog saved something.
SESSIONS_CHANGED = "sessions-changed"


@bp.errorhandler(PermissionDenied)
def permission_denied(error):
    return render_error(403, str(error) or None)


# --- calendar ------------------------------------------------------------------------------------

@dataclass
class Item:
    """One occurrence as a calendar shows it: times in the viewer's zone."""

    occ: Occurrence
    start: datetime
    end: datetime
    participant_count: int
    # week grid placement (quarter-hour rows from the grid's first hour; lane among overlaps)
    row: int = 1
    span: int = 1
    lane: int = 0  # 0: the full width of the day

    @property
    def session(self) -> VideoSession:
        return self.occ.session

    @property
    def minutes(self) -> int:
        return self.occ.duration_minutes

    @property
    def url(self) -> str:
        return url_for("scheduling.session_page", session_id=self.occ.session_id)

    @property
    def reason(self) -> str:
        return occurrence_note(self.occ)

    @property
    def tooltip(self) -> str:
        """Everything a card may have to leave out (short sessions show only time and title)."""
        text = (f"{self.session.title}, {self.start:%H:%M}–{self.end:%H:%M} "
                f"({self.minutes} min)")
        status = self.reason or ("Cancelled" if self.occ.cancelled else
                                 "Moved" if self.occ.moved else "")
        return text + (f". {status}" if status else "")


def occurrence_note(occ: Occurrence) -> str:
    """The change of an occurrence and its reason as participants read it ("Cancelled: Mock
    exams"); "" when it has no reason to show."""
    reason = services.occurrence_reason(occ)
    if not reason:
        return ""
    return f"{'Cancelled' if occ.cancelled else 'Moved' if occ.moved else 'Changed'}: {reason}"


@dataclass
class Day:
    date: date
    items: list[Item] = field(default_factory=list)
    in_range: bool = True
    is_today: bool = False
    can_add: bool = False
    lanes: int = 1

    @property
    def shown(self) -> list[Item]:
        return self.items[:MONTH_VISIBLE]

    @property
    def more(self) -> int:
        return max(0, len(self.items) - MONTH_VISIBLE)


def _calendar_day(raw: str | None, today: date) -> date:
    if not raw:
        return today
    day = parse_date(raw)
    if day is None:
        abort(400, "That date is not one the calendar can show: use YYYY-MM-DD.")
    if services.date_window_problem(day):
        abort(400, services.date_window_problem(day))
    return day


def _items_by_day(user, first: date, last: date) -> dict[date, list[Item]]:
    """Occurrences starting on local days first..last (inclusive), by local day."""
    tz = user.tz
    window_start = services.local_day_bounds(first, tz)[0]
    window_end = services.local_day_bounds(last, tz)[1]
    counts: dict[int, int] = {}
    by_day: dict[date, list[Item]] = {}
    for occ in services.visible_occurrences(user, window_start, window_end):
        session = occ.session
        if session.id not in counts:
            counts[session.id] = sum(1 for p in session.participants
                                     if p.user_id != session.teacher_id)
        start, end = occ.start.astimezone(tz), occ.end.astimezone(tz)
        by_day.setdefault(start.date(), []).append(Item(occ, start, end, counts[session.id]))
    return by_day


def _nav(view: str, day: date) -> str:
    return url_for("scheduling.calendar", view=view, date=day.isoformat())


def _month(user, day: date, today: date, can_schedule: bool) -> dict:
    first = day.replace(day=1)
    grid_start = first - timedelta(days=first.weekday())
    grid_end = grid_start + timedelta(days=41)
    items = _items_by_day(user, grid_start, grid_end)
    days = [grid_start + timedelta(days=i) for i in range(42)]
    weeks = [[Day(d, items.get(d, []), in_range=d.month == first.month, is_today=d == today,
                  can_add=can_schedule and d >= today) for d in days[w * 7:(w + 1) * 7]]
             for w in range(6)]
    previous = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return {"weeks": weeks, "title": f"{first:%B %Y}",
            "prev_url": _nav("month", previous), "next_url": _nav("month", following),
            "prev_label": f"Previous month, {previous:%B %Y}",
            "next_label": f"Next month, {following:%B %Y}"}


def _place_in_week(days: list[Day]) -> tuple[int, int]:
    """Give each item its rows and lane in the time grid; return the grid's (first, last) hour."""
    first_hour, last_hour = WEEK_FIRST_HOUR, WEEK_LAST_HOUR
    for day in days:
        for item in day.items:
            first_hour = min(first_hour, item.start.hour)
            end = item.end if item.end.date() == day.date else None
            last_hour = max(last_hour, 24 if end is None else end.hour + (1 if end.minute else 0))
    last_hour = min(max(last_hour, first_hour + 1), 24)
    rows = (last_hour - first_hour) * 4
    for day in days:
        for item in day.items:
            offset = (item.start.hour - first_hour) * 60 + item.start.minute
            item.row = offset // 15 + 1
            item.span = max(1, min(-(-item.minutes // 15), rows - item.row + 1))
        _assign_lanes(day)
    return first_hour, last_hour


def _assign_lanes(day: Day) -> None:
    """Overlapping items share the day's width side by side; a lone item takes all of it."""
    cluster: list[Item] = []
    cluster_end = 0
    for item in sorted(day.items, key=lambda i: (i.row, -i.span)):
        if cluster and item.row >= cluster_end:
            _lay_out(cluster, day)
            cluster = []
        cluster.append(item)
        cluster_end = max(cluster_end if len(cluster) > 1 else 0, item.row + item.span)
    if cluster:
        _lay_out(cluster, day)


def _lay_out(cluster: list[Item], day: Day) -> None:
    if len(cluster) == 1:
        cluster[0].lane = 0
        return
    lane_ends: list[int] = []
    for item in cluster:
        for index, end in enumerate(lane_ends):
            if end <= item.row:
                lane_ends[index] = item.row + item.span
                item.lane = index + 1
                break
        else:
            lane_ends.append(item.row + item.span)
            item.lane = len(lane_ends)
        item.lane = (item.lane - 1) % MAX_LANES + 1
    day.lanes = max(day.lanes, min(len(lane_ends), MAX_LANES))


def _week(user, day: date, today: date, can_schedule: bool) -> dict:
    monday = day - timedelta(days=day.weekday())
    sunday = monday + timedelta(days=6)
    items = _items_by_day(user, monday, sunday)
    days = [Day(d, items.get(d, []), is_today=d == today, can_add=can_schedule and d >= today)
            for d in (monday + timedelta(days=i) for i in range(7))]
    first_hour, last_hour = _place_in_week(days)
    if monday.year != sunday.year:
        title = f"{monday:%-d %b %Y} – {sunday:%-d %b %Y}"
    elif monday.month != sunday.month:
        title = f"{monday:%-d %b} – {sunday:%-d %b %Y}"
    else:
        title = f"{monday:%-d} – {sunday:%-d %B %Y}"
    return {"days": days, "title": title, "first_hour": first_hour, "last_hour": last_hour,
            "hours": list(range(first_hour, last_hour)),
            "prev_url": _nav("week", monday - timedelta(days=7)),
            "next_url": _nav("week", monday + timedelta(days=7)),
            "prev_label": "Previous week", "next_label": "Next week"}


def _agenda(user, day: date, today: date, can_schedule: bool) -> dict:
    last = day + timedelta(days=AGENDA_DAYS - 1)
    items = _items_by_day(user, day, last)
    days = [Day(d, items[d], is_today=d == today) for d in sorted(items)]
    return {"days": days, "first": day, "last": last,
            "title": f"{day:%-d %b} – {last:%-d %b %Y}",
            "prev_url": _nav("agenda", day - timedelta(days=AGENDA_DAYS)),
            "next_url": _nav("agenda", day + timedelta(days=AGENDA_DAYS)),
            "prev_label": f"Previous {AGENDA_DAYS} days", "next_label": f"Next {AGENDA_DAYS} days"}


@bp.route("/calendar")
@login_required
def calendar():
    user = current_user._get_current_object()
    today = utcnow().astimezone(user.tz).date()
    view = request.args.get("view", "month")
    if view not in VIEWS:
        view = "month"
    day = _calendar_day(request.args.get("date"), today)
    can_schedule = can_schedule_sessions(user)
    # The personal feed panel is part of the page, not of the calendar region that navigation
    # swaps (so a partial never makes or reads the token). First: making the token commits, and
    # a commit after the calendar's rows were loaded would expire them all.
    feed = None if wants_fragment() else _feed_addresses(user)
    build = {"month": _month, "week": _week, "agenda": _agenda}[view]
    cal = build(user, day, today, can_schedule)
    cal.update(view=view, day=day, today=today, self_url=_nav(view, day),
               today_url=_nav(view, today), can_schedule=can_schedule,
               views=[(v, v.capitalize(), _nav(v, day)) for v in VIEWS])
    return render_page("scheduling/calendar.html", "scheduling/_calendar.html", cal=cal,
                       feed=feed)


def _feed_addresses(user) -> dict:
    """The personal feed's address as calendar apps want it: https:// to paste (Google,
    Outlook) and webcal:// to open (Apple Calendar and Outlook subscribe on a click)."""
    from app.scheduling.feed_views import feed_url

    https_url = feed_url(services.feed_token_for(user))
    return {"https": https_url, "webcal": "webcal://" + https_url.split("://", 1)[1],
            "reset": url_for("feed.reset_feed")}


# --- loading sessions and occurrences ------------------------------------------------------------

_SESSION_PAGE_LOAD = (selectinload(VideoSession.participants).joinedload(SessionParticipant.user),
                      selectinload(VideoSession.overrides), joinedload(VideoSession.teacher))


def _viewable_session(session_id) -> VideoSession:
    """The session, or 404 for another center's and for one the viewer may not see (a 403
    would reveal that it exists)."""
    session = get_scoped_or_404(VideoSession, session_id, *_SESSION_PAGE_LOAD)
    if not session_capabilities(current_user, session).can_view:
        abort(404)
    return session


def _managed_session(session_id) -> VideoSession:
    """The session, for its teacher or a center admin (403 for other viewers). Whether its
    state allows the change is the service's to say (with a message)."""
    session = _viewable_session(session_id)
    if not session_capabilities(current_user, session).can_manage:
        abort(403)
    return session


def _occurrence_or_404(session: VideoSession, raw: str) -> Occurrence:
    occurrence = services.occurrence_by_key(session, raw)
    if occurrence is None:
        abort(404)
    return occurrence


def _occurrence_key(occ: Occurrence) -> str:
    return occ.original_start_local.isoformat()


# --- answers after a change ----------------------------------------------------------------------

def _done(message: str, url: str, *, refresh_calendar: bool = False):
    """After a change: in the dialog over HTMX, either refresh the calendar behind it (the event
    closes the dialog) or load the session page; otherwise a normal redirect."""
    if wants_fragment():
        if refresh_calendar:
            body = render_template("scheduling/_saved.html", message=message, link=url)
            return body, 200, {"HX-Trigger": json.dumps({SESSIONS_CHANGED: {"url": url}})}
        flash(message, "success")
        return "", 200, {"HX-Redirect": url}
    flash(message, "success")
    return navigate_to(url)


def _session_url(session: VideoSession) -> str:
    return url_for("scheduling.session_page", session_id=session.id)


# --- the scheduling dialog -----------------------------------------------------------------------

def _teacher_choices(teacher):
    students = list(db.session.scalars(accounts.enrolled_students_query(teacher)))
    courses = [c for c in accounts.courses_for(teacher)
               if any(e.user_id == teacher.id and e.role == CourseRole.TEACHER
                      for e in c.enrollments)]
    return students, courses


def _render_session_form(form: SessionForm, mode: str, *, session: VideoSession | None = None,
                         occurrence: Occurrence | None = None, conflicts=None, status: int = 200):
    if mode == "new":
        students, courses = _teacher_choices(current_user)
        action = url_for("scheduling.create_session")
        heading, submit = "Schedule a session", "Schedule"
    elif mode == "edit":
        students, courses = [], []
        action = url_for("scheduling.edit_session", session_id=session.id)
        heading, submit = "Edit series", "Save changes"
    else:
        students, courses = [], []
        action = url_for("scheduling.split_occurrence", session_id=session.id,
                         original=_occurrence_key(occurrence))
        heading, submit = "Edit this and following", "Save from this occurrence"
    shown = {"title", "description", "type", "date", "start_time", "timezone", "duration_minutes",
             "frequency", "weekdays", "ends", "count", "until_date"}
    groups = []
    if mode == "new":
        shown |= {"participant_ids", "course_id"}
        from app.chat.services import teacher_groups

        groups = teacher_groups(current_user)
        if groups:  # without groups the field is not shown: its error goes to the top
            shown.add("group_id")
    context = dict(form=form, mode=mode, session=session, occurrence=occurrence,
                   conflicts=conflicts or [], students=students, courses=courses, action=action,
                   groups=groups,
                   heading=heading, submit=submit, in_dialog=wants_fragment(),
                   general_errors=[m for k, m in form.errors.items() if k not in shown],
                   type_choices=TYPE_CHOICES, weekday_labels=WEEKDAY_LABELS,
                   weekday_codes=WEEKDAY_CODES, back_url=_back_url(session),
                   form_template="scheduling/_session_form.html")
    return render_page("scheduling/form_page.html", "scheduling/_session_form.html",
                       status=status, **context)


def _back_url(session: VideoSession | None) -> str:
    return _session_url(session) if session else url_for("scheduling.calendar")


@bp.route("/sessions/new")
@roles_required(Role.TEACHER)
def new_session():
    day = parse_date(request.args.get("date"))
    start = parse_time(request.args.get("time"))
    form = SessionForm(date=day.isoformat() if day else "",
                       start_time=start.strftime("%H:%M") if start else "",
                       timezone=current_user.effective_timezone,
                       weekdays=[WEEKDAY_CODES[day.weekday()]] if day else [])
    return _render_session_form(form, "new")


@bp.route("/sessions", methods=["POST"])
@roles_required(Role.TEACHER)
def create_session():
    form = SessionForm.from_formdata(request.form)
    try:
        session = services.schedule_session(current_user, form.to_input(),
                                            allow_conflicts=form.allow_conflicts)
    except ValidationError as exc:
        form.errors = exc.errors
        return _render_session_form(form, "new", status=422)
    except services.ConflictsFound as exc:
        return _render_session_form(form, "new", conflicts=exc.conflicts, status=422)
    return _done(f"“{session.title}” was scheduled.", _session_url(session),
                 refresh_calendar=True)


@bp.route("/sessions/<session_id>/edit", methods=["GET", "POST"])
@login_required
def edit_session(session_id):
    session = _managed_session(session_id)
    if request.method == "GET":
        return _render_session_form(SessionForm.from_input(services.input_from_session(session)),
                                    "edit", session=session)
    form = SessionForm.from_formdata(request.form)
    try:
        services.update_series(current_user, session, form.to_input(),
                               allow_conflicts=form.allow_conflicts)
    except ValidationError as exc:
        form.errors = exc.errors
        return _render_session_form(form, "edit", session=session, status=422)
    except services.ConflictsFound as exc:
        return _render_session_form(form, "edit", session=session, conflicts=exc.conflicts,
                                    status=422)
    return _done(f"“{session.title}” was updated.", _session_url(session))


@bp.route("/sessions/<session_id>/occurrences/<original>/split", methods=["GET", "POST"])
@login_required
def split_occurrence(session_id, original):
    session = _managed_session(session_id)
    occurrence = _occurrence_or_404(session, original)
    if request.method == "GET":
        data = services.input_from_session(session)
        data.date = occurrence.original_start_local.date()
        data.start_time = occurrence.original_start_local.time()
        form = SessionForm.from_input(data)
        if data.ends == "count":
            form.count = ""  # empty: what the series had left (services.split_series)
        return _render_session_form(form, "split", session=session, occurrence=occurrence)
    form = SessionForm.from_formdata(request.form)
    try:
        new = services.split_series(current_user, session, occurrence.original_start_local,
                                    form.to_input(), allow_conflicts=form.allow_conflicts)
    except ValidationError as exc:
        form.errors = exc.errors
        return _render_session_form(form, "split", session=session, occurrence=occurrence,
                                    status=422)
    except services.ConflictsFound as exc:
        return _render_session_form(form, "split", session=session, occurrence=occurrence,
                                    conflicts=exc.conflicts, status=422)
    return _done(f"“{new.title}” was changed from {occurrence.start:%-d %b} on.",
                 _session_url(new))


# --- one occurrence ------------------------------------------------------------------------------

def _render_small_form(template: str, status: int = 200, **context):
    context.setdefault("conflicts", [])
    return render_page("scheduling/form_page.html", template, status=status,
                       in_dialog=wants_fragment(), form_template=template, **context)


@bp.route("/sessions/<session_id>/occurrences/<original>/move", methods=["GET", "POST"])
@login_required
def move_occurrence(session_id, original):
    session = _managed_session(session_id)
    occurrence = _occurrence_or_404(session, original)
    context = dict(session=session, occurrence=occurrence, heading="Move or change duration",
                   back_url=_session_url(session),
                   action=url_for("scheduling.move_occurrence", session_id=session.id,
                                  original=_occurrence_key(occurrence)))
    if request.method == "GET":
        form = MoveForm.for_start(occurrence.start.astimezone(session.tz).replace(tzinfo=None),
                                  occurrence.duration_minutes)
        return _render_small_form("scheduling/_move_form.html", form=form, **context)
    form = MoveForm.from_formdata(request.form)
    new_start, duration = form.parse()
    if form.errors:
        return _render_small_form("scheduling/_move_form.html", 422, form=form, **context)
    try:
        services.move_occurrence(current_user, session, occurrence.original_start_local,
                                 new_start, duration, form.reason,
                                 allow_conflicts=form.allow_conflicts)
    except ValidationError as exc:
        form.errors = exc.errors
        return _render_small_form("scheduling/_move_form.html", 422, form=form, **context)
    except services.ConflictsFound as exc:
        return _render_small_form("scheduling/_move_form.html", 422, form=form,
                                  conflicts=exc.conflicts, **context)
    return _done("The occurrence was moved.", _session_url(session))


@bp.route("/sessions/<session_id>/occurrences/<original>/cancel", methods=["GET", "POST"])
@login_required
def cancel_occurrence(session_id, original):
    session = _managed_session(session_id)
    occurrence = _occurrence_or_404(session, original)
    context = dict(session=session, occurrence=occurrence, back_url=_session_url(session),
                   heading="Cancel this occurrence" if session.is_recurring else "Cancel session",
                   submit="Cancel occurrence" if session.is_recurring else "Cancel session",
                   action=url_for("scheduling.cancel_occurrence", session_id=session.id,
                                  original=_occurrence_key(occurrence)))
    if request.method == "GET":
        return _render_small_form("scheduling/_cancel_form.html", form=ReasonForm(), **context)
    form = ReasonForm.from_formdata(request.form)
    try:
        services.cancel_occurrence(current_user, session, occurrence.original_start_local,
                                   form.reason)
    except ValidationError as exc:
        form.errors = exc.errors
        return _render_small_form("scheduling/_cancel_form.html", 422, form=form, **context)
    return _done("The occurrence was cancelled." if session.is_recurring
                 else f"“{session.title}” was cancelled.", _session_url(session))


@bp.route("/sessions/<session_id>/occurrences/<original>/restore", methods=["GET", "POST"])
@login_required
def restore_occurrence(session_id, original):
    """Undo the cancellation of one occurrence (GET: confirm; POST: restore)."""
    session = _managed_session(session_id)
    occurrence = _occurrence_or_404(session, original)
    context = dict(session=session, occurrence=occurrence, back_url=_session_url(session),
                   heading="Restore this occurrence", form=ReasonForm(),
                   action=url_for("scheduling.restore_occurrence", session_id=session.id,
                                  original=_occurrence_key(occurrence)))
    if request.method == "GET":
        return _render_small_form("scheduling/_restore_form.html", **context)
    try:
        services.restore_occurrence(current_user, session, occurrence.original_start_local,
                                    allow_conflicts=request.form.get("allow_conflicts") == "1")
    except ValidationError as exc:
        context["form"].errors = exc.errors
        return _render_small_form("scheduling/_restore_form.html", 422, **context)
    except services.ConflictsFound as exc:
        return _render_small_form("scheduling/_restore_form.html", 422,
                                  conflicts=exc.conflicts, **context)
    return _done("The occurrence was restored; participants were told.", _session_url(session))


@bp.route("/sessions/<session_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel_session(session_id):
    session = _managed_session(session_id)
    context = dict(session=session, occurrence=None, back_url=_session_url(session),
                   heading="Cancel the whole series" if session.is_recurring else "Cancel session",
                   submit="Cancel series" if session.is_recurring else "Cancel session",
                   action=url_for("scheduling.cancel_session", session_id=session.id))
    if request.method == "GET":
        return _render_small_form("scheduling/_cancel_form.html", form=ReasonForm(), **context)
    form = ReasonForm.from_formdata(request.form)
    try:
        services.cancel_series(current_user, session, form.reason)
    except ValidationError as exc:
        form.errors = exc.errors
        return _render_small_form("scheduling/_cancel_form.html", 422, form=form, **context)
    return _done(f"“{session.title}” was cancelled.", _session_url(session))


# --- the session page ----------------------------------------------------------------------------

ROLE_LABELS = {ParticipantRole.INSTRUCTOR: "Teacher", ParticipantRole.LEARNER: "Student",
               ParticipantRole.OBSERVER: "Observer"}


def _describe_schedule(session: VideoSession) -> str:
    end = session.start_local + session.duration
    when = f"{session.start_local:%H:%M}–{end:%H:%M} ({session.timezone.replace('_', ' ')})"
    if not session.is_recurring:
        return f"Once, {session.start_local:%A %-d %B %Y}, {when}"
    every = "day" if session.frequency.value == "DAILY" else "week"
    if session.interval and session.interval > 1:
        every = f"{session.interval} {every}s"
    text = f"Every {every}"
    if session.frequency.value == "WEEKLY":
        names = [WEEKDAY_LABELS[d] for d in session.weekdays] or [f"{session.start_local:%A}"]
        text += " on " + (", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1
                          else names[0])
    text += f", {when}, from {session.start_local:%-d %b %Y}"
    if session.count is not None:
        text += f", {session.count} time{'s' if session.count != 1 else ''}"
    elif session.until_local is not None:
        text += f" until {session.until_local:%-d %b %Y}"
    else:
        text += ", no end date"
    return text


def _starts_in(now: datetime, start: datetime) -> str:
    seconds = (start - now).total_seconds()
    if seconds <= 0:
        return "under way"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"in {max(minutes, 1)} minute{'s' if minutes != 1 else ''}"
    hours = minutes // 60
    if hours < 48:
        return f"in {hours} hour{'s' if hours != 1 else ''}"
    return f"in {hours // 24} days"


def _render_session_page(session: VideoSession, status: int = 200, participant_error=None):
    from app.attendance.reports import can_view_series
    from app.attendance.services import session_attendance
    from app.control_center.services import capabilities as control_center_capabilities
    from app.live.session_runs import call_card

    user = current_user._get_current_object()
    caps = session_capabilities(user, session)
    occurrences = services.next_occurrences(session, limit=NEXT_OCCURRENCES)
    now = utcnow()
    upcoming = next((o for o in occurrences if not o.cancelled), None)
    participants = sorted(session.participants, key=lambda p: (
        p.role != ParticipantRole.INSTRUCTOR, p.role.value, p.user.name.lower()))
    candidates = []
    if caps.can_manage_participants:
        present = {p.user_id for p in session.participants}
        candidates = [u for u in db.session.scalars(
            accounts.enrolled_students_query(session.teacher)) if u.id not in present]
    return render_template(
        "scheduling/session.html", session=session, caps=caps,
        occurrences=occurrences, upcoming=upcoming,
        starts_in=_starts_in(now, upcoming.start) if upcoming else None,
        participants=participants, candidates=candidates, role_labels=ROLE_LABELS,
        schedule_text=_describe_schedule(session), occurrence_key=_occurrence_key,
        participant_error=participant_error, viewer_tz=user.tz,
        occurrence_note=occurrence_note,
        continuations=services.continuations(user, session),
        continued_from=services.continued_from(user, session),
        SessionStatus=SessionStatus, call_card=call_card(session, user, now=now),
        can_view_attendance=can_view_series(user, session),
        control_center=control_center_capabilities(user, session),
        attendance=session_attendance(user, session, occurrences, now), now=now), status


@bp.route("/sessions/<session_id>")
@login_required
def session_page(session_id):
    return _render_session_page(_viewable_session(session_id))


@bp.route("/sessions/<session_id>/participants", methods=["POST"])
@login_required
def add_participants(session_id):
    session = _managed_session(session_id)
    ids = [parse_id(raw) or -1 for raw in request.form.getlist("user_ids")[:2000]]
    try:
        added = services.add_participants(current_user, session, ids)
    except ValidationError as exc:
        return _render_session_page(session, 422, " ".join(exc.errors.values()))
    names = ", ".join(u.name for u in added) or "Nobody new"
    flash(f"{names} {'was' if len(added) == 1 else 'were'} added.", "success")
    return navigate_to(_session_url(session))


@bp.route("/sessions/<session_id>/participants/<user_id>/remove", methods=["POST"])
@login_required
def remove_participant(session_id, user_id):
    session = _managed_session(session_id)
    try:
        removed = services.remove_participant(current_user, session, parse_id(user_id) or -1)
    except ValidationError as exc:
        return _render_session_page(session, 422, " ".join(exc.errors.values()))
    flash(f"{removed.name} was removed from the session.", "success")
    return navigate_to(_session_url(session))
