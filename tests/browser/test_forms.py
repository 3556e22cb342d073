"""Forms that navigate (app/web.py navigate_to), in real Chromium: after each one the browser is
on the next page, whole, with the confirmation on it; never the next page pasted inside the form
(a second profile form in the password card, the people table inside the Add a person card).
Also the CSV import's progress and report, and the course enrollment picker, on a phone."""
from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from app.accounts.models import Role, User
from app.extensions import db
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.conftest import PASSWORD


def log_in(page, user, password=PASSWORD):
    page.goto("/login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(my-day)?$"))  # a teacher lands on My Day


def assert_landed(page, path_pattern: str, message: str):
    """One whole page at the new address, with the confirmation in its flash region."""
    expect(page).to_have_url(re.compile(path_pattern))
    expect(page.locator("#flashes")).to_contain_text(message)
    expect(page.locator("main")).to_have_count(1)
    expect(page.locator("h1")).to_have_count(1)
    # Nothing that belongs to a page (its header, flashes, heading, another form) sits inside a
    # form.
    expect(page.locator("form main, form header, form h1, form .flashes, form form")) \
        .to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the page scrolls sideways"


def test_save_profile_confirms_and_the_footer_follows_the_new_zone(school, new_page):
    page = new_page()
    log_in(page, school.students[0])
    page.goto("/account")
    expect(page.locator(".site-footer")).to_contain_text("Europe/London")
    page.get_by_label("Name", exact=True).fill("Sara Renamed")
    page.get_by_label("Time zone", exact=True).select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save profile").click()
    assert_landed(page, r"/account$", "Your profile was saved.")
    expect(page.locator("#profile-form")).to_have_count(1)
    expect(page.locator(".site-footer")).to_contain_text("Asia/Tokyo")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Sara Renamed")
    screenshot(page, "form-profile-saved")
    assert_no_console_errors(page)


def test_change_password_reloads_the_profile_page_signed_in(school, new_page):
    page = new_page()
    user = school.students[0]
    log_in(page, user)
    page.goto("/account")
    page.get_by_label("Current password", exact=True).fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new password")
    page.get_by_label("Repeat the new password").fill("a brand new password")
    page.get_by_role("button", name="Change password").click()
    assert_landed(page, r"/account$", "Your password was changed.")
    # One profile form and one (empty) password form: not a profile form in the password card.
    expect(page.locator("#profile-form")).to_have_count(1)
    expect(page.locator("#password-form")).to_have_count(1)
    expect(page.locator("#password-form #profile-form")).to_have_count(0)
    expect(page.get_by_label("Current password")).to_have_value("")
    # Still signed in, with a working session: saving the profile works right after.
    page.get_by_role("button", name="Save profile").click()
    assert_landed(page, r"/account$", "Your profile was saved.")
    screenshot(page, "form-password-changed")
    assert_no_console_errors(page)


def test_add_a_person_lands_on_a_whole_page(school, new_page):
    page = new_page()
    log_in(page, school.admin)
    page.goto("/admin/users/new")
    page.get_by_label("Name", exact=True).fill("Nina New")
    page.get_by_label("Email").fill("nina@example.org")
    page.get_by_role("button", name=re.compile("Add|Invite|Send")).click()
    expect(page).not_to_have_url(re.compile(r"/admin/users/new$"))
    expect(page.locator("#flashes .flash-success")).to_contain_text("nina@example.org")
    expect(page.locator("main")).to_have_count(1)
    expect(page.locator("form table, form main, form h1")).to_have_count(0)
    screenshot(page, "form-add-person")
    assert_no_console_errors(page)


