"""The control center's domain events: one named signal per fact, sent once, inside the
transaction that made the change (after its flush, before the commit), with ``user_ids``: a
frozenset of everyone the fact concerns. Receivers only add to the session and stage
after-commit work."""
from blinker import Namespace

_signals = Namespace()

# A student raised their hand in a live run (sender: the HelpRequest): ``session``; ``user_ids``:
# the session's instructors (who would be told, e.g. by "My Day").
help_requested = _signals.signal("control-center.help-requested")

# A tutor sent a lesson report (sender: the LessonReport), once: ``session``, ``sender_user``
# (the tutor); ``user_ids``: the student it was sent to.
lesson_report_sent = _signals.signal("control-center.lesson-report-sent")
