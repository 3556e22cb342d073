"""Center admin pages: people, CSV import, courses and enrollments, the audit log."""
from __future__ import annotations

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.accounts import imports, services
from app.accounts.audit import describe_entries
from app.accounts.forms import CourseForm, CsvImportForm, EditPersonForm, InvitePersonForm
from app.accounts.models import AuditLog, Course, CourseRole, Enrollment, Role, User
from app.accounts.permissions import admin_required, person_capabilities
from app.accounts.tenancy import get_scoped_or_404, parse_id, scoped
from app.extensions import db, limiter
from app.web import (form_errors_into, navigate_to, page_arg, referrer_or, render_page,
                     wants_fragment)

bp = Blueprint("admin", __name__, url_prefix="/admin")

USERS_PAGE_SIZE = 50


def admin_dashboard_context(admin: User) -> dict:
    counts = dict(db.session.execute(
        select(User.role, func.count()).where(User.center_id == admin.center_id,
                                              User.is_active_flag.is_(True))
        .group_by(User.role)).all())
    recent = db.session.scalars(
        scoped(AuditLog).options(joinedload(AuditLog.actor))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()).limit(8)).all()
    return {"role_counts": {role: counts.get(role, 0) for role in Role},
            "center_courses": services.center_courses(admin.center_id), "recent_audit": recent,
            "audit_words": describe_entries(recent)}


@bp.route("/users")
@admin_required
def users():
    q = request.args.get("q", "").strip()[:100]
    role = request.args.get("role", "")
    if role not in {r.value for r in Role}:
        role = ""
    pagination = db.paginate(services.search_users(current_user.center_id, q, role or None),
                             page=page_arg(), per_page=USERS_PAGE_SIZE, error_out=False)
    return render_page("admin/users.html", "admin/_user_list.html",
                       pagination=pagination, q=q, role=role,
                       capabilities_of=lambda person: person_capabilities(current_user, person))


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
@limiter.limit("60 per hour", methods=["POST"], key_func=lambda: f"invite:{current_user.id}")
def new_user():
    """"Add a person" sends a center invitation: they choose their own password (an admin
    never sees or passes one on)."""
    from app.accounts.models import Center
    from app.invites import invitations

    form = InvitePersonForm()
    status = 200
    if form.validate_on_submit():
        try:
            email = services.normalize_email(form.email.data)
            report = invitations.invite(
                current_user, invitations.center_target(db.session.get(Center, current_user.center_id)),
                email, role=form.role.data, message=form.message.data or "",
                names={email: (form.name.data or "").strip()})
            [result] = report.results
            if result.invitation is None:
                raise services.ValidationError({"email": result.message})
            flash(f"An invitation was emailed to {email}: they choose their name and password "
                  f"when they accept.", "success")
            return navigate_to(url_for("invitations.center_invitations"))
        except ValueError as exc:
            form.email.errors = [str(exc)]
        except services.ValidationError as exc:
            db.session.rollback()
            form_errors_into(form, exc.errors)
    if request.method == "POST":
        status = 422
    return render_page("admin/user_new.html", "admin/_user_form.html", status=status, form=form)


@bp.route("/users/<user_id>/active", methods=["POST"])
@admin_required
def set_active(user_id):
    user = get_scoped_or_404(User, user_id)
    active = request.form.get("active") == "1"
    try:
        services.set_user_active(current_user, user, active)
        flash(f"{user.name} was {'reactivated' if active else 'deactivated'}.", "success")
    except services.ValidationError as exc:
        flash(" ".join(exc.errors.values()), "error")
    return navigate_to(referrer_or(url_for("admin.users")))


@bp.route("/users/import", methods=["GET", "POST"])
@admin_required
def import_users():
    """Upload a people CSV. A file that cannot be read as a whole is refused at once; otherwise
    the import runs as a background job and the page follows its progress to the report."""
    form = CsvImportForm()
    status = 200
    if form.validate_on_submit():
        data = form.file.data.read()
        problem = services.people_csv_problem(data)
        if problem is None:
            try:
                import_id = imports.start_import(current_user, data)
            except imports.ImportUnavailable:
                problem, status = ("The import could not start: the background job service is "
                                   "not reachable. Try again in a minute."), 503
            else:
                url = url_for("admin.import_status", import_id=import_id)
                if wants_fragment():
                    return render_template("admin/_import_progress.html", status_url=url,
                                           state={"state": "queued", "done": 0, "total": 0})
                return navigate_to(url)
        form.file.errors = [problem]
    if request.method == "POST" and status == 200:
        status = 422
    return render_page("admin/import.html", "admin/_import_report.html", status=status,
                       form=form, report=None)


@bp.route("/users/import/<import_id>")
@admin_required
def import_status(import_id):
    """An import's progress (polled by the page) and then its report, kept for a day."""
    state = imports.import_state(import_id, current_user.center_id)
    if state is None:
        abort(404)
    url = url_for("admin.import_status", import_id=import_id)
    if state["state"] not in ("done", "failed"):
        return render_page("admin/import.html", "admin/_import_progress.html",
                           form=CsvImportForm(formdata=None), state=state, status_url=url)
    report = state.get("report")
    status = 422 if report is None or report.error or report.count("error") else 200
    return render_page("admin/import.html", "admin/_import_report.html", status=status,
                       form=CsvImportForm(formdata=None), report=report,
                       failure=state.get("error"), status_url=url)


