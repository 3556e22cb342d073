"""Invitations by email (issue 14), end to end: a teacher invites addresses to a session, the
mail goes through the outbox and a real RQ worker to a loopback SMTP server (aiosmtpd), and
each invitee follows the link from the captured email. Accept (an existing account, and a new
person who sets a password and can log in), resend (the old link is refused), revoke, expiry
by the cron sweep (and the one-click request for a new one), decline; tampered links; another
center's invitation; group and center invitations; the inviter's list and its query count."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.accounts.models import Role, User
from app.chat.models import ThreadMember
from app.db_types import utcnow
from app.extensions import db
from app.invites import invitations as service
from app.invites.models import Invitation, InvitationStatus
from app.notifications.models import Notification, NotificationType
from app.scheduling import services as scheduling
from app.scheduling.models import ParticipantRole, SessionParticipant
from tests.conftest import PASSWORD, csrf_token, login
from tests.invites.conftest import calendar_of, one_to, text_of, vevents, weekly_input

ACCEPT = re.compile(r"^Accept: http://127\.0\.0\.1:5000(/invite/[A-Za-z0-9_-]+)$", re.MULTILINE)
DECLINE = re.compile(r"^Decline: http://127\.0\.0\.1:5000(/invite/\S+)$", re.MULTILINE)
HTMX = {"HX-Request": "true"}
NEW_PASSWORD = "a brand new password"


def accept_link(message) -> str:
    [path] = ACCEPT.findall(text_of(message))
    return path


def invite(browser, path, addresses, **fields):
    data = {"addresses": addresses, "role": "", "valid_days": "", "message": "",
            "csrf_token": browser.csrf}
    data.update(fields)
    return browser.post(path, data=data)


def invitation_for(email) -> Invitation:
    db.session.expire_all()
    return db.session.scalar(select(Invitation).where(Invitation.email == email)
                             .order_by(Invitation.id.desc()))


def press(client, path, action, **fields):
    """Open the page first (as a person does), then press the button."""
    page = client.get(path)
    token = csrf_token(client, path) if page.status_code == 200 else csrf_token(client, "/login")
    return client.post(path, data=dict(fields, action=action, csrf_token=token))


@pytest.fixture
def session(school, smtp, run_worker):
    """A weekly session of the teacher's with two students; their own invitations delivered
    and put aside so each test sees only what it sends."""
    created = scheduling.schedule_session(school.teacher, weekly_input(school.students))
    run_worker()
    smtp.clear()
    return created


def test_invite_an_existing_account_and_a_new_person_both_accept_through_the_email(
        app, school, session, deliver, as_user, new_client, smtp):
    teacher = as_user(school.teacher)
    olga = school.outsider  # a student of the center, not in this session
    response = invite(teacher, f"/sessions/{session.id}/invitations",
                      f"Olga <{olga.email}>\nNina New <nina@example.org>", role="LEARNER",
                      message="Bring your notebook.")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "2 invited" in html and f"Invited {olga.name} (has an account here)" in html

    received = deliver()
    assert sorted(a for r in received for a in r.rcpt_tos) == sorted([olga.email, "nina@example.org"])
    for address in (olga.email, "nina@example.org"):
        message = one_to(received, address)
        assert message["Subject"] == "Terry Teacher invites you to the session “Algebra”"
        body = text_of(message)
        assert "Bring your notebook." in body and "Role: Learner" in body
        assert DECLINE.search(body)
        # The calendar REQUEST for this session names this invitee (and only them).
        calendar = calendar_of(message)
        assert str(calendar["METHOD"]) == "REQUEST"
        [master] = [e for e in vevents(calendar) if "RECURRENCE-ID" not in e]
        assert str(master["UID"]) == session.ical_uid
        attendees = master.get("ATTENDEE")
        attendees = attendees if isinstance(attendees, list) else [attendees]
        assert [str(a) for a in attendees] == [f"mailto:{address}"]
    # The token is not in the database, only its hash.
    new_link = accept_link(one_to(received, "nina@example.org"))
    token = new_link.rsplit("/", 1)[1]
    assert invitation_for("nina@example.org").token_hash == service.hash_token(token)
    assert db.session.scalar(select(Invitation).where(Invitation.token_hash == token)) is None

    # The existing account: logs in, opens the link, accepts, lands on the session.
    olga_browser = as_user(olga)
    olga_link = accept_link(one_to(received, olga.email))
    page = olga_browser.get(olga_link)
    assert page.status_code == 200 and "Accept and join" in page.get_data(as_text=True)
    done = press(olga_browser, olga_link, "accept")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/sessions/{session.id}")
    participant = db.session.scalar(select(SessionParticipant).where(
        SessionParticipant.session_id == session.id, SessionParticipant.user_id == olga.id))
    assert participant.role == ParticipantRole.LEARNER
    row = invitation_for(olga.email)
    assert row.status == InvitationStatus.ACCEPTED and row.accepted_at is not None
    assert row.accepted_user_id == olga.id
    assert olga_browser.get(f"/sessions/{session.id}").status_code == 200

    # The new person: sets a name and password on the page, lands on the session, signed in.
    stranger = new_client()
    form = stranger.get(new_link).get_data(as_text=True)
    assert "Create your account" in form and 'value="Nina New"' in form
    short = press(stranger, new_link, "accept", name="Nina New", password="short",
                  confirm="short")
    assert short.status_code == 422 and "at least 10 characters" in short.get_data(as_text=True)
    assert invitation_for("nina@example.org").status == InvitationStatus.PENDING
    done = press(stranger, new_link, "accept", name="Nina New", password=NEW_PASSWORD,
                 confirm=NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/sessions/{session.id}")
    assert stranger.get(f"/sessions/{session.id}").status_code == 200  # signed in
    nina = db.session.scalar(select(User).where(User.email == "nina@example.org"))
    assert (nina.center_id, nina.role, nina.name) == (school.center.id, Role.STUDENT, "Nina New")
    assert any(p.user_id == nina.id for p in session.participants)
    login(new_client(), "nina@example.org", NEW_PASSWORD)  # and can log in again later

    # Single use: both links are spent.
    for link, client in ((new_link, new_client()), (olga_link, olga_browser)):
        again = client.get(link)
        assert again.status_code == 410
        assert "already used" in again.get_data(as_text=True)
    # Accepting sends no second calendar invitation (the first email carried it); the
    # teacher was told in the app.
    assert deliver() == []
    told = db.session.scalars(select(Notification).where(
        Notification.user_id == school.teacher.id,
        Notification.type == NotificationType.INVITATION_ANSWERED)).all()
    assert len(told) == 2

    listing = teacher.get(f"/sessions/{session.id}/invitations").get_data(as_text=True)
    assert listing.count(">Accepted</span>") == 2


def test_resend_gives_a_new_link_and_the_old_one_is_refused(school, session, deliver, as_user,
                                                            new_client):
    teacher = as_user(school.teacher)
    invite(teacher, f"/sessions/{session.id}/invitations", "late@example.org")
    first = accept_link(one_to(deliver(), "late@example.org"))
    row = invitation_for("late@example.org")

    too_soon = teacher.post(f"/invitations/{row.id}/resend", data={"csrf_token": teacher.csrf},
                            headers=HTMX)
    assert too_soon.status_code == 429
    assert "you can resend it in 10 minutes" in too_soon.get_data(as_text=True)

    db.session.execute(update(Invitation).where(Invitation.id == row.id)
                       .values(last_sent_at=utcnow() - timedelta(minutes=11)))
    db.session.commit()
    resent = teacher.post(f"/invitations/{row.id}/resend", data={"csrf_token": teacher.csrf},
                          headers=HTMX)
    assert resent.status_code == 200
    assert f'id="invitation-{row.id}"' in resent.get_data(as_text=True)  # the row, swapped
    second = accept_link(one_to(deliver(), "late@example.org"))
    assert second != first
    assert invitation_for("late@example.org").send_count == 2

    old = new_client().get(first)
    assert old.status_code == 410 and "replaced" in old.get_data(as_text=True)
    refused = press(new_client(), first, "accept", name="Late", password=NEW_PASSWORD,
                    confirm=NEW_PASSWORD)
    assert refused.status_code == 410
    assert db.session.scalar(select(User).where(User.email == "late@example.org")) is None
    assert new_client().get(second).status_code == 200


def test_revoked_link_is_refused_and_cannot_be_resent(school, session, deliver, as_user,
                                                     new_client):
    teacher = as_user(school.teacher)
    invite(teacher, f"/sessions/{session.id}/invitations", "gone@example.org")
    link = accept_link(one_to(deliver(), "gone@example.org"))
    row = invitation_for("gone@example.org")

    revoked = teacher.post(f"/invitations/{row.id}/revoke", data={"csrf_token": teacher.csrf},
                           headers=HTMX)
    assert revoked.status_code == 200 and ">Revoked</span>" in revoked.get_data(as_text=True)
    row = invitation_for("gone@example.org")
    assert row.status == InvitationStatus.REVOKED and row.revoked_at is not None

    page = new_client().get(link)
    assert page.status_code == 410 and "withdrew" in page.get_data(as_text=True)
    assert press(new_client(), link, "accept", name="Gone", password=NEW_PASSWORD,
                 confirm=NEW_PASSWORD).status_code == 410
    again = teacher.post(f"/invitations/{row.id}/resend", data={"csrf_token": teacher.csrf},
                         headers=HTMX)
    assert again.status_code == 422 and "invite again" in again.get_data(as_text=True)


def test_expired_by_the_sweep_then_one_click_asks_the_inviter_for_a_new_one(
        app, school, session, deliver, as_user, new_client):
    teacher = as_user(school.teacher)
    invite(teacher, f"/sessions/{session.id}/invitations", "slow@example.org", valid_days="3")
    link = accept_link(one_to(deliver(), "slow@example.org"))
    row = invitation_for("slow@example.org")
    assert row.expires_at - row.created_at == timedelta(days=3)

    assert service.expire_invitations() == 0  # not yet
    three_days = timedelta(days=3, minutes=1)  # as if that much time had passed
    db.session.execute(update(Invitation).where(Invitation.id == row.id).values(
        created_at=row.created_at - three_days, last_sent_at=row.last_sent_at - three_days,
        expires_at=row.expires_at - three_days))
    db.session.commit()
    assert service.expire_invitations() == 1
    row = invitation_for("slow@example.org")
    assert row.status == InvitationStatus.EXPIRED and row.expired_at is not None

    invitee = new_client()
    page = invitee.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 410 and "expired" in html and "Ask for a new invitation" in html
    assert press(invitee, link, "accept", name="Slow", password=NEW_PASSWORD,
                 confirm=NEW_PASSWORD).status_code == 410

    asked = invitee.post(f"{link}/ask-again", data={"csrf_token": csrf_token(invitee, link)})
    assert asked.status_code == 200 and "We asked for a new invitation" in asked.get_data(as_text=True)
    again = invitee.post(f"{link}/ask-again", data={"csrf_token": csrf_token(invitee, link)})
    assert "Already asked" in again.get_data(as_text=True)
    requests = db.session.scalars(select(Notification).where(
        Notification.user_id == school.teacher.id,
        Notification.type == NotificationType.INVITATION_REQUEST)).all()
    assert len(requests) == 1 and requests[0].link == f"/sessions/{session.id}/invitations"
    listing = teacher.get(f"/sessions/{session.id}/invitations").get_data(as_text=True)
    assert ">Expired</span>" in listing and "Asked for a new one" in listing

    # The inviter resends: a fresh, open link.
    resent = teacher.post(f"/invitations/{row.id}/resend", data={"csrf_token": teacher.csrf},
                          headers=HTMX)
    assert resent.status_code == 200
    fresh = accept_link(one_to(deliver(), "slow@example.org"))
    assert new_client().get(fresh).status_code == 200


def test_the_sweep_is_registered_with_cron(app):
    from app.jobs import register_cron

    class Recorder:
        def __init__(self):
            self.registered = []

        def register(self, func, **options):
            self.registered.append(func)

    recorder = Recorder()
    register_cron(recorder)
    assert service.expire_invitations in recorder.registered


def test_decline_link_asks_first_then_records_once(school, session, deliver, as_user,
                                                   new_client):
    teacher = as_user(school.teacher)
    invite(teacher, f"/sessions/{session.id}/invitations", "nope@example.org")
    [decline_link] = DECLINE.findall(text_of(one_to(deliver(), "nope@example.org")))
    client = new_client()
    page = client.get(decline_link)  # a mail scanner, or the person: records nothing
    assert page.status_code == 200 and "Decline the invitation" in page.get_data(as_text=True)
    assert invitation_for("nope@example.org").status == InvitationStatus.PENDING

    done = press(client, decline_link, "decline")
    assert done.status_code == 200 and "You declined" in done.get_data(as_text=True)
    row = invitation_for("nope@example.org")
    assert row.status == InvitationStatus.DECLINED and row.declined_at is not None
    assert db.session.scalar(select(User).where(User.email == "nope@example.org")) is None
    assert client.get(decline_link).status_code == 410
    assert db.session.scalars(select(Notification).where(
        Notification.type == NotificationType.INVITATION_ANSWERED)).one().user_id == school.teacher.id


def test_tampered_and_unknown_links_are_refused(school, session, deliver, as_user, client):
    teacher = as_user(school.teacher)
    invite(teacher, f"/sessions/{session.id}/invitations", "x@example.org")
    link = accept_link(one_to(deliver(), "x@example.org"))
    token = link.rsplit("/", 1)[1]
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    for path, status in ((f"/invite/{changed}", 404), (f"/invite/{token[:20]}", 400),
                         (f"/invite/{token}x", 400), ("/invite/not%20a%20token", 400)):
        page = client.get(path)
        assert page.status_code == status, path
        refused = client.post(path, data={"action": "accept", "name": "X",
                                          "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                          "csrf_token": csrf_token(client, "/login")})
        assert refused.status_code == status
    assert invitation_for("x@example.org").status == InvitationStatus.PENDING
    assert db.session.scalar(select(User).where(User.email == "x@example.org")) is None


def test_another_centers_invitation_cannot_be_accepted_into_this_one(
        school, session, deliver, as_user, make, new_client):
    other_center = make.center("Other")
    other_teacher = make.user(other_center, Role.TEACHER, name="Zed Teacher")
    other_student = make.user(other_center, Role.STUDENT, name="Zed Student")
    teacher = as_user(school.teacher)

    # Inviting an address of another center's account is refused for that address.
    answer = invite(teacher, f"/sessions/{session.id}/invitations",
                    f"{other_student.email}, fresh@example.org")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "1 invited" in html and "another center" in html
    link = accept_link(one_to(deliver(), "fresh@example.org"))

    # Someone signed in to the other center opens this center's link: refused, nothing joins.
    zed = as_user(other_teacher)
    page = zed.get(link)
    assert page.status_code == 403 and "another center" in page.get_data(as_text=True)
    refused = zed.post(link, data={"action": "accept", "csrf_token": zed.csrf})
    assert refused.status_code == 403
    assert not any(p.user_id == other_teacher.id for p in session.participants)
    assert invitation_for("fresh@example.org").status == InvitationStatus.PENDING

    # The other center's teacher cannot see or touch this center's invitations.
    row = invitation_for("fresh@example.org")
    assert zed.get(f"/sessions/{session.id}/invitations").status_code == 404
    assert zed.post(f"/invitations/{row.id}/revoke",
                    data={"csrf_token": zed.csrf}).status_code == 404
    # A student of this center is not an organiser.
    student = as_user(school.students[0])
    assert student.get(f"/sessions/{session.id}/invitations").status_code == 403
    assert student.post(f"/invitations/{row.id}/resend",
                        data={"csrf_token": student.csrf}).status_code == 404


def test_invite_form_refuses_bad_input_with_clear_messages(school, session, as_user):
    teacher = as_user(school.teacher)
    path = f"/sessions/{session.id}/invitations"
    cases = [({"addresses": ""}, "Enter at least one email address"),
             ({"addresses": "a@example.org", "valid_days": "0"}, "from 1 to 30"),
             ({"addresses": "a@example.org", "valid_days": "soon"}, "from 1 to 30"),
             ({"addresses": "a@example.org", "role": "OWNER"}, "Pick a role"),
             ({"addresses": ", ".join(f"p{i}@example.org" for i in range(51))},
              "at most 50 at a time"),
             ({"addresses": "a@example.org", "message": "x" * 2001}, "at most 2,000")]
    for fields, message in cases:
        answer = invite(teacher, path, **fields) if "addresses" not in fields else \
            invite(teacher, path, fields.pop("addresses"), **fields)
        assert answer.status_code == 422, fields
        assert message in answer.get_data(as_text=True), message
    assert db.session.scalar(select(Invitation)) is None

    # Per-address results: one bad, one twice, one instructor without staff account, one good.
    mixed = invite(teacher, path, "not-an-address\nok@example.org, ok@example.org",
                   role="LEARNER")
    html = mixed.get_data(as_text=True)
    assert mixed.status_code == 200 and "1 invited" in html and "1 skipped" in html
    assert "not-an-address" in html and "Listed twice" in html
    assert "not-an-address</textarea>" in html  # what failed stays in the box to fix
    instructor = invite(teacher, path, "new@example.org", role="INSTRUCTOR")
    assert instructor.status_code == 422
    assert "Instructors are teachers of this center" in instructor.get_data(as_text=True)
    again = invite(teacher, path, "ok@example.org", role="LEARNER")
    assert "Already invited" in again.get_data(as_text=True)
    already = invite(teacher, path, school.students[0].email)
    assert "Already a participant" in already.get_data(as_text=True)


def test_htmx_invite_answers_the_form_and_the_list_out_of_band(school, session, as_user):
    teacher = as_user(school.teacher)
    answer = teacher.post(f"/sessions/{session.id}/invitations",
                          data={"addresses": "a@example.org b@example.org", "role": "OBSERVER"},
                          headers=dict(HTMX, **{"X-CSRFToken": teacher.csrf}))
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "HX-Location" not in answer.headers
    assert html.lstrip().startswith('<form id="invite-form"')
    assert 'id="invitation-list" aria-labelledby="list-heading" hx-swap-oob="true"' in html
    assert html.count('data-copy-text="http://127.0.0.1:5000/invite/') == 2
    assert "<html" not in html


def test_group_invitation_makes_the_new_person_a_member(school, smtp, deliver, as_user,
                                                        new_client):
    from app.chat import services as chat

    group = chat.create_group(school.teacher, "Exam prep", "", [school.students[0].id])
    smtp.clear()
    teacher = as_user(school.teacher)
    answer = invite(teacher, f"/groups/{group.id}/invitations", "pal@example.org")
    assert answer.status_code == 200 and "1 invited" in answer.get_data(as_text=True)
    message = one_to(deliver(), "pal@example.org")
    assert message["Subject"] == "Terry Teacher invites you to the group “Exam prep”"
    assert not [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    link = accept_link(message)
    done = press(new_client(), link, "accept", name="Pal", password=NEW_PASSWORD,
                 confirm=NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/chat/threads/{group.id}")
    pal = db.session.scalar(select(User).where(User.email == "pal@example.org"))
    assert db.session.scalar(select(ThreadMember).where(ThreadMember.thread_id == group.id,
                                                        ThreadMember.user_id == pal.id))
    # A member is not the group's owner: no inviting.
    member = as_user(school.students[0])
    assert member.get(f"/groups/{group.id}/invitations").status_code == 403


def test_add_a_person_sends_a_center_invitation_and_they_become_a_teacher(
        school, smtp, deliver, as_user, new_client):
    admin = as_user(school.admin)
    answer = admin.post("/admin/users/new", data={"email": "tina@example.org",
                                                  "name": "Tina Teach", "role": "TEACHER",
                                                  "message": ""},
                        headers=dict(HTMX, **{"X-CSRFToken": admin.csrf}))
    # htmx navigates with HX-Location: never a redirect that would be pasted into the form.
    assert answer.status_code == 204 and "/admin/invitations" in answer.headers["HX-Location"]
    assert db.session.scalar(select(User).where(User.email == "tina@example.org")) is None

    taken = admin.post("/admin/users/new", data={"email": school.teacher.email, "name": "X",
                                                 "role": "STUDENT"},
                       headers=dict(HTMX, **{"X-CSRFToken": admin.csrf}))
    assert taken.status_code == 422 and "Already has an account here" in taken.get_data(as_text=True)
    assert taken.get_data(as_text=True).lstrip().startswith('<form id="user-form"')

    message = one_to(deliver(), "tina@example.org")
    assert message["Subject"].startswith("Alice Admin invites you to Test Center")
    page = new_client().get(accept_link(message))
    assert 'value="Tina Teach"' in page.get_data(as_text=True)
    done = press(new_client(), accept_link(message), "accept", name="Tina Teach",
                 password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"].endswith("/")
    tina = db.session.scalar(select(User).where(User.email == "tina@example.org"))
    assert (tina.role, tina.center_id) == (Role.TEACHER, school.center.id)
    listing = admin.get("/admin/invitations").get_data(as_text=True)
    assert "tina@example.org" in listing and ">Accepted</span>" in listing
    # Teachers do not invite to the center.
    assert as_user(school.teacher).get("/admin/invitations").status_code == 403


def test_a_teacher_cannot_mint_a_teacher_through_a_session_invitation(
        school, session, deliver, as_user, new_client):
    teacher = as_user(school.teacher)
    invite(teacher, f"/sessions/{session.id}/invitations", "obs@example.org", role="OBSERVER")
    done = press(new_client(), accept_link(one_to(deliver(), "obs@example.org")), "accept",
                 name="Obs", password=NEW_PASSWORD, confirm=NEW_PASSWORD)
    assert done.status_code == 302
    obs = db.session.scalar(select(User).where(User.email == "obs@example.org"))
    assert obs.role == Role.STUDENT
    assert next(p for p in session.participants if p.user_id == obs.id).role == \
        ParticipantRole.OBSERVER


def test_existing_account_not_signed_in_is_asked_to_log_in_and_comes_back(
        school, session, deliver, as_user, new_client):
    olga = school.outsider
    invite(as_user(school.teacher), f"/sessions/{session.id}/invitations", olga.email)
    link = accept_link(one_to(deliver(), olga.email))
    browser = new_client()
    page = browser.get(link).get_data(as_text=True)
    assert "Log in to accept" in page and "Create your account" not in page
    sneaky = press(browser, link, "accept", name="Mallory", password=NEW_PASSWORD,
                   confirm=NEW_PASSWORD)
    assert sneaky.status_code == 422 and "log in to accept" in sneaky.get_data(as_text=True)
    assert olga.check_password(PASSWORD)
    response = browser.post(f"/login?next={link}", data={
        "email": olga.email, "password": PASSWORD, "csrf_token": csrf_token(browser, "/login")})
    assert response.headers["Location"].endswith(link)
    assert press(browser, link, "accept").status_code == 302


def test_inviters_list_query_count_is_flat(school, session, as_user, count_queries):
    teacher = as_user(school.teacher)
    path = f"/sessions/{session.id}/invitations"

    def list_queries() -> int:
        with count_queries() as counter:
            assert teacher.get(path).status_code == 200
        return counter.count

    invite(teacher, path, "a0@example.org, a1@example.org, a2@example.org")
    few = list_queries()
    invite(teacher, path, " ".join(f"b{i}@example.org" for i in range(30)))
    assert list_queries() == few


def test_inviting_many_costs_the_same_statements_as_inviting_a_few(school, session, as_user,
                                                                   count_queries):
    teacher = as_user(school.teacher)
    path = f"/sessions/{session.id}/invitations"

    def invite_queries(addresses) -> int:
        with count_queries() as counter:
            assert invite(teacher, path, addresses).status_code == 200
        return counter.count

    few = invite_queries("c0@example.org c1@example.org")
    many = invite_queries(" ".join(f"d{i}@example.org" for i in range(20)))
    assert many == few


def test_link_to_a_deleted_group_says_so_instead_of_failing(school, smtp, deliver, as_user,
                                                            new_client):
    from app.chat import services as chat

    group = chat.create_group(school.teacher, "Short-lived", "", [school.students[0].id])
    teacher = as_user(school.teacher)
    invite(teacher, f"/groups/{group.id}/invitations", "late@example.org")
    link = accept_link(one_to(deliver(), "late@example.org"))
    row_id = invitation_for("late@example.org").id
    chat.delete_group(school.teacher, group)

    page = new_client().get(link)
    assert page.status_code in (404, 410)  # 404 where the database cascaded the delete
    assert press(new_client(), link, "accept", name="Late", password=NEW_PASSWORD,
                 confirm=NEW_PASSWORD).status_code in (404, 410)
    assert teacher.post(f"/invitations/{row_id}/resend",
                        data={"csrf_token": teacher.csrf}).status_code == 404
    assert db.session.scalar(select(User).where(User.email == "late@example.org")) is None


def test_center_invitation_opened_by_its_own_signed_in_account_just_closes(
        school, smtp, deliver, as_user):
    from app.accounts.models import Center

    report = service.invite(school.admin, service.center_target(
        db.session.get(Center, school.center.id)), "later@example.org", role="STUDENT")
    db.session.commit()
    link = accept_link(one_to(deliver(), "later@example.org"))
    # The account was made another way meanwhile (a CSV import, say).
    later = User(center_id=school.center.id, email="later@example.org", name="Later",
                 role=Role.STUDENT, password_hash=school.admin.password_hash)
    db.session.add(later)
    db.session.commit()
    browser = as_user(later)
    page = browser.get(link).get_data(as_text=True)
    assert "You already have your account here" in page
    done = press(browser, link, "accept")
    assert done.status_code == 302
    row = invitation_for("later@example.org")
    assert (row.status, row.accepted_user_id) == (InvitationStatus.ACCEPTED, later.id)
    assert report.count("invited") == 1
    # Someone else signed in (another address) is told to log out; nothing changes.
    other = as_user(school.students[0])
    report = service.invite(school.admin, service.center_target(
        db.session.get(Center, school.center.id)), "third@example.org", role="TEACHER")
    db.session.commit()
    third = accept_link(one_to(deliver(), "third@example.org"))
    assert "log out first" in other.get(third).get_data(as_text=True)
    refused = press(other, third, "accept")
    assert refused.status_code == 422
    assert invitation_for("third@example.org").status == InvitationStatus.PENDING
