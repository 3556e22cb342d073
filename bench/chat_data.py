"""Data for the realtime bench: one center, students, and CLASS threads (built by
app.chat.services, as enrolment does in the app), each with a teacher of its own who posts to it.

People are numbered 0..n-1 (the bench's client indexes): 0..idle-1 are the idle sockets and the
big class "B"; "C" is the first ``settle_class`` of them; "A" is ``small_class`` more people;
"S0", "S1", ... are the concurrent senders' classes (``sender_class`` each, from the idle ones).
Emails carry the run's tag. Students share one password hash: hashing thousands would be the
benchmark."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.accounts.models import Center, Course, CourseRole, Enrollment, Role, User
from app.chat import services
from app.extensions import db
from bench.common import RUN_TAG, Scale, email, slug

_CSRF_RE = re.compile(r'X-CSRFToken": "([^"]+)"|name="csrf_token" value="([^"]+)"')


@dataclass
class Room:
    key: str  # "A", "B", "C", "S0", ...: also the peer's room name
    members: list[int]  # people (bench numbering)
    thread_id: int = 0
    teacher_id: int = 0
    welcome_id: int = 0  # a subscriber asking for what came after welcome_id - 1 gets it

    @property
    def welcome_token(self) -> str:
        return f"welcome-{self.key}-{RUN_TAG}"


@dataclass
class ChatBenchData:
    user_ids: list[int]  # person number -> user id
    rooms: dict[str, Room] = field(default_factory=dict)


def layout(scale: Scale) -> dict[str, Room]:
    """Who is in which room (the peer uses the same layout)."""
    idle = list(range(scale.idle_sockets))
    rooms = {"A": Room("A", list(range(scale.idle_sockets,
                                       scale.idle_sockets + scale.small_class))),
             "B": Room("B", idle),
             "C": Room("C", idle[:scale.settle_class])}
    for n in range(scale.senders):
        first = n * scale.sender_class
        rooms[f"S{n}"] = Room(f"S{n}", [idle[(first + k) % len(idle)]
                                        for k in range(scale.sender_class)])
    return rooms


def build(scale: Scale) -> ChatBenchData:
    """Create the people and threads (inside an app context, on an empty database)."""
    center = Center(name="Bench Academy", slug=slug("bench-academy"), timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    password_hash = generate_password_hash("bench-password-not-used")
    people = [User(center_id=center.id, role=Role.STUDENT, name=f"Student {n:04d}",
                   email=email(f"student{n}"), password_hash=password_hash)
              for n in range(scale.idle_sockets + scale.small_class)]
    db.session.add_all(people)
    db.session.flush()
    data = ChatBenchData([p.id for p in people])
    for key, room in layout(scale).items():
        # One teacher per class: each sends that room's messages (the send rate limit is per
        # person, as in the app).
        teacher = User(center_id=center.id, role=Role.TEACHER, name=f"Teacher of {key}",
                       email=email(f"teacher-{key.lower()}"), password_hash=password_hash)
        course = Course(center_id=center.id, name=f"Class {key}")
        db.session.add_all([teacher, course])
        db.session.flush()
        db.session.add(Enrollment(center_id=center.id, course_id=course.id, user_id=teacher.id,
                                  role=CourseRole.TEACHER))
        db.session.add_all(Enrollment(center_id=center.id, course_id=course.id,
                                      user_id=people[n].id, role=CourseRole.STUDENT)
                           for n in room.members)
        db.session.flush()
        thread = services.ensure_class_thread(course)
        db.session.commit()
        room.thread_id, room.teacher_id = thread.id, teacher.id
        if not key.startswith("S"):  # the senders' classes are never subscribed to
            with current_app.test_request_context("/"):
                room.welcome_id = services.post_message(
                    teacher, thread, f"Welcome: {room.welcome_token}").id
        data.rooms[key] = room
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
