"""Email is a channel a user chooses per notification type (off by default)."""
import email
from email import policy
from pathlib import Path

from sqlalchemy import select

from app.chat import services as chat
from app.extensions import db
from app.mail.models import EmailOutbox, OutboxStatus
from app.notifications import services
from app.notifications.models import NotificationType


def _outbox_for(user):
    return list(db.session.scalars(select(EmailOutbox).where(
        EmailOutbox.recipient_user_id == user.id).order_by(EmailOutbox.id)))


def test_email_only_where_the_user_chose_it(app, school, run_worker):
    s1, s2 = school.students
    services.set_preferences(s1, {NotificationType.NEW_MESSAGE: (True, True)})
    direct1 = chat.get_or_create_direct(school.teacher, s1)
    direct2 = chat.get_or_create_direct(school.teacher, s2)
    chat.post_message(school.teacher, direct1, "Bring your **calculator** tomorrow")
    chat.post_message(school.teacher, direct2, "Same for you")
    run_worker()

    rows = _outbox_for(s1)
    assert len(rows) == 1 and rows[0].status == OutboxStatus.SENT
    assert rows[0].subject == school.teacher.name
    assert _outbox_for(s2) == []  # email is off unless chosen

    # Without SMTP_URL the message is written under instance/mail, as a person would get it.
    message = email.message_from_bytes(Path(rows[0].eml_path).read_bytes(), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == s1.email
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Bring your calculator tomorrow" in text
    assert f"/chat/threads/{direct1.id}?at=" in text
    assert "/notifications/settings" in text


def test_a_notification_is_emailed_once(app, school, run_worker):
    from app.mail.tasks import send_email

    s1 = school.students[0]
    services.set_preferences(s1, {NotificationType.SESSION_CANCELLED: (False, True)})
    services.notify([s1], NotificationType.SESSION_CANCELLED, "Algebra is cancelled",
                    "All its occurrences are cancelled.", "/calendar")
    db.session.commit()
    run_worker()
    row = _outbox_for(s1)[0]
    assert row.status == OutboxStatus.SENT and row.attempts == 1
    assert send_email(row.id).startswith("skipped")  # a duplicated job sends nothing
    db.session.expire_all()
    assert _outbox_for(s1)[0].attempts == 1
