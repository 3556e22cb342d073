"""Attendance reports (issue 12): the series grid, the course grid, a student's history, their
CSV/JSON exports (streamed, matching the page), who may see them, and statement counts that do
not grow with the people, the occurrences or the sessions."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from app.accounts.models import Role
from app.attendance import reports
from app.attendance.models import AttendanceRecord
from app.attendance.rules import AttendanceStatus as S
from app.bulk import insert_rows
from app.chat import services as chat_services
from app.db_types import utcnow
from app.extensions import db
from app.scheduling import services as scheduling
from app.scheduling.models import (Frequency, ParticipantRole, SessionOverride,
                                   SessionParticipant, SessionType, VideoSession)


def daily_series(center, teacher, learners=(), *, days_ago=10, count=10, tz="UTC",
                 co_teachers=(), course=None, title="Algebra lesson", hour=16):
    """A daily series whose first ``days_ago`` occurrences are over (written directly: the
    service refuses starts in the past), its people added before it began."""
    first = (utcnow() - timedelta(days=days_ago)).astimezone(ZoneInfo(tz)).replace(
        hour=hour, minute=0, second=0, microsecond=0, tzinfo=None)
    session = VideoSession(center_id=center.id, teacher_id=teacher.id, title=title,
                           description="", type=SessionType.CLASS, timezone=tz,
                           start_local=first, duration_minutes=60, frequency=Frequency.DAILY,
                           interval=1, by_weekday="", count=count,
                           course_id=course.id if course else None)
    added = utcnow() - timedelta(days=days_ago + 5)
    session.participants = [
        SessionParticipant(center_id=center.id, user_id=teacher.id,
                           role=ParticipantRole.INSTRUCTOR, created_at=added),
        *(SessionParticipant(center_id=center.id, user_id=u.id,
                             role=ParticipantRole.INSTRUCTOR, created_at=added)
          for u in co_teachers),
        *(SessionParticipant(center_id=center.id, user_id=u.id, role=ParticipantRole.LEARNER,
                             created_at=added) for u in learners)]
    scheduling.refresh_bounds(session)
    db.session.add(session)
    db.session.flush()
    chat_services.ensure_session_thread(session)
    db.session.commit()
    return session


def past_starts(session):
    """The occurrences the reports show: those held by now, which includes one whose Join
    window is open (reports.held_by), as a run of the suite between 15:50 and 16:00 found."""
    now = utcnow()
    return [o.start for o in scheduling.session_occurrences(
        session, now - timedelta(days=4000), reports.held_by(now))]


def mark(session, user, start, status, *, auto=False, left_early=False, seconds=0, note="",
         joins=0):
    record = AttendanceRecord(
        center_id=session.center_id, session_id=session.id, occurrence_start=start,
        user_id=user.id, manual_status=None if auto else status,
        auto_status=status if auto else None, left_early=left_early, seconds_present=seconds,
        join_count=joins, note=note, first_join_at=start + timedelta(minutes=2) if joins else None,
        last_leave_at=start + timedelta(minutes=50) if joins else None)
    db.session.add(record)
    return record


def bulk_marks(session, users, starts, status=S.PRESENT):
    insert_rows(AttendanceRecord.__table__, [
        dict(center_id=session.center_id, session_id=session.id, occurrence_start=start,
             user_id=u.id, run_id=None, manual_status=None, auto_status=status,
             left_early=False, seconds_present=3000, join_count=1, note="",
             first_join_at=start, last_leave_at=start + timedelta(minutes=50), set_by_id=None,
             set_at=None) for u in users for start in starts])


def students(make, center, n, prefix="Student"):
    return [make.user(center, Role.STUDENT, name=f"{prefix} {i:03d}", commit=False)
            for i in range(n)] if n else []


def grid_cells(html: str) -> list[list[str]]:
    """Each body row of the grid as [name, rate, late, absent, statuses...] (screen-reader
    words of each cell)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body, re.S):
        name = re.search(r'<th scope="row" class="att-name"><a [^>]*>([^<]*)</a>', row).group(1)
        nums = re.findall(r'<td class="att-num">([^<]*)</td>', row)
        statuses = re.findall(r'<span class="visually-hidden">([^<]*)</span></span>\s*</td>', row)
        rows.append([name, *nums, *statuses])
    return rows


