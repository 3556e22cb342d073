"""Invitations by email: to a session (as INSTRUCTOR, LEARNER or OBSERVER), to a GROUP chat, or
to the center (a new STUDENT or TEACHER account; admins only).

The link's token is random and single use, and never stored: the row keeps a random nonce and
the SHA-256 of the token (HMAC of the nonce with the app's secret), so the database alone opens
nothing while the inviter can still copy the link. A resend draws a new nonce, so the old link
dies. Accepting or declining moves the row out of PENDING with a conditional UPDATE: two clicks
(two tabs, a double submit) use it once.

Services add and flush; the view (or the job) commits once, then the emails are queued.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace

from flask import current_app, render_template
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import joinedload

from app.accounts.models import Center, Role, User
from app.accounts.services import (PermissionDenied, ValidationError, name_problem,
                                   new_password_errors, normalize_email, record_audit)
from app.chat.models import Thread, ThreadKind
from app.db_types import utcnow
from app.extensions import db
from app.invites.models import Invitation, InvitationKind, InvitationStatus
from app.mail.models import OutboxStatus
from app.scheduling.models import ParticipantRole, Rsvp, SessionParticipant, VideoSession

TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
MAX_ADDRESSES = 50
MAX_LIST_LENGTH = 20_000
MAX_MESSAGE_LENGTH = 2000
MAX_VALID_DAYS = 30
MAX_SENDS = 5
RENEWAL_REQUEST_INTERVAL = timedelta(hours=24)
LIST_LIMIT = 500

ROLE_LABELS = {"INSTRUCTOR": "Instructor", "LEARNER": "Learner", "OBSERVER": "Observer",
               "MEMBER": "Member", "STUDENT": "Student", "TEACHER": "Teacher"}
ROLES = {InvitationKind.SESSION: ("LEARNER", "OBSERVER", "INSTRUCTOR"),
         InvitationKind.GROUP: ("MEMBER",),
         InvitationKind.CENTER: ("STUDENT", "TEACHER")}
ACTIVE = (InvitationStatus.PENDING, InvitationStatus.EXPIRED)  # may be resent or revoked


def valid_days_default() -> int:
    return int(current_app.config.get("INVITATION_VALID_DAYS", 7))


def resend_interval() -> timedelta:
    return timedelta(minutes=int(current_app.config.get("INVITATION_RESEND_MINUTES", 10)))


def base_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/")


# --- what an invitation is for ------------------------------------------------------------------

@dataclass
class Target:
    kind: InvitationKind
    center: Center
    session: VideoSession | None = None
    thread: Thread | None = None

    @property
    def title(self) -> str:
        if self.session is not None:
            return self.session.title
        if self.thread is not None:
            return self.thread.name
        return self.center.name

    @property
    def what(self) -> str:
        """Says what the invitee joins ("the session Algebra")."""
        return {InvitationKind.SESSION: f"the session “{self.title}”",
                InvitationKind.GROUP: f"the group “{self.title}”",
                InvitationKind.CENTER: f"{self.title} on Classhub"}[self.kind]

    @property
    def roles(self) -> tuple[str, ...]:
        return ROLES[self.kind]

    def criteria(self):
        if self.kind == InvitationKind.SESSION:
            return [Invitation.session_id == self.session.id]
        if self.kind == InvitationKind.GROUP:
            return [Invitation.thread_id == self.thread.id]
        return [Invitation.center_id == self.center.id, Invitation.kind == InvitationKind.CENTER]

    def landing_path(self) -> str:
        """Where someone who accepted lands."""
        if self.kind == InvitationKind.SESSION:
            return f"/sessions/{self.session.id}"
        if self.kind == InvitationKind.GROUP:
            return f"/chat/threads/{self.thread.id}"
        return "/"

    def list_path(self) -> str:
        """The inviter's list of these invitations."""
        if self.kind == InvitationKind.SESSION:
            return f"/sessions/{self.session.id}/invitations"
        if self.kind == InvitationKind.GROUP:
            return f"/groups/{self.thread.id}/invitations"
        return "/admin/invitations"


def session_target(session: VideoSession) -> Target:
    return Target(InvitationKind.SESSION, db.session.get(Center, session.center_id),
                  session=session)


