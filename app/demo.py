"""Demo data for `flask --app wsgi seed-demo`. Idempotent: rerunning changes nothing."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
from app.chat.demo import seed_chat_demo
from app.db_types import utcnow
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


def seed_demo(now: datetime | None = None) -> dict:
    """``now``: when the demo's past calls and next lesson are reckoned from (tests choose the
    time of day; `make run` seeds at the real one)."""
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
    db.session.flush()
    created["sessions"] = seed_sessions_demo(users)
    from app.attendance.demo import seed_attendance_demo

    created["past runs"] = seed_attendance_demo(users, now)
    from app.attendance.demo import CLINIC_TITLE
    from app.control_center.demo import seed_control_center_demo

    created["lesson plans"] = seed_control_center_demo(users, CLINIC_TITLE, now)
    created.update(seed_chat_demo())
    db.session.commit()  # the seeding is one unit of work, committed at its end (like a request)
    return created


# --- sessions ----------------------------------------------------------------------------------

def _next_dst_change(zone: str, after: date) -> date:
    """The first local date after ``after`` on which ``zone`` changes its UTC offset."""
    tz = ZoneInfo(zone)
    day = after
    offset = datetime.combine(day, time(12), tzinfo=tz).utcoffset()
    for _ in range(400):
        day += timedelta(days=1)
        if datetime.combine(day, time(12), tzinfo=tz).utcoffset() != offset:
            return day
    return after + timedelta(days=21)  # a zone without DST: any date will do


def _demo_sessions(users: dict, today: date) -> list[dict]:
    """The demo timetable, relative to the day of the seed run so the calendar always looks
    alive. Each entry: the teacher, a SessionInput's fields, and occurrences to move/cancel
    (by index, with the new local time or the reason)."""
    center_id = users["teacher@example.com"].center_id
    courses = {c.name: c.id for c in db.session.scalars(
        select(Course).where(Course.center_id == center_id))}
    now_london = utcnow().astimezone(ZoneInfo("Europe/London"))
    from app.scheduling.services import first_day_on_weekdays

    # The weekly class starts this week: on the first Monday or Thursday from today if 16:00 is
    # still ahead, else from tomorrow (a weekly series starts on one of its days).
    class_day = first_day_on_weekdays(
        today if now_london.time() < time(15, 30) else today + timedelta(days=1), ["MO", "TH"])
    # Berlin changes clocks at the same instant as London.
    physics_change = _next_dst_change("Europe/London", today)
    physics_start = first_day_on_weekdays(
        max(physics_change - timedelta(weeks=3), today + timedelta(days=1)), ["TU"])

    def ids(*emails):
        return [users[e].id for e in emails]

    return [
        dict(teacher="teacher@example.com", title="GCSE Mathematics: weekly class",
             description="Algebra and geometry with exam practice. Homework is set after "
                         "each lesson in the class channel.",
             type="CLASS", course_id=courses["GCSE Mathematics"], date=class_day,
             start_time=time(16), timezone="Europe/London", duration_minutes=60,
             frequency="WEEKLY", weekdays=["MO", "TH"], ends="count", count=20),
        dict(teacher="teacher@example.com", title="Revision sprint",
             description="Ten days of short daily drills before the mock exam.",
             type="GROUP_MEETING",
             participant_ids=ids("student1@example.com", "student2@example.com",
                                 "student3@example.com"),
             date=today + timedelta(days=1), start_time=time(17, 30),
             timezone="Europe/London", duration_minutes=30, frequency="DAILY", ends="count",
             count=10,
             move={2: (timedelta(hours=1), "Clashes with parents' evening")},
             cancel={5: "Staff training day"}),
        dict(teacher="teacher@example.com", title="One-on-one: exam technique",
             description="Going through the mock paper question by question.",
             type="ONE_ON_ONE", participant_ids=ids("student1@example.com"),
             date=today + timedelta(days=2), start_time=time(15), timezone="Europe/London",
             duration_minutes=45),
        # Maya lives in New York: this one is set in her zone (11:00 there).
        dict(teacher="teacher@example.com", title="One-on-one: projectiles practice",
             description="Extra practice on projectile motion, as Maya asked.",
             type="ONE_ON_ONE", participant_ids=ids("student4@example.com"),
             date=today + timedelta(days=3), start_time=time(11),
             timezone="America/New_York", duration_minutes=30),
        # Crosses a DST change: 18:00 in Berlin throughout, so its time moves for the New
        # York students (whose clocks change on another date) and in UTC.
        dict(teacher="teacher2@example.com", title="A-level Physics: problem class",
             description="Mechanics and waves problems, worked together.", type="CLASS",
             course_id=courses["A-level Physics"], date=physics_start, start_time=time(18),
             timezone="Europe/Berlin", duration_minutes=60, frequency="WEEKLY",
             weekdays=["TU"], ends="count", count=8),
    ]


def seed_sessions_demo(users: dict) -> int:
    """Schedule the demo sessions through the scheduling services (so participants, bounds,
    overrides and audit entries are what real use leaves). Keyed on title and teacher: a session
    that exists is left as it is, so rerunning creates nothing."""
    from app.scheduling import recurrence, services
    from app.scheduling.models import VideoSession
    from app.scheduling.services import SessionInput

    created = 0
    for spec in _demo_sessions(users, utcnow().date()):
        spec = dict(spec)
        teacher = users[spec.pop("teacher")]
        moves, cancels = spec.pop("move", {}), spec.pop("cancel", {})
        exists = db.session.scalar(select(VideoSession.id).where(
            VideoSession.teacher_id == teacher.id, VideoSession.title == spec["title"]))
        if exists is not None:
            continue
        session = services.schedule_session(teacher, SessionInput(**spec), allow_conflicts=True)
        originals = recurrence.original_starts_between(
            services.schedule_of(session), session.start_local,
            session.start_local + timedelta(days=60))
        for index, (shift, reason) in moves.items():
            services.move_occurrence(teacher, session, originals[index],
                                     originals[index] + shift, reason=reason,
                                     allow_conflicts=True)
        for index, reason in cancels.items():
            services.cancel_occurrence(teacher, session, originals[index], reason)
        created += 1
    return created
