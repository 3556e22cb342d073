"""The scheduling forms: text as typed in, values out.

These are plain objects, not WTForms: every rule lives in ``services`` (``validate_input`` and
friends), and the dialog's widgets (a filterable student list, weekday chips, repeat options)
are hand-written markup. A form keeps the raw strings it was given, so a 422 answer shows
exactly what the teacher typed, including the students and weekdays they ticked. Text that
cannot be a value becomes None (or an id that matches nothing) and the services' own messages
say what to fix. CSRF is checked globally (CSRFProtect).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from app.accounts.tenancy import parse_id
from app.scheduling.models import SessionType
from app.scheduling.recurrence import WEEKDAY_CODES
from app.scheduling.services import SessionInput

TYPE_CHOICES = [(t.value, t.label) for t in SessionType if t != SessionType.INSTANT]
WEEKDAY_LABELS = dict(zip(WEEKDAY_CODES, ("Monday", "Tuesday", "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday")))
# An id that names no row: junk in an id field is "not one of yours", never a crash.
NO_SUCH_ID = -1
MAX_TEXT = 10_000


def parse_date(value: str | None) -> date | None:
    value = (value or "").strip()
    if not value or len(value) > 10:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def parse_time(value: str | None) -> time | None:
    value = (value or "").strip()
    if not value or len(value) > 8:
        return None
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(second=0, microsecond=0, tzinfo=None)


def parse_int(value: str | None, lo: int = -10**6, hi: int = 10**6) -> int | None:
    try:
        number = int((value or "").strip())
    except ValueError:
        return None
    return number if lo <= number <= hi else None


def _text(value: str | None, limit: int = MAX_TEXT) -> str:
    return (value or "")[:limit]


@dataclass
class SessionForm:
    """The scheduling dialog (new session, edit series, edit this and following)."""

    title: str = ""
    description: str = ""
    type: str = SessionType.CLASS.value
    participant_ids: list[str] = field(default_factory=list)
    course_id: str = ""
    group_id: str = ""
    date: str = ""
    start_time: str = ""
    timezone: str = ""
    duration_minutes: str = "60"
    frequency: str = "NONE"
    weekdays: list[str] = field(default_factory=list)
    ends: str = "count"
    count: str = "10"
    until_date: str = ""
    allow_conflicts: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_formdata(cls, form) -> "SessionForm":
        return cls(
            title=_text(form.get("title"), 300), description=_text(form.get("description")),
            type=_text(form.get("type"), 40),
            participant_ids=form.getlist("participant_ids")[:2000],
            course_id=_text(form.get("course_id"), 20), group_id=_text(form.get("group_id"), 20),
            date=_text(form.get("date"), 20),
            start_time=_text(form.get("start_time"), 20), timezone=_text(form.get("timezone"), 64),
            duration_minutes=_text(form.get("duration_minutes"), 20),
            frequency=_text(form.get("frequency"), 20),
            weekdays=[d for d in form.getlist("weekdays") if d in WEEKDAY_CODES],
            ends=_text(form.get("ends"), 20), count=_text(form.get("count"), 20),
            until_date=_text(form.get("until_date"), 20),
            allow_conflicts=form.get("allow_conflicts") == "1")

    @classmethod
    def from_input(cls, data: SessionInput) -> "SessionForm":
        return cls(
            title=data.title, description=data.description or "", type=data.type,
            participant_ids=[str(i) for i in data.participant_ids],
            course_id=str(data.course_id or ""), group_id=str(data.group_id or ""),
            date=data.date.isoformat() if data.date else "",
            start_time=data.start_time.strftime("%H:%M") if data.start_time else "",
            timezone=data.timezone, duration_minutes=str(data.duration_minutes or ""),
            frequency=data.frequency, weekdays=list(data.weekdays), ends=data.ends,
            count=str(data.count) if data.count else "",
            until_date=data.until_date.isoformat() if data.until_date else "")

    def to_input(self) -> SessionInput:
        ids = []
        for raw in self.participant_ids:
            ids.append(parse_id(raw) or NO_SUCH_ID)
        course_id = group_id = None
        if self.course_id.strip():
            course_id = parse_id(self.course_id) or NO_SUCH_ID
        if self.group_id.strip():
            group_id = parse_id(self.group_id) or NO_SUCH_ID
        return SessionInput(
            title=self.title, description=self.description, type=self.type,
            participant_ids=ids, course_id=course_id, group_id=group_id,
            date=parse_date(self.date),
            start_time=parse_time(self.start_time), timezone=self.timezone.strip(),
            duration_minutes=parse_int(self.duration_minutes), frequency=self.frequency,
            weekdays=self.weekdays, ends=self.ends, count=parse_int(self.count),
            until_date=parse_date(self.until_date))

    def is_checked(self, user_id: int) -> bool:
        return str(user_id) in self.participant_ids

    def hidden_pairs(self) -> list[tuple[str, str]]:
        """Every value as (name, value) pairs, to send the same form again ("anyway")."""
        pairs = [(name, getattr(self, name)) for name in (
            "title", "description", "type", "course_id", "group_id", "date", "start_time", "timezone",
            "duration_minutes", "frequency", "ends", "count", "until_date")]
        pairs += [("participant_ids", v) for v in self.participant_ids]
        pairs += [("weekdays", v) for v in self.weekdays]
        return pairs


@dataclass
class MoveForm:
    """Move one occurrence and/or change its duration (times in the series' own zone)."""

    date: str = ""
    start_time: str = ""
    duration_minutes: str = ""
    reason: str = ""
    allow_conflicts: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_formdata(cls, form) -> "MoveForm":
        return cls(date=_text(form.get("date"), 20), start_time=_text(form.get("start_time"), 20),
                   duration_minutes=_text(form.get("duration_minutes"), 20),
                   reason=_text(form.get("reason"), 1000),
                   allow_conflicts=form.get("allow_conflicts") == "1")

    @classmethod
    def for_start(cls, local_start: datetime, duration_minutes: int) -> "MoveForm":
        return cls(date=local_start.date().isoformat(), start_time=local_start.strftime("%H:%M"),
                   duration_minutes=str(duration_minutes))

    def parse(self) -> tuple[datetime | None, int | None]:
        """(new local start, new duration); fills ``errors`` for what cannot be read."""
        day, start = parse_date(self.date), parse_time(self.start_time)
        if day is None:
            self.errors["date"] = "Pick a date."
        if start is None:
            self.errors["start_time"] = "Pick a start time."
        duration = None
        if self.duration_minutes.strip():
            duration = parse_int(self.duration_minutes, 0, 10_000)
            if duration is None:
                self.errors["duration_minutes"] = "Give the duration in minutes."
        if self.errors:
            return None, None
        return datetime.combine(day, start), duration

    def hidden_pairs(self) -> list[tuple[str, str]]:
        return [("date", self.date), ("start_time", self.start_time),
                ("duration_minutes", self.duration_minutes), ("reason", self.reason)]


@dataclass
class ReasonForm:
    """Cancel an occurrence or a series, with an optional reason."""

    reason: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_formdata(cls, form) -> "ReasonForm":
        return cls(reason=_text(form.get("reason"), 1000))