def group_target(thread: Thread) -> Target:
    if thread.kind != ThreadKind.GROUP:
        raise ValidationError({"target": "Only group chats take invitations."})
    return Target(InvitationKind.GROUP, db.session.get(Center, thread.center_id), thread=thread)


def center_target(center: Center) -> Target:
    return Target(InvitationKind.CENTER, center)


def target_of(invitation: Invitation) -> Target:
    """What the invitation is for (LinkProblem when that session or group is gone: SQLite
    does not enforce the foreign keys' ON DELETE CASCADE here)."""
    center = db.session.get(Center, invitation.center_id)
    if invitation.kind == InvitationKind.SESSION:
        session = db.session.get(VideoSession, invitation.session_id) \
            if invitation.session_id else None
        if session is None:
            raise LinkProblem(410, "This session no longer exists",
                              "It was deleted: there is nothing to join.")
        return Target(invitation.kind, center, session=session)
    if invitation.kind == InvitationKind.GROUP:
        thread = db.session.get(Thread, invitation.thread_id) if invitation.thread_id else None
        if thread is None:
            raise LinkProblem(410, "This group no longer exists",
                              "It was deleted: there is nothing to join.")
        return Target(invitation.kind, center, thread=thread)
    return Target(invitation.kind, center)


def can_invite(user: User, target: Target) -> bool:
    """One place for "may this person invite to, and manage the invitations of, this target"."""
    if not user.is_active or user.center_id != target.center.id:
        return False
    if target.kind == InvitationKind.SESSION:
        from app.scheduling.services import can_manage_session

        return can_manage_session(user, target.session)
    if target.kind == InvitationKind.GROUP:
        from app.chat.services import can_manage_group

        return can_manage_group(user, target.thread)
    return user.role == Role.ADMIN


def _require_invite(user: User, target: Target) -> None:
    if not can_invite(user, target):
        raise PermissionDenied("Only the organiser (or a center admin) can invite here.")


# --- tokens --------------------------------------------------------------------------------------

def token_for(invitation: Invitation) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"classhub-invitation-v1:" + invitation.token_nonce.encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token(invitation: Invitation) -> None:
    invitation.token_nonce = secrets.token_hex(16)
    invitation.token_hash = hash_token(token_for(invitation))


def invitation_url(invitation: Invitation) -> str:
    return f"{base_url()}/invite/{token_for(invitation)}"


# --- the address list ----------------------------------------------------------------------------

# "Name <addr>", "\"Last, First\" <addr>", or a bare address; anything between is a separator
# (commas, semicolons, spaces, new lines), so a pasted column, a mail client's To: line or a
# space-separated list all read the same.
_ENTRY = re.compile(r'(?:"([^"]*)"|([^"<>,;\n@]*?))\s*<([^<>]*)>|([^\s,;<>"]+)')


@dataclass
class ParsedAddress:
    typed: str
    name: str = ""


def parse_address_list(text: str) -> list[ParsedAddress]:
    found = []
    for match in _ENTRY.finditer(text or ""):
        quoted, plain, bracketed, bare = match.groups()
        if bracketed is not None:
            found.append(ParsedAddress(bracketed.strip(), (quoted or plain or "").strip()[:120]))
        elif bare:
            found.append(ParsedAddress(bare.strip()))
    return found


@dataclass
class AddressResult:
    typed: str
    email: str | None
    status: str  # invited | skipped | error
    message: str
    invitation: Invitation | None = None


@dataclass
class InviteReport:
    results: list[AddressResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)

    @property
    def invited(self) -> list[Invitation]:
        return [r.invitation for r in self.results if r.invitation is not None]


# --- inviting ------------------------------------------------------------------------------------

def _validate_options(target: Target, role: str, valid_days, message: str) -> tuple[str, int, str]:
    errors = {}
    role = (role or "").strip().upper() or target.roles[0]
    if role not in target.roles:
        errors["role"] = f"Pick a role: {', '.join(ROLE_LABELS[r] for r in target.roles)}."
    try:
        days = int(valid_days) if valid_days not in (None, "") else valid_days_default()
        if not 1 <= days <= MAX_VALID_DAYS:
            raise ValueError
    except (TypeError, ValueError):
        errors["valid_days"] = f"Give a number of days from 1 to {MAX_VALID_DAYS}."
        days = 0
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE_LENGTH:
        errors["message"] = f"Use at most {MAX_MESSAGE_LENGTH:,} characters."
    if errors:
        raise ValidationError(errors)
    return role, days, message


