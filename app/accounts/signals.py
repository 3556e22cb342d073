"""Signals other domains subscribe to (chat keeps class threads in step with enrollments).
Sent inside the transaction, before commit: receivers only add to the session."""
from blinker import Namespace

_signals = Namespace()

course_members_changed = _signals.signal("accounts.course-members-changed")
