"""Accounts rules: the only code that changes users, courses and enrollments.

Services take the acting user explicitly (views, CLI and jobs all call them) and raise
``ValidationError`` with per-field messages for bad input; they never commit half a change.
"""
from __future__ import annotations

import csv
import io
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.orm import selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from app.accounts.models import AuditLog, Center, Course, CourseRole, Enrollment, Role, User
from app.accounts.permissions import person_capabilities
from app.accounts.signals import course_members_changed, people_imported
from app.bulk import reusable
from app.db_types import utcnow
from app.extensions import db
from app.timezones import is_valid_timezone

MIN_PASSWORD_LENGTH = 10
MAX_NAME_LENGTH = 120
# Bidirectional embedding/override/isolate marks: invisible, and they reorder the text around
# them (a name that displays as someone else's). Zero-width joiners stay allowed: emoji and
# several scripts (Persian, Indic) need them.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class ValidationError(Exception):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class PermissionDenied(Exception):
    pass


# --- audit -----------------------------------------------------------------------------------

def record_audit(actor: User | None, action: str, target_type: str, target_id: int | None,
                 center_id: int | None = None, **details) -> AuditLog:
    entry = AuditLog(
        center_id=center_id if center_id is not None else actor.center_id,
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )
    db.session.add(entry)
    return entry


# --- validation helpers ----------------------------------------------------------------------

def normalize_email(raw: str) -> str:
    """Return the normalized address or raise ValueError with a readable reason."""
    raw = (raw or "").strip()
    if not raw:
        raise ValueError("Email is required.")
    try:
        # check_deliverability=False: no DNS lookups (offline installs, tests, speed).
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def name_problem(name: str) -> str | None:
    """Why ``name`` (already stripped) cannot be a person's name, or None. The one rule for
    names wherever they are set (profile, admin forms, CSV import, command line): a name ends
    up in email headers, iCalendar CN parameters and every page, where a line break or a
    control character breaks the header (every email to that person failed) or the layout."""
    if not name:
        return "Name is required."
    if len(name) > MAX_NAME_LENGTH:
        return f"Use at most {MAX_NAME_LENGTH} characters."
    for char in name:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
            return ("Use letters, spaces and punctuation only: no line breaks, tabs or "
                    "other control characters.")
    return None


def login_rate_key(raw_email: str) -> str:
    """The account a login attempt is against, for rate limiting: every spelling that reaches
    the same account (case, full-width letters, an IDNA domain, spaces around it) gives the same
    key, so variants do not each get their own allowance."""
    raw = (raw_email or "").strip()
    try:
        raw = normalize_email(raw)
    except ValueError:
        pass
    return unicodedata.normalize("NFKC", raw).casefold()[:254]


def parse_role(raw: str) -> Role:
    value = (raw or "").strip().upper()
    try:
        return Role(value)
    except ValueError:
        raise ValueError("Role must be admin, teacher or student.") from None


def password_problem(password: str) -> str | None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 200:
        return "Use at most 200 characters."
    return None


def email_taken(email: str) -> bool:
    return db.session.scalar(select(func.count()).select_from(User).where(User.email == email)) > 0


# --- authentication --------------------------------------------------------------------------

@dataclass
class LoginResult:
    user: User | None
    error: str | None


@lru_cache(maxsize=1)
def _dummy_password_hash() -> str:
    # Made with the same method as real hashes, so checking it costs what checking one does.
    return generate_password_hash(secrets.token_urlsafe(16))


def _spend_a_password_check(password: str) -> None:
    """Check the password against a hash that matches nothing: a login for an unknown or
    malformed address then takes as long as one with a wrong password, so the answer's timing
    does not tell which addresses have accounts."""
    check_password_hash(_dummy_password_hash(), password or "")


def authenticate(email: str, password: str) -> LoginResult:
    generic = "That email and password do not match an account."
    try:
        email = normalize_email(email)
    except ValueError:
        _spend_a_password_check(password)
        return LoginResult(None, generic)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        _spend_a_password_check(password)
        return LoginResult(None, generic)
    if not user.check_password(password or ""):
        return LoginResult(None, generic)
    if not user.is_active:
        return LoginResult(None, "This account has been deactivated. Ask your center's admin.")
    user.last_login_at = utcnow()
    return LoginResult(user, None)