def _members(target: Target) -> set[int]:
    if target.kind == InvitationKind.SESSION:
        return {p.user_id for p in target.session.participants} | {target.session.teacher_id}
    if target.kind == InvitationKind.GROUP:
        return {m.user_id for m in target.thread.members}
    return set()


def invite(actor: User, target: Target, addresses: str, *, role: str = "",
           valid_days=None, message: str = "", names: dict[str, str] | None = None) -> InviteReport:
    """Invite every address in ``addresses`` (a pasted list). Each gets a result line; the good
    ones get an invitation row and an email in the outbox (sent after the caller commits)."""
    _require_invite(actor, target)
    if target.kind == InvitationKind.SESSION and target.session.is_cancelled:
        raise ValidationError({"addresses": "The session is cancelled: nobody can join it."})
    errors = {}
    if len(addresses or "") > MAX_LIST_LENGTH:
        errors["addresses"] = "That list is too long: paste at most 50 addresses at a time."
    parsed = parse_address_list(addresses) if not errors else []
    if not errors and not parsed:
        errors["addresses"] = "Enter at least one email address."
    elif len(parsed) > MAX_ADDRESSES:
        errors["addresses"] = (f"That is {len(parsed)} addresses: invite at most {MAX_ADDRESSES} "
                               f"at a time.")
    try:
        role, days, message = _validate_options(target, role, valid_days, message)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)

    report = InviteReport()
    wanted: list[tuple[AddressResult, str]] = []
    seen = set()
    for entry in parsed:
        try:
            email = normalize_email(entry.typed)
        except ValueError as exc:
            report.results.append(AddressResult(entry.typed, None, "error", str(exc)))
            continue
        if email in seen:
            report.results.append(AddressResult(entry.typed, email, "skipped",
                                                "Listed twice: invited once."))
            continue
        seen.add(email)
        name = entry.name or (names or {}).get(email, "")
        if name_problem(name):
            name = ""  # only a suggestion for the sign-up page: drop one that is not a name
        result = AddressResult(entry.typed, email, "error", "")
        report.results.append(result)
        wanted.append((result, name))

    emails = [result.email for result, _ in wanted]
    # One query each for every address at once: the statement count does not grow with the list.
    users = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))} \
        if emails else {}
    pending = {i.email: i for i in db.session.scalars(select(Invitation).where(
        *target.criteria(), Invitation.email.in_(emails),
        Invitation.status == InvitationStatus.PENDING))} if emails else {}
    members = _members(target)
    now = utcnow()
    for result, name in wanted:
        user = users.get(result.email)
        refusal, skip = _refusal(target, role, user, members, pending.get(result.email))
        if refusal:
            result.status, result.message = ("skipped" if skip else "error"), refusal
            continue
        invitation = Invitation(
            center_id=target.center.id, kind=target.kind,
            session_id=target.session.id if target.session else None,
            thread_id=target.thread.id if target.thread else None,
            email=result.email, name=(user.name if user else name)[:120], role=role,
            message=message, inviter_id=actor.id, status=InvitationStatus.PENDING,
            valid_days=days, send_count=1, created_at=now, last_sent_at=now,
            expires_at=now + timedelta(days=days))
        _new_token(invitation)
        result.status, result.invitation = "invited", invitation
        result.message = "Invited: an email is on its way." if user is None else \
            f"Invited {user.name} (has an account here)."
    if report.invited:
        # One executemany INSERT for every invitation and one SELECT to read them back: the
        # statement count does not grow with the list (the ORM's flush inserts row by row on
        # SQLite).
        columns = [c.key for c in Invitation.__table__.columns if c.key != "id"]
        db.session.execute(insert(Invitation), [{key: getattr(i, key) for key in columns}
                                                for i in report.invited])
        stored = {i.token_hash: i for i in db.session.scalars(select(Invitation).where(
            Invitation.token_hash.in_([i.token_hash for i in report.invited])))}
        for result in report.results:
            if result.invitation is not None:
                result.invitation = stored[result.invitation.token_hash]
        _queue_emails([_compose_email(r.invitation, target, actor, users.get(r.email))
                       for r in report.results if r.invitation is not None])
        record_audit(actor, "invitation.sent", target.kind.value.lower(),
                     target.session.id if target.session else
                     target.thread.id if target.thread else target.center.id,
                     role=role, emails=[i.email for i in report.invited], valid_days=days)
    return report


