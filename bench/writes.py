"""SQL statements per write as the audience grows: scheduling a session for 5 and for 50
people, and posting a message to a class of 5 and of 50 (and the job that then tells them).

    python -m bench writes

The services are called as the views call them (inside a request context; their signal
receivers, notifications and invitations included), on a throwaway database (PostgreSQL when
DATABASE_URL is set). Statements are counted with a SQLAlchemy ``before_cursor_execute``
listener; each count follows one warm-up call of the same kind. Counts, not times: the tests
assert bounds like these; here they are printed for the summary.
"""
from __future__ import annotations

from datetime import time as wall_time
from datetime import timedelta

from bench.common import (Row, StatementCounter, bench_app, course_with, database_kind, email,
                          slug)

SIZES = (5, 50)


def seed():
    """A center, a teacher, 50 students, and a course (with its class thread) per size."""
    from app.accounts.models import Center, Role, User
    from app.chat import services as chat
    from app.extensions import db

    center = Center(name="Bench Writes", slug=slug("bench-writes"), timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    teacher = User(center_id=center.id, role=Role.TEACHER, name="Writing Teacher",
                   email=email("writer"), password_hash="unusable")
    students = [User(center_id=center.id, role=Role.STUDENT, name=f"Student {n}",
                     email=email(f"writes{n}"), password_hash="unusable",
                     timezone=["Europe/London", "America/New_York", None][n % 3])
                for n in range(max(SIZES))]
    db.session.add_all([teacher, *students])
    db.session.flush()
    threads = {}
    for size in SIZES:
        course = course_with(center.id, f"Class of {size}", teacher.id,
                             [s.id for s in students[:size]])
        threads[size] = chat.ensure_class_thread(course).id
    db.session.commit()
    return teacher.id, [s.id for s in students], threads


def count(app, work) -> int:
    from app.extensions import db

    with app.app_context(), app.test_request_context("/"):
        with StatementCounter(db.engine) as counter:
            work()
        db.session.remove()
    return counter.count


def main() -> list[Row]:
    from app.accounts.models import User
    from app.chat import services as chat
    from app.chat.models import Thread
    from app.db_types import utcnow
    from app.extensions import db
    from app.scheduling import services as scheduling

    with bench_app("writes") as (app, root):
        with app.app_context():
            teacher_id, student_ids, threads = seed()
            db.session.remove()
        day = utcnow().date() + timedelta(days=7)

        def schedule(people: int, days_later: int):
            def work():
                teacher = db.session.get(User, teacher_id)
                scheduling.schedule_session(teacher, scheduling.SessionInput(
                    title=f"Lesson for {people}", participant_ids=student_ids[:people],
                    date=day + timedelta(days=days_later), start_time=wall_time(10, 0),
                    timezone="Europe/London", duration_minutes=60))
            return work

        def post(size: int, text: str):
            def work():
                return chat.post_message(db.session.get(User, teacher_id),
                                         db.session.get(Thread, threads[size]), text).id
            return work

        def post_then_tell(size: int, text: str) -> tuple[int, int]:
            """The POST's statements, then those of the job it queues to tell the members
            (run here in the same transaction, as the worker would after the commit)."""
            from app.notifications.messages import tell_members

            with app.app_context(), app.test_request_context("/"):
                with StatementCounter(db.engine) as posting:
                    message_id = post(size, text)()
                with StatementCounter(db.engine) as telling:
                    tell_members(message_id)
                db.session.remove()
            return posting.count, telling.count

        count(app, schedule(SIZES[0], 0))  # warm-up
        scheduled = {size: count(app, schedule(size, n + 1)) for n, size in enumerate(SIZES)}
        post_then_tell(SIZES[0], "warm-up")
        posted = {size: post_then_tell(size, f"Hello, class of {size}") for size in SIZES}
    small, big = SIZES
    print(f"Writes ({database_kind()}): scheduling a session for {small} / {big} people: "
          f"{scheduled[small]} / {scheduled[big]} statements; posting to {small} / {big} "
          f"members: {posted[small][0]} / {posted[big][0]}, then its job telling them: "
          f"{posted[small][1]} / {posted[big][1]}")
    return [Row(f"scheduling a session for {small} / {big} people, SQL statements",
                f"{scheduled[small]} / {scheduled[big]}"),
            Row(f"posting a message to {small} / {big} members, SQL statements (then the job "
                f"telling them)", f"{posted[small][0]} / {posted[big][0]} (then "
                f"{posted[small][1]} / {posted[big][1]})")]


if __name__ == "__main__":
    from bench.common import format_table

    print(format_table(main()))
