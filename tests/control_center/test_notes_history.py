"""The student's notes history on their person page (issue 13, "Notes"): the student reads the
notes SHARED with them from all their sessions, newest first; their tutors and admins also read
the tutor-only ones (a teacher only those of the sessions they teach); nobody else reads any;
the page's statements do not grow with the notes."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from app.accounts.models import Role
from app.control_center import services
from app.control_center.models import TutorNote
from app.extensions import db
from tests.conftest import commit
from tests.live.test_sessions_live import make_session

SECRET = "tutor-only: suspect dyscalculia"


def _note(session, student, author, body, visibility, minutes_ago):
    """A note written ``minutes_ago`` (the service stamps now: the time is set afterwards)."""
    note = services.add_note(author, session, services.default_occurrence(session), student.id,
                             body, visibility)
    db.session.execute(update(TutorNote).where(TutorNote.id == note.id).values(
        created_at=note.created_at - timedelta(minutes=minutes_ago)))
    return note


def _bodies(html: str) -> list[str]:
    return [b.strip() for b in re.findall(r'<p class="person-note-body">(.*?)</p>', html, re.S)]


def _page(as_user, viewer, student) -> str:
    response = as_user(viewer).get(f"/people/{student.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_student_reads_shared_notes_of_all_their_sessions_newest_first(lesson_for, make,
                                                                           school, as_user):
    student = school.students[0]
    first = lesson_for(2, live=False)
    other_tutor = make.user(school.center, Role.TEACHER, name="Petra Piano")
    second = make_session(school.center, other_tutor, [student],
                          start=first.at + timedelta(days=1), title="Piano")
    _note(first.session, student, school.teacher, "Great work on fractions", "SHARED", 90)
    _note(first.session, student, school.teacher, SECRET, "TUTOR_ONLY", 60)
    _note(second, student, other_tutor, "Practise scales <b>daily</b>", "SHARED", 30)
    _note(first.session, school.students[1], school.teacher, "Ben's own note", "SHARED", 10)
    commit()

    html = _page(as_user, student, student)
    assert _bodies(html) == ["Practise scales &lt;b&gt;daily&lt;/b&gt;",
                             "Great work on fractions"]
    assert SECRET not in html and "Tutors only" not in html
    assert "Ben&#39;s own note" not in html and "Ben's own note" not in html
    assert "Notes from your tutors" in html and "Piano" in html
    # Shown in the student's zone, and the page says which.
    assert f"times in {student.effective_timezone.replace('_', ' ')}" in html


def test_tutors_and_admins_read_tutor_only_notes_a_teacher_only_of_their_sessions(
        lesson_for, make, school, as_user):
    student = school.students[0]
    lesson = lesson_for(2, live=False)
    other_tutor = make.user(school.center, Role.TEACHER, name="Petra Piano")
    make.course(school.center, "Piano", teachers=[other_tutor], students=[student])
    piano = make_session(school.center, other_tutor, [student],
                         start=lesson.at + timedelta(days=1), title="Piano")
    _note(lesson.session, student, school.teacher, SECRET, "TUTOR_ONLY", 50)
    _note(lesson.session, student, school.teacher, "Shared maths note", "SHARED", 40)
    _note(piano, student, other_tutor, "Piano: wrist tension", "TUTOR_ONLY", 30)
    commit()

    assert _bodies(_page(as_user, school.teacher, student)) == ["Shared maths note", SECRET]
    assert _bodies(_page(as_user, other_tutor, student)) == ["Piano: wrist tension"]
    admin_page = _page(as_user, school.admin, student)
    assert _bodies(admin_page) == ["Piano: wrist tension", "Shared maths note", SECRET]
    assert "Tutors only" in admin_page
    # A co-teacher of the session reads its notes too.
    co_teacher = make.user(school.center, Role.TEACHER, name="Cora Coteacher")
    make.course(school.center, "Help", teachers=[co_teacher], students=[student])
    assert _bodies(_page(as_user, co_teacher, student)) == []
    co_taught = lesson_for(2, live=False, co_teachers=[co_teacher])
    _note(co_taught.session, student, school.teacher, "Co-taught note", "TUTOR_ONLY", 5)
    commit()
    assert _bodies(_page(as_user, co_teacher, student)) == ["Co-taught note"]


def test_no_notes_section_where_it_does_not_belong(lesson_for, school, as_user):
    student = school.students[0]
    lesson = lesson_for(2, live=False)
    _note(lesson.session, student, school.teacher, SECRET, "TUTOR_ONLY", 5)
    commit()
    # A teacher's page has none; another center's admin cannot open the student's page.
    assert 'id="person-notes"' not in _page(as_user, school.admin, school.teacher)
    assert services.notes_history(school.students[1], student) is None
    assert services.notes_history(school.teacher, school.teacher) is None


def test_the_notes_history_is_flat_in_the_number_of_notes(lesson_for, school, as_user,
                                                          count_queries):
    student = school.students[0]
    lesson = lesson_for(2, live=False)
    counts = {}
    for viewer in (student, school.teacher):
        browser = as_user(viewer)
        written = 0
        for total in (1, 30):
            while written < total:
                _note(lesson.session, student, school.teacher, f"Note {written}",
                      "SHARED" if written % 2 == 0 else "TUTOR_ONLY", 100 - written)
                written += 1
            commit()
            db.session.expire_all()
            with count_queries() as counter:
                response = browser.get(f"/people/{student.id}")
            assert response.status_code == 200
            shown = _bodies(response.get_data(as_text=True))
            assert len(shown) == (total if viewer is school.teacher else (total + 1) // 2)
            counts.setdefault(viewer.id, []).append(counter.count)
        db.session.execute(TutorNote.__table__.delete())
        commit()
    for viewer_id, (small, large) in counts.items():
        assert small == large, (viewer_id, counts)
