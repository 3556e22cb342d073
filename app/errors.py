"""Error pages and HTMX error fragments. Bad input is a 4xx with a clear message, never a 500."""
from __future__ import annotations

import math
import time

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from htmx_flask import request
from werkzeug.exceptions import HTTPException

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Check what you sent and try again."),
    401: ("Please log in", "You need to log in to see this page."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing here. It may have been removed, or the link is wrong."),
    405: ("Not allowed", "That action is not available here."),
    409: ("Not saved", "Someone changed the same thing at the same moment. Reload and try again."),
    413: ("Too large", "What you sent is larger than this server accepts."),
    422: ("Check your input", "Some of what you entered needs fixing."),
    429: ("Slow down", "Too many attempts. Wait a minute and try again."),
    500: ("Something went wrong", "The server hit an error. It has been logged; try again."),
    503: ("Try again", "The server could not do this just now. Try again in a moment."),
}


def _discard_failed_transaction() -> None:
    """Roll the request's transaction back before rendering an error page. The page shows the
    signed-in user (one query); after a failed statement PostgreSQL refuses every query in that
    transaction ("current transaction is aborted"), so without this the error handler itself
    failed, and a 4xx became a 500. Nothing a failed request did should be kept anyway."""
    from app.extensions import db

    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 (a broken connection: the pool replaces it)
        db.session.remove()


def render_error(code: int, detail: str | None = None):
    _discard_failed_transaction()
    title, message = MESSAGES.get(code, MESSAGES[500])
    message = detail or message
    if request.htmx and not request.htmx.boosted:
        # The fragment lands in the page's flash region (responseHandling in base.html swaps
        # 4xx), so the form or page the user was working on stays as it was.
        response = render_template("errors/_error.html", code=code, title=title, message=message)
        return response, code, {"HX-Retarget": "#flashes", "HX-Reswap": "afterbegin"}
    return render_template("errors/error.html", code=code, title=title, message=message), code


def _say_when_to_retry(response):
    """A rate limit's refusal says when to come back (RFC 9110 Retry-After, in seconds): read
    from the limit it hit, on refusals only (RATELIMIT_HEADERS_ENABLED is off)."""
    if response.status_code == 429 and "Retry-After" not in response.headers:
        from app.extensions import limiter

        try:
            hit = limiter.current_limit
            if hit is not None:
                response.headers["Retry-After"] = str(max(1, math.ceil(hit.reset_at - time.time())))
        except Exception:  # noqa: BLE001 (the limiter's storage is down: the refusal stands)
            pass
    return response


def init_error_handlers(app: Flask) -> None:
    app.after_request(_say_when_to_retry)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, "Your session form token is missing or expired. Reload the page "
                                 "and try again; nothing was changed.")

    from app.accounts.services import PermissionDenied, ValidationError

    # A service's refusal that no view turned into a form with errors: a clear 403 / 422 with
    # the service's own words (the transaction is rolled back first), never a 500.
    @app.errorhandler(PermissionDenied)
    def permission_denied(error: PermissionDenied):
        return render_error(403, str(error) or None)

    @app.errorhandler(ValidationError)
    def validation_error(error: ValidationError):
        return render_error(422, " ".join(dict.fromkeys(error.errors.values())) or None)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code == 429:
            return render_error(429)
        if error.code and 300 <= error.code < 400:
            return error
        detail = error.description if error.code in (400, 422) and error.description and \
            not error.description.startswith("The browser (or proxy)") else None
        return render_error(error.code or 500, detail)

    if app.testing:
        return  # let tests see the real traceback instead of a 500 page

    @app.errorhandler(Exception)
    def unhandled(error):
        app.logger.exception("Unhandled error")
        return render_error(500)
