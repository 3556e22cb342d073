"""Group session rules: the one rule engine for sessions made for a GROUP thread.

A group (a GROUP chat thread, owned by its teacher) decides who may create its sessions, whether
members' sessions wait for the owner's approval, how much notice a session needs, and in which
time slots (per weekday, on the group's own wall clock) its sessions may take place. Every entry
point (the scheduling dialog's "whole group", the group's own pages, moves, series edits and
splits) asks this module, so the UI and every endpoint refuse the same things with the same
words. Everything here is pure (no DB writes); ``rules_for`` reads the stored row.

Time: slots are wall-clock times in the group's IANA zone. An occurrence fits when, read on
that clock, it starts and ends on one day inside one slot. Across a DST change the wall clock
jumps; the check follows it exactly (the clock's value just before and just after each
transition inside the occurrence is checked too), so a session that crosses a jump is judged by
the times a person in the group would actually see.
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from app.accounts.models import Role, User
from app.accounts.services import PermissionDenied, ValidationError
from app.scheduling import recurrence
from app.scheduling.models import GroupCreators, GroupSessionRules, SessionType
from app.scheduling.recurrence import WEEKDAY_CODES, Change, Schedule

MINUTES_PER_DAY = 24 * 60
MAX_NOTICE_HOURS = 24 * 60  # 60 days: more is a typo
MAX_SLOTS_PER_DAY = 8
# An endless series is checked this far ahead: two full years of DST changes. (Finite series
# are checked to their last occurrence.)
ENDLESS_HORIZON = timedelta(days=2 * 366)
SUGGESTIONS = 3
SUGGESTION_STEP_MINUTES = 15
SUGGESTION_SEARCH_DAYS = 400
SHORT_DAYS = dict(zip(WEEKDAY_CODES, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")))

# The rules, by the names refusals use (each refusal says which one it applies).
RULE_CREATORS = "who may create sessions"
RULE_NOTICE = "minimum notice"
RULE_SLOTS = "allowed time slots"


# --- the rules ----------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Slot:
    """[start, end] in minutes after the group's local midnight (end may be 24:00)."""

    start: int
    end: int

    @property
    def label(self) -> str:
        return f"{_clock(self.start)}–{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Rules:
    timezone: str
    scheduled_by: GroupCreators = GroupCreators.OWNER
    instant_calls_by: GroupCreators = GroupCreators.MEMBERS
    approval_required: bool = False
    min_notice_hours: int = 0
    # weekday code -> merged, sorted slots; a weekday missing while others have slots: no
    # session that day; no slots at all: any time.
    slots: tuple[tuple[str, tuple[Slot, ...]], ...] = ()
    default_duration_minutes: int = 60
    default_type: str = SessionType.GROUP_MEETING.value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def restricts_times(self) -> bool:
        return bool(self.slots)

    def slots_on(self, weekday: str) -> tuple[Slot, ...]:
        if not self.slots:
            return (Slot(0, MINUTES_PER_DAY),)
        return dict(self.slots).get(weekday, ())

    def describe_slots(self) -> str:
        """"Mon–Fri 15:00–19:00; Sat 10:00–12:00" (days with the same slots grouped)."""
        if not self.slots:
            return "any time"
        by_day = dict(self.slots)
        parts: list[str] = []
        run: list[str] = []
        for code in WEEKDAY_CODES + ("",):
            if run and (code == "" or by_day.get(code) != by_day.get(run[0])):
                if by_day.get(run[0]):
                    days = SHORT_DAYS[run[0]] if len(run) == 1 else \
                        f"{SHORT_DAYS[run[0]]}–{SHORT_DAYS[run[-1]]}"
                    parts.append(f"{days} {', '.join(s.label for s in by_day[run[0]])}")
                run = []
            if code:
                run.append(code)
        return "; ".join(parts)

    def describe_notice(self) -> str:
        hours = self.min_notice_hours
        if hours == 0:
            return "none"
        if hours % 24 == 0:
            days = hours // 24
            return f"{days} day{'s' if days != 1 else ''}"
        return f"{hours} hour{'s' if hours != 1 else ''}"


