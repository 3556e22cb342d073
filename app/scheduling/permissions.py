"""What a person may do with a session, computed in one place: the views authorize with these
flags and pass them to the templates, which only read them (a template never compares ids or
roles to decide whether to show a control).

Built from what the session page loads already (the session, its participants): no query of
its own, so a page of many sessions costs no more per row."""
from __future__ import annotations

from dataclasses import dataclass

from app.accounts.models import Role, User
from app.scheduling.models import SessionParticipant, SessionStatus, VideoSession

# The states in which a session can still be changed: a proposal is approved or declined from
# its group first (changes announce things nobody was told about), and a session that ended or
# was cancelled is history.
_CHANGEABLE = (SessionStatus.SCHEDULED, SessionStatus.LIVE)


@dataclass(frozen=True)
class SessionCapabilities:
    can_view: bool
    # The session's teacher or a center admin: who may change it at all (403 for anyone else).
    can_manage: bool
    # Edit the series (or "this and following"), move, cancel or restore an occurrence.
    can_edit: bool
    can_cancel: bool
    # Add and remove participants, and invite people by email.
    can_manage_participants: bool
    can_invite: bool
    # Answer "will you come?": a participant other than the organizer, while it is on.
    can_rsvp: bool
    organizer_id: int | None = None

    def can_remove(self, participant: SessionParticipant) -> bool:
        """Remove this participant (never the organizer: the session is theirs)."""
        return self.can_manage_participants and participant.user_id != self.organizer_id


NO_SESSION_CAPABILITIES = SessionCapabilities(
    can_view=False, can_manage=False, can_edit=False, can_cancel=False,
    can_manage_participants=False, can_invite=False, can_rsvp=False)


def can_view_session(user: User, session: VideoSession) -> bool:
    if session.center_id != user.center_id:
        return False
    if user.role == Role.ADMIN or session.teacher_id == user.id:
        return True
    if session.status.is_proposal:
        # Not announced yet (or declined): only whoever proposed it, besides the organizer.
        return session.created_by_id == user.id
    return any(p.user_id == user.id for p in session.participants)


def can_manage_session(user: User, session: VideoSession) -> bool:
    return session.center_id == user.center_id and (
        user.role == Role.ADMIN or session.teacher_id == user.id)


def session_capabilities(user: User, session: VideoSession) -> SessionCapabilities:
    """Everything ``user`` may do with ``session`` now. Another center's session, an inactive
    person, or one they may not see: all false."""
    if not user.is_active or not can_view_session(user, session):
        return NO_SESSION_CAPABILITIES
    manages = can_manage_session(user, session)
    changeable = manages and session.status in _CHANGEABLE
    open_to_people = manages and not session.is_cancelled
    is_participant = any(p.user_id == user.id for p in session.participants)
    return SessionCapabilities(
        can_view=True, can_manage=manages, can_edit=changeable, can_cancel=changeable,
        can_manage_participants=open_to_people, can_invite=open_to_people,
        can_rsvp=(is_participant and user.id != session.teacher_id
                  and not session.is_cancelled),
        organizer_id=session.teacher_id)


def can_schedule_sessions(user: User) -> bool:
    """Teachers schedule sessions from the calendar (members of a group propose theirs from
    the group, under its rules: group_rules.may_create)."""
    return user.is_active and user.role == Role.TEACHER
