"""A whole instant call in real Chromium: start from a group chat, ringing, join, media from
every peer, a mute seen by the others, a removal, the end and the CALL summary."""
from __future__ import annotations

from tests.browser.conftest import PHONE, assert_no_console_errors, screenshot
from tests.conftest import PASSWORD

MEDIA_FLOWING = """() => {
  const peers = Object.values(window.classhubRoom.peers);
  return Promise.all(peers.map(p => p.pc.getStats().then(stats => {
    let bytes = 0;
    stats.forEach(s => { if (s.type === 'inbound-rtp' && s.kind === 'video') bytes += s.bytesReceived; });
    return bytes;
  })));
}"""


def login(page, user):
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def remote_videos_playing(page, count):
    try:
        _remote_videos_playing(page, count)
    except Exception:
        raise AssertionError((page.url, page.inner_text("#room-status"), page.console_messages[-8:],
                              page.evaluate("() => [Object.keys(window.classhubRoom.peers), Object.values(window.classhubRoom.peers).map(p => p.pc.connectionState + '/' + p.pc.signalingState), document.getElementById('room-state').getAttribute('data-state')]")))


def _remote_videos_playing(page, count):
    page.wait_for_function(
        """n => { const v = [...document.querySelectorAll('.video-tile:not(.local) video')];
                  return v.length === n && v.every(x => x.videoWidth > 0); }""",
        arg=count, timeout=30_000)


def wait_joined(page, joined: bool, server=None):
    try:
        page.wait_for_selector(f"#room[data-joined={'true' if joined else 'false'}]", state="attached")
    except Exception:
        raise AssertionError((page.url, page.get_attribute("#room", "data-joined"),
                              page.inner_text("#room-status"), page.console_messages[-12:],
                              server.log()[-3000:] if server else ""))


def inbound_growing(page, peers):
    first = page.evaluate(MEDIA_FLOWING)
    assert len(first) == peers
    page.wait_for_timeout(1500)  # not a timing assertion: just a later sample to compare
    second = page.evaluate(MEDIA_FLOWING)
    assert all(b > a for a, b in zip(first, second)), (first, second)


def test_an_instant_call_from_a_group_chat(chat, new_page, live_server):
    from app.extensions import db

    db.session.commit()
    teacher, s1, s2 = new_page(), new_page(), new_page(viewport=PHONE)
    for page, user in ((teacher, chat.teacher), (s1, chat.s1), (s2, chat.s2)):
        login(page, user)
    for page in (s1, s2):
        page.goto("/chat/")
        page.wait_for_selector("html[data-realtime=open]")
    teacher.goto(f"/chat/threads/{chat.group.id}")
    teacher.click("#start-call")
    teacher.wait_for_url("**/live/rooms/*")
    teacher.wait_for_selector("html[data-realtime=open]")
    teacher.click("#room-join")
    try:
        teacher.wait_for_selector("#room[data-joined=true]")
    except Exception:
        raise AssertionError((teacher.inner_text("#room-status"), teacher.console_messages))

    for page in (s1, s2):  # the ringing toast, then Join from it
        toast = page.wait_for_selector(".call-toast")
        assert "Terry Teacher" in toast.inner_text()
        page.click(".call-toast [data-call-join]")
        page.wait_for_url("**/live/rooms/*")
        page.wait_for_selector("html[data-realtime=open]")
        page.click("#room-join")
        page.wait_for_selector("#room[data-joined=true]")

    for page in (teacher, s1, s2):
        remote_videos_playing(page, 2)
        inbound_growing(page, 2)
    screenshot(s2, "call-room-phone")

    s1.click("#room-mic")  # s1 mutes: the others see it on s1's tile and in the list
    for page in (teacher, s2):
        page.wait_for_selector(".video-tile.mic-off")
        page.wait_for_selector("#room-roster [data-muted=audio]")

    # The teacher removes s2: s2's media stops, the others drop s2, and s2 cannot rejoin.
    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.click(f"#room-roster li:has-text('{chat.s2.name}') summary")
    teacher.click(f"#room-roster li:has-text('{chat.s2.name}') button[data-action=remove]")
    wait_joined(s2, False, live_server)
    assert "removed" in s2.inner_text("#room-status")
    for page in (teacher, s1):
        remote_videos_playing(page, 1)
    s2.reload()
    assert s2.query_selector("#room-join") is None

    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.click("#room-end")
    teacher.wait_for_url(f"**/chat/threads/{chat.group.id}")
    wait_joined(s1, False, live_server)
    teacher.wait_for_selector("text=Call ended")
    assert "3 people" in teacher.inner_text(f"#messages-{chat.group.id}")
    for page in (teacher, s1, s2):
        assert_no_console_errors(page)