def merge_slots(slots) -> tuple[Slot, ...]:
    """Sorted, with overlapping or touching slots joined (15–17 and 17–19 are 15–19)."""
    merged: list[Slot] = []
    for slot in sorted(slots):
        if merged and slot.start <= merged[-1].end:
            merged[-1] = Slot(merged[-1].start, max(merged[-1].end, slot.end))
        else:
            merged.append(slot)
    return tuple(merged)


def make_rules(timezone: str, slots: dict[str, list] | None = None, **fields) -> Rules:
    """Rules from plain values (``slots``: weekday code -> [(start, end) minutes or Slot])."""
    normalized = []
    for code in WEEKDAY_CODES:
        day = [s if isinstance(s, Slot) else Slot(int(s[0]), int(s[1]))
               for s in (slots or {}).get(code, ())]
        if day:
            normalized.append((code, merge_slots(day)))
    return Rules(timezone=timezone, slots=tuple(normalized), **fields)


def default_rules(timezone: str) -> Rules:
    """Instant calls by any member, scheduled sessions by the owner, no approval, any time."""
    return Rules(timezone=timezone)


def rules_from_row(row: GroupSessionRules) -> Rules:
    return make_rules(row.timezone, row.slots or {}, scheduled_by=row.scheduled_by,
                      instant_calls_by=row.instant_calls_by,
                      approval_required=bool(row.approval_required),
                      min_notice_hours=row.min_notice_hours or 0,
                      default_duration_minutes=row.default_duration_minutes or 60,
                      default_type=row.default_type.value)


def slots_for_storage(rules: Rules) -> dict[str, list[list[int]]]:
    return {code: [[s.start, s.end] for s in slots] for code, slots in rules.slots}


# --- who is who in a group ------------------------------------------------------------------------

