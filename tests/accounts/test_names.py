"""Names with line breaks or control characters are refused wherever a name is set (issue 9,
item 5): the profile, the admin's Add a person, the CSV import and the command line all use one
rule (services.name_problem). Such a name broke every email to that person (the To header)."""
from __future__ import annotations

from html import unescape

import pytest
from sqlalchemy import func, select

from app.accounts import services
from app.accounts.models import User
from app.extensions import db
from tests.accounts.conftest import fresh, table_rows
from tests.accounts.test_csv_import import upload
from tests.conftest import login, post

BAD_NAMES = ["Sara\r\nBcc: spy@evil.example", "Sara\nSmith", "Sara\rSmith", "Sara\tSmith",
             "Sara\x00", "Sara\x1b[31m", "Sara\x7f", "Sara\u0085Smith", "Sara\u2028Smith",
             "Sara\u202eevil", "Sara\u2066x\u2069"]
GOOD_NAMES = ["Zoë O'Brien, \"PhD\"", "Łukasz Żółć; Jr.", "李小龍", "محمد\u200cرضا",
              "Ana 👩\u200d🏫 Lima", "Jean-Luc Picard"]
MESSAGE = "no line breaks, tabs or other control characters"


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_rule_refuses_control_characters(name):
    assert MESSAGE in services.name_problem(name)


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_the_rule_keeps_real_names(name):
    assert services.name_problem(name) is None


def test_the_profile_refuses_such_a_name(client, school):
    user = school.students[0]
    login(client, user)
    for name in BAD_NAMES:
        if "\x00" in name:
            continue  # refused earlier, for every form (tests/accounts/test_admin.py)
        response = post(client, "/account", {"name": name, "timezone": "Europe/Paris"})
        assert response.status_code == 422, repr(name)
        assert MESSAGE in unescape(response.get_data(as_text=True)), repr(name)
    assert fresh(user).name == "Sara Student"
    assert post(client, "/account", {"name": GOOD_NAMES[0], "timezone": "Europe/Paris"}
                ).status_code in (200, 204, 302)
    assert fresh(user).name == GOOD_NAMES[0]


def test_add_a_person_refuses_such_a_name(client, school):
    login(client, school.admin)
    count = db.session.scalar(select(func.count()).select_from(User))
    response = post(client, "/admin/users/new", {
        "name": "Nina\r\nNew", "email": "nina@example.org", "role": "STUDENT", "timezone": "",
        "password": ""})
    assert response.status_code == 422
    assert MESSAGE in unescape(response.get_data(as_text=True))
    assert db.session.scalar(select(func.count()).select_from(User)) == count


def test_the_service_refuses_it_whatever_the_form(school):
    with pytest.raises(services.ValidationError) as refused:
        services.create_user(school.admin, email="nina@example.org", name="Nina\nNew",
                             role="STUDENT", timezone=None, password=None)
    assert MESSAGE in refused.value.errors["name"]
    with pytest.raises(services.ValidationError):
        services.update_profile(school.students[0], "Sara\u2028Smith", "Europe/London")


def test_the_csv_import_reports_such_a_row_and_creates_the_others(client, school):
    content = ('email,name,role\r\n'
               'ana@example.org,Ana Lima,student\r\n'
               'bob@example.org,"Bob\r\nBcc: spy@evil.example",student\r\n'
               'cy@example.org,Cy\tTab,student\r\n'
               'dee@example.org,Dee Day,student\r\n')
    login(client, school.admin)
    response = upload(client, content)  # the import runs as a job: upload runs a worker
    assert response.status_code in (200, 422)
    rows = {cells[1]: cells[-1] for cells in table_rows(response.get_data(as_text=True))
            if cells and cells[0].isdigit()}
    assert rows["ana@example.org"].startswith("Created") or "created" in rows["ana@example.org"]
    assert "Error" in rows["bob@example.org"] and MESSAGE in rows["bob@example.org"]
    assert "Error" in rows["cy@example.org"] and MESSAGE in rows["cy@example.org"]
    db.session.expire_all()
    emails = set(db.session.scalars(select(User.email)))
    assert {"ana@example.org", "dee@example.org"} <= emails
    assert not {"bob@example.org", "cy@example.org"} & emails


def test_the_command_line_refuses_such_an_admin_name(app):
    result = app.test_cli_runner().invoke(args=[
        "create-center", "North School", "--slug", "north", "--timezone", "Europe/Dublin",
        "--admin-email", "head@north.example", "--admin-name", "Head\nTeacher",
        "--admin-password", "a long enough password"])
    assert result.exit_code != 0
    assert MESSAGE in result.output
    db.session.rollback()
    assert db.session.scalar(select(User).where(User.email == "head@north.example")) is None
