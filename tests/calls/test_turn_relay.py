"""Calls forced through a real coturn (ICE_TRANSPORT_POLICY=relay): two pages of an instant call
connect only through the relay, with credentials the app mints per join; with a TURN secret
the relay does not share, the call does not connect and the page says why."""
from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from app.live.turn_server import TURN_BINARY, TurnServer
from tests.browser.conftest import page_opener
from tests.calls.test_instant_call import inbound_growing, login, remote_videos_playing
from tests.live import LiveServer

# The candidate types of the pair each peer connection selected (local, remote).
SELECTED_PAIRS = """async () => {
  const pairs = [];
  for (const peer of Object.values(window.classhubRoom.peers)) {
    const stats = [...(await peer.pc.getStats()).values()];
    const byId = Object.fromEntries(stats.map(s => [s.id, s]));
    const transport = stats.find(s => s.type === "transport" && s.selectedCandidatePairId);
    const pair = transport && byId[transport.selectedCandidatePairId];
    pairs.push(pair ? [byId[pair.localCandidateId].candidateType, byId[pair.remoteCandidateId].candidateType] : null);
  }
  return pairs;
}"""


@pytest.fixture(scope="module")
def coturn(test_dirs):
    assert Path(TURN_BINARY).exists(), f"coturn not found at {TURN_BINARY}: install the Debian package 'coturn'"
    # Both browsers and the relayed addresses are on 127.0.0.1 in the test namespace.
    with TurnServer(workdir=test_dirs / "coturn-calls", allow_loopback_peers=True) as server:
        yield server


@pytest.fixture
def relay_pages(browser, app_config, database_url, redis_url, test_dirs, coturn):  # noqa: F811
    """Starts the app with calls forced through ``coturn`` and returns a page opener on it;
    ``secret`` is the TURN secret the app mints with (coturn's own unless told)."""
    servers, stack = [], contextlib.ExitStack()

    def _open(secret=None):
        env = {"CALL_ENGINE": "mesh", "ICE_TRANSPORT_POLICY": "relay", **coturn.environment()}
        if secret:
            env["TURN_SECRET"] = secret
        server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                            test_dirs / f"gunicorn-turn-{len(servers)}.log", extra_env=env)
        servers.append(server)
        return stack.enter_context(page_opener(browser, server.url))

    with stack:
        yield _open
    for server in servers:
        server.stop()


def start_call(chat, open_page):
    from app.extensions import db

    db.session.commit()
    teacher, student = open_page(), open_page()
    login(teacher, chat.teacher)
    login(student, chat.s1)
    student.goto("/chat/")
    student.wait_for_selector("html[data-realtime=open]")
    teacher.goto(f"/chat/threads/{chat.group.id}")
    teacher.click("#start-call")
    teacher.wait_for_url("**/live/rooms/*")
    teacher.wait_for_selector("html[data-realtime=open]")
    teacher.click("#room-join")
    teacher.wait_for_selector("#room[data-joined=true]")
    student.click(".call-toast [data-call-join]")
    student.wait_for_url("**/live/rooms/*")
    student.wait_for_selector("html[data-realtime=open]")
    student.click("#room-join")
    student.wait_for_selector("#room[data-joined=true]")
    return teacher, student


def test_a_call_forced_through_the_relay_connects_through_coturn(chat, relay_pages, coturn):
    teacher, student = start_call(chat, relay_pages())
    for page in (teacher, student):
        remote_videos_playing(page, 1)
        inbound_growing(page, 1)
        assert page.evaluate(SELECTED_PAIRS) == [["relay", "relay"]], coturn.log_tail()


def test_a_relay_refusing_the_credentials_is_said_plainly(chat, relay_pages):
    teacher, student = start_call(chat, relay_pages(secret="not-coturns-secret"))
    for page, other in ((teacher, chat.s1), (student, chat.teacher)):
        page.wait_for_function(
            "() => document.getElementById('room-status').textContent.includes('relay server refused')",
            timeout=30_000)
        assert other.name in page.inner_text("#room-status")
        assert page.evaluate("() => [...document.querySelectorAll('.video-tile:not(.local) video')]"
                             ".every(v => v.videoWidth === 0)")


def test_a_janus_call_whose_relay_refuses_the_credentials_says_so(chat, browser, janus_call_server,
                                                                   coturn, app_config, database_url,
                                                                   redis_url, test_dirs):
    """On the media-server engine too: with calls forced through a relay that refuses the
    app's credentials, no media can reach Janus, and the page says so in words rather than
    showing black tiles (janus.js reports the publisher's ICE state)."""
    env = {"CALL_ENGINE": "janus", **janus_call_server.janus.environment(),
           "ICE_TRANSPORT_POLICY": "relay", **coturn.environment(),
           "TURN_SECRET": "not-coturns-secret"}
    server = LiveServer(database_url, redis_url, app_config["SECRET_KEY"],
                        test_dirs / "gunicorn-janus-turn.log", extra_env=env)
    try:
        with page_opener(browser, server.url) as open_page:
            teacher, _student = start_call(chat, open_page)
            teacher.wait_for_function(
                "() => document.getElementById('room-status').textContent"
                ".includes('could not send your audio and video to the media server')",
                timeout=45_000)
            assert "relay server refused" in teacher.inner_text("#room-status")
    finally:
        server.stop()
