"""Call tests: real Chromium pages in a real WebRTC call. They run inside a loopback-only
network namespace (make test-calls; FIELD-NOTES "WebRTC"), where media can only flow over
127.0.0.1, with the browser fixtures of tests/browser."""
import os

import pytest

from tests.browser.conftest import (assert_no_console_errors, browser, live_server,  # noqa: F401
                                    new_page, screenshot)


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
