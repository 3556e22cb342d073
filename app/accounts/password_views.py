""""Forgot password" and the emailed reset link (no login: the link's token is the authority)."""
from __future__ import annotations

from flask import Blueprint, flash, render_template, request, url_for
from flask_login import login_user

from app.accounts import password_resets
from app.accounts.forms import ForgotPasswordForm, ResetPasswordForm
from app.accounts.services import ValidationError, normalize_email
from app.extensions import db, limiter
from app.web import form_errors_into, navigate_to

bp = Blueprint("passwords", __name__)


def _email_key() -> str:
    email = (request.form.get("email") or "").strip().lower()
    return f"forgot:{email}"


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5 per minute;30 per hour", methods=["POST"])
@limiter.limit("5 per hour", methods=["POST"], key_func=_email_key)
def forgot():
    """The same answer whether or not the address has an account (no enumeration)."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        try:
            normalize_email(form.email.data)
        except ValueError as exc:
            form.email.errors = [str(exc)]
        else:
            password_resets.request_reset(form.email.data)
            return render_template("accounts/forgot_password.html", form=form, sent=True,
                                   email=form.email.data.strip())
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/forgot_password.html", form=form, sent=False), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def reset(token):
    try:
        reset_row = password_resets.find_reset(token)
    except password_resets.ResetLinkProblem as problem:
        return render_template("accounts/reset_link_problem.html", problem=problem), problem.status
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            user = password_resets.complete_reset(reset_row, form.password.data, form.confirm.data)
        except ValidationError as exc:
            db.session.rollback()
            form_errors_into(form, exc.errors)
        except password_resets.ResetLinkProblem as problem:
            db.session.rollback()
            return render_template("accounts/reset_link_problem.html",
                                   problem=problem), problem.status
        else:
            login_user(user)
            flash("Your password was changed. Every other device was signed out.", "success")
            from app.my_day.services import landing_url

            return navigate_to(landing_url(user), reload=True)
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/reset_password.html", form=form, user=reset_row.user,
                           token=token), status