def _refusal(target: Target, role: str, user: User | None, members: set[int],
             pending: Invitation | None) -> tuple[str | None, bool]:
    """Why this address cannot be invited (None: it can), and whether that is a mere skip."""
    if user is not None and user.center_id != target.center.id:
        return ("This address belongs to an account of another center, which cannot join this "
                "one. Ask for a different address."), False
    if user is not None and not user.is_active:
        return "This account is deactivated: an admin must reactivate it first.", False
    if target.kind == InvitationKind.CENTER and user is not None:
        return f"Already has an account here ({user.name}).", True
    if user is not None and user.id in members:
        return ("Already a participant." if target.kind == InvitationKind.SESSION
                else "Already a member."), True
    if role == "INSTRUCTOR" and (user is None or user.role == Role.STUDENT):
        return ("Instructors are teachers of this center: invite this address to the center "
                "as a teacher first, or pick another role."), False
    if pending is not None:
        return ("Already invited (the invitation is still open): use Resend in the list "
                "below."), True
    return None, False


# --- the email ------------------------------------------------------------------------------------

def _recipient_zone(user: User | None, target: Target):
    return user.tz if user is not None else target.center.tz


def _compose_email(invitation: Invitation, target: Target, inviter: User,
                   user: User | None) -> dict:
    """The invitation's email as an outbox row, keyed by the invitation and its send count (a
    retried job never sends one twice; a resend is a new row)."""
    from app.invites import itip
    from app.mail.mailer import sender_address
    from app.invites.services import describe_repeat

    zone = _recipient_zone(user, target)
    url = invitation_url(invitation)
    expires = invitation.expires_at.astimezone(zone)
    context = dict(invitation=invitation, target=target, inviter=inviter, user=user,
                   accept_url=url, decline_url=f"{url}?answer=decline",
                   role_label=ROLE_LABELS.get(invitation.role, invitation.role),
                   expires=f"{expires.strftime('%A %-d %B %Y, %H:%M')} "
                           f"({str(zone).replace('_', ' ')}, {expires.tzname()})",
                   when=None, repeat=None)
    ics = method = ""
    if target.kind == InvitationKind.SESSION:
        session = target.session
        start = _first_start(session)
        if start is not None:
            local = start.astimezone(zone)
            context["when"] = (f"{local.strftime('%A %-d %B %Y, %H:%M')} "
                               f"({str(zone).replace('_', ' ')}, {local.tzname()})")
        context["repeat"] = describe_repeat(session)
        invitee = SimpleNamespace(email=invitation.email,
                                  name=(user.name if user else invitation.name) or invitation.email)
        ics = itip.build(session, base_url(), sender_address(), method="REQUEST",
                         attendee_ids=set(), extra_users=[invitee]).to_ical().decode()
        method = "REQUEST"
    subject = f"{inviter.name} invites you to {target.what}"
    return dict(
        center_id=invitation.center_id,
        dedup_key=f"invitation:{invitation.id}:{invitation.send_count}",
        session_id=target.session.id if target.session else None,
        recipient_user_id=user.id if user else None, recipient=invitation.email,
        subject=subject[:300],
        text_body=render_template("invites/invitation_email.txt", **context),
        html_body=render_template("invites/invitation_email.html", **context),
        ics=ics, method=method, status=OutboxStatus.PENDING, attempts=0, last_error="",
        message_id="", eml_path="", claimed_until=None, created_at=utcnow(), sent_at=None)


def _queue_emails(rows: list[dict]) -> None:
    """Write the outbox rows (one INSERT) and queue their send jobs for after the commit."""
    from app.mail.services import queue_outbox_rows

    queue_outbox_rows(rows)


