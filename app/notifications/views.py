"""The notification center, notification settings and devices, the service worker and web app
manifest (served from the site root so the worker's scope is the whole app), and the admin's
view of failed background jobs."""
from __future__ import annotations

from datetime import time

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template,
                   request, send_from_directory, url_for)
from flask_login import current_user, login_required, user_logged_out
from sqlalchemy import select

from app.accounts.permissions import admin_required
from app.accounts.services import ValidationError
from app.accounts.tenancy import parse_id, scoped
from app.extensions import db
from app.jobs import retry_failed_job
from app.notifications import services
from app.notifications.models import JobFailure, Notification, NotificationType
from app.notifications.vapid import app_keys
from app.web import navigate_to, page_arg, referrer_or, render_page

bp = Blueprint("notifications", __name__)
bp.add_app_template_global(services.destination, "notification_destination")


@bp.route("/notifications")
@login_required
def index():
    pagination = services.notifications_page(current_user, page_arg())
    return render_page("notifications/index.html", "notifications/_list.html",
                       pagination=pagination)


@bp.route("/notifications/panel")
@login_required
def panel():
    pagination = services.notifications_page(current_user, 1, per_page=8)
    return render_template("notifications/_panel.html", pagination=pagination)


def _own_notification_or_404(notification_id) -> Notification:
    notification = db.session.get(Notification, parse_id(notification_id) or 0)
    if notification is None or notification.user_id != current_user.id:
        abort(404)
    return notification


@bp.route("/notifications/<notification_id>/open", methods=["GET", "POST"])
@login_required
def open_notification(notification_id):
    """Opening a notification from the list: the page POSTs (htmx, CSRF-checked), which marks it
    read and navigates where it points. A GET only goes there: following a link (a prefetch,
    a crawler, an old page) changes nothing."""
    notification = _own_notification_or_404(notification_id)
    if request.method == "POST":
        services.mark_read(current_user, notification)
        return navigate_to(services.destination(notification))
    return redirect(services.destination(notification))


@bp.route("/notifications/<notification_id>/read", methods=["POST"])
@login_required
def mark_read(notification_id):
    notification = _own_notification_or_404(notification_id)
    services.mark_read(current_user, notification)
    return render_template("notifications/_item.html", notification=notification)


@bp.route("/notifications/read-all", methods=["POST"])
@login_required
def mark_all_read():
    count = services.mark_all_read(current_user)
    flash(f"{count} notification{'s' if count != 1 else ''} marked as read.", "success")
    return navigate_to(referrer_or(url_for(".index")))


# --- settings and devices ----------------------------------------------------------------------

def _parse_time(value: str | None) -> time | None:
    try:
        return time.fromisoformat(value) if value else None
    except ValueError:
        return None


@bp.route("/notifications/settings", methods=["GET", "POST"])
@login_required
def settings():
    errors = {}
    if request.method == "POST":
        choices = {t: (request.form.get(f"push_{t.value}") == "on",
                       request.form.get(f"email_{t.value}") == "on") for t in NotificationType}
        services.set_preferences(current_user, choices)
        try:
            services.set_quiet_hours(current_user, request.form.get("quiet_enabled") == "on",
                                     _parse_time(request.form.get("quiet_start")),
                                     _parse_time(request.form.get("quiet_end")))
            flash("Notification settings saved.", "success")
            return navigate_to(url_for(".settings"))
        except ValidationError as exc:
            errors = exc.errors
    prefs = services.preferences_for([current_user.id])
    rows = [(t, services.wants_push(prefs, current_user.id, t),
             services.wants_email(prefs, current_user.id, t)) for t in NotificationType]
    return render_template("notifications/settings.html", rows=rows, errors=errors,
                           quiet=services.quiet_hours_for(current_user),
                           devices=services.devices(current_user),
                           vapid_public_key=app_keys().public_key_b64), (422 if errors else 200)


@bp.route("/notifications/subscriptions", methods=["POST"])
@login_required
def subscribe():
    """The browser's PushSubscription JSON, posted by static/js/push.js (CSRF header)."""
    try:
        sub = services.save_subscription(current_user, request.get_json(silent=True) or {},
                                         request.headers.get("User-Agent", ""))
    except services.SubscriptionTaken as exc:
        return jsonify({"error": " ".join(exc.errors.values())}), 409
    except ValidationError as exc:
        return jsonify({"error": " ".join(exc.errors.values())}), 422
    return jsonify({"id": sub.id, "browser": sub.browser, "platform": sub.platform}), 201


@bp.route("/notifications/subscriptions/<subscription_id>/delete", methods=["POST"])
@login_required
def remove_device(subscription_id):
    if not services.remove_subscription(current_user, subscription_id=parse_id(subscription_id)):
        abort(404)
    flash("That device will no longer get notifications.", "success")
    return navigate_to(url_for(".settings"))


@user_logged_out.connect
def _forget_this_device(sender, user, **_):
    """Logging out of a device removes its push subscription (push.js sends its endpoint)."""
    endpoint = request.form.get("push_endpoint") if request else None
    if endpoint and user is not None:
        services.remove_subscription(user, endpoint=endpoint)


# --- service worker and manifest (root scope) ---------------------------------------------------

@bp.route("/sw.js")
def service_worker():
    response = send_from_directory(current_app.static_folder, "js/sw.js", max_age=0)
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/manifest.webmanifest")
def manifest():
    icons = [{"src": url_for("static", filename=f"icons/icon-{n}.png"), "sizes": f"{n}x{n}",
              "type": "image/png", "purpose": "any"} for n in (192, 512)]
    icons.append({"src": url_for("static", filename="icons/icon-maskable-512.png"),
                  "sizes": "512x512", "type": "image/png", "purpose": "maskable"})
    response = jsonify({
        "name": "Classhub", "short_name": "Classhub", "id": "/", "start_url": "/",
        "scope": "/", "display": "standalone", "background_color": "#f5f6fa",
        "theme_color": "#2f5bd3", "description": "Chats, calls and sessions for your classes.",
        "icons": icons})
    response.mimetype = "application/manifest+json"
    return response


# --- admin: failed background jobs ----------------------------------------------------------------

@bp.route("/admin/jobs")
@admin_required
def failed_jobs():
    failures = db.session.scalars(scoped(JobFailure).order_by(JobFailure.failed_at.desc())
                                  .limit(200)).all()
    return render_template("notifications/failed_jobs.html", failures=failures)


@bp.route("/admin/jobs/<failure_id>/retry", methods=["POST"])
@admin_required
def retry_job(failure_id):
    failure = db.session.scalar(scoped(JobFailure, JobFailure.id == (parse_id(failure_id) or 0)))
    if failure is None:
        abort(404)
    if retry_failed_job(failure):
        flash("The job is queued again.", "success")
    else:
        flash("That job is no longer kept by the queue; it cannot be retried.", "error")
    return navigate_to(url_for(".failed_jobs"))
