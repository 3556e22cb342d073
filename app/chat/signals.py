"""Chat's domain events: one named signal per fact, which other domains (notifications, later
live) subscribe to, so chat does not import them.

Each is sent with the Thread as sender, once per fact, inside the transaction that made the
change (after its flush, before the commit), with ``user_ids``: a frozenset of everyone the fact
concerns (the actor included when they are one of them; receivers leave out whom they should).
Receivers make one pass over those people and only add to the DB session and stage after-commit
work (publish, enqueue): never commit, never talk to the outside."""
from blinker import Namespace

_signals = Namespace()

# People were added to a GROUP thread: ``actor`` added them; ``user_ids``: the ones added
# (only them); ``created``: the group was just created with them.
members_added = _signals.signal("chat.members-added")

# A message was posted: ``sender`` (a User), ``message``; ``user_ids``: the thread's members,
# the sender included (muted members too: muting is the receivers' concern).
message_posted = _signals.signal("chat.message-posted")

# Someone read a thread: ``user`` (only them), up to ``up_to_message_id``; ``to_the_end``:
# that is the thread's latest message.
thread_read = _signals.signal("chat.thread-read")
