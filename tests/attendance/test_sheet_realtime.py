"""The sheet's live rows (app/attendance/sheet_realtime.py): what one ``attendance.rows`` event on
the room's topic renders for each viewer: every named row for the sheet's managers, a
student's own row only, nothing for anyone else; and live publishing it after a join and a mark
(never before the commit)."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from app.accounts.models import Center, User
from app.attendance import services
from app.attendance import sheet_realtime as realtime
from app.attendance.rules import AttendanceStatus as S
from app.extensions import db
from app.live import services as live
from app.live import session_runs
from app.realtime.events import Event, channel_for
from app.realtime.hub import Viewer
from app.redis_conn import get_redis
from tests.attendance.test_sheet import go_live, lesson  # noqa: F401 (lesson: a fixture)
from tests.conftest import commit


def viewer_of(user) -> Viewer:
    row = db.session.execute(select(User.id, User.center_id, User.role, User.name,
                                    User.timezone, Center.timezone, User.session_version,
                                    User.is_active_flag).join(Center, Center.id == User.center_id)
                             .where(User.id == user.id)).one()
    return Viewer(*row)


def render_for(app, event, users) -> dict[int, str | None]:
    """As the hub renders (app/realtime/hub.py: in a request context of its own)."""
    viewers = [viewer_of(u) for u in users]
    cache = {}
    with app.test_request_context("/", base_url=app.config["BASE_URL"]):
        realtime._prepare(event, viewers, cache)
        return {v.id: realtime._render(event, v, cache) for v in viewers}


def test_each_viewer_gets_the_rows_they_may_see(lesson, school, app):  # noqa: F811
    run = go_live(lesson.session, lesson.start, lesson.teacher)
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    services.set_statuses(lesson.teacher, sheet, [lesson.s2.id], S.EXCUSED, "Private note")
    commit()
    event = Event(f"room:{run.room_id}", services.ROWS_EVENT, dict(
        session_id=lesson.session.id, occurrence_start=lesson.start.isoformat(),
        occurrence_key=sheet.occurrence_key, run_id=run.id,
        people=[lesson.s1.id, lesson.s2.id]))
    seen = render_for(app, event, [lesson.teacher, school.admin, lesson.s1, lesson.s3,
                              school.outsider])
    for manager in (lesson.teacher, school.admin):
        html = seen[manager.id]
        assert f'id="sheet-row-{lesson.s1.id}"' in html and "Private note" in html
        assert 'hx-swap-oob="true"' in html and "csrf_token" not in html  # the page's header
    own = seen[lesson.s1.id]
    assert f'id="sheet-row-{lesson.s1.id}"' in own
    assert f"sheet-row-{lesson.s2.id}" not in own and "Private note" not in own
    assert "/cycle" not in own  # a student's row has no controls
    assert seen[lesson.s3.id] is None and seen[school.outsider.id] is None


def test_a_join_and_a_mark_publish_the_rows_after_commit(lesson, app):  # noqa: F811
    run = go_live(lesson.session, lesson.start, lesson.teacher)
    commit()
    room = session_runs.room_for_session(lesson.session)
    pubsub = get_redis(app).pubsub()
    pubsub.subscribe(channel_for(app))
    pubsub.get_message(timeout=1)  # the subscription's confirmation

    def published():
        found = []
        while (message := pubsub.get_message(timeout=0.2)) is not None:
            if message["type"] == "message":
                payload = json.loads(message["data"])
                if payload["name"] == services.ROWS_EVENT:
                    found.append(payload["data"]["people"])
        return found

    live.join(lesson.s1, room, "0123456789ab")
    assert published() == []  # nothing before the commit
    commit()
    assert published() == [[lesson.s1.id]]
    sheet = services.occurrence_sheet(lesson.session, lesson.occ)
    services.set_statuses(lesson.teacher, sheet, [lesson.s2.id, lesson.s3.id], S.EXCUSED)
    commit()
    assert published() == [[lesson.s2.id, lesson.s3.id]]
    live._end(db.session.get(type(run), run.id), lesson.teacher,
              lesson.start + timedelta(minutes=60))
    commit()
    # The run's end: everyone's final row.
    assert published() == [sorted([lesson.s1.id, lesson.s2.id, lesson.s3.id])]
    pubsub.close()


def test_only_sockets_of_sheet_pages_get_the_rows():
    """The room pages follow the same topic: a row is neither rendered nor sent to them."""
    from app.realtime.events import CatchUp

    class Socket:
        def __init__(self):
            self.state = {}

    event = Event("room:7", services.ROWS_EVENT, {"people": [1]})
    sheet_page, room_page = Socket(), Socket()
    realtime.follow_sheet(sheet_page, None, 7, CatchUp(have=realtime.SHEET_MARK))
    realtime.follow_sheet(room_page, None, 7, CatchUp(have=None))
    assert realtime._for_sheets(event, sheet_page)
    assert not realtime._for_sheets(event, room_page)
    assert not realtime._for_sheets(Event("room:8", services.ROWS_EVENT, {}), sheet_page)
    # The same socket subscribing again for the room itself (not a sheet) stops getting them;
    # a resync after a lost Redis (not from the page) keeps what the page said.
    realtime.follow_sheet(sheet_page, None, 7, CatchUp(have=None, from_client=False))
    assert realtime._for_sheets(event, sheet_page)
    realtime.follow_sheet(sheet_page, None, 7, CatchUp(have=None))
    assert not realtime._for_sheets(event, sheet_page)
