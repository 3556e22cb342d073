"""GET /my-day (the page) and GET /my-day/sections (the sections that changed, as out-of-band
parts: what the page fetches when its topic says so, or when a row changes by itself). Thin:
app/my_day/services.py reads everything."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from app.my_day import services

bp = Blueprint("my_day", __name__)


def _viewer():
    user = current_user._get_current_object()
    if not services.can_use_my_day(user):
        abort(403)
    return user


@bp.route("/my-day")
@login_required
def page():
    day = services.my_day(_viewer())
    return render_template("my_day/page.html", day=day, oob=False)


@bp.route("/my-day/sections")
@login_required
def sections():
    viewer = _viewer()
    asked = [name for name in request.args.get("only", "").split(",") if name]
    if not asked:
        asked = list(services.SECTIONS)
    if any(name not in services.SECTIONS for name in asked) or len(asked) > len(services.SECTIONS):
        abort(404)
    day = services.my_day(viewer, sections=set(asked))
    return render_template("my_day/_sections.html", day=day, sections=asked, oob=True)
