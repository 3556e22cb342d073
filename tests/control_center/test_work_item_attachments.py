"""A work item's optional attachment (issue 13: "optional link or attachment"), kept by chat's
attachment store (its size, type and content checks, its random storage names, its sandboxed
download): the tutors and the item's own student download it; another student, another
center, or someone outside the session gets a 404."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from app.accounts.models import Role
from app.chat import attachments as files
from app.control_center import services
from app.control_center.models import WorkItem
from app.extensions import db
from tests.conftest import commit

PDF = b"%PDF-1.4\n% a worksheet\n"


def _assign(browser, lesson, student, title, upload=None, link=""):
    data = {"csrf_token": browser.csrf, "at": lesson.at_param, "student": student.id,
            "title": title, "link": link}
    if upload is not None:
        data["attachment"] = upload
    return browser.post(f"/sessions/{lesson.session.id}/control-center/items", data=data,
                        headers={"HX-Request": "true"}, content_type="multipart/form-data")


def _item(title) -> WorkItem:
    return db.session.scalar(select(WorkItem).where(WorkItem.title == title))


def test_a_tutor_attaches_a_file_and_only_its_student_and_tutors_download_it(
        lesson_for, make, school, as_user):
    lesson = lesson_for(2)
    sara, ben = school.students
    tutor = as_user(school.teacher)
    answer = _assign(tutor, lesson, sara, "Worksheet 3", (io.BytesIO(PDF), "sheet 3.pdf"))
    assert answer.status_code == 200
    commit()
    item = _item("Worksheet 3")
    assert item.attachment_filename == "sheet_3.pdf"
    assert item.attachment_content_type == "application/pdf" and item.attachment_size == len(PDF)
    assert files.path_for(item.attachment_key).read_bytes() == PDF
    link = f"/control-center/items/{item.id}/attachment/sheet_3.pdf"
    assert link in answer.get_data(as_text=True)  # the tutor's panel shows it

    # Sara's room box shows it and she downloads it: a sandboxed download.
    room = as_user(sara).get(f"/live/rooms/{lesson.run.room_id}").get_data(as_text=True)
    assert link in room
    download = as_user(sara).get(link)
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert "attachment" in download.headers["Content-Disposition"]
    for tutor_side in (school.teacher, school.admin):
        assert as_user(tutor_side).get(link).status_code == 200

    # Ben (in the same session), a student outside it, another teacher, another center: 404.
    assert link not in as_user(ben).get(f"/live/rooms/{lesson.run.room_id}").get_data(
        as_text=True)
    elsewhere = make.user(make.center(), Role.ADMIN)
    for person in (ben, school.outsider, make.user(school.center, Role.TEACHER), elsewhere):
        assert as_user(person).get(link).status_code == 404, person.name
    # An item without a file has nothing to download.
    services.add_work_item(school.teacher, lesson.session, lesson.at, sara.id, "No file")
    commit()
    plain = _item("No file")
    assert as_user(sara).get(f"/control-center/items/{plain.id}/attachment/x.pdf"
                             ).status_code == 404


def test_a_refused_file_is_a_422_keeping_what_was_typed_and_storing_nothing(
        app, lesson_for, school, as_user):
    lesson = lesson_for(1)
    sara = school.students[0]
    tutor = as_user(school.teacher)
    stored_before = sorted(p.name for p in files.storage_root().iterdir())
    for upload, message in (((io.BytesIO(b"MZ\x90\x00"), "tool.exe"), "cannot be attached"),
                            ((io.BytesIO(b"not a pdf"), "fake.pdf"), "not really a .pdf"),
                            ((io.BytesIO(b""), "empty.txt"), "is empty")):
        answer = _assign(tutor, lesson, sara, "Keep this title", upload, "https://example.org/")
        html = answer.get_data(as_text=True)
        assert answer.status_code == 422, upload[1]
        assert message in html and 'value="Keep this title"' in html
        assert 'value="https://example.org/"' in html
    too_big = io.BytesIO(b"a" * (files.MAX_ATTACHMENT_BYTES + 1))
    answer = _assign(tutor, lesson, sara, "Big", (too_big, "big.txt"))
    assert answer.status_code == 422 and "larger than" in answer.get_data(as_text=True)
    commit()
    assert db.session.scalar(select(func.count()).select_from(WorkItem)) == 0
    assert sorted(p.name for p in files.storage_root().iterdir()) == stored_before


def test_copying_last_plan_carries_an_unfinished_items_file(lesson_for, school, as_user):
    from datetime import timedelta

    from tests.live.test_sessions_live import make_session

    earlier = lesson_for(1)
    sara = school.students[0]
    tutor = as_user(school.teacher)
    assert _assign(tutor, earlier, sara, "Carry me", (io.BytesIO(PDF), "carry.pdf")
                   ).status_code == 200
    commit()
    later = make_session(school.center, school.teacher, [sara],
                         start=earlier.at + timedelta(days=1), title="Tomorrow")
    at = services.default_occurrence(later)
    plan = services.copy_last_plan(school.teacher, later, at, sara.id)
    commit()
    copied = next(i for i in plan.items if i.title == "Carry me")
    originals = db.session.scalars(select(WorkItem).where(WorkItem.title == "Carry me")).all()
    assert len(originals) == 2 and len({i.plan_id for i in originals}) == 2
    assert copied.attachment_filename == "carry.pdf"
    assert as_user(sara).get(
        f"/control-center/items/{copied.id}/attachment/carry.pdf").data == PDF
