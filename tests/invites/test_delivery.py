"""Delivery through the outbox: rows written with the change, sent by RQ jobs over SMTP, kept
and retried while the mail server is away, sent exactly once when it is back, failed for good on
a 550 (and shown to that center's admins only); with no SMTP_URL, written as .eml files."""
from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from app.accounts.models import Role
from app.db_types import utcnow
from app.extensions import db
from app.mail import tasks
from app.mail.models import EmailOutbox, OutboxStatus
from app.jobs import get_queue
from app.scheduling import services
from tests.invites.conftest import (calendar_of, calendar_part, make_due, outbox_rows,
                                    scheduled_job_ids, vevents, weekly_input)


def by_recipient(rows) -> dict[str, EmailOutbox]:
    return {row.recipient: row for row in rows}


def table_row(page: str, text: str) -> str:
    [row] = [r for r in re.findall(r"<tr>(.*?)</tr>", page, re.DOTALL) if text in r]
    return row


def people(school):
    return [school.teacher, *school.students]


def test_mail_server_down_then_back_every_invitation_arrives_exactly_once(
        app, school, smtp_server, run_worker):
    assert not smtp_server.running  # nothing listens on the port SMTP_URL names
    session = services.schedule_session(school.teacher, weekly_input(school.students))

    rows = outbox_rows()
    assert sorted(r.recipient for r in rows) == sorted(u.email for u in people(school))
    assert {(r.status, r.attempts, r.method, r.session_id) for r in rows} == {
        (OutboxStatus.PENDING, 0, "REQUEST", session.id)}

    run_worker()
    rows = outbox_rows()
    for row in rows:
        assert row.status == OutboxStatus.PENDING
        assert row.attempts == 1
        assert "refused" in row.last_error.lower(), row.last_error
        assert row.claimed_until is None  # free for the next attempt at once
        assert row.message_id  # kept: the retry sends the same Message-ID
    assert len(scheduled_job_ids(app)) == 3  # RQ retries them later

    smtp_server.start()
    # One row by its own job again; the others as if their jobs were lost: the sweep finds them
    # once they are stale.
    first, *rest = rows
    assert tasks.send_email(first.id) == smtp_server.url
    assert tasks.sweep_outbox() == 0  # not stale yet: their jobs may still be coming
    db.session.execute(update(EmailOutbox).where(EmailOutbox.id.in_([r.id for r in rest]))
                       .values(created_at=utcnow() - tasks.STALE_AFTER - timedelta(minutes=1)))
    db.session.commit()
    assert tasks.sweep_outbox() == 2
    run_worker()

    received = smtp_server.received
    assert sorted(a for r in received for a in r.rcpt_tos) == sorted(u.email for u in
                                                                     people(school))
    rows = by_recipient(outbox_rows())
    for message in (r.message for r in received):
        row = rows[message["To"].addresses[0].addr_spec]
        assert row.status == OutboxStatus.SENT and row.sent_at is not None
        assert row.attempts == 2 and row.last_error == ""
        assert message["Message-ID"] == row.message_id
        assert str(vevents(calendar_of(message))[0]["UID"]) == session.ical_uid

    # Again, by every path there is: nothing more goes out.
    for row in rows.values():
        assert tasks.send_email(row.id).startswith("skipped")
        get_queue("default").enqueue(tasks.send_email, row.id)  # a duplicated job
    assert tasks.sweep_outbox() == 0
    assert make_due(app) == 3  # RQ's own retries of the first attempts
    run_worker(with_scheduler=True)
    assert scheduled_job_ids(app) == []
    assert len(smtp_server.received) == 3
    assert {r.attempts for r in outbox_rows()} == {2}


