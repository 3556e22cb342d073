"""The personal calendar feed: a secret URL that calendar apps subscribe to, and its reset.

The feed is fetched by calendar servers (Google, Apple, Outlook) with no login: the token in the
URL is the credential, so an unknown or revoked token is a plain 404 (nothing tells a guesser
that a token ever existed), and the response never sets a cookie.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, make_response, request, url_for
from flask_login import current_user, login_required
from werkzeug.routing import BuildError

from app.scheduling import ical, services
from app.web import navigate_to

bp = Blueprint("feed", __name__)

# Calendar apps poll; a few minutes of caching in the client is fine, a shared cache is not (the
# feed is personal, and the URL alone grants it).
FEED_CACHE_CONTROL = "private, max-age=300"


def feed_url(token: str) -> str:
    """The absolute feed address to show a user (from BASE_URL: the address people reach the
    app by, which the request's Host need not be behind a proxy)."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for("feed.calendar_feed", token=token)


@bp.get("/calendar/feed/<token>.ics")
def calendar_feed(token: str):
    user = services.user_for_feed_token(token)
    if user is None:
        abort(404)
    calendar = ical.feed_calendar(user, services.feed_sessions(user),
                                  current_app.config["BASE_URL"])
    response = make_response(calendar.to_ical())
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="classhub.ics"'
    response.headers["Cache-Control"] = FEED_CACHE_CONTROL
    return response


def _back_to_calendar() -> str:
    try:
        return url_for("scheduling.calendar")
    except BuildError:
        pass
    # Until the calendar page exists: back where the form was, if that is this site.
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host and referrer.path.startswith("/") \
            and not referrer.path.startswith("//"):
        return referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return url_for("accounts.dashboard")


@bp.post("/calendar/feed/reset")
@login_required
def reset_feed():
    services.feed_token_for(current_user._get_current_object(), reset=True)
    flash("Your calendar feed address was reset; the old one no longer works.", "success")
    return navigate_to(_back_to_calendar())