# Every request's first statement (flask-login's user loader): built once (bulk.reusable), as
# Session.get builds its SELECT, annotations and cache key anew each time (0.12 ms a request).
_USER_BY_ID = reusable(lambda: select(User).where(User.id == bindparam("user_id")))


def load_user_for_session(session_id: str) -> User | None:
    try:
        user_id, version = (int(part) for part in session_id.split(":", 1))
    except (ValueError, AttributeError):
        return None
    user = db.session.scalar(_USER_BY_ID(), {"user_id": user_id})
    if user is None or user.session_version != version or not user.is_active:
        return None
    return user


def users_by_id(user_ids) -> dict[int, User]:
    """The users with these ids, in one query at most: the ones this DB session holds already
    loaded cost none. Receivers of domain events load the people an event concerns with it, so
    their relationships (a participant's ``.user``) then resolve without a query each."""
    from sqlalchemy import inspect
    from sqlalchemy.orm.util import identity_key

    found: dict[int, User] = {}
    missing = []
    for user_id in set(user_ids):
        user = db.session.identity_map.get(identity_key(User, user_id))
        if user is not None and not inspect(user).expired_attributes:
            found[user_id] = user
        else:
            missing.append(user_id)
    if missing:
        found.update((user.id, user) for user in db.session.scalars(
            select(User).where(User.id.in_(missing))))
    return found


def end_all_sessions(user: User) -> None:
    """Sign ``user`` out everywhere: every session and remember-me cookie names the session
    version it was issued with (``User.get_id``), and an old one no longer loads the user."""
    user.session_version += 1


# --- profile ---------------------------------------------------------------------------------

def update_profile(user: User, name: str, timezone: str) -> None:
    errors = {}
    name = (name or "").strip()
    if name_problem(name):
        errors["name"] = name_problem(name)
    if not is_valid_timezone(timezone):
        errors["timezone"] = "Pick a time zone from the list."
    if errors:
        raise ValidationError(errors)
    user.name = name
    user.timezone = timezone
    record_audit(user, "user.profile_updated", "user", user.id)


def new_password_errors(password: str, confirm: str, *, field: str = "password",
                        confirm_field: str = "confirm") -> dict[str, str]:
    """What is wrong with a new password and its confirmation, keyed by the form's fields
    (every form that sets a password: profile, reset link, invitation sign-up)."""
    problem = password_problem(password)
    if problem:
        return {field: problem}
    if password != confirm:
        return {confirm_field: "The two passwords differ."}
    return {}


def change_password(user: User, current: str, new: str, confirm: str) -> bool:
    """Change the password, sign out every other device and give the calendar feed a new
    address. Returns whether there was a feed (its old address stopped working)."""
    errors = {}
    if not user.check_password(current or ""):
        errors["current_password"] = "Your current password is not correct."
    errors.update(new_password_errors(new, confirm, field="new_password",
                                      confirm_field="confirm_password"))
    if errors:
        raise ValidationError(errors)
    user.set_password(new)
    user.session_version += 1  # sign out every other device
    from app.scheduling.services import revoke_feed_address

    feed_reset = revoke_feed_address(user)
    record_audit(user, "user.password_changed", "user", user.id)
    return feed_reset


# --- users (admin) ---------------------------------------------------------------------------

def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionDenied("Only a center admin can do that.")


def create_user(actor: User, *, email: str, name: str, role: str | Role, timezone: str | None,
                password: str | None) -> tuple[User, str | None]:
    """Create a user in the actor's center. Returns the user and the generated password, if one
    had to be made (shown once to the admin)."""
    _require_admin(actor)
    errors: dict[str, str] = {}
    try:
        email = normalize_email(email)
        if email_taken(email):
            errors["email"] = "An account with this email already exists."
    except ValueError as exc:
        errors["email"] = str(exc)
    name = (name or "").strip()
    if name_problem(name):
        errors["name"] = name_problem(name)
    try:
        role = role if isinstance(role, Role) else parse_role(role)
    except ValueError as exc:
        errors["role"] = str(exc)
    timezone = (timezone or "").strip() or None
    if timezone and not is_valid_timezone(timezone):
        errors["timezone"] = f"Unknown time zone {timezone!r}."
    generated = None
    if password:
        problem = password_problem(password)
        if problem:
            errors["password"] = problem
    else:
        generated = password = secrets.token_urlsafe(9)
    if errors:
        raise ValidationError(errors)
    user = User(center_id=actor.center_id, email=email, name=name, role=role, timezone=timezone)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record_audit(actor, "user.created", "user", user.id, email=email, role=role.value)
    return user, generated


