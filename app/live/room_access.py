"""Who may still receive ``room:<id>``, kept per process so a relayed call signal costs no
database statement (issue 11: four statements per frame capped the relay at ~250 frames/s).

The hub asks on every delivery on a room topic (``still_allowed``). The answer is
``services.room_followers`` as it stood when last asked, for the people asked about, and it is
dropped by every event that can change it before that event is delivered (events.
register_cache_invalidator): anything on ``room:<id>`` but a signal (the roster after a join,
a leave or a removal; the run starting or ending), ``live.removed``, ``thread.removed`` (someone
left the thread, or it was deleted) for the rooms those people were allowed in, and a lost Redis
connection (everything). Only people found allowed are kept: someone refused is unsubscribed at
once, and asked about again from the database if they ever subscribe again.

``generation`` changes with every such drop: the sender's check (signalling) remembers the one
it was made under and asks the database again once it moved."""
from __future__ import annotations

import threading

from app.live import services
from app.live.signalling import SIGNAL_EVENT

REMOVED_EVENT = "live.removed"
THREAD_LEFT_EVENT = "thread.removed"


class RoomAccess:
    def __init__(self):
        self._allowed: dict[int, set[int]] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def followers(self, users, room_id: int) -> set[int]:
        ids = {u.id for u in users}
        with self._lock:
            known = self._allowed.get(room_id, set())
            generation = self.generation
        if ids <= known:
            return ids
        asked = [u for u in users if u.id not in known]
        fresh = services.room_followers(asked, room_id)
        with self._lock:
            if self.generation == generation:  # nothing was dropped while we asked
                self._allowed.setdefault(room_id, set()).update(fresh)
        return (ids & known) | fresh

    def forget(self, event) -> None:
        with self._lock:
            if event is None:
                self._drop(list(self._allowed))
                return
            prefix, _, key = event.topic.partition(":")
            if prefix == "room" and event.name != SIGNAL_EVENT and key.isdigit():
                self._drop([int(key)])
            elif event.name == REMOVED_EVENT and isinstance(event.data.get("room_id"), int):
                self._drop([event.data["room_id"]])
            elif event.name == THREAD_LEFT_EVENT:
                leaving = {int(topic.partition(":")[2]) for topic in event.topics}
                self._drop([room for room, allowed in self._allowed.items()
                            if allowed & leaving])

    def _drop(self, rooms) -> None:
        for room in rooms:
            self._allowed.pop(room, None)
        self.generation += 1  # always: a sender's check may name a room not kept here


room_access = RoomAccess()