def test_courses_enrollment_and_deactivation_navigate(school, make, new_page):
    extra = make.user(school.center, Role.STUDENT, name="Nia Pickme")
    make.user(school.center, Role.STUDENT, name="Zack Other")
    page = new_page()
    log_in(page, school.admin)

    page.goto("/admin/courses")
    page.get_by_label("Name", exact=True).fill("Geometry")
    page.get_by_role("button", name="Create course").click()
    assert_landed(page, r"/admin/courses/\d+$", "Course Geometry was created.")

    # The enrollment picker: checkboxes and a filter, no Ctrl-click.
    picker = page.locator("fieldset", has_text="Choose students")
    picker.get_by_label("Filter students").fill("nia")
    expect(picker.get_by_role("checkbox", name=re.compile("Nia Pickme"))).to_be_visible()
    expect(picker.get_by_role("checkbox", name=re.compile("Zack Other"))).to_be_hidden()
    picker.get_by_role("checkbox", name=re.compile("Nia Pickme")).check()
    expect(picker).to_contain_text("1 selected")
    screenshot(page, "course-enrollment-picker")
    page.get_by_role("button", name="Enroll students").click()
    assert_landed(page, r"/admin/courses/\d+$", "1 student enrolled.")
    expect(page.locator("main .list")).to_contain_text("Nia Pickme")

    page.goto("/admin/users?q=Nia")
    page.get_by_role("button", name="Deactivate Nia Pickme").click()
    assert_landed(page, r"/admin/users\?q=Nia$", "Nia Pickme was deactivated.")
    db.session.expire_all()
    assert not db.session.get(User, extra.id).is_active
    assert_no_console_errors(page)


def test_notification_settings_save_confirms_on_the_same_page(school, new_page):
    page = new_page()
    log_in(page, school.teacher)
    page.goto("/notifications/settings")
    page.get_by_role("button", name=re.compile("Save")).click()
    assert_landed(page, r"/notifications/settings$", "Notification settings saved.")
    expect(page.locator("main form")).not_to_have_count(0)
    assert_no_console_errors(page)


def test_csv_import_shows_progress_then_the_report_on_a_phone(school, new_page, run_worker,
                                                              test_dirs):
    rows = "".join(f"person{n}@a-rather-long-school-domain.example.org,Person {n},student,"
                   f"America/New_York\n" for n in range(60))
    path = test_dirs / "people.csv"
    path.write_text("email,name,role,timezone\n" + rows + "bad-address,Bad Row,student,\n")
    page = new_page(viewport=PHONE)
    log_in(page, school.admin)
    page.goto("/admin/users/import")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the import page scrolls sideways on a phone"
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    # The job is queued: the page says so and keeps asking.
    expect(page.locator(".import-progress")).to_contain_text("Waiting for the background worker")
    screenshot(page, "import-progress-phone")
    run_worker()
    expect(page.locator("#import-report")).to_contain_text("60 created", timeout=15_000)
    expect(page.locator("#import-report")).to_contain_text("1 with errors")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), \
        "the import report scrolls sideways on a phone"
    page.screenshot(path=str(screenshot(page, "import-report-phone").with_name(
        "import-report-phone-top.png")), full_page=False)
    assert db.session.scalar(select(User).where(User.email == "person7@a-rather-long-school-"
                                                "domain.example.org")) is not None
    assert_no_console_errors(page)


def test_import_page_on_a_desktop(school, new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, school.admin)
    page.goto("/admin/users/import")
    expect(page.get_by_role("heading", name="Import students and teachers")).to_be_visible()
    screenshot(page, "import-desktop")


def test_a_students_name_opens_their_page_and_message_opens_the_conversation(school, new_page):
    page = new_page(viewport=PHONE)
    log_in(page, school.teacher)
    page.goto("/students")
    page.get_by_role("link", name="Sara Student").click()
    expect(page.get_by_role("heading", name="Sara Student", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Courses you share")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Algebra")
    screenshot(page, "person-page-phone")
    page.get_by_role("button", name="Message").click()
    expect(page).to_have_url(re.compile(r"/chat/threads/\d+$"))
    expect(page.locator("#thread-title")).to_have_text("Sara Student")
    expect(page.locator("main")).to_have_count(1)
    assert_no_console_errors(page)