def _first_start(session: VideoSession) -> datetime | None:
    from app.scheduling.services import next_occurrences

    upcoming = next_occurrences(session, 1)
    return upcoming[0].start if upcoming else None


# --- the inviter's list ----------------------------------------------------------------------------

def invitations_for(target: Target) -> list[Invitation]:
    """Newest first, with the people each row names loaded (flat query count)."""
    return list(db.session.scalars(
        select(Invitation).where(*target.criteria())
        .options(joinedload(Invitation.inviter), joinedload(Invitation.accepted_user))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc()).limit(LIST_LIMIT)))


def is_expired(invitation: Invitation, now: datetime | None = None) -> bool:
    """EXPIRED, or still PENDING past its time (the sweep has not run yet)."""
    return invitation.status == InvitationStatus.EXPIRED or (
        invitation.status == InvitationStatus.PENDING and invitation.expires_at <= (now or utcnow()))


def display_status(invitation: Invitation) -> InvitationStatus:
    return InvitationStatus.EXPIRED if is_expired(invitation) else invitation.status


class ResendTooSoon(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def resend(actor: User, invitation: Invitation) -> None:
    """A new token and a new email; the old link dies. Rate limited per invitation."""
    target = target_of(invitation)
    _require_invite(actor, target)
    if invitation.status not in ACTIVE:
        raise ValidationError({"invitation": f"This invitation was "
                                             f"{invitation.status.label.lower()}: invite again "
                                             f"instead."})
    now = utcnow()
    wait = invitation.last_sent_at + resend_interval() - now
    if wait > timedelta(0):
        minutes = max(1, int(wait.total_seconds() + 59) // 60)
        raise ResendTooSoon(f"It was sent a moment ago: you can resend it in {minutes} "
                            f"minute{'s' if minutes != 1 else ''}.")
    if invitation.send_count >= MAX_SENDS:
        raise ResendTooSoon(f"This invitation was sent {MAX_SENDS} times already: revoke it and "
                            f"invite again if the address is right.")
    if target.kind == InvitationKind.SESSION and target.session.is_cancelled:
        raise ValidationError({"invitation": "The session is cancelled: nobody can join it."})
    invitation.previous_token_hash = invitation.token_hash
    _new_token(invitation)
    invitation.status = InvitationStatus.PENDING
    invitation.expired_at = None
    invitation.renewal_requested_at = None
    invitation.expires_at = now + timedelta(days=invitation.valid_days)
    invitation.last_sent_at = now
    invitation.send_count += 1
    user = db.session.scalar(select(User).where(User.email == invitation.email))
    db.session.flush()
    _queue_emails([_compose_email(invitation, target, actor, user)])
    record_audit(actor, "invitation.resent", "invitation", invitation.id,
                 email=invitation.email, send_count=invitation.send_count)


def revoke(actor: User, invitation: Invitation) -> None:
    _require_invite(actor, target_of(invitation))
    if invitation.status not in ACTIVE:
        raise ValidationError({"invitation": f"This invitation was already "
                                             f"{invitation.status.label.lower()}."})
    invitation.status, invitation.revoked_at = InvitationStatus.REVOKED, utcnow()
    db.session.flush()
    record_audit(actor, "invitation.revoked", "invitation", invitation.id, email=invitation.email)


def expire_invitations() -> int:
    """The cron sweep: PENDING invitations past their time become EXPIRED (one statement)."""
    now = utcnow()
    result = db.session.execute(
        update(Invitation).where(Invitation.status == InvitationStatus.PENDING,
                                 Invitation.expires_at <= now)
        .values(status=InvitationStatus.EXPIRED, expired_at=now)
        .execution_options(synchronize_session=False))
    return result.rowcount


# --- following a link ------------------------------------------------------------------------------

class LinkProblem(Exception):
    """A link that cannot be used, with the page that says why (and its HTTP status)."""

    def __init__(self, status: int, title: str, message: str, *,
                 invitation: Invitation | None = None, can_ask_again: bool = False):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message
        self.invitation, self.can_ask_again = invitation, can_ask_again


def find_by_token(token: str) -> Invitation:
    """The invitation a link names, whatever its state (LinkProblem when it names none)."""
    if not TOKEN_SHAPE.match(token or ""):
        raise LinkProblem(400, "This link is incomplete",
                          "The invitation link is cut or changed. Open it from the email again, "
                          "or copy the whole address into the browser.")
    digest = hash_token(token)
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == digest))
    if invitation is not None:
        return invitation
    if db.session.scalar(select(func.count()).select_from(Invitation).where(
            Invitation.previous_token_hash == digest)):
        raise LinkProblem(410, "This link was replaced",
                          "A newer invitation was sent to you since: use the link in the latest "
                          "email.")
    raise LinkProblem(404, "This invitation link does not work",
                      "No invitation has this link. It may have been mistyped; ask the person "
                      "who invited you to send it again.")


