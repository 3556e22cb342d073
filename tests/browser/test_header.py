"""The page header (templates/base.html, static/css/app.css): from 1024 px one row for every role
(brand, sections, account, bell), the sections never pushing the bell or the account onto a line
of their own; narrower, the sections fold into the Menu button."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.demo import DEMO_PASSWORD, seed_demo

PEOPLE = ("student1@example.com", "teacher@example.com", "admin@example.com")


@pytest.fixture
def demo(app):
    seed_demo()


def log_in(page, email):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(my-day)?$"))


def middle(page, selector) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["y"] + box["height"] / 2


@pytest.mark.parametrize("width", [1024, 1280, 1440])
def test_from_1024px_the_header_is_one_row_for_every_role(demo, new_page, width):
    for email in PEOPLE:
        page = new_page(viewport={"width": width, "height": 800})
        log_in(page, email)
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        expect(page.get_by_label("Menu")).to_be_hidden()
        brand = middle(page, ".site-header .brand")
        # The bell and the account sit on the brand's row (a student's bell dropped to a line
        # of its own at 1280 px, an admin's sections to a second line and the bell to a third).
        for part in ("#bell-menu > summary", ".account .who", ".account form"):
            assert abs(middle(page, part) - brand) < 6, (email, width, part)
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        tops = {round(links.nth(n).bounding_box()["y"]) for n in range(links.count())}
        if width >= 1280:
            assert len(tops) == 1, (email, width, tops)  # every section on one line
        header = page.locator(".site-header").bounding_box()
        assert header["height"] < (70 if width >= 1280 else 110), (email, width, header)
        # The account is the person's initials there, their name its accessible name.
        expect(page.locator(".account .who .avatar")).to_be_visible()
        page.close()


def test_narrower_the_sections_are_under_the_menu_button(demo, new_page):
    page = new_page(viewport={"width": 900, "height": 800})
    log_in(page, "teacher@example.com")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    page.get_by_label("Menu").click()
    expect(nav.get_by_role("link", name="Calendar")).to_be_visible()
    expect(page.locator(".account .who-name")).to_have_text("Tom Teacher")
    expect(page.get_by_role("link", name="Notification settings")).to_be_visible()
