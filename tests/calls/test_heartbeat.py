"""A page whose stay the server closed without it hearing (its socket was down when the sweep or
another page ended it) learns it from its next heartbeat: it stops its media, says so and offers
Join again, and nothing is logged as a failure (a heartbeat that crosses the call's end is an
answer, not an error)."""
from __future__ import annotations

from sqlalchemy import update

from app.db_types import utcnow
from app.extensions import db
from app.live.models import Segment
from tests.browser.conftest import assert_no_console_errors
from tests.calls.test_instant_call import login, start_call, wait_joined

HEARTBEAT_MS = 20_000  # static/js/mesh.js


def test_a_closed_stay_is_learnt_from_the_next_heartbeat(chat, new_page, live_server):
    db.session.commit()
    teacher = new_page()
    teacher.clock.install()  # the page's timers run in real time until the test jumps them
    login(teacher, chat.teacher)
    start_call(teacher, chat, live_server)

    with teacher.expect_response("**/heartbeat") as beat:  # a beat while in the call: still in
        teacher.clock.run_for(HEARTBEAT_MS)
    assert (beat.value.status, beat.value.json()) == (200, {"in_call": True})
    assert teacher.get_attribute("#room", "data-joined") == "true"

    # The server closes the stay behind the page's back (no event reaches it).
    closed = db.session.execute(update(Segment).where(Segment.user_id == chat.teacher.id,
                                                      Segment.left_at.is_(None))
                                .values(left_at=utcnow())).rowcount
    db.session.commit()
    assert closed == 1
    teacher.clock.run_for(HEARTBEAT_MS)
    wait_joined(teacher, False, live_server)
    assert "no longer in this call" in teacher.inner_text("#room-status")
    # Not a dead end: Join is offered again, as after Leave, and joins.
    teacher.click("#room-join")
    wait_joined(teacher, True, live_server)
    assert_no_console_errors(teacher)
