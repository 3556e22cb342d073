"""Two real Chromium pages in a Janus room through room-janus.js: both publish fake camera and
microphone, each receives the other's video (decoded: videoWidth > 0; bytes received growing),
Janus's event handler posts joined and leaving (with its secret) for both, and the engine reads
those posts as the two participants joining and leaving.

Served by a tiny HTTP server in the test (the page is test-only, not an app route). Run inside a
loopback-only network namespace (tests/janus/conftest.py)."""
from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import sync_playwright

from app.live.engines.janus import JanusEngine
from app.live.janus_server import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGE = Path(__file__).resolve().parent / "page"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 "--allow-loopback-in-peer-connection"]


class _Files(SimpleHTTPRequestHandler):
    """/static/... from the repository's static folder, anything else from the test page folder."""

    def translate_path(self, path):
        path = path.split("?", 1)[0]
        if path.startswith("/static/"):
            base, rest = ROOT / "static", path[len("/static/"):]
        else:
            base, rest = PAGE, path.lstrip("/")
        target = (base / rest).resolve()
        if base.resolve() not in target.parents:
            return str(base / "missing")
        return str(target)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_server():
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="module")
def chromium():
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_two_pages_publish_and_each_receives_the_other(janus_app, janus, janus_events, chromium, page_server):
    engine = JanusEngine()
    run = SimpleNamespace(id=77, room=SimpleNamespace(engine_room_key="browserroom"))
    people = [SimpleNamespace(engine_key=f"p{n}", user_id=n, role="LEARNER", display_name=f"Person {n}")
              for n in (1, 2)]
    configs = [engine.join_config(run, person, f"page{n}").as_json() for n, person in enumerate(people)]
    pages = []
    try:
        for config in configs:
            context = chromium.new_context()
            page = context.new_page()
            page.errors = []
            page.console = []
            page.on("pageerror", lambda exc, page=page: page.errors.append(str(exc)))
            page.on("console", lambda msg, page=page: page.console.append(f"{msg.type}: {msg.text}"))
            page.goto(page_server + "/call.html")
            page.evaluate("config => joinCall(config)", config)
            pages.append(page)
        for page, other in ((pages[0], configs[1]), (pages[1], configs[0])):
            feed = other["janus"]["feed"]
            try:
                page.wait_for_function(f"() => (remoteWidths()[{feed!r}] || 0) > 0", timeout=30_000)
            except Exception:
                raise AssertionError(f"no remote video: states {page.evaluate('states')}, "
                                     f"console {page.console[-15:]}, errors {page.errors},\n"
                                     f"janus log:\n{janus.log_tail(30)}")
            first = page.evaluate("() => RoomJanus.stats()")[feed]
            page.wait_for_function(
                f"async () => (await RoomJanus.stats())[{feed!r}] > {first}", timeout=10_000, polling=250)
            assert page.evaluate("() => Object.keys(remotes)") == [feed]  # not itself
            assert page.errors == []
        joined = janus_events.wait_for("joined", "browserroom~77", count=2)
        for page in pages:
            page.evaluate("() => RoomJanus.leave()")
        leaving = janus_events.wait_for("leaving", "browserroom~77", count=2)
    finally:
        for page in pages:
            page.context.close()
    assert janus_events.refused == 0  # every post carried the secret
    events = engine.events_from_payload(joined + leaving)
    assert sorted((e.kind, e.participant_key) for e in events) == [
        ("joined", "p1"), ("joined", "p2"), ("left", "p1"), ("left", "p2")]
    published = engine.events_from_payload(janus_events.videoroom("published", "browserroom~77"))
    assert {e.participant_key for e in published} == {"p1", "p2"}
    # The mid contract moderation relies on: audio is m-line "0", video "1".
    assert all(sorted((s["type"], s["mid"]) for s in e.data["streams"]) == [("audio", "0"), ("video", "1")]
               for e in published)