class GroupRole(str, enum.Enum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"  # a center admin (manages every group of the center)
    CO_TEACHER = "CO_TEACHER"  # a teacher who is a member but not the owner
    STUDENT = "STUDENT"  # any other member
    NONE = "NONE"  # not in the group

    @property
    def label(self) -> str:
        return {"OWNER": "the group's owner", "ADMIN": "a center admin",
                "CO_TEACHER": "a co-teacher", "STUDENT": "a member",
                "NONE": "not a member"}[self.value]


def group_role(user: User, thread) -> GroupRole:
    """``user``'s place in the GROUP ``thread`` (its members loaded or loadable)."""
    if thread.center_id != user.center_id or not user.is_active:
        return GroupRole.NONE
    member = next((m for m in thread.members if m.user_id == user.id), None)
    if member is not None and member.role.value == "OWNER":
        return GroupRole.OWNER
    if user.role == Role.ADMIN:
        return GroupRole.ADMIN
    if member is None:
        return GroupRole.NONE
    return GroupRole.CO_TEACHER if user.role == Role.TEACHER else GroupRole.STUDENT


def manages(role: GroupRole) -> bool:
    """Owner and center admins: change the rules, approve and decline, reschedule, cancel."""
    return role in (GroupRole.OWNER, GroupRole.ADMIN)


def _allowed_by(setting: GroupCreators, role: GroupRole) -> bool:
    if manages(role):
        return True
    if role == GroupRole.CO_TEACHER:
        return setting in (GroupCreators.CO_TEACHERS, GroupCreators.MEMBERS)
    if role == GroupRole.STUDENT:
        return setting == GroupCreators.MEMBERS
    return False


def may_create(rules: Rules, role: GroupRole) -> bool:
    return _allowed_by(rules.scheduled_by, role)


def may_start_instant_call(rules: Rules, role: GroupRole) -> bool:
    return _allowed_by(rules.instant_calls_by, role)


def needs_approval(rules: Rules, role: GroupRole) -> bool:
    """Members' sessions wait for the owner when the group asks for it; the owner's and an
    admin's never do."""
    return rules.approval_required and not manages(role)


def require_may_create(rules: Rules, role: GroupRole) -> None:
    if not may_create(rules, role):
        raise PermissionDenied(
            f"This group's rule “{RULE_CREATORS}” is “{rules.scheduled_by.label.lower()}”, "
            f"and you are {role.label}: ask the group's owner to schedule it.")


# --- checking times -------------------------------------------------------------------------------

class RuleViolation(ValidationError):
    """A time the group's rules refuse: ``rule`` names the rule, the message says what would be
    allowed, ``suggestions`` are the next allowed starts (UTC) for the same duration."""

    def __init__(self, rule: str, message: str, suggestions: list[datetime] | None = None,
                 field: str = "date"):
        super().__init__({field: message})
        self.rule = rule
        self.suggestions = suggestions or []


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    return instant.astimezone(tz).utcoffset()


def _transitions(start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """The instants in (start, end] where the zone's UTC offset changes (at most one: an
    occurrence is a few hours long). Found by bisection over whole seconds: zones change
    offset on a whole second."""
    if _offset(start, tz) == _offset(end, tz):
        return []
    before, after = int(start.timestamp()), int(-(-end.timestamp() // 1))
    first_offset = _offset(start, tz)
    while after - before > 1:
        middle = (before + after) // 2
        if _offset(datetime.fromtimestamp(middle, timezone.utc), tz) == first_offset:
            before = middle
        else:
            after = middle
    return [datetime.fromtimestamp(after, timezone.utc)]


def _wall_minutes(instant: datetime, offset: timedelta, day: date) -> float:
    """Minutes after local midnight of ``day`` shown by a clock at UTC+``offset``."""
    local = instant.astimezone(timezone.utc).replace(tzinfo=None) + offset
    return (local - datetime.combine(day, datetime.min.time())).total_seconds() / 60


def fits_slots(rules: Rules, start: datetime, end: datetime) -> bool:
    """Whether [start, end) (aware instants), read on the group's wall clock, lies inside one
    allowed slot of the weekday it starts on."""
    if not rules.slots:
        return True
    tz = rules.tz
    local_start = start.astimezone(tz)
    day = local_start.date()
    # Between transitions the wall clock runs forward without jumps: checking the ends of each
    # stretch checks every instant.
    # The end is read on the clock as it was just before it: a session ending exactly when the
    # clocks go back ends at 02:00 summer time, not at 01:00 winter time.
    values = [_wall_minutes(start, _offset(start, tz), day),
              _wall_minutes(end, _offset(end - timedelta(microseconds=1), tz), day)]
    for moment in _transitions(start, end, tz):
        values.append(_wall_minutes(moment, _offset(start, tz), day))  # just before the jump
        if moment < end:  # (a jump at the very end is after the session)
            values.append(_wall_minutes(moment, _offset(end, tz), day))  # just after it
    low, high = min(values), max(values)
    return any(slot.start <= low and high <= slot.end
               for slot in rules.slots_on(WEEKDAY_CODES[day.weekday()]))


def earliest_start(rules: Rules, now: datetime) -> datetime:
    return now + timedelta(hours=rules.min_notice_hours)


def format_start(instant: datetime, rules: Rules) -> str:
    local = instant.astimezone(rules.tz)
    return f"{local:%a %-d %b %H:%M}"


def zone_label(rules: Rules) -> str:
    return rules.timezone.replace("_", " ")


def next_allowed_starts(rules: Rules, duration_minutes: int, now: datetime,
                        count: int = SUGGESTIONS, after: datetime | None = None) -> list[datetime]:
    """The earliest allowed start in each of the next ``count`` allowed slots (UTC instants,
    quarter-hour aligned on the group's clock) for a session of ``duration_minutes``, from
    ``after`` on (never before the notice allows). Without slots, only the earliest start."""
    tz = rules.tz
    earliest = earliest_start(rules, now)
    if after is not None and after > earliest:
        earliest = after
    if not rules.slots:
        # Any time will do (across midnight too): the earliest quarter hour the notice allows.
        # (Zones' offsets are whole quarter hours, so a UTC quarter hour is a local one.)
        step = SUGGESTION_STEP_MINUTES * 60
        return [datetime.fromtimestamp(-(-earliest.timestamp() // step) * step, timezone.utc)]
    local = earliest.astimezone(tz)
    first_day = local.date()
    earliest_minute = local.hour * 60 + local.minute + (1 if local.second or local.microsecond else 0)
    found: list[datetime] = []
    for offset in range(SUGGESTION_SEARCH_DAYS):
        day = first_day + timedelta(days=offset)
        for slot in rules.slots_on(WEEKDAY_CODES[day.weekday()]):
            minute = slot.start if offset else max(slot.start, earliest_minute)
            minute = -(-minute // SUGGESTION_STEP_MINUTES) * SUGGESTION_STEP_MINUTES
            best = None
            while minute + duration_minutes <= slot.end and minute < MINUTES_PER_DAY:
                wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
                start = recurrence.local_to_utc(wall, tz)
                if start >= earliest and start.astimezone(tz).date() == day and \
                        fits_slots(rules, start, start + timedelta(minutes=duration_minutes)):
                    best = start if best is None else min(best, start)
                    if start.astimezone(tz).replace(tzinfo=None) == wall:
                        # A wall time that exists: later ones are later instants. (One in a
                        # spring-forward gap is shifted past times the slot still has to try.)
                        break
                minute += SUGGESTION_STEP_MINUTES
            if best is not None:
                found.append(best)
            if len(found) >= count:
                return found
    return found


def _suggestion_text(rules: Rules, suggestions: list[datetime]) -> str:
    if not suggestions:
        return "No allowed time is free in the coming year: ask the group's owner."
    starts = ", ".join(format_start(s, rules) for s in suggestions)
    label = "Next allowed starts" if len(suggestions) > 1 else "Earliest allowed start"
    return f"{label}: {starts} ({zone_label(rules)})."


def occurrence_violation(rules: Rules, start: datetime, end: datetime, now: datetime, *,
                         check_notice: bool = True, which: str = "") -> RuleViolation | None:
    """Why the group's rules refuse one occurrence (None: they allow it). ``which`` names the
    occurrence in a series ("The occurrence on ...")."""
    duration = int((end - start).total_seconds() // 60)
    subject = which or "That time"
    if check_notice and start < earliest_start(rules, now):
        suggestions = next_allowed_starts(rules, duration, now)
        return RuleViolation(
            RULE_NOTICE,
            f"{subject} is too soon: this group's rule “{RULE_NOTICE}” asks for "
            f"{rules.describe_notice()} of notice. " + _suggestion_text(rules, suggestions),
            suggestions)
    if not fits_slots(rules, start, end):
        # Near what was asked for: the allowed slots from that day on.
        day_start = recurrence.local_to_utc(
            datetime.combine(start.astimezone(rules.tz).date(), datetime.min.time()), rules.tz)
        suggestions = next_allowed_starts(rules, duration, now, after=day_start)
        local_start, local_end = start.astimezone(rules.tz), end.astimezone(rules.tz)
        return RuleViolation(
            RULE_SLOTS,
            f"{subject} ({local_start:%a %-d %b %H:%M}–{local_end:%H:%M} {zone_label(rules)}) "
            f"is outside this group's rule “{RULE_SLOTS}”: {rules.describe_slots()}. "
            + _suggestion_text(rules, suggestions),
            suggestions)
    return None


def check_schedule(rules: Rules, schedule: Schedule, now: datetime, *,
                   changes: dict[datetime, Change] | None = None,
                   notice_exempt: frozenset[datetime] | set[datetime] = frozenset()) -> None:
    """Raise RuleViolation unless every occurrence of ``schedule`` that has not started yet
    fits the rules (overrides in ``changes`` applied; cancelled occurrences skipped).
    ``notice_exempt``: starts (UTC) that were already scheduled before an edit (notice is
    about new times, not the ones people already know)."""
    first, last_end = recurrence.bounds(schedule, changes or {})
    window_start = max(first, now)
    window_end = (last_end if last_end is not None else window_start + ENDLESS_HORIZON) \
        + timedelta(seconds=1)
    occurrences = recurrence.expand(schedule, changes or {}, window_start, window_end)
    for occ in occurrences:
        if occ.cancelled:
            continue
        which = ""
        if schedule.is_recurring:
            which = f"The occurrence on {format_start(occ.start, rules)}"
        violation = occurrence_violation(rules, occ.start, occ.end, now, which=which,
                                         check_notice=occ.start not in notice_exempt)
        if violation is not None:
            raise violation


# --- reading the form's slots -----------------------------------------------------------------------

_SLOT_TEXT = re.compile(r"^\s*(\d{1,2})[:.h]?(\d{2})?\s*(?:-|–|—|to)\s*(\d{1,2})[:.h]?(\d{2})?\s*$",
                        re.IGNORECASE)


def parse_slots_text(text: str) -> tuple[tuple[Slot, ...], str | None]:
    """"15:00-19:00, 20:00-21:30" -> slots; (slots, error message or None)."""
    text = (text or "").strip()
    if not text:
        return (), None
    if len(text) > 300:
        return (), "Use at most 300 characters."
    parts = [p for p in re.split(r"[,;\n]+", text) if p.strip()]
    if len(parts) > MAX_SLOTS_PER_DAY:
        return (), f"At most {MAX_SLOTS_PER_DAY} slots a day."
    slots = []
    for part in parts:
        match = _SLOT_TEXT.match(part)
        if not match:
            return (), f"“{part.strip()}” is not a time range: write it like 15:00-19:00."
        h1, m1, h2, m2 = (int(g) if g else 0 for g in match.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            return (), f"“{part.strip()}” has a time that does not exist on a clock."
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            return (), f"“{part.strip()}” ends before it starts (a slot cannot cross midnight)."
        if end - start < 5:
            return (), f"“{part.strip()}” is shorter than five minutes."
        slots.append(Slot(start, end))
    return merge_slots(slots), None


def slots_text(slots) -> str:
    return ", ".join(f"{_clock(s.start)}-{_clock(s.end)}" for s in slots)


@dataclass
class RulesInput:
    """The settings form, parsed (services validate and store it)."""

    scheduled_by: str = GroupCreators.OWNER.value
    approval_required: bool = False
    min_notice_hours: str = "0"
    timezone: str = ""
    default_duration_minutes: str = "60"
    default_type: str = SessionType.GROUP_MEETING.value
    slots: dict[str, str] = field(default_factory=dict)  # weekday code -> text as typed


def validate_rules_input(data: RulesInput, instant_calls_by: GroupCreators) -> Rules:
    """The form's values as Rules, or ValidationError with one message per field."""
    from app.timezones import is_valid_timezone

    errors: dict[str, str] = {}
    try:
        scheduled_by = GroupCreators(data.scheduled_by)
    except ValueError:
        scheduled_by = None
        errors["scheduled_by"] = "Pick who may create sessions."
    notice = _int(data.min_notice_hours)
    if notice is None or not 0 <= notice <= MAX_NOTICE_HOURS:
        errors["min_notice_hours"] = f"Give a whole number of hours from 0 to {MAX_NOTICE_HOURS}."
    if not is_valid_timezone(data.timezone):
        errors["timezone"] = "Pick a time zone from the list."
    duration = _int(data.default_duration_minutes)
    if duration is None or not 5 <= duration <= 8 * 60:
        errors["default_duration_minutes"] = "Between 5 minutes and 8 hours."
    if data.default_type not in {t.value for t in SessionType if t != SessionType.INSTANT}:
        errors["default_type"] = "Pick class, one-on-one or group meeting."
    slots: dict[str, tuple[Slot, ...]] = {}
    for code in WEEKDAY_CODES:
        day, problem = parse_slots_text(data.slots.get(code, ""))
        if problem:
            errors[f"slots_{code}"] = problem
        elif day:
            slots[code] = day
    if not errors and slots and duration is not None and not any(
            s.end - s.start >= duration for day in slots.values() for s in day):
        errors["default_duration_minutes"] = (
            "No allowed slot is long enough for the default duration: shorten it or "
            "widen a slot.")
    if errors:
        raise ValidationError(errors)
    return make_rules(data.timezone, slots, scheduled_by=scheduled_by,
                      instant_calls_by=instant_calls_by,
                      approval_required=bool(data.approval_required),
                      min_notice_hours=notice, default_duration_minutes=duration,
                      default_type=data.default_type)


def _int(raw) -> int | None:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


def input_from_rules(rules: Rules) -> RulesInput:
    return RulesInput(scheduled_by=rules.scheduled_by.value,
                      approval_required=rules.approval_required,
                      min_notice_hours=str(rules.min_notice_hours), timezone=rules.timezone,
                      default_duration_minutes=str(rules.default_duration_minutes),
                      default_type=rules.default_type,
                      slots={code: slots_text(slots) for code, slots in rules.slots})