def check_usable(invitation: Invitation) -> None:
    """LinkProblem unless the invitation can still be accepted or declined."""
    status = invitation.status
    if status == InvitationStatus.REVOKED:
        raise LinkProblem(410, "This invitation was withdrawn",
                          "The person who invited you withdrew it. Ask them if you think that "
                          "is a mistake.", invitation=invitation)
    if status == InvitationStatus.ACCEPTED:
        raise LinkProblem(410, "This invitation was already used",
                          "It was accepted already; each invitation link works once.",
                          invitation=invitation)
    if status == InvitationStatus.DECLINED:
        raise LinkProblem(410, "This invitation was declined",
                          "It was declined already; ask for a new invitation if you changed "
                          "your mind.", invitation=invitation)
    if is_expired(invitation):
        raise LinkProblem(410, "This invitation has expired",
                          "Invitations are open for a limited time. Ask for a new invitation: "
                          "one click below tells the person who invited you.",
                          invitation=invitation, can_ask_again=True)
    target = target_of(invitation)
    if target.kind == InvitationKind.SESSION and target.session.is_cancelled:
        raise LinkProblem(410, "This session was cancelled",
                          "There is nothing to join any more.", invitation=invitation)


def existing_account(invitation: Invitation) -> User | None:
    return db.session.scalar(select(User).where(User.email == invitation.email))


