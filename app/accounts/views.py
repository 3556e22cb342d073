"""Log in and out, the role dashboards, people lists, profile and password."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (Blueprint, current_app, flash, redirect, render_template, request, session,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user

from app.accounts import services
from app.accounts.forms import LoginForm, PasswordForm, ProfileForm
from app.accounts.models import Role
from app.accounts.permissions import roles_required
from app.extensions import db, limiter
from app.web import form_errors_into, navigate_to, page_arg, render_page

bp = Blueprint("accounts", __name__)

STUDENTS_PAGE_SIZE = 50


def _safe_next(target: str | None, user) -> str:
    """Only same-site relative paths: an open redirect would turn login into a phishing aid.
    Without one (or with one refused), the person's landing page: My Day for those who teach,
    the dashboard for everyone else. The site's root counts as none: it is where a visit
    begins (http://host/ sends to /login?next=/), not a page someone asked for."""
    if target and target != "/" and not any(char.isspace() or not char.isprintable() for char in target):
        # (No whitespace or control characters: a CR/LF cannot go into a Location header.)
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//") and "\\" not in target:
            return target
    from app.my_day.services import landing_url

    return landing_url(user)


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_account_key():
    # Per account, whatever address the attempts come from (a new address does not start a
    # new allowance) and however the email is spelled (variants that reach the same account
    # share one allowance). The per-address limit below stays as well.
    return "login-account:" + services.login_rate_key(request.form.get("email") or "")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_login_account_key,
               deduct_when=lambda response: response.status_code != 302)
@limiter.limit(lambda: "60 per minute", methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next"), current_user))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        result = services.authenticate(form.email.data, form.password.data)
        if result.user:
            # A fresh session on login: nothing from before it carries over, the CSRF token
            # included (a token learnt before login is no use after it).
            session.clear()
            login_user(result.user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next"), result.user))
        form.form_errors.append(result.error)
        status = 422
    elif request.method == "POST":
        status = 422
    return render_template("accounts/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    user = current_user._get_current_object()
    logout_user()
    # Revoke on the server, not only in this browser: a copy of this session's or its
    # remember-me cookie taken earlier must stop working too. The cookies name the account's
    # session version, so bumping it signs out every device of the account.
    services.end_all_sessions(user)
    session.pop("csrf_token", None)
    flash("You have logged out. Your other devices were signed out too.", "info")
    return redirect(url_for("accounts.login"))


@bp.route("/")
@login_required
def dashboard():
    user = current_user._get_current_object()
    context = {"courses": services.courses_for(user)}
    if user.role != Role.ADMIN:
        from app.scheduling.services import upcoming_occurrences

        from app.live.session_runs import upcoming_calls

        context["upcoming"] = upcoming_occurrences(user, days=7, limit=8)
        context["upcoming_calls"] = upcoming_calls(user, context["upcoming"])
    if user.role == Role.ADMIN:
        from app.accounts.admin_views import admin_dashboard_context

        context.update(admin_dashboard_context(user))
    elif user.role == Role.TEACHER:
        context["student_count"] = db.session.scalar(
            services.enrolled_students_query(user).with_only_columns(
                db.func.count(db.distinct(services.User.id))).order_by(None))
    else:
        from app.attendance.catch_ups import open_catch_ups

        context["teachers"] = services.teachers_of_student(user)
        context["open_catch_ups"], context["open_catch_up_total"] = open_catch_ups(user)
    return render_template(f"dashboard/{user.role.value.lower()}.html", **context)


@bp.route("/students")
@roles_required(Role.TEACHER)
def students():
    q = request.args.get("q", "").strip()[:100]
    pagination = db.paginate(services.enrolled_students_query(current_user, q),
                             page=page_arg(), per_page=STUDENTS_PAGE_SIZE, error_out=False)
    return render_page("accounts/students.html", "accounts/_student_list.html",
                       pagination=pagination, q=q)


@bp.route("/teachers")
@roles_required(Role.STUDENT)
def teachers():
    return render_template("accounts/teachers.html",
                           teachers=services.teachers_of_student(current_user),
                           courses=services.courses_for(current_user))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def profile():
    user = current_user._get_current_object()
    form = ProfileForm(obj=None if request.method == "POST" else user)
    if request.method == "GET":
        form.timezone.data = user.effective_timezone
    status = 200
    if form.validate_on_submit():
        try:
            services.update_profile(user, form.name.data, form.timezone.data)
            flash("Your profile was saved.", "success")
            return navigate_to(url_for("accounts.profile"))
        except services.ValidationError as exc:
            form_errors_into(form, exc.errors)
    if request.method == "POST":
        status = 422
    return render_page("accounts/profile.html", "accounts/_profile_form.html", status=status,
                       form=form, password_form=PasswordForm(formdata=None))


@bp.route("/account/password", methods=["POST"])
@login_required
@limiter.limit("10 per minute")
def change_password():
    user = current_user._get_current_object()
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            feed_reset = services.change_password(user, form.current_password.data,
                                                  form.new_password.data,
                                                  form.confirm_password.data)
            # The version bump signed out every session, this one included: sign it back in.
            had_remember = current_app.config["REMEMBER_COOKIE_NAME"] in request.cookies
            login_user(user, remember=had_remember)
            flash("Your password was changed. Other devices have been signed out.", "success")
            if feed_reset:
                flash("Your calendar feed has a new address (the old one could have been "
                      "copied with your old password): subscribe again from the Calendar page.",
                      "info")
            return navigate_to(url_for("accounts.profile"), reload=True)
        except services.ValidationError as exc:
            form_errors_into(form, exc.errors)
    profile_form = ProfileForm(formdata=None, obj=user)
    profile_form.timezone.data = user.effective_timezone
    return render_page("accounts/profile.html", "accounts/_password_form.html", status=422,
                       form=profile_form, password_form=form)


@bp.route("/people/<user_id>")
@login_required
def person(user_id):
    """A person's page: name, role, the courses the viewer shares with them, their upcoming
    sessions together, a way to message them, (a student's page seen by a teacher or admin)
    the catch-ups they still owe, and a student's notes from their tutors (control center)."""
    from flask import abort

    from app.accounts.tenancy import get_scoped_or_404
    from app.attendance.catch_ups import open_catch_ups_of
    from app.attendance.reports import can_view_history
    from app.chat.services import may_message_directly
    from app.control_center.services import can_see_tutor_only_notes, notes_history
    from app.scheduling.services import upcoming_occurrences

    viewer = current_user._get_current_object()
    person = get_scoped_or_404(services.User, user_id)
    if not services.can_view_person(viewer, person):
        abort(404)  # like another center's person: the page does not say who exists
    together = [occ for occ in upcoming_occurrences(viewer, days=30, limit=200)
                if occ.session.teacher_id == person.id
                or any(p.user_id == person.id for p in occ.session.participants)][:20]
    return render_template("accounts/person.html", person=person,
                           courses=services.shared_courses(viewer, person), upcoming=together,
                           can_message=viewer.id != person.id
                           and may_message_directly(viewer, person),
                           # Attendance is kept for learners: a student's own page, or a
                           # student's for their teachers and admins.
                           can_view_attendance=person.is_student
                           and can_view_history(viewer, person),
                           catch_ups=open_catch_ups_of(viewer, person),
                           notes=notes_history(viewer, person),
                           sees_tutor_only_notes=can_see_tutor_only_notes(viewer))
