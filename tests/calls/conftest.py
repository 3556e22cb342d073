"""Call tests: real Chromium pages in a real WebRTC call. They run inside a loopback-only
network namespace (make test-calls; FIELD-NOTES "WebRTC"), where media can only flow over
127.0.0.1, with the browser fixtures of tests/browser."""
import os

import pytest

from app.live.janus_server import JanusServer, free_port
from tests.browser.conftest import (CHROMIUM, CHROMIUM_ARGS,  # noqa: F401
                                    assert_no_console_errors, browser, live_server, new_page,
                                    page_opener, screenshot)
from tests.janus.conftest import janus_ice_address  # noqa: F401
from tests.live import LiveServer


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/calls/" in str(item.fspath):
            item.add_marker(pytest.mark.call)


@pytest.fixture(autouse=True)
def _inside_the_namespace():
    # Outside a loopback-only namespace Chromium picks the machine's other addresses for media:
    # refuse to run (a failure in CI, never a skip) rather than test something else.
    interfaces = [i for i in os.listdir("/sys/class/net") if i != "lo"]
    assert not interfaces or os.environ.get("CLASSHUB_CALLS_NAMESPACE") == "1", \
        "run the call tests with `make test-calls` (inside a loopback-only network namespace)"
from tests.chat.conftest import chat  # noqa: F401,E402


@pytest.fixture(scope="session")
def janus_call_server(app, app_config, database_url, redis_url, test_dirs, janus_ice_address):
    """The app under gunicorn with CALL_ENGINE=janus, and a real Janus whose event handler posts
    to that app's webhook (so segments follow what Janus reports)."""
    from pathlib import Path

    from app.live.janus_server import JANUS_BINARY

    assert Path(JANUS_BINARY).exists(), f"Janus not found at {JANUS_BINARY}: install the Debian package 'janus'"
    port = free_port()
    janus = JanusServer(webhook_url=f"http://127.0.0.1:{port}/live/janus/events",
                        workdir=test_dirs / "janus-calls", ice_enforce_list=janus_ice_address)
    janus.start()
    try:
        server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                            test_dirs / "gunicorn-janus.log", port=port,
                            extra_env={"CALL_ENGINE": "janus", **janus.environment()})
    except Exception:
        janus.stop()
        raise
    server.janus = janus
    yield server
    server.stop()
    janus.stop()


@pytest.fixture
def janus_pages(browser, janus_call_server):  # noqa: F811
    """Like new_page, on the Janus-configured server."""
    with page_opener(browser, janus_call_server.url) as open_page:
        yield open_page


@pytest.fixture(scope="package")  # as ``browser`` (tests/browser): a wider scope cannot ask for it
def browsers_without_media(browser):  # noqa: F811
    """Chromium with cameras and a microphone (fake ones) but nobody to click "Allow" on the
    prompt ("refused"), and Chromium on a computer with none at all ("missing"). Launched by the
    same Playwright as ``browser`` (one sync Playwright per process)."""
    # A page without media permission offers its host addresses as mDNS names (.local), which
    # nothing resolves in the test namespace (a LAN resolves them; across the internet STUN/TURN
    # candidates are used): the test namespace gets plain addresses instead.
    plain_candidates = "--disable-features=WebRtcHideLocalIpsWithMdns"
    launched = {}
    for case, leave_out in (("refused", {"--use-fake-ui-for-media-stream"}),
                            ("missing", {"--use-fake-ui-for-media-stream",
                                         "--use-fake-device-for-media-stream"})):
        launched[case] = browser.browser_type.launch(
            executable_path=CHROMIUM,
            args=[a for a in CHROMIUM_ARGS if a not in leave_out] + [plain_candidates])
    yield launched
    for chromium in launched.values():
        chromium.close()
