"""Live's domain events: one named signal per fact, for other domains (chat, notifications,
later attendance) to receive without live importing them.

Each is sent with the Run as sender, once per fact, inside the transaction that made the
change (after its flush, before the commit), with ``user_ids``: a frozenset of everyone the
fact concerns. Receivers make one pass over them, only add to the DB session and stage
after-commit work (publish, enqueue): never commit, never talk to the outside."""
from blinker import Namespace

_signals = Namespace()

# An instant call started in a thread: ``starter`` (a User), ``thread``; ``user_ids``: the
# thread's members, the starter included (receivers leave them out of the ringing).
call_started = _signals.signal("live.call-started")

# A scheduled session's occurrence went live (its teacher or a co-teacher pressed Start):
# ``session`` (a VideoSession), ``starter`` (a User), ``occurrence`` (its Occurrence);
# ``user_ids``: the session's participants, the starter included (receivers leave them out).
session_went_live = _signals.signal("live.session-went-live")

# Someone joined a run (their first connection in it, or again after leaving): ``user`` (a
# User), ``participant``; ``user_ids``: the people in the run at that moment.
participant_joined = _signals.signal("live.participant-joined")

# Someone's last connection left a run (they left, their page went away, or they were
# removed): ``user_id``; ``user_ids``: the people still in it, and them.
participant_left = _signals.signal("live.participant-left")

# A run ended (the last person left an instant call, the starter ended it for everyone, the
# sweep found it empty, or a session's occurrence ended plus its grace time): ``ended_by`` (a User or None), ``duration_seconds``, ``people`` (how many took part);
# ``user_ids``: everyone who took part.
run_ended = _signals.signal("live.run-ended")

# A moderator acted on participants: ``actor`` (a User), ``action`` ("mute_audio",
# "mute_video", "remove", "set_role"), ``participant_ids``; ``user_ids``: the people acted on.
participant_moderated = _signals.signal("live.participant-moderated")
