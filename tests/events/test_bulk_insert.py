"""app/bulk.insert_rows: what it writes whatever the rows share. On PostgreSQL a value every row
of a chunk shares goes as one parameter, not as an array of copies (psycopg builds arrays
element by element in Python: for a notification to a class that was most of the insert)."""
from __future__ import annotations

from datetime import timedelta, timezone

from sqlalchemy import event, select

from app.accounts.models import Role
from app.bulk import insert_rows
from app.chat import services as chat
from app.chat.models import ThreadMember
from app.db_types import utcnow
from app.extensions import db
from app.notifications.models import Notification, NotificationType, Priority


def _rows(users, **overrides):
    now = utcnow()
    return [{"center_id": user.center_id, "user_id": user.id, "type": NotificationType.NEW_MESSAGE,
             "priority": Priority.NORMAL, "title": "Same title", "body": f"For {user.name}",
             "link": "/", "tag": "", "created_at": now, "read_at": None, "push_due_at": None,
             **overrides} for user in users]


def _written(ids):
    return {n.id: n for n in db.session.scalars(select(Notification).where(
        Notification.id.in_(ids)))}


def _statements_of(action):
    seen = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        result = action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return result, seen


def test_shared_and_varying_columns_are_written_as_given(make):
    center = make.center()
    users = [make.user(center, name=f"Person {n}") for n in range(4)]
    table = Notification.__table__
    due = utcnow() + timedelta(hours=1)
    rows = _rows(users)
    rows[2]["push_due_at"] = due
    returned, statements = _statements_of(lambda: insert_rows(
        table, rows, (table.c.id, table.c.user_id, table.c.body)))
    assert sorted((r.user_id, r.body) for r in returned) == [
        (u.id, f"For {u.name}") for u in users]
    written = _written([r.id for r in returned])
    by_user = {n.user_id: n for n in written.values()}
    for user, row in zip(users, rows):
        notification = by_user[user.id]
        assert (notification.title, notification.body, notification.type, notification.priority,
                notification.created_at, notification.push_due_at, notification.read_at) == (
            row["title"], row["body"], row["type"], row["priority"], row["created_at"],
            row["push_due_at"], None)
    if db.engine.dialect.name == "postgresql":
        [(sql, parameters)] = statements
        # Shared: one value each; varying (user, body, the one due push): one array each, as
        # one array literal (one string for psycopg, not a list dumped element by element).
        assert parameters["same_title"] == "Same title" and "same_created_at" in parameters
        assert parameters["given_user_id"] == "{" + ",".join(str(u.id) for u in users) + "}"
        assert parameters["given_push_due_at"] == \
            f'{{NULL,NULL,"{due.astimezone(timezone.utc).isoformat()}",NULL}}'
        assert "given_title" not in parameters and "same_user_id" not in parameters


AWKWARD = ['say "hi"', "back\\slash \\\"", "{braces}, commas, and NULL", "", "NULL", " spaced ",
           "ünïcødé ✓ 日本", "new\nline\ttab", "'single'"]


def test_any_text_and_no_text_are_written_exactly(make):
    """Quotes, backslashes, braces, commas, the word NULL, empty and spaced strings, and NULL
    itself come back as they were given (the array literal's quoting)."""
    center = make.center()
    users = [make.user(center, name=f"Person {n}") for n in range(len(AWKWARD))]
    table = Notification.__table__
    rows = _rows(users)
    for row, text in zip(rows, AWKWARD):
        row["body"], row["tag"] = text, text[:100]
    rows[0]["read_at"] = utcnow()  # one instant among NULLs
    returned = insert_rows(table, rows, (table.c.id, table.c.user_id))
    by_user = {n.user_id: n for n in _written([r.id for r in returned]).values()}
    assert [by_user[u.id].body for u in users] == AWKWARD
    assert [by_user[u.id].tag for u in users] == [t[:100] for t in AWKWARD]
    assert by_user[users[0].id].read_at == rows[0]["read_at"]
    assert all(by_user[u.id].read_at is None for u in users[1:])


def test_rows_that_share_everything_are_each_written(make):
    center = make.center()
    user = make.user(center)
    table = Notification.__table__
    for count in (1, 3):
        first = dict(_rows([user])[0], body="Identical")
        rows = [dict(first) for _ in range(count)]
        returned = insert_rows(table, rows, (table.c.id,))
        assert len(returned) == len({r.id for r in returned}) == count
        assert [n.body for n in _written([r.id for r in returned]).values()] == ["Identical"] * count


def test_duplicates_are_skipped_with_shared_columns(make):
    center = make.center()
    teacher = make.user(center, Role.TEACHER)
    students = [make.user(center) for _ in range(3)]
    make.course(center, teachers=[teacher], students=students)
    group = chat.create_group(teacher, "Group", "", [students[0].id])
    db.session.flush()
    table = ThreadMember.__table__
    existing = db.session.scalar(select(ThreadMember).where(
        ThreadMember.thread_id == group.id, ThreadMember.user_id == students[0].id))
    rows = [{"center_id": center.id, "thread_id": group.id, "user_id": s.id,
             "role": existing.role, "muted": False, "last_read_message_id": 0,
             "joined_at": existing.joined_at} for s in students]
    returned = insert_rows(table, rows, (table.c.user_id,),
                           skip_duplicates_of=("thread_id", "user_id"))
    assert sorted(r.user_id for r in returned) == [students[1].id, students[2].id]