def set_user_active(actor: User, user: User, active: bool) -> None:
    _require_admin(actor)
    if user.center_id != actor.center_id:
        raise PermissionDenied("Not in your center.")
    if not active and not person_capabilities(actor, user).can_set_active:
        raise ValidationError({"user": "You cannot deactivate your own account."})
    if user.is_active_flag == active:
        return
    user.is_active_flag = active
    user.session_version += 1  # a deactivated user is signed out everywhere at once
    record_audit(actor, "user.activated" if active else "user.deactivated", "user", user.id)


def update_user(actor: User, user: User, *, name: str, email: str, role: str | Role) -> dict:
    """An admin edits a person's name, email and role (audited with before and after). Adds
    and flushes; the view commits. Returns the changes ({field: [old, new]})."""
    _require_admin(actor)
    if user.center_id != actor.center_id:
        raise PermissionDenied("Not in your center.")
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if name_problem(name):
        errors["name"] = name_problem(name)
    try:
        email = normalize_email(email)
        if email != user.email and email_taken(email):
            errors["email"] = "An account with this email already exists."
    except ValueError as exc:
        errors["email"] = str(exc)
    try:
        role = role if isinstance(role, Role) else parse_role(role)
        if role != user.role and not person_capabilities(actor, user).can_change_role:
            # Guards against a center locking itself out of its admin pages by mistake.
            errors["role"] = "You cannot change your own role; ask another admin."
    except ValueError as exc:
        errors["role"] = str(exc)
    if errors:
        raise ValidationError(errors)
    changes = {key: [old, new] for key, old, new in (
        ("name", user.name, name), ("email", user.email, email),
        ("role", user.role.value, role.value)) if old != new}
    if changes:
        user.name, user.email, user.role = name, email, role
        record_audit(actor, "user.updated", "user", user.id, changes=changes)
        db.session.flush()
    return changes


# --- CSV import ------------------------------------------------------------------------------
# Fast because nothing is done per row against the database: rows are checked in memory, the
# addresses already taken are found with one query, and the new people are inserted in bulk
# (executemany, a few statements for thousands of rows) in one transaction. No password is
# made or hashed: a password hash costs ~0.2 s by design, which was most of the old 0.35 s a
# row. Imported people set their own (the emailed link of "Forgot password" or an admin's
# "Reset password"); receivers of ``people_imported`` may send them a link in bulk.

# A password hash no password matches (werkzeug's check rejects a hash without "$"): the
# account exists and can be invited or reset, but nobody can log in with a password yet.
NO_PASSWORD = "!"


@dataclass
class ImportRow:
    line: int
    email: str
    name: str
    role: str
    status: str  # created | duplicate | error
    message: str = ""


@dataclass
class ImportReport:
    rows: list[ImportRow] = field(default_factory=list)
    error: str | None = None  # the file as a whole could not be read
    notes: list[str] = field(default_factory=list)  # said once about the whole file

    def count(self, status: str) -> int:
        return sum(1 for r in self.rows if r.status == status)

    def to_dict(self) -> dict:
        return {"rows": [vars(r) for r in self.rows], "error": self.error, "notes": self.notes}

    @classmethod
    def from_dict(cls, data: dict) -> "ImportReport":
        return cls(rows=[ImportRow(**r) for r in data.get("rows", [])], error=data.get("error"),
                   notes=list(data.get("notes", [])))


@dataclass
class NewPerson:
    email: str
    name: str
    role: Role
    timezone: str | None


CSV_COLUMNS = ("email", "name", "role", "timezone")
# Progress is reported every this many rows (and at the end of each phase).
PROGRESS_EVERY = 100


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


