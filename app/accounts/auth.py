from flask import flash, redirect, request, url_for

from app.accounts.services import load_user_for_session


def init_login_manager(login_manager) -> None:
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(session_id: str):
        return load_user_for_session(session_id)

    @login_manager.unauthorized_handler
    def unauthorized():
        from htmx_flask import request as hx_request

        if hx_request.htmx:
            # A swap must not paste the login page into a fragment: send the whole tab there.
            return "", 401, {"HX-Redirect": url_for("accounts.login", next=request.full_path.rstrip("?"))}
        flash("Log in to continue.", "info")
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
