"""A whole instant call in real Chromium: start from a group chat, ringing, join, media from
every peer, a mute seen by the others, a removal, the end and the CALL summary; the same flow on
the built-in mesh and through a real Janus (the room page and its controls are the same)."""
from __future__ import annotations

from tests.browser.conftest import PHONE, assert_no_console_errors, screenshot
from tests.browser.test_accessibility import AXE, axe_violations
from tests.conftest import PASSWORD

# Bytes received from each remote page (room.js asks its engine: mesh peers or Janus feeds).
MEDIA_FLOWING = "() => window.classhubRoom.stats()"


def login(page, user):
    page.goto("/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def join_room(page, server):
    """Join from the room page once its socket is open."""
    page.wait_for_selector("html[data-realtime=open]")
    page.click("#room-join")
    wait_joined(page, True, server)


def start_call(teacher, chat, server):
    """The teacher (logged in on ``teacher``) starts a call from the group chat and joins it."""
    teacher.goto(f"/chat/threads/{chat.group.id}")
    teacher.click("#start-call")
    teacher.wait_for_url("**/live/rooms/*")
    join_room(teacher, server)


def in_a_call(chat, teacher, student, server):
    """The teacher and s1, logged in on these two pages, in a call from the group chat, each
    seeing the other."""
    from app.extensions import db

    db.session.commit()  # what the test set up, before the server looks
    login(teacher, chat.teacher)
    login(student, chat.s1)
    start_call(teacher, chat, server)
    student.goto(teacher.url)
    join_room(student, server)
    for page in (teacher, student):
        remote_videos_playing(page, 1)


def remote_videos_playing(page, count):
    try:
        _remote_videos_playing(page, count)
    except Exception:
        raise AssertionError((page.url, page.inner_text("#room-status"), page.console_messages[-8:],
                              page.evaluate("() => [window.classhubRoom.engine(), Object.keys(window.classhubRoom.peers), Object.values(window.classhubRoom.peers).map(p => p.pc.connectionState + '/' + p.pc.signalingState), document.getElementById('room-state').getAttribute('data-state')]")))


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


def assert_no_call_errors(page, live_server, engine):
    """No console errors; on Janus, but for the long polls of sessions the page destroyed."""
    if engine != "janus":
        assert_no_console_errors(page)
        return
    # Leaving destroys the page's Janus session; the long poll janus.js has in flight for it
    # is then answered 404 (no such session), or, caught mid-answer, cut off (Chromium:
    # ERR_INCOMPLETE_CHUNKED_ENCODING). Nothing else may be missing or fail.
    def long_poll(entry):
        return f"GET {live_server.janus.url}/" in entry and "maxev=" in entry

    not_found = [m for m in page.failed_responses if m.startswith("404 ")]
    assert all(m.startswith("404 GET") and long_poll(m) for m in not_found), not_found
    cut = [m for m in page.failed_requests if m.startswith("net::ERR_INCOMPLETE_CHUNKED_ENCODING")]
    assert all(long_poll(m) for m in cut), cut
    console_allowed = ("status of 422 ", "status of 404 ") + \
        (("net::ERR_INCOMPLETE_CHUNKED_ENCODING",) if cut else ())
    errors = [m for m in page.console_messages if m.startswith(("error", "pageerror"))
              and not (m.startswith("error: Failed to load resource")
                       and any(a in m for a in console_allowed))]
    assert not errors, (errors, page.failed_responses, page.failed_requests)


def inbound_growing(page, peers):
    first = page.evaluate(MEDIA_FLOWING)
    assert len(first) == peers
    page.wait_for_timeout(1500)  # not a timing assertion: just a later sample to compare
    second = page.evaluate(MEDIA_FLOWING)
    assert all(b > a for a, b in zip(first, second)), (first, second)


def test_an_instant_call_from_a_group_chat(chat, new_page, live_server):
    an_instant_call(chat, new_page, live_server, engine="mesh")


def test_an_instant_call_through_janus(chat, janus_pages, janus_call_server):
    an_instant_call(chat, janus_pages, janus_call_server, engine="janus")


def an_instant_call(chat, new_page, live_server, engine):
    from app.extensions import db

    db.session.commit()
    teacher, s1, s2 = new_page(), new_page(), new_page(viewport=PHONE)
    for page in (teacher, s2):  # axe-core checks the room on a desktop and on a phone
        page.context.add_init_script(path=str(AXE))
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
        assert page.is_hidden("#room-join")

    for page in (teacher, s1, s2):
        remote_videos_playing(page, 2)
        inbound_growing(page, 2)
        assert page.evaluate("() => window.classhubRoom.engine()") == engine
        # One's own tile says "You", whatever roster arrives.
        assert page.inner_text(".video-tile.local figcaption").startswith("You")
    for page in (teacher, s2):  # in a call, the moderator's controls open
        if page is teacher:
            page.click(f"#room-roster li:has-text('{chat.s1.name}') summary")
        assert axe_violations(page) == [], page.url
    screenshot(s2, f"call-room-phone-{engine}")
    screenshot(teacher, f"call-room-desktop-{engine}")

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
        assert_no_call_errors(page, live_server, engine)
