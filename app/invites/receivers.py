"""Session changes become iTIP emails: one receiver per scheduling event, each writing the
outbox rows of all the people concerned in one pass (inside the change's transaction; the send
jobs are queued after its commit)."""
from __future__ import annotations

from types import SimpleNamespace

from app.accounts.services import users_by_id
from app.invites import services
from app.scheduling import signals as scheduling
from app.scheduling.services import participant_users


def _participants(session, user_ids):
    """The session's participant rows of ``user_ids``. Every participant's user is loaded in
    one query and attached (the iTIP documents list the attendees, not only the recipients)."""
    participant_users(session)
    return [p for p in session.participants if p.user_id in user_ids]


@scheduling.session_scheduled.connect
def _session_scheduled(session, user_ids=frozenset(), **_):
    services.invite_series(session, _participants(session, user_ids), updated=False)


@scheduling.session_updated.connect
def _session_updated(session, user_ids=frozenset(), **_):
    services.invite_series(session, _participants(session, user_ids), updated=True)


@scheduling.series_split.connect
def _series_split(session, user_ids=frozenset(), **_):
    # The old series now ends with UNTIL (or a smaller COUNT): an updated REQUEST. The new
    # series has its own session_scheduled event and a new UID.
    services.invite_series(session, _participants(session, user_ids), updated=True)


@scheduling.occurrence_moved.connect
def _occurrence_moved(session, user_ids=frozenset(), override=None, **_):
    services.invite_occurrence_moved(session, _participants(session, user_ids), override)


@scheduling.occurrence_cancelled.connect
def _occurrence_cancelled(session, user_ids=frozenset(), override=None, **_):
    services.cancel_occurrence(session, _participants(session, user_ids), override)


@scheduling.occurrence_restored.connect
def _occurrence_restored(session, user_ids=frozenset(), original_start_local=None, **_):
    services.invite_occurrence_restored(session, _participants(session, user_ids),
                                        original_start_local)


@scheduling.series_cancelled.connect
def _series_cancelled(session, user_ids=frozenset(), **_):
    services.cancel_series(session, _participants(session, user_ids))


@scheduling.participants_added.connect
def _participants_added(session, user_ids=frozenset(), by_invitation=False, **_):
    if by_invitation:
        return  # the invitation email carried this session's REQUEST already
    services.invite_series(session, _participants(session, user_ids), updated=False)


@scheduling.participants_removed.connect
def _participants_removed(session, user_ids=frozenset(), **_):
    # Their participant rows are gone: a CANCEL naming them goes to each from their user.
    removed = [SimpleNamespace(user=user, user_id=user.id)
               for user in users_by_id(user_ids).values()]
    services.cancel_series(session, removed, removed=True)
