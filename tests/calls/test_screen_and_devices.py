"""Screen sharing and switching devices in a real call, the same on the mesh and through Janus
(issue 11: the room page is the same for both engines): the sharer's screen shows for the other
as a tile of its own beside the camera, goes when sharing stops and comes back when it starts
again; another microphone replaces the first on the same connection and media keeps flowing.

Headless Chromium's getDisplayMedia gives a fake 1280x720 "screen" with the suite's flags
(--use-fake-ui-for-media-stream picks it, --use-fake-device-for-media-stream draws it), so the
page's own Share screen path runs unchanged."""
from __future__ import annotations

import pytest

from tests.browser.conftest import screenshot
from tests.calls.test_instant_call import (assert_no_call_errors, in_a_call, inbound_growing,
                                           wait_joined)

SCREEN_PLAYING = """() => { const v = document.querySelector('.video-tile.screen video');
                            return Boolean(v && v.videoWidth > 0); }"""

# What each page holds when a share does not show: its tiles (stream, size, tracks) and, on the
# mesh, each peer connection's signalling state and transceivers.
PCS = """() => Object.values(window.classhubRoom.peers).map(p => [p.pc.signalingState, p.screenId, p.pc.getTransceivers().map(t => [t.mid, t.direction, t.currentDirection, t.sender.track && t.sender.track.kind, t.receiver.track.kind + ':' + t.receiver.track.muted])])"""
TILES = """() => Array.from(document.querySelectorAll('.video-tile')).map(t => [t.id, t.className, (v => v && v.srcObject ? [v.srcObject.id, v.videoWidth, v.srcObject.getTracks().map(x => x.kind + ':' + x.readyState + ':' + x.muted)] : null)(t.querySelector('video'))])"""


@pytest.mark.parametrize("engine", ["mesh", "janus"])
def test_share_a_screen_and_switch_the_microphone(chat, request, engine):
    pages, server = ((request.getfixturevalue("new_page"), request.getfixturevalue("live_server"))
                     if engine == "mesh" else (request.getfixturevalue("janus_pages"),
                                               request.getfixturevalue("janus_call_server")))
    teacher, student = pages(), pages()
    in_a_call(chat, teacher, student, server)
    assert teacher.evaluate("() => window.classhubRoom.engine()") == engine

    # Share: the student sees the teacher's screen as a second tile, named, beside the camera.
    assert teacher.is_visible("#room-screen")
    teacher.click("#room-screen")
    teacher.wait_for_selector("#room-screen[aria-pressed=true]")
    try:
        student.wait_for_function(SCREEN_PLAYING, timeout=30_000)
    except Exception:
        raise AssertionError((student.console_messages[-12:], teacher.console_messages[-12:]))
    shared = student.query_selector(".video-tile.screen")
    assert shared.inner_text() == f"{chat.teacher.name}\u2019s screen"
    assert student.evaluate("() => document.querySelector('.video-tile.screen video').videoWidth") == 1280
    camera = student.query_selector(".video-tile:not(.local):not(.screen) video")
    assert camera.evaluate("v => v.videoWidth") not in (0, 1280)  # the camera is still its own tile
    assert teacher.evaluate("() => window.classhubRoom.sending().screen.length") == 1
    screenshot(student, f"call-screen-share-{engine}")

    # Stop: the tile goes. Share again: it comes back (Janus reuses the screen's m-line).
    teacher.click("#room-screen")
    try:
        student.wait_for_selector(".video-tile.screen", state="detached")
    except Exception:
        raise AssertionError((student.console_messages[-12:], teacher.console_messages[-12:]))
    assert teacher.evaluate("() => window.classhubRoom.sending().screen") == []
    teacher.click("#room-screen")
    try:
        student.wait_for_function(SCREEN_PLAYING, timeout=30_000)
    except Exception:
        raise AssertionError((student.console_messages[-12:], teacher.console_messages[-12:]))

    # A third share, at once, without waiting for the tile to go. Each share used to add an
    # m-line (~4 KB of SDP): this one's offer outgrew the relay's limit and was refused, and
    # the call's negotiation stopped for good. The new tile also stays when the old screen's
    # tracks are removed after it came.
    teacher.click("#room-screen")
    teacher.wait_for_selector("#room-screen[aria-pressed=false]")
    teacher.click("#room-screen")
    teacher.wait_for_selector("#room-screen[aria-pressed=true]")
    try:
        student.wait_for_function(SCREEN_PLAYING, timeout=30_000)
        student.wait_for_timeout(1500)  # the old screen's removal has been negotiated by now
        student.wait_for_function(SCREEN_PLAYING, timeout=30_000)
    except Exception:
        raise AssertionError((student.evaluate(TILES), student.evaluate(PCS), teacher.evaluate(PCS),
                              student.console_messages[-12:], teacher.console_messages[-12:]))
    assert student.locator(".video-tile.screen").count() == 1
    if engine == "mesh":
        # Each share after the first sent on the m-line the first one left (camera, microphone,
        # screen): offers stay the same size however often the screen is shared.
        assert teacher.evaluate("() => Object.values(window.classhubRoom.peers)"
                                ".map(p => p.pc.getTransceivers().length)") == [3]

    # Another microphone: the sender's track is replaced, and audio and video still flow.
    options = teacher.eval_on_selector_all("#room-mic-select option", "os => os.map(o => [o.value, o.textContent])")
    assert len(options) >= 2, options
    current = teacher.evaluate("() => window.classhubRoom.sending().audio")
    value, label = next((v, t) for v, t in options if t not in current)
    teacher.select_option("#room-mic-select", value)
    teacher.wait_for_function("label => window.classhubRoom.sending().audio.join() === label", arg=label)
    assert teacher.evaluate("() => document.querySelector('.video-tile.local video').srcObject"
                            ".getAudioTracks().map(t => t.label)") == [label]
    inbound_growing(student, 1)

    for page in (teacher, student):
        page.click("#room-leave")
        wait_joined(page, False, server)
    for page in (teacher, student):
        assert_no_call_errors(page, server, engine)