def _open_people_csv(data: bytes):
    """(reader, column index, notes, estimated rows) for a people CSV, or raise ValueError
    with what is wrong with the file as a whole."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("The file is not UTF-8 text. Export it as CSV (UTF-8) and try again.") \
            from None
    if "\x00" in text:  # UTF-16 or a binary file; PostgreSQL text cannot hold NUL either
        raise ValueError("The file is not CSV text. Export it as CSV (UTF-8) and try again.")
    # The separator is read off the header row, which must name email, name and role: sniffing
    # the whole sample (csv.Sniffer) fails on a file whose rows have differing cell counts,
    # which is exactly a file with a malformed row to report, and guesses quoting wrongly.
    header_line = text.lstrip().split("\n", 1)[0]
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter if delimiter in header_line else ",")
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ValueError("The file is empty.") from None
    header = [re.sub(r"\s+", "", h).lower() for h in header]
    missing = [c for c in ("email", "name", "role") if c not in header]
    if missing:
        raise ValueError(f"The header row must name the columns email, name and role "
                         f"(missing: {', '.join(missing)}). Optional: timezone.")
    notes = []
    if "password" in header:
        notes.append("The password column was not read: people choose their own password "
                     "(a file of passwords is a leak waiting to happen).")
    index = {name: header.index(name) for name in CSV_COLUMNS if name in header}
    return reader, index, notes, max(text.count("\n") - 1, 1)


def people_csv_problem(data: bytes) -> str | None:
    """What is wrong with the file as a whole (encoding, header), or None: checked before an
    import is queued, so such a file is refused at once."""
    try:
        _open_people_csv(data)
    except ValueError as exc:
        return str(exc)
    return None


def read_people_csv(data: bytes, max_rows: int = 2000,
                    progress=_no_progress) -> tuple[ImportReport, list[tuple[ImportRow, NewPerson]]]:
    """Parse and check a people CSV (header: email,name,role[,timezone]) without touching the
    database. Returns the report (a row for every line, malformed ones and repeats within the
    file already marked) and the rows that may be created."""
    report = ImportReport()
    try:
        reader, index, report.notes, total = _open_people_csv(data)
    except ValueError as exc:
        report.error = str(exc)
        return report, []

    seen: set[str] = set()
    pending: list[tuple[ImportRow, NewPerson]] = []
    try:
        for line_no, raw in enumerate(reader, start=2):
            if line_no % PROGRESS_EVERY == 0:
                progress("checking", len(report.rows), max(total, len(report.rows)))
            if not any(cell.strip() for cell in raw):
                continue
            if len(report.rows) >= max_rows:
                report.error = f"Only the first {max_rows} rows were read; split the file."
                break
            cell = lambda col: raw[index[col]].strip() if col in index and index[col] < len(raw) else ""  # noqa: E731
            row = ImportRow(line=line_no, email=cell("email"), name=cell("name"),
                            role=cell("role"), status="error")
            report.rows.append(row)
            problems = []
            try:
                email = normalize_email(row.email)
                row.email = email
            except ValueError as exc:
                problems.append(f"email: {exc}")
                email = None
            if not row.name:
                problems.append("name is missing")
            elif name_problem(row.name):
                problems.append(f"name: {name_problem(row.name)}")
            try:
                role = parse_role(row.role)
            except ValueError as exc:
                problems.append(str(exc))
                role = None
            tz = cell("timezone") or None
            if tz and not is_valid_timezone(tz):
                problems.append(f"unknown time zone {tz!r}")
            if problems:
                row.message = "; ".join(problems)
                continue
            if email in seen:
                row.status, row.message = "duplicate", "appears earlier in this file"
                continue
            seen.add(email)
            pending.append((row, NewPerson(email=email, name=row.name, role=role, timezone=tz)))
    except csv.Error as exc:
        # Nothing is created from a file that cannot be read to its end.
        report.rows = []
        report.error = f"The file is not valid CSV near line {reader.line_num}: {exc}"
        return report, []
    progress("checking", len(report.rows), len(report.rows))
    return report, pending


def create_people(actor: User, people: list[NewPerson], progress=_no_progress) -> list[int]:
    """Create people in the actor's center in bulk, without passwords (they set their own).
    The caller has checked the rows (``read_people_csv``) and left out taken addresses. Adds in
    the current transaction; statements grow with the batches, not the people. Returns the new
    users' ids, in order."""
    _require_admin(actor)
    ids: list[int] = []
    batch = 1000  # rows per INSERT and id look-up: 9,000 parameters, within SQLite's limit
    for start in range(0, len(people), batch):
        chunk = people[start:start + batch]
        now = utcnow()
        rows = [{"center_id": actor.center_id, "email": p.email, "name": p.name, "role": p.role,
                 "timezone": p.timezone, "password_hash": NO_PASSWORD, "is_active_flag": True,
                 "session_version": 1, "created_at": now} for p in chunk]
        # One executemany per batch; the new ids are then read back by address (unique) in
        # one query. (RETURNING with the rows' order kept falls back to an INSERT per row on
        # SQLite.)
        # render_nulls: a None timezone must not split the batch into one INSERT per run of
        # rows with the same keys (the ORM leaves None out by default).
        db.session.execute(insert(User).execution_options(render_nulls=True), rows)
        by_email = dict(db.session.execute(select(User.email, User.id).where(
            User.email.in_([p.email for p in chunk]))).all())
        ids.extend(by_email[p.email] for p in chunk)
        progress("creating", start + len(chunk), len(people))
    return ids


