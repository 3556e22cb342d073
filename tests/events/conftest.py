"""A school of any size for the write-cost tests: a teacher, ``n`` students in one course and
a class thread, with the variety a real school has (some students want email, some have
quiet hours, some have a push device, some are muted), in proportion, so 5 and 50 people
exercise the same kinds of work."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

import pytest

from app.accounts.models import CourseRole, Enrollment, Role
from app.chat.models import MemberRole, Thread, ThreadKind, ThreadMember
from app.extensions import db
from app.notifications.models import (NotificationPreference, NotificationType, PushSubscription,
                                      QuietHours)
from app.scheduling.services import SessionInput

ZONES = ("Europe/London", "America/New_York", "Asia/Tokyo", None)


@dataclass
class School:
    teacher_id: int
    student_ids: list[int]
    thread_id: int  # a GROUP thread of the teacher and every student


def next_monday() -> date:
    today = date.today()
    return today + timedelta(days=(7 - today.weekday()) % 7 or 7)


def weekly_for(student_ids, title="Algebra", count=6) -> SessionInput:
    return SessionInput(title=title, type="CLASS", participant_ids=list(student_ids),
                        date=next_monday(), start_time=time(16, 0), timezone="Europe/London",
                        duration_minutes=60, frequency="WEEKLY", weekdays=["MO"], ends="count",
                        count=count)


@pytest.fixture
def build_school(make):
    def _build(n: int) -> School:
        center = make.center()
        teacher = make.user(center, Role.TEACHER, name="Terry Teacher")
        students = [make.user(center, Role.STUDENT, name=f"Student {i:04d}",
                              timezone=ZONES[i % len(ZONES)], commit=False) for i in range(n)]
        db.session.flush()
        course = make.course(center, "Algebra", teachers=[teacher])
        thread = Thread(center_id=center.id, kind=ThreadKind.GROUP, name="Algebra group",
                        description="", created_by_id=teacher.id)
        thread.members.append(ThreadMember(center_id=center.id, user_id=teacher.id,
                                           role=MemberRole.OWNER, last_read_message_id=0))
        for i, student in enumerate(students):
            db.session.add(Enrollment(center_id=center.id, course_id=course.id,
                                      user_id=student.id, role=CourseRole.STUDENT))
            thread.members.append(ThreadMember(center_id=center.id, user_id=student.id,
                                               role=MemberRole.MEMBER, last_read_message_id=0,
                                               muted=i % 5 == 4))
            if i % 3 == 0:  # wants email for everything about sessions and messages
                for type_ in NotificationType:
                    db.session.add(NotificationPreference(user_id=student.id, type=type_,
                                                          push=True, email=True))
            if i % 4 == 1:  # quiet hours around the clock but one minute: pushes are held
                db.session.add(QuietHours(user_id=student.id, enabled=True,
                                          start=time(0, 1), end=time(0, 0)))
            if i % 2 == 0:
                db.session.add(PushSubscription(
                    center_id=center.id, user_id=student.id,
                    endpoint=f"https://fcm.googleapis.com/fcm/send/c{center.id}-s{student.id}",
                    p256dh="B" * 87, auth="A" * 22, active=True))
        db.session.add(thread)
        db.session.commit()
        return School(teacher.id, [s.id for s in students], thread.id)

    return _build
