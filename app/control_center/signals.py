"""The control center's domain events: one named signal per fact, sent once, inside the
transaction that made the change (after its flush, before the commit), with ``user_ids``: a
frozenset of everyone the fact concerns. Receivers only add to the session and stage
after-commit work."""
from blinker import Namespace

_signals = Namespace()

# A student raised their hand in a live run (sender: the HelpRequest): ``session``; ``user_ids``:
# the session's instructors (who would be told, e.g. by "My Day").
help_requested = _signals.signal("control-center.help-requested")

# A help request was claimed, resolved or cancelled (sender: the HelpRequest): ``session``,
# ``action`` ("claim", "resolve", "cancel"), ``actor`` (a User); ``user_ids``: the session's
# instructors and the student who asked.
help_request_updated = _signals.signal("control-center.help-request-updated")

# A student's plan for an occurrence changed in a way that makes it ready or not (a work item
# added to it; sender: the StudentPlan): ``session``; ``user_ids``: the session's instructors.
plan_changed = _signals.signal("control-center.plan-changed")

# A tutor sent a lesson report (sender: the LessonReport), once: ``session``, ``sender_user``
# (the tutor); ``user_ids``: the student it was sent to.
lesson_report_sent = _signals.signal("control-center.lesson-report-sent")