def import_users_csv(actor: User, data: bytes, max_rows: int = 2000,
                     progress=_no_progress) -> ImportReport:
    """Import people from a CSV file. Every line gets a row in the report. Good rows are created
    together in one transaction; duplicates and malformed rows are listed with the reason and
    never half-created. ``progress(phase, done, total)`` is called as the work goes on."""
    _require_admin(actor)
    report, pending = read_people_csv(data, max_rows, progress)
    if report.error and not report.rows:
        return report
    emails = [person.email for _, person in pending]
    existing = set(db.session.scalars(select(User.email).where(User.email.in_(emails)))) \
        if emails else set()
    to_create = []
    for row, person in pending:
        if person.email in existing:
            row.status, row.message = "duplicate", "an account with this email already exists"
        else:
            row.status, row.message = "created", "created"
            to_create.append(person)
    user_ids = create_people(actor, to_create, progress) if to_create else []
    record_audit(actor, "user.csv_import", "center", actor.center_id,
                 created=len(user_ids), duplicates=report.count("duplicate"),
                 errors=report.count("error"), user_ids=user_ids)
    if user_ids:
        people_imported.send(actor, user_ids=frozenset(user_ids))
    return report


def search_users(center_id: int, q: str = "", role: str | None = None):
    stmt = select(User).where(User.center_id == center_id)
    if role:
        stmt = stmt.where(User.role == role)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    return stmt.order_by(User.role, func.lower(User.name))


# --- courses and enrollments -----------------------------------------------------------------

def create_course(actor: User, name: str, description: str = "") -> Course:
    _require_admin(actor)
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Name is required."
    elif len(name) > 120:
        errors["name"] = "Use at most 120 characters."
    elif db.session.scalar(select(Course.id).where(Course.center_id == actor.center_id,
                                                   Course.name == name)):
        errors["name"] = "A course with this name already exists."
    if errors:
        raise ValidationError(errors)
    course = Course(center_id=actor.center_id, name=name, description=(description or "").strip())
    db.session.add(course)
    db.session.flush()
    record_audit(actor, "course.created", "course", course.id, name=name)
    course_members_changed.send(course, actor=actor, user_ids=frozenset())
    return course


def enroll(actor: User, course: Course, user_ids: list[int], role: CourseRole) -> int:
    """Enroll users (of the actor's center, with a matching account role) in a course.
    Returns how many were newly enrolled; ones already enrolled are left as they are."""
    _require_admin(actor)
    if course.center_id != actor.center_id:
        raise PermissionDenied("Not in your center.")
    wanted_role = Role.TEACHER if role == CourseRole.TEACHER else Role.STUDENT
    users = db.session.scalars(select(User).where(
        User.id.in_(user_ids), User.center_id == actor.center_id, User.role == wanted_role)).all()
    if len(users) != len(set(user_ids)):
        raise ValidationError({"user_ids": f"Pick {wanted_role.label.lower()}s of your center."})
    already = set(db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id, Enrollment.user_id.in_(user_ids))))
    added = 0
    for user in users:
        if user.id in already:
            continue
        db.session.add(Enrollment(center_id=course.center_id, course_id=course.id,
                                  user_id=user.id, role=role))
        added += 1
    if added:
        enrolled = frozenset(u.id for u in users if u.id not in already)
        record_audit(actor, "course.enrolled", "course", course.id, role=role.value,
                     user_ids=sorted(enrolled))
        db.session.flush()
        course_members_changed.send(course, actor=actor, user_ids=enrolled)
    return added


def unenroll(actor: User, enrollment: Enrollment) -> None:
    _require_admin(actor)
    if enrollment.center_id != actor.center_id:
        raise PermissionDenied("Not in your center.")
    record_audit(actor, "course.unenrolled", "course", enrollment.course_id,
                 user_id=enrollment.user_id)
    course = enrollment.course
    user_id = enrollment.user_id
    db.session.delete(enrollment)
    db.session.flush()
    course_members_changed.send(course, actor=actor, user_ids=frozenset({user_id}))


