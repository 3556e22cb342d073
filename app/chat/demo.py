"""Chat demo data: class channels with an announcement, the "Exam prep" group, and two direct
conversations of the demo teacher, some of them unread. Idempotent: rerunning creates nothing.

Everything goes through app.chat.services, so membership, read pointers and the search index are
what real use would leave behind. Only the timestamps are moved afterwards (and only when a
conversation is first created) so the demo history reads as a lived-in day rather than a burst
of messages sent in the same second.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app.accounts.models import Center, Course, CourseRole, Enrollment, User
from app.chat import services
from app.chat.models import Message, MessageKind, Thread, ThreadKind
from app.db_types import utcnow
from app.extensions import db

DEMO_CENTER_SLUG = "demo-academy"
TEACHER = "teacher@example.com"
GROUP_NAME = "Exam prep"
GROUP_DESCRIPTION = "Past papers, questions and revision plans before the summer exams."
GROUP_STUDENTS = ["student1@example.com", "student2@example.com", "student4@example.com"]

ANNOUNCEMENTS = {
    "GCSE Mathematics": "**Mock exam next Tuesday** at 9:00 in room 4. Bring a calculator, "
                        "a ruler and a protractor. Formula sheets are provided.",
    "A-level Physics": "Lab reports for the pendulum practical are due **Friday**. Use the "
                       "template: https://example.com/physics/lab-report-template",
}
DEFAULT_ANNOUNCEMENT = "Welcome to the class channel! Announcements for the course appear here."

# (author email, body); the teacher's conversations end with the student, so they stay unread.
GROUP_MESSAGES = [
    (TEACHER, "Welcome to exam prep! We'll use this group to get ready for **Paper 2**. "
              "Past papers and mark schemes are here: https://example.com/maths/past-papers"),
    ("student2@example.com", "Thanks! Should we start with the 2023 paper?"),
    (TEACHER, "Yes, do the 2023 paper first, timed (1 h 30 min). Mark it with the scheme, "
              "then note the questions you want to go through together."),
    ("student1@example.com", "I'm stuck on question 7, the simultaneous equations one. "
                             "Can we go over it on Thursday?"),
    ("student4@example.com", "Same here for Q7. Also, I have football practice until 16:30 "
                             "on Thursday, is it OK if I join a bit late?"),
]
DIRECT_MESSAGES = {
    "student1@example.com": [
        ("student1@example.com", "Hi Mr Teacher, I missed Monday's lesson. Was there homework?"),
        (TEACHER, "Hi Sam, yes: exercise 4B, questions 1–10. The worksheet is pinned in the "
                  "GCSE Mathematics channel."),
        ("student1@example.com", "Thanks! Is it due on Friday?"),
        ("student1@example.com", "And can I use my graphing calculator in the mock exam?"),
    ],
    "student4@example.com": [
        (TEACHER, "Maya, great work on the mechanics quiz, 18/20!"),
        ("student4@example.com", "Thank you! The momentum questions were tricky."),
        ("student4@example.com", "Could you send me some extra practice on projectiles?"),
    ],
}

# How long ago each conversation's last message was, and the gap between its messages.
_TIMELINE = {"direct:student1@example.com": (timedelta(minutes=4), timedelta(minutes=7)),
             "group": (timedelta(minutes=25), timedelta(minutes=12)),
             "direct:student4@example.com": (timedelta(hours=2), timedelta(minutes=9)),
             "class": (timedelta(hours=20), timedelta(minutes=30))}


def seed_chat_demo() -> dict:
    created = {"chat threads": 0, "chat messages": 0}
    center = db.session.scalar(select(Center).where(Center.slug == DEMO_CENTER_SLUG))
    if center is None:
        return created
    people = {u.email: u for u in db.session.scalars(select(User).where(
        User.center_id == center.id))}
    teacher = people.get(TEACHER)

    for index, course in enumerate(db.session.scalars(
            select(Course).where(Course.center_id == center.id).order_by(Course.id)).all()):
        existed = db.session.scalar(select(Thread.id).where(Thread.course_id == course.id))
        thread = services.ensure_class_thread(course)
        created["chat threads"] += existed is None
        if _has_text(thread):
            continue
        author = _course_teacher(course, prefer=teacher)
        if author is None:
            continue
        services.post_message(author, thread,
                              ANNOUNCEMENTS.get(course.name, DEFAULT_ANNOUNCEMENT))
        created["chat messages"] += 1
        ago, step = _TIMELINE["class"]
        _spread_times(thread, ago + index * timedelta(minutes=45), step)

    if teacher is None:
        return created
    group = db.session.scalar(select(Thread).where(
        Thread.center_id == center.id, Thread.kind == ThreadKind.GROUP,
        Thread.name == GROUP_NAME, Thread.created_by_id == teacher.id))
    if group is None:
        students = [people[e] for e in GROUP_STUDENTS if e in people]
        group = services.create_group(teacher, GROUP_NAME, GROUP_DESCRIPTION,
                                      [s.id for s in students])
        created["chat threads"] += 1
        created["chat messages"] += _post_all(group, GROUP_MESSAGES, people)
        # Priya has caught up; Sam and Maya have read up to their own messages.
        if "student2@example.com" in people:
            services.mark_read(people["student2@example.com"], group)
        _spread_times(group, *_TIMELINE["group"])

    for email, script in DIRECT_MESSAGES.items():
        student = people.get(email)
        if student is None or not services.may_message_directly(teacher, student):
            continue
        thread = services.get_or_create_direct(teacher, student)
        if thread.last_message_id is not None:
            continue
        created["chat threads"] += 1
        created["chat messages"] += _post_all(thread, script, people)
        _spread_times(thread, *_TIMELINE[f"direct:{email}"])
    if created["chat messages"]:
        _settle_empty_threads(center)
    return created


def _has_text(thread: Thread) -> bool:
    return db.session.scalar(select(Message.id).where(
        Message.thread_id == thread.id, Message.kind == MessageKind.TEXT).limit(1)) is not None


def _course_teacher(course: Course, prefer: User | None) -> User | None:
    teachers = list(db.session.scalars(
        select(User).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, Enrollment.role == CourseRole.TEACHER)
        .order_by(User.id)))
    if prefer is not None and any(t.id == prefer.id for t in teachers):
        return prefer
    return teachers[0] if teachers else None


def _post_all(thread: Thread, script, people: dict) -> int:
    posted = 0
    for email, body in script:
        author = people.get(email)
        if author is not None:
            services.post_message(author, thread, body)
            posted += 1
    return posted


def _spread_times(thread: Thread, last_ago: timedelta, step: timedelta) -> None:
    """Space a freshly seeded conversation's messages ``step`` apart, the last ``last_ago``
    before now, keeping time order equal to id order (the thread view relies on it)."""
    messages = list(db.session.scalars(select(Message).where(Message.thread_id == thread.id)
                                       .order_by(Message.id)))
    if not messages:
        return
    end = utcnow() - last_ago
    for position, message in enumerate(messages):
        message.created_at = end - step * (len(messages) - 1 - position)
    thread.created_at = min(thread.created_at, messages[0].created_at)
    thread.last_activity_at = messages[-1].created_at


def _settle_empty_threads(center: Center) -> None:
    """Threads seeded without messages (e.g. the demo sessions' chats, created a moment ago)
    would sort above the conversations above, whose times were moved back: move their
    activity back too, so the demo's lists open on the conversations."""
    oldest = db.session.scalar(select(func.min(Thread.last_activity_at)).where(
        Thread.center_id == center.id, Thread.last_message_id.is_not(None)))
    if oldest is None:
        return
    for thread in db.session.scalars(select(Thread).where(
            Thread.center_id == center.id, Thread.last_message_id.is_(None),
            Thread.last_activity_at > oldest)):
        thread.last_activity_at = oldest - timedelta(hours=1)