# --- the series grid --------------------------------------------------------------------------

@pytest.fixture
def world(school, make):
    """A daily series of 6, all over (the 4th cancelled), Sara and Ben learners; Olga was
    marked once though she is not a learner."""
    sara, ben = school.students
    session = daily_series(school.center, school.teacher, [sara, ben], days_ago=6, count=6)
    starts = past_starts(session)
    assert len(starts) == 6
    cancelled = session_occurrences_local(session)[3]
    db.session.add(SessionOverride(center_id=school.center.id, session_id=session.id,
                                   original_start_local=cancelled, cancelled=True, sequence=1))
    scheduling.refresh_bounds(session)
    mark(session, sara, starts[0], S.PRESENT, auto=True, seconds=3000, joins=2)
    mark(session, sara, starts[1], S.LATE, auto=True, left_early=True, seconds=900, joins=1)
    mark(session, sara, starts[2], S.ABSENT, note="Was ill")
    mark(session, ben, starts[0], S.EXCUSED, note="=cmd|' /C calc'!A0")
    mark(session, ben, starts[1], S.PRESENT)
    mark(session, school.outsider, starts[2], S.PRESENT)
    db.session.commit()
    return type("World", (), dict(session=session, starts=starts, sara=sara, ben=ben))


def session_occurrences_local(session):
    now = utcnow()
    return [o.original_start_local for o in scheduling.session_occurrences(
        session, now - timedelta(days=4000), now + timedelta(days=4000))]


def test_series_grid_shows_people_by_occurrences_with_rates(school, world, as_user):
    browser = as_user(school.teacher)
    response = browser.get(f"/sessions/{world.session.id}/attendance")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = {r[0]: r[1:] for r in grid_cells(html)}
    # Learners and whoever has a record; people by name.
    assert list(rows) == ["Ben Student", "Olga Outside", "Sara Student"]
    # Sara: present, late (left early), absent over 3 counted = 67 %; one late, one absent.
    assert rows["Sara Student"][:3] == ["67%", "1", "1"]
    assert rows["Sara Student"][3:] == ["Present", "Late, left early", "Absent", "Not taken",
                                        "Not taken", "Not taken"]
    # Ben: excused is left out of the rate: 1 of 1.
    assert rows["Ben Student"][:3] == ["100%", "0", "0"]
    assert rows["Ben Student"][3:5] == ["Excused", "Present"]
    # The six occurrences, the cancelled one marked.
    assert html.count('class="att-occ') == 6
    assert html.count("Cancelled</span>") == 1
    # Each header links to the occurrence's sheet, keyed by its original local start.
    key = world.session.start_local.isoformat()
    assert f'href="/sessions/{world.session.id}/occurrences/{key}/attendance"' in html
    # Column totals: the first occurrence had Sara present and Ben excused: 1 of 1 came.
    assert "1 present, 0 late, 0 absent, 1 excused, 1 not taken" in html
    # The viewer's zone is named.
    assert "Times in Europe/London, your time zone" in html
    assert 'href="/sessions/{}/attendance.csv?from='.format(world.session.id) in html


def test_the_session_page_links_to_the_grid_for_its_teachers_only(school, world, as_user):
    assert "attendance-report-link" in as_user(school.teacher).get(
        f"/sessions/{world.session.id}").get_data(as_text=True)
    assert "attendance-report-link" not in as_user(world.sara).get(
        f"/sessions/{world.session.id}").get_data(as_text=True)


