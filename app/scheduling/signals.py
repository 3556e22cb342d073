"""Signals other domains subscribe to (chat's session threads, notifications, invites).
Sent inside the transaction, before commit: receivers only add to the session or stage
after-commit work."""
from blinker import Namespace

_signals = Namespace()

# sender: the VideoSession; kwargs: actor, change ("scheduled", "updated", "participants",
# "occurrence_moved", "occurrence_cancelled", "occurrence_restored" (with
# original_start_local), "cancelled", "split"), plus details.
session_changed = _signals.signal("scheduling.session-changed")
