"""The attendance rules as pure functions of instants (no database, no clock): what the
services compute when a run ends, and what the property tests check (issue 12).

Every instant is timezone-aware UTC; wall-clock time and DST only matter upstream, where an
occurrence's start is placed (app/scheduling/recurrence.py), so a lesson at 16:00 New York is
late at 16:05 New York on either side of a clock change."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class AttendanceStatus(str, enum.Enum):
    PRESENT = "PRESENT"
    LATE = "LATE"
    ABSENT = "ABSENT"
    EXCUSED = "EXCUSED"

    @property
    def label(self) -> str:
        return self.value.capitalize()


# The order one tap on the roll call cycles through (an unmarked person starts at PRESENT).
CYCLE = (AttendanceStatus.PRESENT, AttendanceStatus.LATE, AttendanceStatus.ABSENT,
         AttendanceStatus.EXCUSED)


def next_in_cycle(status: AttendanceStatus | None) -> AttendanceStatus:
    if status is None:
        return CYCLE[0]
    return CYCLE[(CYCLE.index(status) + 1) % len(CYCLE)]


def clipped_union(intervals, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The union of ``intervals`` ((joined, left) pairs, in any order, overlapping or not)
    clipped to [start, end], as sorted disjoint pairs: two tabs open at once, or a rejoin
    whose new connection opened before the old one was closed, count once (BigBlueButton
    counted them twice: PRs #24802, #25003). Empty and inverted intervals count nothing."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals)
    merged: list[list[datetime]] = []
    for a, b in clipped:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def seconds_present(intervals, start: datetime, end: datetime) -> int:
    """Whole seconds in the clipped union (rounded down: a person is never credited with time
    they were not there)."""
    total = sum(((b - a) for a, b in clipped_union(intervals, start, end)), timedelta())
    return int(total.total_seconds())


@dataclass(frozen=True)
class RunWindow:
    """What the rules need to know about a run.

    ``scheduled_start``: the occurrence's start (its moved time when it was moved), None for
    an instant call; ``started_at``/``ended_at``: when it actually went live and ended."""

    started_at: datetime
    ended_at: datetime
    scheduled_start: datetime | None

    @property
    def is_instant(self) -> bool:
        return self.scheduled_start is None

    @property
    def duration_seconds(self) -> int:
        return max(0, int((self.ended_at - self.started_at).total_seconds()))

    def late_after(self, grace: timedelta) -> datetime:
        """A first join after this instant is late: the later of the scheduled and the actual
        start (nobody is late for a class the teacher opened ten minutes late), plus grace."""
        anchor = self.started_at if self.scheduled_start is None else \
            max(self.scheduled_start, self.started_at)
        return anchor + grace


def expected(added_at: datetime, window: RunWindow) -> bool:
    """A learner is expected at an occurrence only when they were a participant before it
    started: someone added afterwards was never missing from it (moodle-mod_attendance #687).
    Instant calls expect nobody."""
    return window.scheduled_start is not None and added_at <= window.scheduled_start


def auto_status(first_join: datetime | None, *, is_expected: bool, window: RunWindow,
                grace: timedelta) -> AttendanceStatus | None:
    """The status the run's data gives a person, None when it gives none (an instant call's
    no-show, or someone neither expected nor present). Instant calls record presence only:
    PRESENT for whoever joined, never LATE nor ABSENT (nobody was asked to be there at a
    time)."""
    if first_join is None:
        return AttendanceStatus.ABSENT if is_expected and not window.is_instant else None
    if window.is_instant:
        return AttendanceStatus.PRESENT
    return AttendanceStatus.LATE if first_join > window.late_after(grace) \
        else AttendanceStatus.PRESENT


def left_early(seconds: int, window: RunWindow, share_percent: int) -> bool:
    """Present for less than ``share_percent`` of the run (only said of people who came)."""
    return window.duration_seconds > 0 and seconds * 100 < window.duration_seconds * share_percent
