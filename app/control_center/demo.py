"""Demo plans for the control center: the homework clinic's next occurrence (today's when it
has not ended yet) has a plan for three of its five students, so the tutor's page and My Day
("3 of 5 plans ready") show a lesson being prepared after `make run`. Written through the
control center's services, as a tutor planning would. Idempotent: a plan already there is kept."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from app.db_types import utcnow
from app.extensions import db

# email -> (subject, current level, working level, goal, work items)
PLANS = {
    "student1@example.com": ("Maths", "Year 10", "Year 9", "Add and subtract fractions with "
                             "unlike denominators", ["Worksheet 3.5", "Exam question 7 (2023)"]),
    "student2@example.com": ("Maths", "Year 10", "Year 10", "Dividing fractions, then mixed "
                             "numbers", ["Exercise 3.4 corrections", "Mixed numbers quiz"]),
    "student3@example.com": ("Maths", "Year 10", "Year 8", "Catch up on equivalent fractions",
                             ["Equivalent fractions video", "Exercise 3.2"]),
}


def seed_control_center_demo(users: dict, session_title: str,
                             now: datetime | None = None) -> int:
    """Returns how many plans were made."""
    from app.control_center import services
    from app.control_center.models import StudentPlan
    from app.scheduling import services as scheduling
    from app.scheduling.models import VideoSession

    teacher = users["teacher@example.com"]
    session = db.session.scalar(select(VideoSession).where(
        VideoSession.teacher_id == teacher.id, VideoSession.title == session_title))
    if session is None:
        return 0
    now = now or utcnow()
    upcoming = [occ for occ in scheduling.occurrences_between([session], now - session.duration,
                                                               now + timedelta(days=8))
                if occ.end > now and not occ.cancelled]
    if not upcoming:
        return 0
    start = upcoming[0].start
    made = 0
    for email, (subject, level, working, goal, items) in PLANS.items():
        student = users[email]
        if db.session.scalar(select(StudentPlan.id).where(
                StudentPlan.session_id == session.id, StudentPlan.occurrence_start == start,
                StudentPlan.student_id == student.id)):
            continue
        services.save_plan(teacher, session, start, student.id, subject=subject,
                           current_level=level, working_level=working, goal=goal)
        for title in items:
            services.add_work_item(teacher, session, start, student.id, title)
        made += 1
    return made
