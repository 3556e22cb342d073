"""Data for the realtime benchmark: one center, a teacher per class size, many students, and a
CLASS thread per size whose members are that class (built by app.chat.services, as enrolment
does in the app). Students share one password hash: hashing thousands would be the benchmark."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
from app.chat import services
from app.extensions import db

CENTER_SLUG = "bench-academy"
_CSRF_RE = re.compile(r'X-CSRFToken": "([^"]+)"|name="csrf_token" value="([^"]+)"')


@dataclass
class ClassRoom:
    size: int
    thread_id: int
    teacher_id: int
    student_ids: list[int]
    first_message_id: int  # "fanout-<size>-0": a subscriber that asks for it proves it is in


@dataclass
class ChatBenchData:
    center_id: int
    student_ids: list[int]
    classes: dict[int, ClassRoom] = field(default_factory=dict)


def build(class_sizes=(50, 200, 1000), students: int = 2000) -> ChatBenchData:
    """Create the people and threads (inside an app context, on an empty database)."""
    center = Center(name="Bench Academy", slug=CENTER_SLUG, timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    password_hash = generate_password_hash("bench-password-not-used")
    people = [User(center_id=center.id, role=Role.STUDENT, name=f"Student {n:04d}",
                   email=f"student{n}@bench.example.com", password_hash=password_hash)
              for n in range(1, max(students, max(class_sizes)) + 1)]
    db.session.add_all(people)
    db.session.flush()
    data = ChatBenchData(center.id, [p.id for p in people])
    for size in class_sizes:
        # One teacher per class: each sends that size's messages (the per-user send rate
        # limit is per person, as in the app).
        teacher = User(center_id=center.id, role=Role.TEACHER, name=f"Teacher of {size}",
                       email=f"teacher{size}@bench.example.com", password_hash=password_hash)
        course = Course(center_id=center.id, name=f"Class of {size}")
        db.session.add_all([teacher, course])
        db.session.flush()
        db.session.add(Enrollment(center_id=center.id, course_id=course.id, user_id=teacher.id,
                                  role=CourseRole.TEACHER))
        db.session.add_all(Enrollment(center_id=center.id, course_id=course.id, user_id=p.id,
                                      role=CourseRole.STUDENT) for p in people[:size])
        db.session.flush()
        thread = services.ensure_class_thread(course)
        db.session.commit()
        with current_app.test_request_context("/"):
            first = services.post_message(teacher, thread, f"Welcome: fanout-{size}-0")
        data.classes[size] = ClassRoom(size, thread.id, teacher.id, [p.id for p in people[:size]],
                                       first.id)
    return data


def session_cookies(app, user_ids) -> dict[int, str]:
    """A logged-in session cookie per user, signed by the app itself (no password checks)."""
    cookies = {}
    client = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(user_ids))))}
    for user_id in user_ids:
        client.delete_cookie(name)
        with client.session_transaction() as session:
            session["_user_id"] = users[user_id].get_id()
            session["_fresh"] = True
        cookies[user_id] = client.get_cookie(name).value
    return cookies


def logged_in_with_csrf(app, user_id: int) -> tuple[str, str]:
    """The session cookie and CSRF token a page gives this user (for posting messages)."""
    client = app.test_client()
    name = app.config["SESSION_COOKIE_NAME"]
    user = db.session.get(User, user_id)
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    # A fresh app context: Flask-WTF keeps the token it made in ``g``, and a request made
    # inside an existing app context shares that context's ``g`` (another user's token).
    with app.app_context():
        html = client.get("/chat/").get_data(as_text=True)
    match = _CSRF_RE.search(html)
    if match is None:
        raise RuntimeError("no CSRF token on /chat/: is the user logged in?")
    return client.get_cookie(name).value, next(g for g in match.groups() if g)
