"""Accounts' domain events, which other domains subscribe to (chat keeps class threads in step
with enrollments). Each is sent once per fact, inside the transaction that made the change
(after its flush, before the commit), with ``user_ids``: a frozenset of the people it concerns.
Receivers make one pass over them and only add to the DB session and stage after-commit work."""
from blinker import Namespace

_signals = Namespace()

# A course's enrollments changed, or the course was just created (sender: the Course;
# ``actor``: the admin; ``user_ids``: the people enrolled or unenrolled, empty for a new course).
course_members_changed = _signals.signal("accounts.course-members-changed")

# New people were created by a CSV import (sender: the admin; ``user_ids``: the new accounts,
# which have no password yet). Receivers add work in bulk (one pass over the ids), e.g.
# emailing each a link to set their password.
people_imported = _signals.signal("accounts.people-imported")
