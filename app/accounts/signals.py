"""Signals other domains subscribe to (chat keeps class threads in step with enrollments).
Sent inside the transaction, before commit: receivers only add to the session."""
from blinker import Namespace

_signals = Namespace()

course_members_changed = _signals.signal("accounts.course-members-changed")

# New people were created by a CSV import (sender: the admin; ``user_ids``: the new accounts,
# which have no password yet). Sent inside the transaction; receivers add work in bulk (one
# pass over the ids), e.g. emailing each a link to set their password.
people_imported = _signals.signal("accounts.people-imported")