# --- who teaches whom ------------------------------------------------------------------------

def teacher_course_ids(teacher: User):
    return select(Enrollment.course_id).where(Enrollment.user_id == teacher.id,
                                              Enrollment.role == CourseRole.TEACHER)


def enrolled_students_query(teacher: User, q: str = ""):
    """Students in any of the teacher's courses (DESIGN: "enrolled students"), each once,
    with their enrollments and courses eager-loaded so a page costs the same whatever its size."""
    student_ids = select(Enrollment.user_id).where(
        Enrollment.course_id.in_(teacher_course_ids(teacher)),
        Enrollment.role == CourseRole.STUDENT)
    stmt = (select(User)
            .where(User.center_id == teacher.center_id, User.role == Role.STUDENT,
                   User.id.in_(student_ids))
            .options(selectinload(User.enrollments).joinedload(Enrollment.course)))
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(func.lower(User.name).like(like), func.lower(User.email).like(like)))
    return stmt.order_by(func.lower(User.name), User.id)


def is_enrolled_student_of(teacher: User, student: User) -> bool:
    return db.session.scalar(
        select(func.count()).select_from(Enrollment).where(
            Enrollment.user_id == student.id, Enrollment.role == CourseRole.STUDENT,
            Enrollment.course_id.in_(teacher_course_ids(teacher)))) > 0


def courses_for(user: User) -> list[Course]:
    """The user's courses with every enrollment and person loaded (dashboards, lists)."""
    stmt = (select(Course)
            .join(Enrollment, Enrollment.course_id == Course.id)
            .where(Enrollment.user_id == user.id, Course.center_id == user.center_id)
            .options(selectinload(Course.enrollments).joinedload(Enrollment.user))
            .order_by(Course.name))
    return list(db.session.scalars(stmt).unique())


def center_courses(center_id: int) -> list[Course]:
    stmt = (select(Course).where(Course.center_id == center_id)
            .options(selectinload(Course.enrollments).joinedload(Enrollment.user))
            .order_by(Course.name))
    return list(db.session.scalars(stmt))


def teachers_of_student(student: User) -> list[tuple[User, list[Course]]]:
    by_teacher: dict[int, tuple[User, list[Course]]] = {}
    for course in courses_for(student):
        for enrollment in course.enrollments:
            if enrollment.role == CourseRole.TEACHER:
                entry = by_teacher.setdefault(enrollment.user.id, (enrollment.user, []))
                entry[1].append(course)
    return sorted(by_teacher.values(), key=lambda pair: pair[0].name.lower())


def create_center(name: str, slug: str, timezone: str) -> Center:
    if not is_valid_timezone(timezone):
        raise ValidationError({"timezone": f"Unknown time zone {timezone!r}."})
    center = Center(name=name, slug=slug, timezone=timezone)
    db.session.add(center)
    db.session.flush()
    return center


# --- a person's page -------------------------------------------------------------------------

def shared_courses(viewer: User, person: User) -> list[Course]:
    """The person's courses the viewer may see on their page: all of them for an admin (or the
    person themself), else the courses both are enrolled in."""
    stmt = (select(Course).join(Enrollment, Enrollment.course_id == Course.id)
            .where(Enrollment.user_id == person.id, Course.center_id == person.center_id)
            .order_by(Course.name))
    if viewer.role != Role.ADMIN and viewer.id != person.id:
        stmt = stmt.where(Course.id.in_(select(Enrollment.course_id)
                                        .where(Enrollment.user_id == viewer.id)))
    return list(db.session.scalars(stmt).unique())


def can_view_person(viewer: User, person: User) -> bool:
    """Who may open a person's page: anyone in the center for an admin; else people who share a
    course where one of the two teaches (a student sees their teachers, a teacher their students
    and co-teachers; classmates' pages stay private)."""
    if viewer.center_id != person.center_id:
        return False
    if viewer.role == Role.ADMIN or viewer.id == person.id:
        return True
    if viewer.role == Role.STUDENT and person.role == Role.STUDENT:
        return False
    viewer_courses = select(Enrollment.course_id).where(Enrollment.user_id == viewer.id)
    return db.session.scalar(select(func.count()).select_from(Enrollment).where(
        Enrollment.user_id == person.id, Enrollment.course_id.in_(viewer_courses))) > 0
