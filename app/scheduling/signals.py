"""Scheduling's domain events: one named signal per fact about a session, so other domains
(chat's session threads, notifications, invites, later live) react to what happened without
scheduling importing them, and without switching on a "change" string.

Every signal here:

- is sent with the VideoSession as sender, ONCE per fact, inside the transaction that made the
  change, after the change is flushed (ids exist) and before the commit;
- carries ``actor`` (the User who made the change, or None for the system) and ``user_ids``
  (a frozenset: everyone the fact concerns, the actor included when they are one of them; each
  receiver decides whom to leave out, e.g. notifications do not tell the actor), plus what its
  receivers need, named below;
- expects receivers to make one pass over ``user_ids`` (one query for all the people, bulk
  inserts of notification and outbox rows) and only to add to the DB session and stage
  after-commit work (publish, enqueue): never commit, never talk to the outside.
"""
from blinker import Namespace

_signals = Namespace()

# A session is now in its participants' calendars: scheduled directly, a group proposal
# approved, or the new series a "this and following" edit split off (``split_from``: the
# series it continues, else None). ``user_ids``: all its participants, the teacher included;
# ``announced_to``: those of them told already by another event (a proposer, by
# ``proposal_approved``), whom an in-app notification would tell twice.
session_scheduled = _signals.signal("scheduling.session-scheduled")

# The whole series was edited (title, description, type, and maybe its schedule).
# ``schedule_changed``: its times changed (the series' SEQUENCE went up). ``user_ids``: all
# its participants.
session_updated = _signals.signal("scheduling.session-updated")

# "This and following": the series now ends before ``at`` (the original local start of the
# occurrence it was split at) and ``new_session`` continues it; the new series is announced by
# its own ``session_scheduled`` (split_from=this session). ``user_ids``: the participants.
series_split = _signals.signal("scheduling.series-split")

# The whole series is cancelled (``session.cancel_reason`` says why). ``user_ids``: the
# participants.
series_cancelled = _signals.signal("scheduling.series-cancelled")

# One occurrence has its own time and/or duration: ``override`` (a SessionOverride: its
# original_start_local, new_start_local, new_duration_minutes and reason). ``user_ids``: the
# participants.
occurrence_moved = _signals.signal("scheduling.occurrence-moved")

# One occurrence is cancelled: ``override`` (cancelled, with its reason). ``user_ids``: the
# participants.
occurrence_cancelled = _signals.signal("scheduling.occurrence-cancelled")

# A cancelled occurrence takes place after all: ``original_start_local`` names it (at its own
# time if it had been moved). ``user_ids``: the participants.
occurrence_restored = _signals.signal("scheduling.occurrence-restored")

# People became participants: ``user_ids`` are the ones added (only them). ``by_invitation``:
# they joined by accepting an emailed invitation, which carried the calendar REQUEST already.
participants_added = _signals.signal("scheduling.participants-added")

# People are no longer participants: ``user_ids`` are the ones removed (their rows are gone).
participants_removed = _signals.signal("scheduling.participants-removed")

# A group member proposed a session (status PENDING): nobody's calendar has it yet.
# ``group``: the GROUP thread; ``user_ids``: the group's owner, who answers it.
proposal_submitted = _signals.signal("scheduling.proposal-submitted")

# The group's owner (or an admin) approved a proposal; the session is then announced by
# ``session_scheduled``. ``user_ids``: whoever proposed it.
proposal_approved = _signals.signal("scheduling.proposal-approved")

# A proposal was declined: ``reason`` (also in ``session.cancel_reason``), ``group``.
# ``user_ids``: whoever proposed it.
proposal_declined = _signals.signal("scheduling.proposal-declined")
