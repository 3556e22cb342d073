"""CSV import of people: every row reported with its line and reason, good rows created."""
from __future__ import annotations

import io
import re

from flask import current_app
from sqlalchemy import func, select

from app.accounts.models import AuditLog, Role, User
from app.extensions import db
from tests.accounts.conftest import HTMX, table_rows
from tests.conftest import commit, login, post
from worker import build_worker


def upload(client, content: bytes | str, filename="people.csv", **kwargs):
    """Upload as the page does, then (the import being a background job) run a real RQ worker
    in burst mode and return the import's page (or, over HTMX, its report fragment)."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    response = post(client, "/admin/users/import", {"file": (io.BytesIO(content), filename)},
                    content_type="multipart/form-data", **kwargs)
    html = response.get_data(as_text=True)
    if response.status_code == 302:
        status_url = response.location
    elif response.status_code == 200 and "import-progress" in html:
        status_url = re.search(r'hx-get="([^"]+)"', html).group(1)
    else:
        return response  # refused at once
    build_worker(current_app).work(burst=True, logging_level="WARNING")
    return client.get(status_url, headers=kwargs.get("headers"))


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
        "kim@example.org,Kim\u2028Kurz,student,,",                # 10 line separator in name
        "",                                                        # 11 blank: skipped
        "max@example.org,Max Pass,STUDENT,,a-long-enough-password",  # 12 created (password
                                                                   #    column not read)
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
    assert rows[10][1].startswith("Error") and "line breaks" in rows[10][1]
    assert "The password column was not read" in html
    assert "3 created" in html and "2 duplicates skipped" in html and "5 with errors" in html

    assert user_count() == before + 3
    ana, raj, max_ = (by_email(e) for e in ("ana@example.org", "raj@example.org",
                                            "max@example.org"))
    assert (ana.role, ana.timezone, ana.center_id) == (Role.STUDENT, "Europe/Lisbon",
                                                       school.center.id)
    assert (raj.role, raj.timezone, raj.center_id) == (Role.TEACHER, None, school.center.id)
    # No password is imported or made: each sets their own ("Forgot password", admin reset).
    assert max_.role == Role.STUDENT and not max_.check_password("a-long-enough-password")
    assert not ana.check_password("") and ana.password_hash == "!"
    for email in ("pat@example.org", "lee@example.org", "kim@example.org", "nobody@example.org"):
        assert by_email(email) is None
    assert by_email(existing).name == school.students[0].name  # the existing account is untouched

    assert "temporary password" not in html and "Forgot your password?" in html

    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "user.csv_import"))
    assert audit.actor_id == school.admin.id and audit.center_id == school.center.id
    assert audit.details == {"created": 3, "duplicates": 2, "errors": 5,
                             "user_ids": [ana.id, raj.id, max_.id]}


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
    lines = ["email,name,role"] + [f"p{i}@example.org,P {i},wizard" for i in range(limit + 1)]
    login(client, school.admin)
    response = upload(client, "\n".join(lines))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f"Only the first {limit} rows were read" in html
    assert len(report(html)) == limit


# --- speed, progress and the background job ---------------------------------------------------

def people_csv(rows: int, prefix: str = "p") -> str:
    return "email,name,role,timezone\n" + "".join(
        f"{prefix}{n}@example.org,Person {n},{'teacher' if n % 10 == 0 else 'student'},"
        f"{'America/New_York' if n % 3 == 0 else ''}\n" for n in range(rows))


def test_import_statements_do_not_grow_with_the_rows(school, count_queries):
    """Rows are checked in memory and created in bulk: 10 rows and 900 cost the same number of
    SQL statements (not one INSERT, hash or lookup per row)."""
    from app.accounts import services

    admin = school.admin
    with count_queries() as few:
        report = services.import_users_csv(admin, people_csv(10, "a").encode())
        commit()  # each import is one job, committed at its edge
    assert report.count("created") == 10
    with count_queries() as many:
        report = services.import_users_csv(admin, people_csv(900, "b").encode(), max_rows=2000)
        commit()  # each import is one job, committed at its edge
    assert report.count("created") == 900
    assert many.count == few.count, "\n".join(s[:80] for s in many.statements)
    # 2,000 rows (the largest import): a few batches more, still a handful of statements.
    with count_queries() as largest:
        report = services.import_users_csv(admin, people_csv(2000, "c").encode(), max_rows=2000)
        commit()  # each import is one job, committed at its edge
    assert report.count("created") == 2000 and largest.count <= few.count + 6
    assert user_count() == 5 + 2910


def test_progress_is_reported_while_the_import_runs(school):
    from app.accounts import services

    calls = []
    services.import_users_csv(school.admin, people_csv(450).encode(),
                              progress=lambda *args: calls.append(args))
    checking = [done for phase, done, total in calls if phase == "checking"]
    creating = [(done, total) for phase, done, total in calls if phase == "creating"]
    assert checking == sorted(checking) and checking[-1] == 450 and len(checking) >= 4
    assert creating[-1] == (450, 450)


def test_the_page_polls_the_import_and_shows_its_progress(client, school):
    from app.accounts import imports

    login(client, school.admin)
    response = post(client, "/admin/users/import",
                    {"file": (io.BytesIO(people_csv(5).encode()), "people.csv")},
                    content_type="multipart/form-data", headers=HTMX)
    html = response.get_data(as_text=True)
    status_url = re.search(r'hx-get="([^"]+)"', html).group(1)
    assert 'hx-trigger="load delay:600ms"' in html and "Waiting for the background worker" in html
    import_id = status_url.rsplit("/", 1)[1]
    imports.set_progress(import_id, "checking", 400, 2000)
    fragment = client.get(status_url, headers=HTMX).get_data(as_text=True)
    assert "Checking rows: 400 of 2,000" in fragment and 'value="400"' in fragment
    assert f'hx-get="{status_url}"' in fragment  # keeps polling
    # Without script, the page refreshes itself until the report is there.
    assert 'http-equiv="refresh"' in client.get(status_url).get_data(as_text=True)
    build_worker(current_app).work(burst=True, logging_level="WARNING")
    done = client.get(status_url, headers=HTMX).get_data(as_text=True)
    assert "hx-get" not in done and "5 created" in done
    assert 'http-equiv="refresh"' not in client.get(status_url).get_data(as_text=True)


def test_an_import_is_seen_only_in_its_center(new_client, school, other):
    mine = new_client()
    login(mine, school.admin)
    response = upload(mine, people_csv(2))
    status_url = response.request.path
    assert response.status_code == 200 and "2 created" in response.get_data(as_text=True)
    theirs = new_client()
    login(theirs, other.admin)
    assert theirs.get(status_url).status_code == 404
    assert mine.get("/admin/users/import/not-an-import").status_code == 404


def test_the_job_refuses_an_admin_who_lost_the_role(client, school):
    from app.accounts import imports

    login(client, school.admin)
    response = post(client, "/admin/users/import",
                    {"file": (io.BytesIO(people_csv(3).encode()), "people.csv")},
                    content_type="multipart/form-data")
    status_url = response.location
    admin = db.session.get(User, school.admin.id)
    admin.role = Role.TEACHER
    db.session.commit()
    build_worker(current_app).work(burst=True, logging_level="WARNING")
    state = imports.import_state(status_url.rsplit("/", 1)[1], school.center.id)
    assert state["state"] == "failed" and "Only an active admin" in state["error"]
    assert by_email("p1@example.org") is None


def test_a_duplicated_job_changes_nothing(client, school):
    from app.accounts import imports, tasks

    login(client, school.admin)
    response = upload(client, people_csv(3))
    import_id = response.request.path.rsplit("/", 1)[1]
    before = user_count()
    tasks.run_csv_import(import_id)  # the same job again (RQ may deliver a job twice)
    state = imports.import_state(import_id, school.center.id)
    assert state["state"] == "done" and state["report"].count("created") == 3
    assert user_count() == before
    tasks.run_csv_import("no-such-import")  # expired: nothing to do, no error
