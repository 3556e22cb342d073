"""The star call inside the Tutor Control Center, in real Chromium with fake media (issue 13):
a tutor and three students in one run. The tutor's page is in the call (Join the call) and
plays each student's video in their panel; the students' pages connect to the tutor only.

The "cone of silence", asserted per connection: on the tutor's page the audio sender of each
student's connection carries its own clone of the microphone, enabled only for the student in
Teach; on each student's page the audio arriving from the tutor carries sound (Chromium's fake
microphone beeps) only for that student. Teach on student 2 opens it to student 2 alone;
student 2 back to Observe and student 3 to Teach moves it. Each student's page says whether
their tutor is talking to them."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, assert_no_console_errors, screenshot
from tests.browser.test_notifications import log_in, wait_connected
from tests.calls.test_instant_call import remote_videos_playing
from tests.calls.test_reconnect import DROP_SOCKET
from tests.control_center.conftest import lesson_for  # noqa: F401

DESKTOP_WIDE = {"width": 1280, "height": 800}
TABLET = {"width": 820, "height": 1180}

# The energy of the audio received so far from the tutor (inbound-rtp totalAudioEnergy over the
# page's connections: a student's page has one, to the tutor).
HEARD = """async () => {
  let energy = 0;
  for (const peer of Object.values(window.classhubRoom.peers)) {
    const report = await peer.pc.getStats();
    report.forEach(s => { if (s.type === "inbound-rtp" && s.kind === "audio") energy += s.totalAudioEnergy || 0; });
  }
  return energy;
}"""
SENDERS = "() => window.classhubCcCall.audioSenders()"


def student_videos_playing(tutor, student_ids):
    tutor.wait_for_function(
        """ids => ids.every(id => { const v = document.querySelector(`.cc-tile[data-user-id="${id}"] video`);
                                    return v && v.videoWidth > 0 && !v.paused; })""",
        arg=student_ids, timeout=30_000)


def tutor_audio_enabled_for(tutor, student_ids, teaching):
    """On the tutor's page: one connection per student, each with its own microphone clone,
    enabled for ``teaching`` only (waits for the mode to reach the page)."""
    tutor.wait_for_function(
        """([ids, on]) => { const s = window.classhubCcCall.audioSenders();
             return s.length === ids.length && ids.every(id => s.some(x => x.user === id && x.clone && x.enabled === (id === on))); }""",
        arg=[student_ids, teaching], timeout=10_000)
    senders = tutor.evaluate(SENDERS)
    assert sorted(s["user"] for s in senders) == sorted(student_ids)
    assert {s["user"]: s["enabled"] for s in senders} == {i: i == teaching for i in student_ids}


def who_hears_the_tutor(pages) -> set[int]:
    """The students whose page received sound from the tutor over the same two and a half
    seconds (Chromium's fake microphone beeps every second), once what was on its way when the
    tutor's page switched has played out (a jitter buffer holds a fraction of a second)."""
    waiting = next(iter(pages.values()))
    waiting.wait_for_timeout(1000)  # not a timing assertion: the audio in flight plays out
    before = {sid: page.evaluate(HEARD) for sid, page in pages.items()}
    waiting.wait_for_timeout(2500)  # a later sample to compare
    after = {sid: page.evaluate(HEARD) for sid, page in pages.items()}
    return {sid for sid in pages if after[sid] - before[sid] > 1e-3}


def set_mode(tutor, student_id, mode):
    tutor.locator(f"#cc-panel-{student_id} .cc-mode button[value={mode}]").click()
    expect(tutor.locator(f"#cc-panel-{student_id}")).to_have_attribute("data-mode", mode)


def test_teach_and_observe_route_the_tutors_voice_per_student(lesson_for, school, new_page):
    lesson = lesson_for(3)
    s1, s2, s3 = lesson.learners
    ids = [s1.id, s2.id, s3.id]

    tutor = new_page(viewport=DESKTOP_WIDE)
    log_in(tutor, school.teacher)
    tutor.goto(f"/sessions/{lesson.session.id}/control-center")
    wait_connected(tutor)
    tutor.click("#cc-call-join")
    expect(tutor.locator("#cc-call")).to_have_attribute("data-joined", "true")

    students = {}
    for student in (s1, s2, s3):
        page = new_page(viewport=PHONE if student is s2 else DESKTOP_WIDE)
        log_in(page, student)
        page.goto(f"/live/rooms/{lesson.run.room_id}")
        wait_connected(page)
        page.click("#room-join")
        expect(page.locator("#room")).to_have_attribute("data-joined", "true")
        students[student.id] = page

    # The tutor sees each student in their panel; each student sees the tutor and nobody else
    # (a star: students never connect to, see or hear each other).
    student_videos_playing(tutor, ids)
    for page in students.values():
        remote_videos_playing(page, 1)
        assert page.evaluate("() => window.classhubRoom.state().topology") == "star"
    for student in (s1, s2, s3):
        expect(tutor.locator(f"#cc-panel-{student.id} .cc-video-name")).to_have_text(student.name)

    # Everyone starts in Observe: the tutor is heard by nobody.
    tutor_audio_enabled_for(tutor, ids, None)
    assert who_hears_the_tutor(students) == set()
    for page in students.values():
        expect(page.locator("#cc-tutor-with")).to_contain_text("Your tutor is with another student")

    # Teach on student 2: the tutor's voice reaches student 2 only.
    set_mode(tutor, s2.id, "TEACH")
    tutor_audio_enabled_for(tutor, ids, s2.id)
    assert who_hears_the_tutor(students) == {s2.id}
    expect(students[s2.id].locator("#cc-tutor-with")).to_contain_text("Your tutor is talking to you")
    for sid in (s1.id, s3.id):
        expect(students[sid].locator("#cc-tutor-with")).to_contain_text("with another student")
    # The students' videos survived the panels being swapped by the mode change.
    student_videos_playing(tutor, ids)
    screenshot(tutor, "cc-call-tutor-desktop")
    screenshot(students[s2.id], "cc-call-student-phone")

    # Student 2 back to Observe, student 3 to Teach: it moves.
    set_mode(tutor, s2.id, "OBSERVE")
    set_mode(tutor, s3.id, "TEACH")
    tutor_audio_enabled_for(tutor, ids, s3.id)
    assert who_hears_the_tutor(students) == {s3.id}
    expect(students[s3.id].locator("#cc-tutor-with")).to_contain_text("Your tutor is talking to you")
    expect(students[s2.id].locator("#cc-tutor-with")).to_contain_text("with another student")

    # The stored mode counts on a fresh page too: the tutor reloads and joins again.
    tutor.reload()
    wait_connected(tutor)
    tutor.click("#cc-call-join")
    expect(tutor.locator("#cc-call")).to_have_attribute("data-joined", "true")
    student_videos_playing(tutor, ids)
    tutor_audio_enabled_for(tutor, ids, s3.id)
    assert who_hears_the_tutor(students) == {s3.id}

    # A student who mutes and turns their camera off: the tutor's tile for them says so.
    students[s1.id].click("#room-mic")
    students[s1.id].click("#room-camera")
    own = tutor.locator(f".cc-tile[data-user-id='{s1.id}'] .cc-video")
    expect(own).to_have_class(re.compile(r"\bmic-off\b"))
    expect(own).to_have_class(re.compile(r"\bcamera-off\b"))
    expect(own.locator(".cc-video-state")).to_have_text("muted, camera off")

    tutor.set_viewport_size(TABLET)
    student_videos_playing(tutor, ids)
    screenshot(tutor, "cc-call-tutor-tablet")
    for page in (tutor, *students.values()):
        assert_no_console_errors(page)


def test_one_page_per_tutor_in_the_call(lesson_for, school, new_page):
    """The tutor's room page and the control center are not in the call at once: joining from
    the control center takes the call over, and the room page says so."""
    lesson = lesson_for(1)
    (student_user,) = lesson.learners
    room = new_page(viewport=DESKTOP_WIDE)
    log_in(room, school.teacher)
    room.goto(f"/live/rooms/{lesson.run.room_id}")
    wait_connected(room)
    expect(room.locator("#room-cc-hint")).to_contain_text("control center")
    room.click("#room-join")
    expect(room.locator("#room")).to_have_attribute("data-joined", "true")

    student = new_page(viewport=PHONE)
    log_in(student, student_user)
    student.goto(f"/live/rooms/{lesson.run.room_id}")
    wait_connected(student)
    student.click("#room-join")
    remote_videos_playing(student, 1)

    # The tutor goes there from the session page (its link loads the page whole: the call's
    # script is in its head).
    tutor = new_page(viewport=DESKTOP_WIDE)
    log_in(tutor, school.teacher)
    tutor.goto(f"/sessions/{lesson.session.id}")
    tutor.click("#open-control-center")
    tutor.wait_for_url(f"**/sessions/{lesson.session.id}/control-center")
    wait_connected(tutor)
    tutor.click("#cc-call-join")
    expect(tutor.locator("#cc-call")).to_have_attribute("data-joined", "true")
    expect(room.locator("#room")).to_have_attribute("data-joined", "false")
    expect(room.locator("#room-status")).to_contain_text("from another page")
    screenshot(room, "cc-call-room-page-taken-over-desktop")
    student_videos_playing(tutor, [student_user.id])
    # The student's page is connected to the control center alone.
    student.wait_for_function("() => Object.keys(window.classhubRoom.peers).length === 1")
    remote_videos_playing(student, 1)

    # The control center's socket drops (a network blip): it comes back on a new socket and
    # joins again by itself; the student sees the tutor again, the room page stays out.
    before = tutor.evaluate("() => window.classhubCcCall.connection()")
    tutor.evaluate(DROP_SOCKET)
    tutor.wait_for_function("old => window.classhubCcCall.connection() !== old", arg=before,
                            timeout=15_000)
    expect(tutor.locator("#cc-call")).to_have_attribute("data-joined", "true")
    student_videos_playing(tutor, [student_user.id])
    student.wait_for_function(
        """id => Object.keys(window.classhubRoom.peers).length === 1
                && Object.keys(window.classhubRoom.peers)[0].indexOf(id) < 0""", arg=before)
    remote_videos_playing(student, 1)
    expect(room.locator("#room")).to_have_attribute("data-joined", "false")
    for page in (room, student, tutor):
        assert_no_console_errors(page)


def test_a_student_waiting_in_the_lobby_is_told_when_the_lesson_starts(lesson_for, school,
                                                                        new_page):
    """A student who opened Join before the tutor started waits in the lobby; Start brings
    their box and "Your tutor is with another student" to that same page (no reload)."""
    from app.live import session_runs
    from tests.conftest import commit

    lesson = lesson_for(2, live=False)
    student_user = lesson.learners[0]
    page = new_page(viewport=PHONE)
    log_in(page, student_user)
    page.goto(f"/sessions/{lesson.session.id}")
    page.click("[data-session-join]")
    page.wait_for_url("**/live/rooms/*")
    wait_connected(page)
    expect(page.locator("#room")).to_have_attribute("data-lobby", "waiting")
    expect(page.locator("#cc-student-box")).to_be_hidden()
    expect(page.locator("#cc-tutor-with")).to_be_hidden()

    session_runs.start_session_run(school.teacher, lesson.session)
    commit()
    expect(page.locator("#room")).to_have_attribute("data-joined", "true")
    expect(page.locator("#cc-tutor-with")).to_contain_text("Your tutor is with another student")
    expect(page.locator("#cc-student-box")).to_contain_text("Raise hand")
    screenshot(page, "cc-call-student-from-lobby-phone")
    assert_no_console_errors(page)
