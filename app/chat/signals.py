"""In-process signals other domains subscribe to (notifications, later), so chat does not
import them. Receivers run inside the sender's transaction and must only stage work
(enqueue/publish after commit)."""
from blinker import Namespace

_signals = Namespace()

members_added = _signals.signal("chat.members-added")
message_posted = _signals.signal("chat.message-posted")
# Someone read a thread up to ``up_to_message_id`` (``to_the_end``: its latest message).
thread_read = _signals.signal("chat.thread-read")
