"""Password reset by emailed link: "Forgot password" on the login page, and an admin's "Reset
password" (which emails a link instead of showing a password).

The token is random and single use; only its SHA-256 is stored. "Forgot password" answers the
same whatever the address (no account enumeration) and sends at most one email per account in
``REQUEST_GAP``, so the form cannot be used to flood someone's mailbox. Completing a reset bumps
the user's session version: every session signed in before ends.

Services add and flush; the view commits once, then the email job is queued.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from flask import current_app, render_template
from sqlalchemy import select, update

from app.accounts.models import PasswordReset, Role, User
from app.accounts.services import (PermissionDenied, ValidationError, new_password_errors,
                                   normalize_email, record_audit)
from app.db_types import utcnow
from app.extensions import db

TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
FORGOT_VALID = timedelta(hours=1)
ADMIN_VALID = timedelta(days=3)
REQUEST_GAP = timedelta(minutes=5)
WELCOME_VALID = timedelta(days=14)  # an imported person's first password: they may start later


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(user: User, requested_by: User | None, valid: timedelta) -> str:
    token = secrets.token_urlsafe(32)  # 43 characters
    now = utcnow()
    reset = PasswordReset(center_id=user.center_id, user_id=user.id, token_hash=_hash(token),
                          requested_by_id=requested_by.id if requested_by else None,
                          created_at=now, expires_at=now + valid)
    db.session.add(reset)
    db.session.flush()
    _queue_email(user, reset, token, requested_by)
    return token


def _queue_email(user: User, reset: PasswordReset, token: str, requested_by: User | None) -> None:
    from app.mail.services import queue_account_emails

    queue_account_emails([_reset_email(user, reset, token, requested_by)])


def _reset_email(user: User, reset: PasswordReset, token: str, requested_by: User | None,
                 welcome: bool = False) -> dict:
    """The email carrying a reset link (``welcome``: the first password of an imported
    person), as an outbox row's fields."""
    base = current_app.config['BASE_URL'].rstrip('/')
    expires = reset.expires_at.astimezone(user.tz)
    context = dict(user=user, url=f"{base}/password/reset/{token}", requested_by=requested_by,
                   welcome=welcome,
                   expires=f"{expires.strftime('%A %-d %B %Y, %H:%M')} "
                           f"({user.effective_timezone.replace('_', ' ')}, {expires.tzname()})",
                   forgot_url=f"{base}/password/forgot")
    return dict(user=user, dedup_key=f"password-reset:{reset.id}",
                subject=(f"Welcome to Classhub at {user.center.name}: choose your password"
                         if welcome else "Set a new Classhub password"),
                text_body=render_template("accounts/password_reset_email.txt", **context),
                html_body=render_template("accounts/password_reset_email.html", **context))


def request_reset(email: str) -> None:
    """"Forgot password": a link to the account's address, if there is such an (active)
    account. Says nothing either way; the caller shows the same page whatever happened."""
    try:
        email = normalize_email(email)
    except ValueError:
        return
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        return
    last = db.session.scalar(select(PasswordReset.created_at).where(
        PasswordReset.user_id == user.id, PasswordReset.requested_by_id.is_(None))
        .order_by(PasswordReset.created_at.desc()).limit(1))
    if last is not None and last > utcnow() - REQUEST_GAP:
        return  # one email per few minutes per account, whoever keeps pressing the button
    _issue(user, None, FORGOT_VALID)
    record_audit(None, "user.password_reset_requested", "user", user.id, center_id=user.center_id)


def admin_reset(actor: User, user: User) -> None:
    """An admin's "Reset password": the person gets a link (valid longer than a self-service
    one: they may not read their email at once), and every session they have ends now."""
    if actor.role != Role.ADMIN or actor.center_id != user.center_id:
        raise PermissionDenied("Only an admin of this person's center can reset the password.")
    if not user.is_active:
        raise ValidationError({"user": "This account is deactivated: reactivate it first."})
    _issue(user, actor, ADMIN_VALID)
    user.session_version += 1
    record_audit(actor, "user.password_reset_sent", "user", user.id)


def welcome_imported_people(actor: User, user_ids) -> int:
    """People created by a CSV import have no password yet: each gets a welcome email with a
    link to choose one (valid WELCOME_VALID; "Forgot password" works after that). In bulk: one
    INSERT of the reset rows, one of the outbox rows, one send job each after commit."""
    from app.accounts.services import users_by_id
    from app.bulk import insert_returning
    from app.mail.services import queue_account_emails

    users = [user for user in users_by_id(user_ids).values() if user.is_active]
    if not users:
        return 0
    now = utcnow()
    tokens = {user.id: secrets.token_urlsafe(32) for user in users}
    resets = {reset.user_id: reset for reset in insert_returning(PasswordReset, [
        dict(center_id=user.center_id, user_id=user.id, token_hash=_hash(tokens[user.id]),
             requested_by_id=actor.id, created_at=now, expires_at=now + WELCOME_VALID)
        for user in users])}
    queue_account_emails([_reset_email(user, resets[user.id], tokens[user.id], actor,
                                       welcome=True) for user in users])
    return len(users)


class ResetLinkProblem(Exception):
    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def find_reset(token: str) -> PasswordReset:
    """The reset a link names, if it can still be used (ResetLinkProblem says why not)."""
    if not TOKEN_SHAPE.match(token or ""):
        raise ResetLinkProblem(400, "This link is incomplete",
                               "The link is cut or changed. Open it from the email again.")
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _hash(token)))
    if reset is None:
        raise ResetLinkProblem(404, "This link does not work",
                               "No password reset has this link. Ask for a new one.")
    if reset.used_at is not None:
        raise ResetLinkProblem(410, "This link was already used",
                               "Each reset link works once. If you did not change your password "
                               "yourself, ask for a new link now.")
    if reset.expires_at <= utcnow():
        raise ResetLinkProblem(410, "This link has expired",
                               "Reset links are valid for a short time. Ask for a new one.")
    if not reset.user.is_active:
        raise ResetLinkProblem(410, "This account is deactivated",
                               "Ask your center's admin.")
    return reset


def complete_reset(reset: PasswordReset, password: str, confirm: str) -> User:
    errors = new_password_errors(password, confirm)
    if errors:
        raise ValidationError(errors)
    now = utcnow()
    # Single use even under a double submit: only the request that flips used_at goes on.
    claimed = db.session.execute(
        update(PasswordReset).where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None),
                                    PasswordReset.expires_at > now)
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if claimed != 1:
        raise ResetLinkProblem(410, "This link was already used", "Each reset link works once.")
    user = reset.user
    # Any other link still open for this account dies with this one.
    db.session.execute(update(PasswordReset).where(PasswordReset.user_id == user.id,
                                                   PasswordReset.used_at.is_(None))
                       .values(used_at=now).execution_options(synchronize_session=False))
    user.set_password(password)
    user.session_version += 1  # every session signed in with the old password ends
    from app.scheduling.services import revoke_feed_address

    revoke_feed_address(user)  # the feed address is a credential too (issue 9, item 10)
    user.last_login_at = now
    record_audit(user, "user.password_reset", "user", user.id,
                 by_admin=reset.requested_by_id is not None)
    return user