@bp.route("/courses", methods=["GET", "POST"])
@admin_required
def courses():
    form = CourseForm()
    status = 200
    if form.validate_on_submit():
        try:
            course = services.create_course(current_user, form.name.data, form.description.data)
            flash(f"Course {course.name} was created. Now enroll its teachers and students.",
                  "success")
            return navigate_to(url_for("admin.course", course_id=course.id))
        except services.ValidationError as exc:
            form_errors_into(form, exc.errors)
    if request.method == "POST":
        status = 422
    return render_template("admin/courses.html", form=form,
                           courses=services.center_courses(current_user.center_id)), status


def _enrollment_candidates(course: Course, role: Role) -> list[User]:
    enrolled = select(Enrollment.user_id).where(Enrollment.course_id == course.id)
    return list(db.session.scalars(
        scoped(User, User.role == role, User.is_active_flag.is_(True), User.id.not_in(enrolled))
        .order_by(func.lower(User.name))))


@bp.route("/courses/<course_id>", methods=["GET", "POST"])
@admin_required
def course(course_id):
    course = get_scoped_or_404(Course, course_id)
    status = 200
    if request.method == "POST":
        role = CourseRole.TEACHER if request.form.get("role") == "TEACHER" else CourseRole.STUDENT
        user_ids = [parse_id(v) for v in request.form.getlist("user_ids")]
        if None in user_ids:
            user_ids = []  # a value that cannot be an id: the form was not sent by our page
        if not user_ids:
            flash("Pick at least one person to enroll.", "error")
            status = 422
        else:
            try:
                added = services.enroll(current_user, course, user_ids, role)
                flash(f"{added} {role.value.lower()}{'s' if added != 1 else ''} enrolled.",
                      "success")
                return navigate_to(url_for("admin.course", course_id=course.id))
            except services.ValidationError as exc:
                flash(" ".join(exc.errors.values()), "error")
                status = 422
    course = db.session.scalar(
        scoped(Course, Course.id == course.id)
        .options(joinedload(Course.enrollments).joinedload(Enrollment.user)))
    enrollments = sorted(course.enrollments, key=lambda e: (e.role.value, e.user.name.lower()))
    return render_template(
        "admin/course.html", course=course, enrollments=enrollments,
        teacher_candidates=_enrollment_candidates(course, Role.TEACHER),
        student_candidates=_enrollment_candidates(course, Role.STUDENT)), status


@bp.route("/courses/<course_id>/enrollments/<enrollment_id>/delete", methods=["POST"])
@admin_required
def unenroll(course_id, enrollment_id):
    course = get_scoped_or_404(Course, course_id)
    enrollment = get_scoped_or_404(Enrollment, enrollment_id)
    if enrollment.course_id != course.id:
        abort(404)
    name = enrollment.user.name
    services.unenroll(current_user, enrollment)
    flash(f"{name} was removed from {course.name}.", "success")
    return navigate_to(url_for("admin.course", course_id=course.id))


@bp.route("/audit")
@admin_required
def audit():
    pagination = db.paginate(
        scoped(AuditLog).options(joinedload(AuditLog.actor))
        .order_by(AuditLog.created_at.desc(), AuditLog.id.desc()),
        page=page_arg(), per_page=50, error_out=False)
    return render_template("admin/audit.html", pagination=pagination,
                           audit_words=describe_entries(pagination.items))


@bp.route("/users/<user_id>/edit", methods=["GET", "POST"])
@admin_required
def edit_user(user_id):
    """An admin edits a person's name, email and role; the page also holds "Reset password"."""
    user = get_scoped_or_404(User, user_id)
    form = EditPersonForm(obj=None if request.method == "POST" else user)
    if request.method == "GET":
        form.role.data = user.role.value
    status = 200
    if form.validate_on_submit():
        try:
            changes = services.update_user(current_user, user, name=form.name.data,
                                           email=form.email.data, role=form.role.data)
            flash(f"{user.name} was updated." if changes else "Nothing was changed.", "success")
            return navigate_to(url_for("admin.users"))
        except services.ValidationError as exc:
            db.session.rollback()
            form_errors_into(form, exc.errors)
    if request.method == "POST":
        status = 422
    return render_page("admin/user_edit.html", "admin/_user_edit_form.html", status=status,
                       form=form, person=user, caps=person_capabilities(current_user, user))


@bp.route("/users/<user_id>/reset-password", methods=["POST"])
@admin_required
@limiter.limit("20 per hour", key_func=lambda: f"admin-reset:{current_user.id}")
def reset_password(user_id):
    """Emails the person a link to choose a new password (nobody sees a password) and ends
    their sessions."""
    from app.accounts import password_resets

    user = get_scoped_or_404(User, user_id)
    try:
        password_resets.admin_reset(current_user, user)
        flash(f"A link to choose a new password was emailed to {user.email}; "
              f"{user.name} was signed out everywhere.", "success")
    except services.ValidationError as exc:
        db.session.rollback()
        flash(" ".join(exc.errors.values()), "error")
    return navigate_to(url_for("admin.edit_user", user_id=user.id))
