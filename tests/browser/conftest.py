"""Real headless Chromium (Debian's, never a downloaded build) driven by Playwright against a
live gunicorn server of the app."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import commit
from tests.live import ROOT, LiveServer

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--allow-loopback-in-peer-connection"]
ARTIFACTS = ROOT / "test-artifacts"
# How long an expectation waits for the page to get there (Playwright's default is 5 s, which a
# dialog or the bell panel has overrun on a loaded 2-core machine); a page that never gets
# there still fails.
expect.set_options(timeout=15_000)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 860}


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def live_server(app, app_config, database_url, redis_url, test_dirs):
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "gunicorn.log")
    yield server
    server.stop()


# The package's, not the session's: one thread runs one sync Playwright at a time, and
# tests/janus (later in the run) starts its own Chromium once this one is closed.
@pytest.fixture(scope="package")
def browser():
    # A missing Chromium is a failure, not a skip: CI must run the browser tests.
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}: run make test (installs it)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@contextmanager
def page_opener(browser, base_url: str, before_each=None):
    """``new_page(viewport=..., **context options)``: a page in a context of its own on
    ``base_url`` that records its console messages (``page.console_messages``); every context
    is closed at the end. ``before_each`` runs before each page opens."""
    contexts = []

    def _new_page(viewport=DESKTOP, **options):
        if before_each is not None:
            before_each()
        context = browser.new_context(viewport=viewport, base_url=base_url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.console_messages = []
        page.on("console", lambda msg: page.console_messages.append(f"{msg.type}: {msg.text}"))
        page.on("pageerror", lambda exc: page.console_messages.append(f"pageerror: {exc}"))
        # Chromium's "Failed to load resource" does not say which: a failure names its URL.
        page.failed_responses, page.failed_requests = [], []
        page.on("response", lambda r: r.status >= 400 and page.failed_responses.append(
            f"{r.status} {r.request.method} {r.url}"))
        page.on("requestfailed", lambda r: page.failed_requests.append(
            f"{r.failure} {r.method} {r.url}"))
        return page

    try:
        yield _new_page
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def new_page(browser, live_server):
    # What the test set up through services is committed before a browser looks, as the edge
    # of the request or job that did it would have (services only flush). On SQLite an
    # uncommitted write would also hold the lock the server needs to log the browser in.
    with page_opener(browser, live_server.url, before_each=commit) as opener:
        yield opener


def screenshot(page, name: str) -> Path:
    """Keep a screenshot for a person to look at (test-artifacts/, not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True, caret="initial")
    return path


def assert_no_console_errors(page, allowed_statuses=(422,)):
    """No script errors and no failed loads, except the statuses the test expects (a form
    answered 422 is logged by Chromium as a failed load)."""
    allowed = tuple(f"status of {code} " for code in allowed_statuses)
    errors = [m for m in page.console_messages if m.startswith(("error", "pageerror"))
              and not any(a in m for a in allowed)]
    assert not errors, (errors, page.failed_responses, page.failed_requests)
