"""Session changes become iTIP emails (the scheduling signal, inside its transaction)."""
from types import SimpleNamespace

from app.extensions import db
from app.invites import services
from app.scheduling.signals import session_changed


@session_changed.connect
def _session_changed(session, actor=None, change=None, **details):
    if change == "scheduled":
        services.invite_series(session, session.participants, updated=False)
    elif change in ("updated", "split"):
        # A split ends the old series with UNTIL (an updated REQUEST); the new series gets its
        # own "scheduled" signal and a new UID.
        services.invite_series(session, session.participants, updated=True)
    elif change == "occurrence_moved":
        services.invite_occurrence_moved(session, details["override"])
    elif change == "occurrence_cancelled":
        services.cancel_occurrence(session, details["override"])
    elif change == "occurrence_restored":
        services.invite_occurrence_restored(session, details["original_start_local"])
    elif change == "cancelled":
        services.cancel_series(session, session.participants)
    elif change == "participants_added":
        if details.get("by_invitation"):
            return  # the invitation email carried this session's REQUEST already
        ids = set(details.get("user_ids") or ())
        services.invite_series(session, [p for p in session.participants if p.user_id in ids],
                               updated=False)
    elif change == "participant_removed":
        from app.accounts.models import User

        removed = [SimpleNamespace(user=user, user_id=user.id)
                   for user in (db.session.get(User, i) for i in details.get("user_ids") or ())
                   if user is not None]
        services.cancel_series(session, removed, removed=True)
