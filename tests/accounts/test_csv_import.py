"""CSV import of people: every row reported with its line and reason, good rows created."""
from __future__ import annotations

import io

from sqlalchemy import func, select

from app.accounts.models import AuditLog, Role, User
from app.extensions import db
from tests.accounts.conftest import HTMX, table_rows
from tests.conftest import login, post


def upload(client, content: bytes | str, filename="people.csv", **kwargs):
    if isinstance(content, str):
        content = content.encode("utf-8")
    return post(client, "/admin/users/import", {"file": (io.BytesIO(content), filename)},
                content_type="multipart/form-data", **kwargs)


def report(html: str) -> dict[int, tuple[str, str]]:
    """Line number -> (email, result text) from the import report table."""
    rows = {}
    for cells in table_rows(html):
        if cells and cells[0].isdigit():
            line, email, _name, _role, result = cells
            rows[int(line)] = (email, result)
    return rows


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User))


def by_email(email: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_mixed_file_creates_good_rows_and_reports_each_bad_row(client, new_client, school):
    existing = school.students[0].email
    content = "\n".join([
        "email,name,role,timezone,password",                       # line 1
        "ana@example.org,Ana Lima,student,Europe/Lisbon,",         # 2 created
        "raj@example.org,Raj Rao,teacher,,",                       # 3 created
        f"{existing.upper()},Somebody Else,student,,",             # 4 duplicate of an account
        "ANA@example.org,Ana Again,student,,",                     # 5 duplicate within the file
        "not-an-email,Bad Email,student,,",                        # 6 bad email
        "nobody@example.org,,student,,",                           # 7 missing name
        "pat@example.org,Pat Porter,janitor,,",                    # 8 bad role
        "lee@example.org,Lee Long,student,Mars/Olympus,",          # 9 unknown time zone
        "kim@example.org,Kim Kurz,student,,short",                 # 10 short password
        "",                                                        # 11 blank: skipped
        "max@example.org,Max Pass,STUDENT,,a-long-enough-password",  # 12 created
    ]) + "\n"
    before = user_count()
    login(client, school.admin)
    response = upload(client, content)
    html = response.get_data(as_text=True)

    assert response.status_code == 422
    rows = report(html)
    assert sorted(rows) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    for line in (2, 3, 12):
        assert rows[line][1].startswith("Created"), rows[line]
    assert "already exists" in rows[4][1]
    assert rows[4][1].startswith("Duplicate")
    assert "earlier in this file" in rows[5][1]
    assert rows[6][1].startswith("Error email:") and "@" in rows[6][1]
    assert rows[7][1].startswith("Error") and "name is missing" in rows[7][1]
    assert rows[8][1].startswith("Error") and "Role must be" in rows[8][1]
    assert rows[9][1].startswith("Error") and "Mars/Olympus" in rows[9][1]
    assert "time zone" in rows[9][1]
    assert rows[10][1].startswith("Error") and "at least 10 characters" in rows[10][1]
    assert "3 created" in html and "2 duplicates skipped" in html and "5 with errors" in html

    assert user_count() == before + 3
    ana, raj, max_ = (by_email(e) for e in ("ana@example.org", "raj@example.org",
                                            "max@example.org"))
    assert (ana.role, ana.timezone, ana.center_id) == (Role.STUDENT, "Europe/Lisbon",
                                                       school.center.id)
    assert (raj.role, raj.timezone, raj.center_id) == (Role.TEACHER, None, school.center.id)
    assert max_.role == Role.STUDENT and max_.check_password("a-long-enough-password")
    for email in ("pat@example.org", "lee@example.org", "kim@example.org", "nobody@example.org"):
        assert by_email(email) is None
    assert by_email(existing).name == school.students[0].name  # the existing account is untouched

    # A generated password is shown once, in the report, and it works.
    generated = rows[2][1].split("temporary password", 1)[1].strip()
    assert generated and "temporary password" not in rows[12][1]
    login(new_client(), "ana@example.org", generated)

    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.csv_import"))
    assert audit.actor_id == school.admin.id and audit.center_id == school.center.id
    assert audit.details == {"created": 3, "duplicates": 2, "errors": 5}
    created_audits = db.session.scalars(
        select(AuditLog.target_id).where(AuditLog.action == "user.created")).all()
    assert sorted(created_audits) == sorted([ana.id, raj.id, max_.id])


def test_all_good_file_is_200_and_shows_the_report(client, school):
    login(client, school.admin)
    response = upload(client, "email,name,role\nana@example.org,Ana Lima,student\n"
                              "raj@example.org,Raj Rao,teacher\n")
    assert response.status_code == 200
    assert set(report(response.get_data(as_text=True))) == {2, 3}
    assert by_email("ana@example.org").role == Role.STUDENT
    assert by_email("raj@example.org").role == Role.TEACHER


def test_semicolon_separated_file(client, school):
    login(client, school.admin)
    content = ("email;name;role;timezone\n"
               "ana@example.org;Lima, Ana;student;Europe/Lisbon\n"
               "raj@example.org;Raj Rao;teacher;\n")
    response = upload(client, content)
    assert response.status_code == 200, response.get_data(as_text=True)
    ana = by_email("ana@example.org")
    assert (ana.name, ana.timezone) == ("Lima, Ana", "Europe/Lisbon")
    assert by_email("raj@example.org").role == Role.TEACHER


def test_semicolon_file_with_a_short_row_still_imports_the_good_rows(client, school):
    # A row with missing cells must be reported on its own, not make the file unreadable.
    login(client, school.admin)
    response = upload(client, "email;name;role\nana@example.org;Ana Lima;student\n"
                              "bob@example.org\n")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    rows = report(html)
    assert rows[2][1].startswith("Created")
    assert rows[3][1].startswith("Error") and "name is missing" in rows[3][1]
    assert by_email("ana@example.org") is not None
    assert by_email("bob@example.org") is None


def test_tab_separated_excel_export_with_bom_and_crlf(client, school):
    login(client, school.admin)
    content = "\ufeffEmail\tName\tRole\r\nana@example.org\tAna Lima\tStudent\r\n"
    response = upload(client, content.encode("utf-8"))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert by_email("ana@example.org").name == "Ana Lima"


def test_quoted_cells_as_spreadsheets_write_them(client, school):
    login(client, school.admin)
    response = upload(client, 'email,name,role\nana@example.org,"Lima, Ana",student\n'
                              'bob@example.org,"Bob ""Bobby"" Brown",student\n')
    assert response.status_code == 200
    assert by_email("ana@example.org").name == "Lima, Ana"
    assert by_email("bob@example.org").name == 'Bob "Bobby" Brown'


def test_bad_header_creates_nothing(client, school):
    before = user_count()
    login(client, school.admin)
    response = upload(client, "mail,fullname,role\nana@example.org,Ana Lima,student\n")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "header row must name the columns email, name and role" in html
    assert "missing: email, name" in html
    assert user_count() == before


def test_empty_file(client, school):
    before = user_count()
    login(client, school.admin)
    response = upload(client, b"")
    assert response.status_code == 422
    assert "The file is empty." in response.get_data(as_text=True)
    assert user_count() == before


def test_header_only_file(client, school):
    before = user_count()
    login(client, school.admin)
    response = upload(client, "email,name,role\n")
    assert response.status_code == 200
    assert "The file has a header but no rows." in response.get_data(as_text=True)
    assert user_count() == before


def test_non_utf8_file_creates_nothing(client, school):
    before = user_count()
    login(client, school.admin)
    content = "email,name,role\nana@example.org,Ana López,student\n".encode("latin-1")
    response = upload(client, content)
    assert response.status_code == 422
    assert "not UTF-8" in response.get_data(as_text=True)
    assert user_count() == before


def test_utf16_or_binary_file_creates_nothing(client, school):
    before = user_count()
    login(client, school.admin)
    for content in ("email,name,role\nana@example.org,Ana Lima,student\n".encode("utf-16-le"),
                    b"email,name,role\nana@example.org,Ana\x00Lima,student\n"):
        response = upload(client, content)
        assert response.status_code == 422
        assert "The file is not CSV text." in response.get_data(as_text=True)
    assert user_count() == before


def test_missing_file(client, school):
    login(client, school.admin)
    response = post(client, "/admin/users/import", {}, content_type="multipart/form-data")
    assert response.status_code == 422
    assert "Choose a CSV file." in response.get_data(as_text=True)


def test_html_in_cells_is_escaped_in_the_report(client, school):
    login(client, school.admin)
    content = ("email,name,role,timezone\n"
               "ana@example.org,<script>alert(1)</script>,student,\n"
               "bob@example.org,<img src=x onerror=alert(2)>,student,<b>Nowhere</b>\n")
    response = upload(client, content)
    html = response.get_data(as_text=True)
    assert response.status_code == 422  # Bob's time zone is unknown
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "<b>Nowhere</b>" not in html
    assert by_email("ana@example.org").name == "<script>alert(1)</script>"  # stored as typed


def test_htmx_upload_answers_with_the_report_fragment(client, school):
    login(client, school.admin)
    response = upload(client, "email,name,role\nana@example.org,Ana Lima,wizard\n", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert html.lstrip().startswith('<div id="import-report"')
    assert "<html" not in html
    assert report(html)[2][1].startswith("Error")


def test_row_limit_is_reported(client, school, app):
    limit = app.config["CSV_IMPORT_MAX_ROWS"]
    # Rows with a bad role: no password hashing, so a long file stays fast.
    lines = ["email,name,role"] + [f"p{i}@example.org,P {i},wizard" for i in range(limit + 1)]
    login(client, school.admin)
    response = upload(client, "\n".join(lines))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"Only the first {limit} rows were read" in html
    assert len(report(html)) == limit
