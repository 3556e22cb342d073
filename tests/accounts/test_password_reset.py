"""Forgot password, an admin's reset by email, and admins editing people (issue 14), end to end
over the loopback SMTP server: the link comes out of the captured email. Single use, expiry,
the same answer whether or not an account exists (no enumeration), sessions ended."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from app.accounts.models import AuditLog, PasswordReset, Role
from app.db_types import utcnow
from app.extensions import db
from tests.accounts.conftest import HTMX, flashes, fresh
from tests.conftest import PASSWORD, commit, csrf_token, login
# The loopback SMTP server and the burst worker that delivers to it.
from tests.invites.conftest import _mail_settings, deliver, one_to, smtp, smtp_server, text_of  # noqa: F401

LINK = re.compile(r"http://127\.0\.0\.1:5000(/password/reset/[A-Za-z0-9_-]+)")
NEW = "my new long password"


def reset_link(message) -> str:
    [path] = set(LINK.findall(text_of(message)))
    return path


def forgot(client, email):
    return client.post("/password/forgot", data={
        "email": email, "csrf_token": csrf_token(client, "/password/forgot")})


def choose(client, path, password=NEW, confirm=None):
    return client.post(path, data={"password": password, "confirm": confirm or password,
                                   "csrf_token": csrf_token(client, path)})


def signed_in(client) -> bool:
    return client.get("/account").status_code == 200


def normalized(html: str, email: str) -> str:
    # The page echoes the address typed, and carries a per-session CSRF token: all else equal.
    html = re.sub(r'X-CSRFToken": "[^"]+"', "", html.replace(email, "EMAIL"))
    return re.sub(r'value="[^"]+"', "", html)


def test_forgot_password_link_works_once_and_ends_other_sessions(
        school, deliver, new_client, smtp):
    sara = school.students[0]
    laptop = new_client()
    login(laptop, sara)
    assert signed_in(laptop)

    response = forgot(new_client(), sara.email.upper())
    assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
    message = one_to(deliver(), sara.email)
    assert message["Subject"] == "Set a new Classhub password"
    path = reset_link(message)
    assert db.session.scalar(select(PasswordReset.token_hash)) != path.rsplit("/", 1)[1]

    phone = new_client()
    page = phone.get(path)
    assert page.status_code == 200 and sara.email in page.get_data(as_text=True)
    mismatch = choose(phone, path, NEW, "something else entirely")
    assert mismatch.status_code == 422 and "differ" in mismatch.get_data(as_text=True)
    short = choose(phone, path, "short")
    assert short.status_code == 422 and "at least 10" in short.get_data(as_text=True)
    done = choose(phone, path)
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert signed_in(phone)
    assert not signed_in(laptop)  # the session from before the reset ended

    login(new_client(), sara.email, NEW)
    old = new_client().post("/login", data={"email": sara.email, "password": PASSWORD,
                                            "csrf_token": csrf_token(new_client(), "/login")})
    assert old.status_code != 302

    reused = new_client().get(path)
    assert reused.status_code == 410 and "already used" in reused.get_data(as_text=True)
    again = choose(new_client(), path, "another new password")
    assert again.status_code == 410
    assert fresh(sara).check_password(NEW)
    assert [e.action for e in db.session.scalars(select(AuditLog).where(
        AuditLog.target_id == sara.id).order_by(AuditLog.id))] == \
        ["user.password_reset_requested", "user.password_reset"]


def test_forgot_password_says_the_same_whether_or_not_the_account_exists(
        school, deliver, new_client):
    sara = school.students[0]
    known = forgot(new_client(), sara.email)
    unknown = forgot(new_client(), "nobody@example.org")
    deactivated = school.outsider
    deactivated.is_active_flag = False
    db.session.commit()
    inactive = forgot(new_client(), deactivated.email)
    assert known.status_code == unknown.status_code == inactive.status_code == 200
    assert normalized(known.get_data(as_text=True), sara.email) == \
        normalized(unknown.get_data(as_text=True), "nobody@example.org") == \
        normalized(inactive.get_data(as_text=True), deactivated.email)
    received = deliver()
    assert [r.rcpt_tos for r in received] == [[sara.email]]

    # Pressing again at once sends nothing more (same answer): no mailbox flooding.
    assert "Check your email" in forgot(new_client(), sara.email).get_data(as_text=True)
    assert deliver() == []
    bad = forgot(new_client(), "not an address")
    assert bad.status_code == 422


def test_forgot_password_is_rate_limited(school, new_client):
    client = new_client()
    statuses = [forgot(client, f"someone{i}@example.org").status_code for i in range(6)]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429


def test_expired_and_tampered_reset_links_are_refused(school, deliver, new_client):
    sara = school.students[0]
    forgot(new_client(), sara.email)
    path = reset_link(one_to(deliver(), sara.email))
    db.session.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    expired = new_client().get(path)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert choose(new_client(), path).status_code == 410
    assert fresh(sara).check_password(PASSWORD)

    token = path.rsplit("/", 1)[1]
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert new_client().get(f"/password/reset/{changed}").status_code == 404
    assert new_client().get(f"/password/reset/{token[:12]}").status_code == 400
    assert choose(new_client(), f"/password/reset/{changed}").status_code == 404


def test_admin_reset_emails_a_link_and_signs_the_person_out(school, deliver, new_client,
                                                            as_user):
    ben = school.students[1]
    bens_browser = as_user(ben)
    admin = as_user(school.admin)
    response = admin.post(f"/admin/users/{ben.id}/reset-password",
                          data={"csrf_token": admin.csrf})
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    [(category, message)] = flashes(page)
    assert category == "success" and ben.email in message and "signed out" in message
    assert PASSWORD not in page
    assert not signed_in(bens_browser)  # ended at once
    assert fresh(ben).check_password(PASSWORD)  # nobody chose a password for them

    email = one_to(deliver(), ben.email)
    assert "Alice Admin, an admin of" in text_of(email)
    done = choose(new_client(), reset_link(email))
    assert done.status_code == 302
    login(new_client(), ben.email, NEW)

    # Only an admin of the person's center.
    teacher = as_user(school.teacher)
    assert teacher.post(f"/admin/users/{ben.id}/reset-password",
                        data={"csrf_token": teacher.csrf}).status_code == 403


def test_admin_reset_of_another_centers_person_is_404(school, make, as_user):
    other = make.user(make.center("Other"), Role.STUDENT)
    admin = as_user(school.admin)
    assert admin.post(f"/admin/users/{other.id}/reset-password",
                      data={"csrf_token": admin.csrf}).status_code == 404
    assert admin.get(f"/admin/users/{other.id}/edit").status_code == 404
    assert db.session.scalar(select(PasswordReset)) is None


def test_admin_edits_name_email_and_role_audited(school, as_user, new_client):
    sara = school.students[0]
    old_email = sara.email
    admin = as_user(school.admin)
    page = admin.get(f"/admin/users/{sara.id}/edit")
    assert page.status_code == 200 and 'value="Sara Student"' in page.get_data(as_text=True)
    response = admin.post(f"/admin/users/{sara.id}/edit", data={
        "name": "Sara Smith", "email": "Sara.Smith@Example.org", "role": "TEACHER"},
        headers=dict(HTMX, **{"X-CSRFToken": admin.csrf}))
    assert response.status_code == 204 and "/admin/users" in response.headers["HX-Location"]
    sara = fresh(sara)
    assert (sara.name, sara.email, sara.role) == ("Sara Smith", "sara.smith@example.org",
                                                  Role.TEACHER)
    [entry] = db.session.scalars(select(AuditLog).where(AuditLog.action == "user.updated"))
    assert entry.actor_id == school.admin.id and entry.details["changes"] == {
        "name": ["Sara Student", "Sara Smith"],
        "email": [old_email, "sara.smith@example.org"],
        "role": ["STUDENT", "TEACHER"]}
    login(new_client(), "sara.smith@example.org")  # logs in with the new address


def test_admin_edit_bad_input_is_422_and_changes_nothing(school, as_user):
    sara, ben = school.students
    admin = as_user(school.admin)
    cases = [({"email": ben.email}, "An account with this email already exists."),
             ({"email": "nope"}, "Invalid email address"),
             ({"name": ""}, "This field is required."),
             ({"name": "Line\nbreak"}, "no line breaks"),
             ({"role": "ROOT"}, "Not a valid choice")]
    for fields, message in cases:
        data = dict({"name": "Sara Student", "email": sara.email, "role": "STUDENT"}, **fields)
        answer = admin.post(f"/admin/users/{sara.id}/edit", data=data,
                            headers=dict(HTMX, **{"X-CSRFToken": admin.csrf}))
        html = answer.get_data(as_text=True)
        assert answer.status_code == 422, fields
        assert message in html, (message, html[:500])
        assert html.lstrip().startswith('<form id="user-edit-form"')
    own = admin.post(f"/admin/users/{school.admin.id}/edit", data={
        "name": "Alice Admin", "email": school.admin.email, "role": "STUDENT",
        "csrf_token": admin.csrf})
    assert own.status_code == 422 and "cannot change your own role" in own.get_data(as_text=True)
    assert fresh(school.admin).role == Role.ADMIN
    assert fresh(sara).name == "Sara Student"
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "user.updated")) is None
    assert as_user(school.teacher).get(f"/admin/users/{sara.id}/edit").status_code == 403


def test_login_page_links_to_forgot_password(client):
    html = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in html


def test_imported_people_are_emailed_a_link_to_choose_their_password(
        school, deliver, new_client, smtp, count_queries):
    """A CSV import makes accounts without passwords: each new person gets one welcome email
    (in bulk: the statements do not grow with the people) whose link sets their password."""
    from app.accounts import services

    csv = "email,name,role\n" + "".join(f"new{n}@example.org,New Person {n},student\n"
                                         for n in range(3))
    with count_queries() as few:
        services.import_users_csv(school.admin, csv.encode())
        commit()  # each import is one job, committed at its edge
    many_csv = "email,name,role\n" + "".join(f"more{n}@example.org,More {n},student\n"
                                              for n in range(60))
    with count_queries() as many:
        services.import_users_csv(school.admin, many_csv.encode())
        commit()
    assert many.count == few.count
    received = deliver()
    assert len(received) == 63
    message = one_to(received, "new1@example.org")
    assert message["Subject"] == f"Welcome to Classhub at {school.center.name}: choose your password"
    assert "added you to Classhub" in text_of(message) and school.admin.name in text_of(message)
    path = reset_link(message)
    browser = new_client()
    assert choose(browser, path).status_code == 302 and signed_in(browser)
    login(new_client(), "new1@example.org", NEW)
    assert deliver() == []  # each email once
