"""Query counts stay flat: a page costs the same number of SQL statements whatever it shows.

Each page is measured for a small center and for a large one (hundreds of people, many
courses, people in several courses). The counts must be equal, and under an absolute bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from app.accounts.models import Role, User
from app.accounts.services import record_audit
from app.extensions import db
from tests.conftest import login

BOUND = 12


@dataclass
class Center:
    admin: User
    teacher: User
    student: User
    courses: list


def build_center(make, students: int, courses: int) -> Center:
    """A center where ``teacher`` teaches every course (with a co-teacher) and every student
    takes two courses; ``student`` is in all of them."""
    center = make.center()
    admin = make.user(center, Role.ADMIN, name="Admin")
    teacher = make.user(center, Role.TEACHER, name="Main Teacher")
    student = make.user(center, Role.STUDENT, name="Main Student", timezone="Asia/Tokyo")
    co_teachers = [make.user(center, Role.TEACHER, commit=False) for _ in range(courses)]
    people = [make.user(center, Role.STUDENT, timezone="America/Chicago" if n % 2 else None,
                        commit=False) for n in range(students - 1)]
    db.session.commit()
    made = []
    for n in range(courses):
        takers = [p for i, p in enumerate(people) if i % courses in (n, (n + 1) % courses)]
        made.append(make.course(center, f"Course {n:02d}", teachers=[teacher, co_teachers[n]],
                                students=[student, *takers]))
    # Some history for the admin dashboard's recent changes.
    for n in range(courses * 3):
        record_audit(admin, "course.created", "course", made[n % courses].id, name=str(n))
    db.session.commit()
    return Center(admin, teacher, student, made)


def statements(client, count_queries, path) -> int:
    assert client.get(path).status_code == 200  # warm up: templates compiled, caches filled
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200, path
    return counter.count


PAGES = {
    "teacher": ["/", "/students", "/students?q=student", "/account"],
    "student": ["/", "/teachers", "/account"],
    "admin": ["/", "/admin/users", "/admin/users?role=STUDENT", "/admin/users?q=example",
              "/admin/courses", "/admin/courses/{course}", "/admin/audit"],
}
# Later pages of the large center, each compared with the small center's only page.
LATER_PAGES = {
    "teacher": ["/students?page=2", "/students?page=6"],
    "admin": ["/admin/users?page=3", "/admin/users?role=STUDENT&page=6"],
}


def test_page_query_counts_do_not_grow(new_client, count_queries, make):
    small = build_center(make, students=5, courses=2)
    large = build_center(make, students=300, courses=12)
    table = {}
    for who in ("teacher", "student", "admin"):
        clients = []
        for center in (small, large):
            client = new_client()
            login(client, getattr(center, who))
            clients.append(client)
        for path in PAGES[who]:
            table[who, path] = tuple(
                statements(client, count_queries, path.format(course=center.courses[0].id))
                for client, center in zip(clients, (small, large)))
        for path in LATER_PAGES.get(who, []):
            first_page = path.split("page=")[0].rstrip("?&") or "/"
            table[who, path] = (statements(clients[0], count_queries, first_page),
                                statements(clients[1], count_queries, path))
    report = "\n".join(f"{who:8} {path:40} small={few:3} large={many:3}"
                        for (who, path), (few, many) in table.items())
    assert all(few == many for few, many in table.values()), report
    assert max(many for _, many in table.values()) <= BOUND, report


    # The large center really fills its pages: 50 of its 300 students on /students.
    teacher = new_client()
    login(teacher, large.teacher)
    html = teacher.get("/students").get_data(as_text=True)
    assert "300 students" in html and "Page 1 of 6" in html
    assert html.count('<td data-label="Name">') == 50
    assert 'class="stat">300<' in teacher.get("/").get_data(as_text=True)
