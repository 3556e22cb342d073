"""Fixtures for the accounts tests.

Requests run in their own app context (tests/conftest.py's IsolatedClient), so objects a test
holds may be stale after a request changed them: ``fresh(obj)`` re-reads one.
"""
from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest

from app.accounts.models import Role
from app.extensions import db


@pytest.fixture
def other(make):
    """A second center, B, with its own admin, teacher, students, course and enrollments.
    Names share "Zed" with nothing in ``school`` so searches can look for them."""
    center = make.center("Other Center")
    admin = make.user(center, Role.ADMIN, name="Zed Admin")
    teacher = make.user(center, Role.TEACHER, name="Zed Teacher")
    student = make.user(center, Role.STUDENT, name="Zed Student")
    course = make.course(center, "Zed Course", teachers=[teacher], students=[student])
    return type("Other", (), dict(center=center, admin=admin, teacher=teacher, student=student,
                                  course=course, enrollments=list(course.enrollments)))


def fresh(obj):
    """Re-read a row the test holds after requests (their own sessions) may have changed it."""
    db.session.refresh(obj)
    return obj


HTMX = {"HX-Request": "true"}


def htmx_headers(client=None, path="/account", **extra):
    """Headers of an HTMX request; with a client, also the CSRF header the page sends."""
    from tests.conftest import csrf_token

    headers = dict(HTMX, **extra)
    if client is not None:
        headers["X-CSRFToken"] = csrf_token(client, path)
    return headers


class _TableParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str) -> list[list[str]]:
    """The text of every table row's cells (header rows included), whitespace collapsed."""
    parser = _TableParser()
    parser.feed(html)
    return parser.rows


def flashes(html: str) -> list[tuple[str, str]]:
    """The flash messages on a page (or in an error fragment): (category, text) pairs."""
    return [(category, unescape(" ".join(re.sub(r"<[^>]+>", "", body).split())))
            for category, body in re.findall(
                r'<div class="flash flash-(\w+)"[^>]*>(.*?)</div>', html, re.S)]
