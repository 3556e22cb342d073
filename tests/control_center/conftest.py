"""A tutor's session with up to five learners, its occurrence under way (or not yet live)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.accounts.models import Role
from app.db_types import utcnow
from app.live import session_runs
from app.scheduling.models import SessionType
from tests.conftest import commit
from tests.live.test_sessions_live import make_session


class Lesson:
    def __init__(self, make, center, teacher, learners, *, co_teachers=(), live=True):
        self.center, self.teacher, self.learners = center, teacher, list(learners)
        start = (utcnow() - timedelta(minutes=5)).replace(microsecond=0)
        self.session = make_session(center, teacher, self.learners, start=start, minutes=60,
                                    co_teachers=co_teachers, title="Tutoring",
                                    type=SessionType.TUTORING)
        self.at = start
        self.run = None
        if live:
            self.run, _ = session_runs.start_session_run(teacher, self.session)
            commit()

    @property
    def at_param(self) -> str:
        return self.at.isoformat()


@pytest.fixture
def lesson_for(make, school):
    """``lesson_for(n)``: the school's teacher with ``n`` learners (the school's two, then new
    ones) in a session under way."""

    def _lesson(n=2, *, live=True, co_teachers=()):
        learners = list(school.students[:n])
        while len(learners) < n:
            learners.append(make.user(school.center, Role.STUDENT, name=f"Learner {len(learners) + 1}"))
        return Lesson(make, school.center, school.teacher, learners, live=live,
                      co_teachers=co_teachers)

    return _lesson
