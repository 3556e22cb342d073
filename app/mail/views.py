"""The admin's view of the email outbox: every email the center sent (or is sending), each
readable and downloadable as the .eml it was (or would be) sent as."""
from __future__ import annotations

from email.errors import MessageError

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user

from app.accounts.permissions import admin_required
from app.accounts.tenancy import get_scoped_or_404
from app.mail import services
from app.mail.mailer import build_message, sender_address
from app.mail.models import EmailOutbox

bp = Blueprint("mail", __name__)


@bp.route("/admin/outbox")
@admin_required
def outbox():
    return render_template("mail/outbox.html",
                           rows=services.outbox_for_center(current_user.center_id))


@bp.route("/admin/outbox/<outbox_id>")
@admin_required
def outbox_message(outbox_id):
    row = get_scoped_or_404(EmailOutbox, outbox_id)
    return render_template("mail/outbox_message.html", row=row)


@bp.route("/admin/outbox/<outbox_id>.eml")
@admin_required
def outbox_eml(outbox_id):
    row = get_scoped_or_404(EmailOutbox, outbox_id)
    try:
        message = build_message(mail_from=sender_address(), to=row.recipient,
                                subject=row.subject, text=row.text_body, html=row.html_body,
                                ics=row.ics, method=row.method,
                                message_id=row.message_id or None)
        content = message.as_bytes()
    except (MessageError, ValueError, TypeError, UnicodeError) as exc:
        abort(422, f"This email cannot be turned into a file: {exc}")
    # no-store: the message holds a person's address, RSVP links and the session; a download
    # must not stay in a shared or disk cache (the html pages are no-store for the same reason).
    return Response(content, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="classhub-{row.id}.eml"',
        "Cache-Control": "no-store"})
