"""Scheduling as a new teacher meets it, in a real browser: the dialog ticks the weekday of the
date picked (and moves that tick when the date changes), a start on a day not ticked is refused
in place with a clear message, and the series starts on the date picked. On the session page a
cancelled occurrence shows its reason and can be restored; "this and following" links the two
series both ways; a student sees the reasons in the agenda."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from app.db_types import utcnow
from app.demo import seed_demo
from tests.browser.conftest import DESKTOP, PHONE, assert_no_console_errors, screenshot
from tests.browser.test_calendar import log_in


@pytest.fixture
def demo(app):
    seed_demo()


def april_monday() -> date:
    """A Monday in next April: ahead, and clear of the demo's series."""
    day = date(utcnow().year + 1, 4, 12)
    return day - timedelta(days=day.weekday())


def ticked(dialog) -> list[str]:
    return dialog.locator("input[name=weekdays]:checked").evaluate_all(
        "boxes => boxes.map(b => b.value)")


def open_dialog(dialog, link, attempts: int = 3) -> None:
    for attempt in range(attempts):
        link.click()
        try:
            expect(dialog).to_be_visible(timeout=5_000)
            return
        except AssertionError:
            if attempt == attempts - 1:
                raise


def test_weekday_follows_the_date_restore_and_split_links(demo, new_page):
    monday = april_monday()
    wednesday, thursday = monday + timedelta(days=2), monday + timedelta(days=3)
    page = new_page(viewport=DESKTOP)
    log_in(page, "teacher@example.com", "Tom")
    page.goto(f"/calendar?view=week&date={monday.isoformat()}")
    page.get_by_role("link", name="Schedule session").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Title").fill("Reading club")
    dialog.get_by_label("Sam Student").check()
    dialog.get_by_text("Weekly", exact=True).click()
    assert ticked(dialog) == []

    # Picking a date ticks its day; picking another moves that tick.
    dialog.get_by_label("Date", exact=True).fill(monday.isoformat())
    assert ticked(dialog) == ["MO"]
    dialog.get_by_label("Date", exact=True).fill(wednesday.isoformat())
    assert ticked(dialog) == ["WE"]
    # A day ticked by hand stays when the date changes again.
    dialog.locator("label", has=page.get_by_role("checkbox", name="Friday")).click()
    dialog.get_by_label("Date", exact=True).fill(thursday.isoformat())
    assert ticked(dialog) == ["TH", "FR"]

    # Untick the date's own day: refused in place, saying what to do, nothing lost.
    dialog.locator("label", has=page.get_by_role("checkbox", name="Thursday")).click()
    dialog.get_by_label("Start time").fill("10:00")
    dialog.get_by_label("Number of occurrences").fill("4")
    dialog.get_by_role("button", name="Schedule", exact=True).click()
    message = (f"The first session is on the date picked, Thursday {thursday.day} "
               f"{thursday:%b}, but Thursday is not ticked.")
    expect(dialog.get_by_text(message)).to_be_visible()
    expect(dialog.get_by_label("Title")).to_have_value("Reading club")
    screenshot(page, "dialog-unticked-start-desktop")
    dialog.locator("label", has=page.get_by_role("checkbox", name="Thursday")).click()
    dialog.get_by_role("button", name="Schedule", exact=True).click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#flashes")).to_contain_text("“Reading club” was scheduled.")
    page.locator("#flashes").get_by_role("link", name="Open the session").click()

    # The series starts on the date picked: Thursday, then Friday, ...
    expect(page.get_by_role("heading", name="Reading club")).to_be_visible()
    expect(page.locator(".facts")).to_contain_text(f"from {thursday.day} {thursday:%b %Y}")
    occurrences = page.locator("li.occ")
    expect(occurrences).to_have_count(4)
    expect(occurrences.nth(0)).to_contain_text(f"{thursday:%a} {thursday.day} {thursday:%b}")

    # Cancel the second with a reason: it shows; then restore it.
    occurrences.nth(1).get_by_role("link", name="Cancel this occurrence").click()
    dialog.get_by_label("Reason").fill("Book fair in the hall")
    dialog.get_by_role("button", name="Cancel occurrence").click()
    expect(occurrences.nth(1)).to_contain_text("Cancelled: Book fair in the hall")
    screenshot(page, "session-cancelled-reason-desktop")
    occurrences.nth(1).get_by_role("link", name="Restore").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("participants get it back in their calendars")
    screenshot(page, "dialog-restore-desktop")
    dialog.get_by_role("button", name="Restore occurrence").click()
    expect(page.locator("#flashes")).to_contain_text("The occurrence was restored")
    expect(occurrences.nth(1)).not_to_contain_text("Cancelled")
    expect(occurrences.nth(1).get_by_role("link", name="Cancel this occurrence")).to_be_visible()

    # Move the third with a reason (the student reads it in the agenda below).
    occurrences.nth(2).get_by_role("link", name="Move / change duration").click()
    dialog.get_by_label("New start time").fill("11:00")
    dialog.get_by_label("Reason").fill("Assembly at 10")
    dialog.get_by_role("button", name="Move occurrence").click()
    expect(occurrences.nth(2)).to_contain_text("Moved: Assembly at 10")
    expect(dialog).to_be_hidden()  # the list behind it is the page's again

    # This and following from the fourth: the two series link to each other.
    # The move's own answer and its live update (over the socket) both redraw the list; a
    # click that lands while the second replaces the first is lost, as a person's would be,
    # so it is made again if no dialog opened.
    open_dialog(dialog, occurrences.nth(3).get_by_role("link", name="Edit this and following"))
    dialog.get_by_label("Title").fill("Reading club (afternoons)")
    dialog.get_by_label("Start time").fill("14:00")
    dialog.get_by_role("button", name="Save from this occurrence").click()
    expect(page.get_by_role("heading", name="Reading club (afternoons)")).to_be_visible()
    back = page.locator("#continued-from")
    expect(back).to_have_text("Reading club")
    back.click()
    expect(page.get_by_role("heading", name="Reading club", exact=True)).to_be_visible()
    expect(page.locator("a.continues-as")).to_have_text("Reading club (afternoons)")
    screenshot(page, "session-continues-as-desktop")
    page.locator("a.continues-as").click()
    expect(page.get_by_role("heading", name="Reading club (afternoons)")).to_be_visible()
    assert_no_console_errors(page)

    phone = new_page(viewport=PHONE)
    log_in(phone, "student1@example.com", "Sam")
    phone.goto(f"/calendar?view=agenda&date={thursday.isoformat()}")
    moved = phone.locator(".ag-item", has_text="Moved: Assembly at 10")
    expect(moved).to_have_count(1)
    expect(moved).to_contain_text("Reading club")
    screenshot(phone, "agenda-reasons-phone")
    moved.get_by_role("link", name=re.compile("Reading club")).click()
    expect(phone.locator("li.occ", has_text="Moved: Assembly at 10")).to_be_visible()
    expect(phone.get_by_role("link", name="Restore")).to_have_count(0)
    screenshot(phone, "session-reasons-phone")
    assert_no_console_errors(phone)