def test_range_filter_defaults_and_bad_dates(school, world, as_user):
    browser = as_user(school.teacher)
    today = utcnow().astimezone(ZoneInfo("Europe/London")).date()
    html = browser.get(f"/sessions/{world.session.id}/attendance").get_data(as_text=True)
    assert f'value="{(today - timedelta(days=55)).isoformat()}"' in html
    assert f'value="{today.isoformat()}"' in html
    # Only the two oldest occurrences' days.
    first = world.starts[0].astimezone(ZoneInfo("Europe/London")).date()
    html = browser.get(f"/sessions/{world.session.id}/attendance?from={first}"
                       f"&to={first + timedelta(days=1)}").get_data(as_text=True)
    assert html.count('class="att-occ') == 2
    # Junk and a reversed range: 422, the form keeps what was typed, says what is wrong.
    response = browser.get(f"/sessions/{world.session.id}/attendance?from=31/12/2026&to=")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="31/12/2026"' in html and "Enter a date as YYYY-MM-DD." in html
    assert 'aria-invalid="true"' in html and "att-grid" not in html
    response = browser.get(f"/sessions/{world.session.id}/attendance?from=2026-05-02&to=2026-05-01")
    assert response.status_code == 422
    assert "The start must be on or before the end." in response.get_data(as_text=True)
    response = browser.get(f"/sessions/{world.session.id}/attendance?from=0001-01-01&to=9999-12-31")
    assert response.status_code == 422
    response = browser.get(f"/sessions/{world.session.id}/attendance.csv?from=nope")
    assert response.status_code == 422
    # An HTMX swap of the form gets the fragment only.
    response = browser.get(f"/sessions/{world.session.id}/attendance?from=x",
                           headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "<html" not in response.get_data(as_text=True)


def test_long_series_are_paged_by_columns_latest_first(school, make, as_user):
    session = daily_series(school.center, school.teacher, school.students, days_ago=45,
                           count=60)
    browser = as_user(school.teacher)
    html = browser.get(f"/sessions/{session.id}/attendance").get_data(as_text=True)
    assert html.count('class="att-occ') == reports.COLUMNS_PER_PAGE  # the future ones not
    assert "Page 1 of 3" in html and ">Earlier</a>" in html and ">Later</a>" not in html
    latest = past_starts(session)[-1].astimezone(ZoneInfo("Europe/London"))
    assert latest.strftime("%a %-d %b") in html
    over = len(past_starts(session))
    assert over in (45, 46)  # today's may be over already
    html = browser.get(f"/sessions/{session.id}/attendance?page=3").get_data(as_text=True)
    assert html.count('class="att-occ') == over - 40
    assert ">Later</a>" in html and ">Earlier</a>" not in html
    assert browser.get(f"/sessions/{session.id}/attendance?page=99").status_code == 200


def test_a_record_of_an_occurrence_moved_since_keeps_its_column(school, world, as_user):
    stray = world.starts[4] + timedelta(hours=3)
    mark(world.session, world.sara, stray, S.PRESENT)
    db.session.commit()
    html = as_user(school.teacher).get(
        f"/sessions/{world.session.id}/attendance").get_data(as_text=True)
    assert html.count('class="att-occ') == 7
    assert "Moved since" in html


# --- the course grid ---------------------------------------------------------------------------

def test_course_grid_is_enrolled_students_by_every_course_session(school, make, as_user):
    sara, ben = school.students
    maths = daily_series(school.center, school.teacher, [sara], days_ago=3, count=5,
                         course=school.course, title="Maths", hour=9)
    lab = daily_series(school.center, school.teacher, [ben], days_ago=2, count=5,
                       course=school.course, title="Lab", hour=14)
    other = daily_series(school.center, school.teacher, [sara], days_ago=3, count=5,
                         title="Not of the course")
    mark(maths, sara, past_starts(maths)[0], S.PRESENT)
    mark(lab, ben, past_starts(lab)[0], S.ABSENT)
    mark(maths, school.outsider, past_starts(maths)[0], S.PRESENT)  # not enrolled: not shown
    mark(other, sara, past_starts(other)[1], S.ABSENT)  # another session: not counted
    db.session.commit()
    browser = as_user(school.teacher)
    response = browser.get(f"/courses/{school.course.id}/attendance")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    rows = {r[0]: r[1:] for r in grid_cells(html)}
    assert list(rows) == ["Ben Student", "Sara Student"]
    n_maths, n_lab = len(past_starts(maths)), len(past_starts(lab))
    assert html.count('class="att-occ') == n_maths + n_lab
    assert html.count('class="att-session">Maths<') == n_maths
    assert html.count('class="att-session">Lab<') == n_lab
    assert "Not of the course" not in html
    assert rows["Sara Student"][:3] == ["100%", "0", "0"]
    assert rows["Ben Student"][:3] == ["0%", "0", "1"]
    # The dashboard links the course's teacher to it.
    dashboard = browser.get("/").get_data(as_text=True)
    assert f'href="/courses/{school.course.id}/attendance"' in dashboard


# --- a student's history -------------------------------------------------------------------------

def test_a_student_sees_their_own_history_and_nobody_elses(school, world, as_user):
    browser = as_user(world.sara)
    assert 'href="/attendance/me"' in browser.get("/").get_data(as_text=True)  # the nav
    response = browser.get("/attendance/me")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    overall = html.split('id="overall-figures"', 1)[1].split("</dl>", 1)[0]
    assert re.findall(r"<dd>([^<]*)</dd>", overall) == ["67%", "1", "1", "1", "0"]
    assert html.count("Not taken") == 3  # the 3 occurrences over with no record
    assert "Was ill" not in html  # a teacher's note is for teachers
    assert "Ben Student" not in html
    # Another student's history, through either address: not found.
    assert browser.get(f"/people/{world.ben.id}/attendance").status_code == 404
    assert browser.get(f"/people/{world.ben.id}/attendance.csv").status_code == 404
    # Their own through the person address is theirs.
    assert browser.get(f"/people/{world.sara.id}/attendance").status_code == 200
    # Their export has their rows only, and no notes.
    rows = list(csv.DictReader(io.StringIO(
        browser.get("/attendance/me.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert {r["person"] for r in rows} == {"Sara Student"}
    assert "note" not in rows[0]


def test_history_lists_only_occurrences_after_joining(school, world, as_user):
    db.session.execute(SessionParticipant.__table__.update().where(
        SessionParticipant.user_id == world.ben.id).values(created_at=world.starts[3]))
    db.session.commit()
    html = as_user(world.ben).get("/attendance/me").get_data(as_text=True)
    # Two records (before joining, still listed) and the 3 occurrences from when he was added.
    assert html.count('class="att-line') == 2 + 3
    assert html.count("Not taken") == 3


def test_a_teacher_sees_their_students_history_within_their_sessions(school, world, make,
                                                                     as_user):
    colleague = make.user(school.center, Role.TEACHER, name="Cole League")
    theirs = daily_series(school.center, colleague, [world.sara], days_ago=2, count=3,
                          title="Colleague's lesson")
    mark(theirs, world.sara, past_starts(theirs)[0], S.ABSENT, note="colleague's note")
    db.session.commit()
    browser = as_user(school.teacher)
    person_page = browser.get(f"/people/{world.sara.id}").get_data(as_text=True)
    assert "person-attendance-link" in person_page
    html = browser.get(f"/people/{world.sara.id}/attendance").get_data(as_text=True)
    assert "Algebra lesson" in html and "Was ill" in html
    assert "Colleague&#39;s lesson" not in html and "Colleague's lesson" not in html
    admin = as_user(school.admin).get(f"/people/{world.sara.id}/attendance").get_data(
        as_text=True)
    assert "Colleague&#39;s lesson" in admin
    # A teacher with no link to her: not found.
    assert as_user(make.user(school.center, Role.TEACHER)).get(
        f"/people/{world.sara.id}/attendance").status_code == 404


# --- exports ------------------------------------------------------------------------------------

def test_series_csv_matches_the_page_and_is_streamed(school, world, as_user):
    browser = as_user(school.teacher)
    page = browser.get(f"/sessions/{world.session.id}/attendance").get_data(as_text=True)
    response = browser.get(f"/sessions/{world.session.id}/attendance.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="attendance-session-\d+-\d{4}-\d\d-\d\d-to-'
                        r'\d{4}-\d\d-\d\d\.csv"', response.headers["Content-Disposition"])
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == 3 * 6  # one per person per occurrence
    assert {r["time_zone"] for r in rows} == {"Europe/London"}
    # Per person, in occurrence order, what the grid's cells say.
    words = {"PRESENT": "Present", "LATE": "Late", "ABSENT": "Absent", "EXCUSED": "Excused",
             "": "Not taken"}
    from_csv = {}
    for row in rows:
        word = words[row["status"]] + (", left early" if row["left_early"] == "yes" else "")
        from_csv.setdefault(row["person"], []).append(word)
    assert {r[0]: r[4:] for r in grid_cells(page)} == from_csv
    sara_first = next(r for r in rows if r["person"] == "Sara Student")
    london = world.starts[0].astimezone(ZoneInfo("Europe/London"))
    assert sara_first["occurrence_start"] == london.isoformat()
    assert sara_first["seconds_present"] == "3000" and sara_first["join_count"] == "2"
    assert sara_first["first_join"] == (london + timedelta(minutes=2)).isoformat()
    assert sara_first["source"] == "auto"
    absent = next(r for r in rows if r["status"] == "ABSENT")
    assert absent["note"] == "Was ill" and absent["source"] == "manual"
    # A note that looks like a formula stays text in a spreadsheet.
    assert any(r["note"] == "'=cmd|' /C calc'!A0" for r in rows)
    assert sum(r["occurrence"] == "cancelled" for r in rows) == 3


def test_series_json_export(school, world, as_user):
    viewer = world.ben  # a student may not export the series
    assert as_user(viewer).get(f"/sessions/{world.session.id}/attendance.json").status_code == 403
    response = as_user(school.teacher).get(f"/sessions/{world.session.id}/attendance.json")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.json"')
    data = json.loads(response.get_data(as_text=True))
    assert data["time_zone"] == "Europe/London" and len(data["rows"]) == 18
    late = next(r for r in data["rows"] if r["status"] == "LATE")
    assert late["left_early"] is True and late["person"] == "Sara Student"
    assert next(r for r in data["rows"] if r["status"] is None)["source"] is None


def test_a_viewer_in_another_zone_gets_times_in_their_zone(school, world, make, as_user):
    school.teacher.timezone = "America/New_York"
    db.session.commit()
    rows = json.loads(as_user(school.teacher).get(
        f"/sessions/{world.session.id}/attendance.json").get_data(as_text=True))["rows"]
    assert rows[0]["time_zone"] == "America/New_York"
    assert rows[0]["occurrence_start"] == world.starts[0].astimezone(
        ZoneInfo("America/New_York")).isoformat()


def test_course_export_and_history_export(school, world, as_user):
    world.session.course_id = school.course.id
    db.session.commit()
    browser = as_user(school.teacher)
    rows = list(csv.DictReader(io.StringIO(browser.get(
        f"/courses/{school.course.id}/attendance.csv").get_data(as_text=True).lstrip("\ufeff"))))
    assert {r["person"] for r in rows} == {"Sara Student", "Ben Student"}
    assert len(rows) == 2 * 6
    history = json.loads(browser.get(f"/people/{world.sara.id}/attendance.json").get_data(
        as_text=True))["rows"]
    assert [r["status"] for r in history] == ["PRESENT", "LATE", "ABSENT", None, None, None]
    assert history[2]["note"] == "Was ill"


# --- permissions ---------------------------------------------------------------------------------

def test_who_may_see_the_grids(school, world, make, as_user):
    sid, cid = world.session.id, school.course.id
    co_teacher = make.user(school.center, Role.TEACHER, name="Co Teacher")
    db.session.add(SessionParticipant(center_id=school.center.id, session_id=sid,
                                      user_id=co_teacher.id, role=ParticipantRole.INSTRUCTOR))
    db.session.commit()
    assert as_user(co_teacher).get(f"/sessions/{sid}/attendance").status_code == 200
    assert as_user(school.admin).get(f"/sessions/{sid}/attendance").status_code == 200
    assert as_user(school.admin).get(f"/courses/{cid}/attendance").status_code == 200
    # A learner of the session sees it but not its grid; a stranger to it, nothing.
    assert as_user(world.sara).get(f"/sessions/{sid}/attendance").status_code == 403
    assert as_user(world.sara).get(f"/sessions/{sid}/attendance.csv").status_code == 403
    assert as_user(world.sara).get(f"/courses/{cid}/attendance").status_code == 403
    assert as_user(world.sara).get(f"/courses/{cid}/attendance.json").status_code == 403
    stranger = make.user(school.center, Role.TEACHER)
    assert as_user(stranger).get(f"/sessions/{sid}/attendance").status_code == 404
    assert as_user(stranger).get(f"/courses/{cid}/attendance").status_code == 403
    assert as_user(co_teacher).get(f"/courses/{cid}/attendance").status_code == 403
    # Another center: nothing exists there.
    other = make.center("Elsewhere")
    elsewhere = make.user(other, Role.ADMIN)
    for path in (f"/sessions/{sid}/attendance", f"/sessions/{sid}/attendance.csv",
                 f"/courses/{cid}/attendance", f"/courses/{cid}/attendance.json",
                 f"/people/{world.sara.id}/attendance", f"/people/{world.sara.id}/attendance.csv",
                 "/sessions/99999999999/attendance", "/courses/abc/attendance"):
        assert as_user(elsewhere).get(path).status_code == 404, path

def test_signed_out_people_are_sent_to_log_in(client, world):
    for path in (f"/sessions/{world.session.id}/attendance", "/attendance/me",
                 f"/sessions/{world.session.id}/attendance.csv"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- statements that do not grow ---------------------------------------------------------------

def _series_of(school, make, n_students, n_occurrences):
    people = students(make, school.center, n_students)
    db.session.commit()
    session = daily_series(school.center, school.teacher, people, days_ago=n_occurrences,
                           count=n_occurrences, title=f"Series {n_students}")
    starts = past_starts(session)
    bulk_marks(session, people[: max(1, n_students // 2)], starts)
    bulk_marks(session, people[max(1, n_students // 2):], starts[:5], S.ABSENT)
    db.session.commit()
    return session, people


def test_statement_counts_are_flat(school, make, as_user, count_queries):
    counts = {}
    browser = as_user(school.teacher)
    for n in (10, 100):
        session, people = _series_of(school, make, n, 20)
        course = make.course(school.center, f"Course of {n}", teachers=[school.teacher],
                             students=people)
        session.course_id = course.id
        db.session.commit()
        for name, path in (("series", f"/sessions/{session.id}/attendance"),
                           ("series.csv", f"/sessions/{session.id}/attendance.csv"),
                           ("series.json", f"/sessions/{session.id}/attendance.json"),
                           ("course", f"/courses/{course.id}/attendance"),
                           ("course.csv", f"/courses/{course.id}/attendance.csv")):
            browser.get(path).get_data()  # warm: the login's and the page's caches
            with count_queries() as counter:
                response = browser.get(path)
                body = response.get_data(as_text=True)
            assert response.status_code == 200
            if name == "series":
                assert len(grid_cells(body)) == n and body.count('class="att-occ') == 20
            if name.endswith(".csv"):
                assert body.count("\n") == n * 20 + 1
            counts.setdefault(name, []).append(counter.count)
    for name, (small, large) in counts.items():
        assert small == large, (name, counts)


def test_history_statement_count_is_flat(school, make, as_user, count_queries):
    counts = []
    for n_sessions in (1, 30):
        student = make.user(school.center, Role.STUDENT, name=f"Has {n_sessions}")
        for i in range(n_sessions):
            session = daily_series(school.center, school.teacher, [student], days_ago=4,
                                   count=4, title=f"Lesson {i}")
            bulk_marks(session, [student], past_starts(session)[:2])
        db.session.commit()
        browser = as_user(student)
        for path in ("/attendance/me", "/attendance/me.csv"):
            browser.get(path).get_data()
            with count_queries() as counter:
                body = browser.get(path).get_data(as_text=True)
            counts.append((path, n_sessions, counter.count))
            if path.endswith(".csv"):
                assert body.count("\n") == 4 * n_sessions + 1
            else:
                assert body.count('class="att-line') == 4 * n_sessions
    small = {path: c for path, n, c in counts if n == 1}
    large = {path: c for path, n, c in counts if n == 30}
    assert small == large, counts


def test_services_refuse_people_without_the_right(school, world):
    date_range = reports.default_range(world.sara)
    with pytest.raises(reports.PermissionDenied):
        reports.series_grid(world.sara, world.session, date_range)
    with pytest.raises(reports.PermissionDenied):
        reports.course_export(world.sara, school.course, date_range)
    with pytest.raises(reports.PermissionDenied):
        reports.student_history(world.sara, world.ben, date_range)
    assert reports.series_grid(school.teacher, world.session, date_range).rows


def test_exports_read_through_a_chunked_cursor(school, world):
    """The export's records come in chunks of STREAM_CHUNK (a server-side cursor on
    PostgreSQL), not as one list."""
    plan = reports.series_export(school.teacher, world.session,
                                 reports.default_range(school.teacher))
    with plan.engine.connect() as connection:
        result = connection.execute(plan.records)
        assert type(result.cursor_strategy).__name__ == "BufferedRowCursorFetchStrategy"
        if connection.dialect.name == "postgresql":
            assert type(result.cursor).__name__ == "ServerCursor"
        assert len(result.all()) == 6
