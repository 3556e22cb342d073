"""Demo data for `flask --app wsgi seed-demo`. Idempotent: rerunning changes nothing."""
from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
from app.extensions import db

DEMO_PASSWORD = "classhub-demo"

# (email, name, role, timezone or None for the center's)
DEMO_PEOPLE = [
    ("admin@example.com", "Ada Admin", Role.ADMIN, None),
    ("teacher@example.com", "Tom Teacher", Role.TEACHER, None),
    ("teacher2@example.com", "Tess Tutor", Role.TEACHER, "Europe/Berlin"),
    ("student1@example.com", "Sam Student", Role.STUDENT, None),
    ("student2@example.com", "Priya Patel", Role.STUDENT, None),
    ("student3@example.com", "Lucas Moreau", Role.STUDENT, "Europe/Paris"),
    ("student4@example.com", "Maya Johnson", Role.STUDENT, "America/New_York"),
    ("student5@example.com", "Kenji Tanaka", Role.STUDENT, "Asia/Tokyo"),
    ("student6@example.com", "Olivia Brown", Role.STUDENT, None),
    ("student7@example.com", "Diego Alvarez", Role.STUDENT, "America/New_York"),
    ("student8@example.com", "Amara Okafor", Role.STUDENT, None),
]

DEMO_COURSES = [
    ("GCSE Mathematics", "Algebra, geometry and exam practice.", ["teacher@example.com"],
     ["student1@example.com", "student2@example.com", "student3@example.com",
      "student4@example.com", "student5@example.com"]),
    ("A-level Physics", "Mechanics, waves and electricity.",
     ["teacher@example.com", "teacher2@example.com"],
     ["student4@example.com", "student6@example.com", "student7@example.com",
      "student8@example.com"]),
]

DEMO_LOGINS = [(email, role.label) for email, _, role, _ in DEMO_PEOPLE]


def seed_demo() -> dict:
    created = {"centers": 0, "users": 0, "courses": 0, "enrollments": 0}
    center = db.session.scalar(select(Center).where(Center.slug == "demo-academy"))
    if center is None:
        center = Center(name="Demo Academy", slug="demo-academy", timezone="Europe/London")
        db.session.add(center)
        db.session.flush()
        created["centers"] += 1
    users = {}
    for email, name, role, tz in DEMO_PEOPLE:
        user = db.session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(center_id=center.id, email=email, name=name, role=role, timezone=tz)
            user.set_password(DEMO_PASSWORD)
            db.session.add(user)
            created["users"] += 1
        users[email] = user
    db.session.flush()
    for name, description, teachers, students in DEMO_COURSES:
        course = db.session.scalar(select(Course).where(Course.center_id == center.id,
                                                        Course.name == name))
        if course is None:
            course = Course(center_id=center.id, name=name, description=description)
            db.session.add(course)
            db.session.flush()
            created["courses"] += 1
        enrolled = set(db.session.scalars(select(Enrollment.user_id)
                                          .where(Enrollment.course_id == course.id)))
        for emails, role in ((teachers, CourseRole.TEACHER), (students, CourseRole.STUDENT)):
            for email in emails:
                if users[email].id not in enrolled:
                    db.session.add(Enrollment(center_id=center.id, course_id=course.id,
                                              user_id=users[email].id, role=role))
                    created["enrollments"] += 1
    db.session.commit()
    return created