def test_a_dialog_link_htmx_has_not_wired_yet_still_opens_its_dialog(demo, new_page):
    """htmx wires what it swaps in when the swap settles (20 ms later, much more on a busy
    machine). A click on a link swapped in before then (the next occurrence's Cancel right
    after a move redrew the list) opens its dialog all the same, not its href's full page."""
    from sqlalchemy import select

    from app.extensions import db
    from app.scheduling.models import VideoSession

    session_id = db.session.scalar(select(VideoSession.id).where(
        VideoSession.title == "GCSE Mathematics: weekly class"))
    page = new_page(viewport=DESKTOP)
    log_in(page, "teacher@example.com", "Tom")
    page.goto(f"/sessions/{session_id}")
    link = page.get_by_role("link", name="Cancel this occurrence").first
    # A copy of the link, as a swap leaves it until it settles: its attributes, none of the
    # behaviour htmx gives the links it has processed.
    link.evaluate("a => a.replaceWith(a.cloneNode(true))")
    page.get_by_role("link", name="Cancel this occurrence").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel occurrence")).to_be_visible()
    assert re.search(rf"/sessions/{session_id}$", page.url), page.url
    assert_no_console_errors(page)


def test_a_live_update_identical_to_what_is_shown_leaves_it_in_place(demo, new_page):
    """The socket's copy of what the person's own answer already showed is not swapped in
    (static/js/app.js): the element stays the same node, so a tap landing on it meanwhile is
    not lost. A live update that changes something is swapped as before."""
    from sqlalchemy import select

    from app.extensions import db
    from app.scheduling.models import VideoSession

    session_id = db.session.scalar(select(VideoSession.id).where(
        VideoSession.title == "GCSE Mathematics: weekly class"))
    page = new_page(viewport=DESKTOP)
    log_in(page, "teacher@example.com", "Tom")
    page.goto(f"/sessions/{session_id}")
    expect(page.locator("html[data-realtime=open]")).to_have_count(1)
    heading = page.locator("#occurrences-heading")
    swap = """([html, mark]) => {
        const shown = document.getElementById('occurrences-heading');
        shown.seen = mark;  // a property of this node only: a new node has none
        htmx.swap(document.body, html, {swapStyle: 'none'});
        return document.getElementById('occurrences-heading').seen === mark;
    }"""
    same = heading.evaluate("h => h.outerHTML").replace(
        'id="occurrences-heading"', 'id="occurrences-heading" hx-swap-oob="true"')
    assert page.evaluate(swap, [same, "kept"]) is True
    changed = same.replace("Next occurrences", "Next occurrences (2 moved)")
    assert page.evaluate(swap, [changed, "replaced"]) is False
    expect(heading).to_have_text("Next occurrences (2 moved)")
    assert_no_console_errors(page)
