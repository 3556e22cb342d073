"""A name with a line break (issue 9, item 5): refused where names are set (tests/accounts/
test_names.py), and harmless in the rows written before that rule: the email still goes out
over real SMTP with the name on one line and no injected header. A message that cannot be built
at all ends FAILED with the reason instead of PENDING for ever; so does a row out of attempts."""
from __future__ import annotations

import email
import email.policy
from datetime import timedelta

from sqlalchemy import update

from app.db_types import utcnow
from app.extensions import db
from app.mail import tasks
from app.mail.models import EmailOutbox, OutboxStatus
from app.scheduling import services
from tests.invites.conftest import outbox_rows, weekly_input

INJECTED = "Sara\r\nBcc: spy@evil.example\r\nX-Injected: yes"


def write_name_directly(user, name):
    """As a row written before names were checked (or by hand in the database)."""
    from app.accounts.models import User

    db.session.execute(update(User).where(User.id == user.id).values(name=name))
    db.session.commit()
    db.session.expire_all()


def test_an_old_name_with_a_line_break_still_gets_its_email_on_one_line(school, deliver, smtp):
    sara = school.students[0]
    write_name_directly(sara, INJECTED)
    write_name_directly(school.teacher, "Terry\nTeacher")
    services.schedule_session(school.teacher, weekly_input(school.students))
    received = deliver()

    assert sorted(a for r in received for a in r.rcpt_tos) == sorted(
        [school.teacher.email, *(s.email for s in school.students)])
    assert all("spy@evil.example" not in r.rcpt_tos for r in received)
    [to_sara] = [r for r in received if r.rcpt_tos == [sara.email]]
    message = to_sara.message
    [to] = message["To"].addresses
    assert to.addr_spec == sara.email
    assert to.display_name == "Sara Bcc: spy@evil.example X-Injected: yes"
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert {row.status for row in outbox_rows()} == {OutboxStatus.SENT}


def test_the_outbox_download_of_such_a_row_works_and_is_not_cached(school, run_worker,
                                                                     as_user):
    write_name_directly(school.students[0], INJECTED)
    services.schedule_session(school.teacher, weekly_input(school.students))
    run_worker()  # no SMTP_URL: written as .eml files
    row = next(r for r in outbox_rows() if r.recipient == school.students[0].email)
    assert row.status == OutboxStatus.SENT
    download = as_user(school.admin).get(f"/admin/outbox/{row.id}.eml")
    assert download.status_code == 200
    assert download.headers["Cache-Control"] == "no-store"
    message = email.message_from_bytes(download.data, policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == school.students[0].email
    assert message["X-Injected"] is None and message["Bcc"] is None


def test_a_message_that_cannot_be_built_ends_failed_with_the_reason(school, smtp, run_worker,
                                                                    as_user):
    services.schedule_session(school.teacher, weekly_input(school.students))
    broken = outbox_rows()[0]
    # A stored Message-ID with a line break: no mail library will put it in a header.
    db.session.execute(update(EmailOutbox).where(EmailOutbox.id == broken.id)
                       .values(message_id="<a\r\nBcc: x@evil.example>"))
    db.session.commit()
    run_worker()
    db.session.expire_all()
    rows = {row.id: row for row in outbox_rows()}
    assert rows[broken.id].status == OutboxStatus.FAILED
    assert rows[broken.id].last_error
    assert rows[broken.id].claimed_until is None
    assert {r.status for i, r in rows.items() if i != broken.id} == {OutboxStatus.SENT}
    assert tasks.sweep_outbox() == 0  # nothing left waiting for ever

    admin = as_user(school.admin)
    assert admin.get(f"/admin/outbox/{broken.id}.eml").status_code == 422
    assert "Failed" in admin.get("/admin/outbox").get_data(as_text=True)


def test_a_row_out_of_attempts_is_marked_failed_by_the_sweep(school, smtp_server):
    services.schedule_session(school.teacher, weekly_input(school.students))
    [first, *rest] = outbox_rows()
    long_ago = utcnow() - timedelta(hours=3)
    db.session.execute(update(EmailOutbox).values(created_at=long_ago))
    db.session.execute(update(EmailOutbox).where(EmailOutbox.id == first.id).values(
        attempts=tasks.MAX_ATTEMPTS, last_error="TemporaryMailError: connection refused"))
    db.session.commit()
    assert tasks.sweep_outbox() == len(rest)  # the others are queued again
    db.session.expire_all()
    row = db.session.get(EmailOutbox, first.id)
    assert row.status == OutboxStatus.FAILED
    assert "connection refused" in row.last_error