def test_a_row_another_job_has_claimed_is_left_to_it(app, school, smtp, run_worker):
    services.schedule_session(school.teacher, weekly_input(school.students))
    sara = school.students[0]
    row = by_recipient(outbox_rows())[sara.email]
    assert tasks._claim(row.id)  # a job elsewhere is sending it right now

    run_worker()
    assert sorted(a for r in smtp.received for a in r.rcpt_tos) == sorted(
        [school.teacher.email, school.students[1].email])
    assert tasks.send_email(row.id).startswith("skipped")
    assert smtp.to(sara.email) == []

    # That job died without a word: once its claim lapses, the row goes out (once).
    db.session.execute(update(EmailOutbox).where(EmailOutbox.id == row.id)
                       .values(claimed_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert tasks.send_email(row.id) == smtp.url
    assert tasks.send_email(row.id).startswith("skipped")
    assert len(smtp.to(sara.email)) == 1
    row = db.session.get(EmailOutbox, row.id)
    assert row.status == OutboxStatus.SENT and row.attempts == 2


def test_a_550_fails_the_row_for_good_and_only_that_centers_admins_see_it(
        app, school, make, smtp, run_worker, as_user):
    ben = school.students[1]
    smtp.refuse(ben.email)
    services.schedule_session(school.teacher, weekly_input(school.students))
    run_worker()

    rows = by_recipient(outbox_rows())
    failed = rows[ben.email]
    assert failed.status == OutboxStatus.FAILED
    assert "550" in failed.last_error and failed.attempts == 1
    assert smtp.to(ben.email) == []
    for user in (school.teacher, school.students[0]):
        assert rows[user.email].status == OutboxStatus.SENT
        assert len(smtp.to(user.email)) == 1
    assert scheduled_job_ids(app) == []  # no retry of a permanent refusal
    assert tasks.send_email(failed.id).startswith("skipped")
    assert tasks.sweep_outbox() == 0

    admin = as_user(school.admin)
    page = admin.get("/admin/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    line = table_row(html, ben.email)
    assert "Failed" in line and "550" in line
    assert f"/admin/outbox/{failed.id}" in line
    assert "Sent" in table_row(html, school.students[0].email)
    detail = admin.get(f"/admin/outbox/{failed.id}")
    assert detail.status_code == 200
    assert ben.email in detail.get_data(as_text=True)
    assert "Failed" in detail.get_data(as_text=True)

    other_admin = as_user(make.user(make.center("Elsewhere"), Role.ADMIN))
    other_page = other_admin.get("/admin/outbox").get_data(as_text=True)
    assert ben.email not in other_page and "No emails yet." in other_page
    assert other_admin.get(f"/admin/outbox/{failed.id}").status_code == 404
    assert other_admin.get(f"/admin/outbox/{failed.id}.eml").status_code == 404
    assert as_user(school.teacher).get("/admin/outbox").status_code == 403


def test_without_smtp_url_messages_are_written_as_eml_files_and_downloadable(
        app, school, run_worker, as_user):
    assert not app.config["SMTP_URL"]
    session = services.schedule_session(school.teacher, weekly_input(school.students))
    run_worker()

    mail_dir = Path(app.instance_path) / "mail"
    files = sorted(mail_dir.glob("*.eml"))
    assert len(files) == 3
    rows = by_recipient(outbox_rows())
    assert sorted(Path(r.eml_path) for r in rows.values()) == files
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        row = rows[message["To"].addresses[0].addr_spec]
        assert row.status == OutboxStatus.SENT and Path(row.eml_path) == path
        assert message["Message-ID"] == row.message_id
        assert calendar_part(message).get_param("method") == "REQUEST"
        assert str(vevents(calendar_of(message))[0]["UID"]) == session.ical_uid

    admin = as_user(school.admin)
    html = admin.get("/admin/outbox").get_data(as_text=True)
    assert "instance/mail/" in html
    for address, row in rows.items():
        line = table_row(html, address)
        assert "Written" in line and "Invitation: Algebra" in line

    sara_row = rows[school.students[0].email]
    detail = admin.get(f"/admin/outbox/{sara_row.id}").get_data(as_text=True)
    assert f'href="/admin/outbox/{sara_row.id}.eml"' in detail
    download = admin.get(f"/admin/outbox/{sara_row.id}.eml")
    assert download.status_code == 200
    assert download.mimetype == "message/rfc822"
    assert download.headers["Content-Disposition"] == \
        f'attachment; filename="classhub-{sara_row.id}.eml"'
    message = email.message_from_bytes(download.data, policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == school.students[0].email
    assert message["Message-ID"] == sara_row.message_id
    assert calendar_part(message).get_content() == sara_row.ics
    assert "Accept: http://" in sara_row.text_body
