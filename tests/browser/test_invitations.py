"""Invitations by email in a real browser (issue 14): a new person opens their invitation on a
phone, chooses a name and password and lands on the session, signed in; a wrong password
confirmation is shown next to the field without losing the name. The teacher's list copies a
link with the Copy link button (static JS, no inline script)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Role, User
from app.db_types import utcnow
from app.extensions import db
from app.invites import invitations
from app.scheduling import services as scheduling
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.conftest import PASSWORD
from tests.invites.conftest import weekly_input


@pytest.fixture
def invited(school):
    session = scheduling.schedule_session(school.teacher, weekly_input(school.students))
    report = invitations.invite(school.teacher, invitations.session_target(session),
                                "Nina New <nina@example.org>, sam@example.org", role="LEARNER",
                                message="Welcome to the algebra group! Bring a calculator.")
    db.session.commit()
    return session, {i.email: i for i in report.invited}


def _log_in(page, user):
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Log in to Classhub")).to_be_hidden()


def test_new_person_accepts_on_a_phone_and_lands_on_the_session(invited, new_page):
    session, by_email = invited
    token_path = f"/invite/{invitations.token_for(by_email['nina@example.org'])}"
    page = new_page(viewport=PHONE)
    page.goto(token_path)
    expect(page.get_by_role("heading", name="Join Algebra")).to_be_visible()
    expect(page.get_by_text("Bring a calculator.")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Nina New")
    # Nothing overflows the phone's width (long addresses, the facts list, the buttons).
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "invitation-accept-phone")

    page.get_by_label("Choose a password").fill("a new long password")
    page.get_by_label("Repeat the password").fill("not the same password")
    page.get_by_role("button", name="Create my account and join").click()
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Nina New")
    screenshot(page, "invitation-accept-error-phone")

    page.get_by_label("Choose a password").fill("a new long password")
    page.get_by_label("Repeat the password").fill("a new long password")
    page.get_by_role("button", name="Create my account and join").click()
    expect(page).to_have_url(f"{page.url.split('/invite')[0]}/sessions/{session.id}")
    expect(page.get_by_role("heading", name="Algebra")).to_be_visible()
    expect(page.get_by_text("Welcome, Nina New!")).to_be_visible()
    screenshot(page, "invitation-accepted-session-phone")
    db.session.expire_all()
    nina = db.session.scalar(select(User).where(User.email == "nina@example.org"))
    assert nina.role == Role.STUDENT and nina.last_login_at <= utcnow()
    assert_no_console_errors(page)


@pytest.mark.parametrize("viewport,label", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_teacher_copies_an_invitation_link_from_the_list(school, invited, new_page, viewport,
                                                         label):
    session, by_email = invited
    page = new_page(viewport=viewport)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    _log_in(page, school.teacher)
    page.goto(f"/sessions/{session.id}/invitations")
    expect(page.get_by_role("heading", name="Invite by email")).to_be_visible()
    rows = page.locator("#invitation-list tbody tr")
    expect(rows).to_have_count(2)
    button = page.get_by_role("button", name="Copy the invitation link for sam@example.org")
    button.click()
    expect(button).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith(f"/invite/{invitations.token_for(by_email['sam@example.org'])}")
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    screenshot(page, f"invitation-list-{label}")

    # Inviting more over htmx: the report and the list update in place.
    page.get_by_label("Email addresses").fill("kim@example.org\nnot-an-address")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.locator(".invite-report")).to_contain_text("1 invited")
    expect(page.locator(".invite-report")).to_contain_text("not-an-address")
    expect(rows).to_have_count(3)
    expect(page.get_by_label("Email addresses")).to_have_value("not-an-address")
    screenshot(page, f"invitation-report-{label}")
    assert_no_console_errors(page)
