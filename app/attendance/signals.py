"""Attendance's domain events: one named signal per fact, for other domains (My Day) to receive
without attendance importing them.

Each is sent once per fact, with an attendance Sheet (services.Sheet: a session occurrence,
which may have no run yet, or an instant call's run) or a CatchUp as sender, inside the
transaction that made the change (after its flush, before the commit), with ``user_ids``: a
frozenset of everyone the fact concerns. Receivers only add to the DB session and stage after-commit work."""
from blinker import Namespace

_signals = Namespace()

# The status that counts changed for some of a sheet's people (computed when the run ended, or
# marked by a teacher): ``changed_user_ids`` (whose status changed); ``user_ids``: those people
# and the session's teacher and co-teachers (whose attendance to confirm it changes).
attendance_changed = _signals.signal("attendance.attendance-changed")

# Catch-ups changed: created or removed (an absence, or an absence undone; sent with the Sheet),
# marked done or not done by their student, or given new work or a due date by a teacher (sent
# with the CatchUp): ``student_ids`` (whose catch-ups), ``user_ids``: those students and the
# session's teacher and co-teachers.
catch_ups_changed = _signals.signal("attendance.catch-ups-changed")