def _claim(invitation: Invitation, status: InvitationStatus, **values) -> None:
    """PENDING → ``status``, once: a second click (another tab, a double submit) finds the row
    no longer PENDING and is refused like a used link."""
    now = utcnow()
    result = db.session.execute(
        update(Invitation).where(Invitation.id == invitation.id,
                                 Invitation.status == InvitationStatus.PENDING,
                                 Invitation.expires_at > now)
        .values(status=status, **values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(invitation)
        check_usable(invitation)  # raises with the reason
        raise LinkProblem(410, "This invitation was already used", "Each link works once.")
    db.session.refresh(invitation)


@dataclass
class Accepted:
    user: User
    created: bool  # a new account was made
    landing: str
    already: bool = False  # was a participant / member already


class WrongCenter(Exception):
    """A signed-in person of another center followed the link."""


def accept(invitation: Invitation, user: User | None, *, name: str = "", password: str = "",
           confirm: str = "") -> Accepted:
    """Accept for the signed-in ``user``, or create the account (name and password) when the
    invited address has none. Raises LinkProblem, WrongCenter or ValidationError."""
    check_usable(invitation)
    target = target_of(invitation)
    created = False
    if user is not None:
        if user.center_id != invitation.center_id:
            raise WrongCenter()
        if target.kind == InvitationKind.CENTER:
            if user.email != invitation.email:
                raise ValidationError({"account": (
                    f"You are signed in as {user.email}: this invitation makes a new account "
                    f"for {invitation.email}. Log out first to create it.")})
            # The invited person already has their account: the invitation is done.
            _claim(invitation, InvitationStatus.ACCEPTED, accepted_at=utcnow(),
                   accepted_user_id=user.id)
            return Accepted(user, False, target.landing_path(), already=True)
        if invitation.role == "INSTRUCTOR" and user.role == Role.STUDENT:
            raise ValidationError({"account": "This invitation is for a teacher of the center."})
    else:
        if existing_account(invitation) is not None:
            raise ValidationError({"account": "This address has an account: log in to accept."})
        user = _create_account(invitation, target, name, password, confirm)
        created = True
    now = utcnow()
    _claim(invitation, InvitationStatus.ACCEPTED, accepted_at=now, accepted_user_id=user.id)
    already = not _join(invitation, target, user)
    record_audit(user, "invitation.accepted", "invitation", invitation.id,
                 center_id=invitation.center_id, email=invitation.email, created=created)
    _tell_inviter(invitation, target, f"{user.name} accepted your invitation",
                  f"{user.name} ({invitation.email}) joined {target.what}.")
    return Accepted(user, created, target.landing_path(), already)


def _create_account(invitation: Invitation, target: Target, name: str, password: str,
                    confirm: str) -> User:
    errors = {}
    name = (name or "").strip()
    if name_problem(name):
        errors["name"] = "Tell us your name." if not name else name_problem(name)
    errors.update(new_password_errors(password, confirm))
    if errors:
        raise ValidationError(errors)
    # Session and group invitations make student accounts: only an admin's center invitation
    # can make a teacher (a teacher must not be able to mint staff accounts).
    role = Role(invitation.role) if target.kind == InvitationKind.CENTER else Role.STUDENT
    user = User(center_id=invitation.center_id, email=invitation.email, name=name, role=role,
                timezone=None, last_login_at=utcnow())
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_audit(user, "user.created", "user", user.id, center_id=invitation.center_id,
                 email=user.email, role=role.value, invitation_id=invitation.id)
    return user


def _join(invitation: Invitation, target: Target, user: User) -> bool:
    """Make ``user`` a participant / member with the invitation's role. False: already was."""
    if target.kind == InvitationKind.SESSION:
        session = target.session
        if any(p.user_id == user.id for p in session.participants) or \
                session.teacher_id == user.id:
            return False
        session.participants.append(SessionParticipant(
            center_id=session.center_id, user_id=user.id, role=ParticipantRole(invitation.role),
            rsvp=Rsvp.ACCEPTED, rsvp_at=utcnow()))
        db.session.flush()
        from app.scheduling.signals import participants_added

        # by_invitation: the invitation email carried the calendar REQUEST already, so the
        # invites receiver sends no second one; chat adds them to the session's thread.
        participants_added.send(session, actor=user, user_ids=frozenset({user.id}),
                                by_invitation=True)
        return True
    if target.kind == InvitationKind.GROUP:
        from app.chat.services import join_group_by_invitation

        inviter = db.session.get(User, invitation.inviter_id)
        return join_group_by_invitation(user, target.thread, inviter)
    return True


def decline(invitation: Invitation, user: User | None) -> None:
    check_usable(invitation)
    _claim(invitation, InvitationStatus.DECLINED, declined_at=utcnow())
    target = target_of(invitation)
    record_audit(user if user is not None and user.center_id == invitation.center_id else None,
                 "invitation.declined", "invitation", invitation.id,
                 center_id=invitation.center_id, email=invitation.email)
    _tell_inviter(invitation, target, f"{invitation.email} declined your invitation",
                  f"The invitation to {target.what} was declined.")


def request_renewal(invitation: Invitation) -> bool:
    """"Ask for a new invitation" from an expired link: the inviter is notified (at most once a
    day per invitation). False: they were asked recently already."""
    if not is_expired(invitation):
        raise LinkProblem(400, "This invitation has not expired",
                          "You can still use it.", invitation=invitation)
    now = utcnow()
    if invitation.renewal_requested_at is not None and \
            invitation.renewal_requested_at > now - RENEWAL_REQUEST_INTERVAL:
        return False
    invitation.renewal_requested_at = now
    target = target_of(invitation)
    record_audit(None, "invitation.renewal_requested", "invitation", invitation.id,
                 center_id=invitation.center_id, email=invitation.email)
    _tell_inviter(invitation, target, f"{invitation.email} asks for a new invitation",
                  f"Their invitation to {target.what} expired. Resend it from the list.",
                  request=True)
    return True


def _tell_inviter(invitation: Invitation, target: Target, title: str, body: str,
                  request: bool = False) -> None:
    from app.notifications.models import NotificationType
    from app.notifications.services import notify

    inviter = db.session.get(User, invitation.inviter_id)
    type_ = NotificationType.INVITATION_REQUEST if request else NotificationType.INVITATION_ANSWERED
    notify([inviter], type_, title, body, target.list_path(), tag=f"invitation-{invitation.id}")
