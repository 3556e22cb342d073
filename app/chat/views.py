"""Chat pages and HTMX endpoints. Thin: parse, call chat.services, render the partials that the
websocket pushes too."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, flash, make_response, render_template,
                   request, url_for)
from flask_login import current_user, login_required

from app.accounts.models import Role, User
from app.accounts.services import PermissionDenied, ValidationError, enrolled_students_query
from app.accounts.tenancy import get_scoped_or_404, parse_id
from app.chat import attachments as files
from app.chat import search as chat_search
from app.chat import services
from app.chat.permissions import chat_capabilities, thread_capabilities
from app.chat.models import Attachment, Message, Thread, ThreadKind
from app.extensions import db, limiter
from app.web import navigate_to, render_page, wants_fragment

bp = Blueprint("chat", __name__, url_prefix="/chat")
# Every composer the app renders (page, answer, refusal) carries a fresh key unless given one.
bp.add_app_template_global(services.new_client_key, "new_client_key")


def _thread_or_404(thread_id, *options) -> Thread:
    thread = get_scoped_or_404(Thread, thread_id, *options)
    if not services.can_view_thread(current_user, thread):
        abort(404)  # not a member: do not reveal that it exists
    return thread


def _kind_filter() -> ThreadKind | None:
    try:
        return ThreadKind(request.args.get("kind", "").upper())
    except ValueError:
        return None


def _list_context(active_id: int | None = None) -> dict:
    kind = _kind_filter()
    viewer = current_user._get_current_object()
    kinds = services.listed_kinds(kind)
    return {"summaries": services.thread_summaries(viewer, kinds), "kind": kind,
            "listed_kinds": kinds, "active_id": active_id, "viewer": viewer,
            "chat_caps": chat_capabilities(viewer),
            "unread_sessions": services.unread_by_kind(viewer).get(ThreadKind.SESSION, 0)}


@bp.route("/")
@login_required
def index():
    return render_page("chat/index.html", "chat/_thread_list.html", **_list_context())


@bp.route("/threads/<thread_id>")
@login_required
def thread(thread_id):
    thread = _thread_or_404(thread_id)
    member = services.membership(current_user, thread)
    caps = thread_capabilities(current_user, thread, member)
    first_unread_id = services.first_unread_id(current_user, thread, member)
    # Opening a thread changes nothing: the page tells the server what it has shown with a POST
    # to mark_read (static/js/chat.js), so a link preview, a prefetch or a page another site
    # opens never marks anything read.
    focus_id = parse_id(request.args.get("at"))
    messages, has_more = services.messages_around(thread, focus_id or first_unread_id)
    context = dict(_list_context(thread.id), thread=thread, member=member,
                   title=services.thread_title(thread, current_user), messages=messages,
                   has_more=has_more, first_unread_id=first_unread_id,
                   seen=services.seen_by(thread), caps=caps, focus_id=focus_id)
    return render_template("chat/thread.html", **context)


@bp.route("/threads/<thread_id>/messages")
@login_required
def earlier_messages(thread_id):
    thread = _thread_or_404(thread_id)
    before = parse_id(request.args.get("before"))
    messages, has_more = services.messages_before(thread, before)
    return render_template("chat/_messages.html", thread=thread, messages=messages,
                           has_more=has_more, first_unread_id=None, focus_id=None)


def _message_limit():
    return current_app.config.get("CHAT_MESSAGE_RATE_LIMIT", "30 per minute")


def _too_fast(request_limit):
    """The composer again, with what was typed (Flask-Limiter uses a returned Response only)."""
    thread_id = parse_id((request.view_args or {}).get("thread_id"))
    thread = db.session.get(Thread, thread_id) if thread_id else None
    if thread is None or not services.can_view_thread(current_user, thread):
        return None  # the generic 429: never a composer for a thread they cannot see
    return make_response(render_template(
        "chat/_composer.html", thread=thread, body=request.form.get("body", ""),
        client_key=request.form.get("client_key"),
        errors={"body": "You are sending messages too fast. Wait a moment; "
                        "your text is still here."}), 429)


@bp.errorhandler(429)
def _rate_limited(error):
    # The app-wide handler renders its own page; keep the response on_breach built.
    if getattr(error, "response", None) is not None:
        return error.response
    from app.errors import render_error

    return render_error(429)


@bp.route("/threads/<thread_id>/messages", methods=["POST"])
@login_required
@limiter.limit(_message_limit, key_func=lambda: f"chat-post:{current_user.id}",
               on_breach=_too_fast)
def post_message(thread_id):
    # With its last message (the one the new one follows: the answer renders it as continuing
    # it or not), the sender's membership (the check here and the service's) and every
    # member's id (whom the service tells), in one statement.
    thread, member, everyone = services.thread_for_posting(current_user, thread_id)
    if thread is None or member is None or not current_user.is_active:
        abort(404)  # not a member: do not reveal that it exists
    before = thread.last_message
    body = request.form.get("body", "")
    # The composer's key for this message (see services.post_message): sent again unchanged
    # when the browser retries, so a retry never stores the message twice.
    client_key = request.form.get("client_key") or None
    try:
        message = services.post_message(current_user, thread, body,
                                         request.files.getlist("files"), client_key=client_key,
                                         member=member, everyone=everyone)
    except ValidationError as exc:
        return render_template("chat/_composer.html", thread=thread, body=body,
                               client_key=client_key, errors=exc.errors), 422
    except PermissionDenied as exc:
        return render_template("chat/_composer.html", thread=thread, body=body,
                               client_key=client_key, errors={"body": str(exc)}), 403
    if not wants_fragment():
        return navigate_to(url_for("chat.thread", thread_id=thread.id))
    # The new message rides along (appended once: realtime.js drops a second copy by id).
    # A message sent again with its key (already stored) is answered with what preceded it.
    previous = before if before is not None and before.id < message.id and \
        before.thread_id == message.thread_id else services.previous_message(message)
    return render_template("chat/_composer.html", thread=thread, body="", errors={},
                           sent=message, previous=previous)


def _message_or_404(thread: Thread, message_id) -> Message:
    message = get_scoped_or_404(Message, message_id)
    if message.thread_id != thread.id:
        abort(404)
    return message


@bp.route("/threads/<thread_id>/messages/<message_id>/edit", methods=["GET", "POST"])
@login_required
def edit_message(thread_id, message_id):
    thread = _thread_or_404(thread_id)
    message = _message_or_404(thread, message_id)
    if message.sender_id != current_user.id:
        abort(403)
    if request.method == "GET":
        return render_template("chat/_edit_form.html", message=message, body=message.body,
                               errors={})
    if request.form.get("cancel"):
        return render_template("chat/_message.html", message=message, viewer=current_user)
    body = request.form.get("body", "")
    try:
        services.edit_message(current_user, message, body)
    except ValidationError as exc:
        return render_template("chat/_edit_form.html", message=message, body=body,
                               errors=exc.errors), 422
    return render_template("chat/_message.html", message=message, viewer=current_user)


@bp.route("/threads/<thread_id>/messages/<message_id>/delete", methods=["POST"])
@login_required
def delete_message(thread_id, message_id):
    thread = _thread_or_404(thread_id)
    message = _message_or_404(thread, message_id)
    services.delete_message(current_user, message)  # PermissionDenied: 403 (app/errors.py)
    if not wants_fragment():
        return navigate_to(url_for("chat.thread", thread_id=thread.id))
    return render_template("chat/_message.html", message=message, viewer=current_user)


@bp.route("/threads/<thread_id>/read", methods=["POST"])
@login_required
def mark_read(thread_id):
    thread = _thread_or_404(thread_id)
    services.mark_read(current_user, thread, parse_id(request.form.get("message_id")))
    return "", 204


@bp.route("/threads/<thread_id>/mute", methods=["POST"])
@login_required
def mute(thread_id):
    thread = _thread_or_404(thread_id)
    muted = request.form.get("muted") == "1"
    services.set_muted(current_user, thread, muted)
    flash("Notifications for this conversation are off." if muted
          else "Notifications for this conversation are on.", "success")
    return navigate_to(url_for("chat.thread", thread_id=thread.id))


@bp.route("/attachments/<attachment_id>/<path:filename>")
@login_required
def attachment(attachment_id, filename):
    item = get_scoped_or_404(Attachment, attachment_id)
    message = db.session.get(Message, item.message_id)
    thread = db.session.get(Thread, message.thread_id)
    if not services.can_view_thread(current_user, thread) or message.is_deleted:
        abort(404)
    return files.download(item.storage_key, item.content_type, item.filename)


# --- starting conversations -------------------------------------------------------------------

@bp.route("/new")
@login_required
def new_direct():
    q = request.args.get("q", "").strip().lower()[:100]
    contacts = [c for c in services.direct_contacts(current_user)
                if not q or q in c.name.lower() or q in c.email.lower()]
    return render_page("chat/new_direct.html", "chat/_contact_list.html", contacts=contacts, q=q)


@bp.route("/direct/<user_id>", methods=["POST"])
@login_required
def start_direct(user_id):
    other = get_scoped_or_404(User, user_id)
    thread = services.get_or_create_direct(current_user, other)  # PermissionDenied: 403
    return navigate_to(url_for("chat.thread", thread_id=thread.id))


def _group_form_context(**extra):
    students = list(db.session.scalars(enrolled_students_query(current_user)))
    return dict(students=students, **extra)


@bp.route("/groups/new", methods=["GET", "POST"])
@login_required
def new_group():
    if not chat_capabilities(current_user).can_create_group:
        abort(403)
    form = {"name": "", "description": "", "member_ids": []}
    errors = {}
    if request.method == "POST":
        form = {"name": request.form.get("name", ""),
                "description": request.form.get("description", ""),
                "member_ids": [i for i in map(parse_id, request.form.getlist("member_ids")) if i]}
        try:
            thread = services.create_group(current_user, form["name"], form["description"],
                                           form["member_ids"])
            flash(f"Group “{thread.name}” created.", "success")
            return navigate_to(url_for("chat.thread", thread_id=thread.id))
        except ValidationError as exc:
            errors = exc.errors
    status = 422 if errors else 200
    return render_page("chat/group_new.html", "chat/_group_form.html", status=status,
                       form=form, errors=errors, **_group_form_context())


@bp.route("/threads/<thread_id>/settings", methods=["GET", "POST"])
@login_required
def group_settings(thread_id):
    thread = _thread_or_404(thread_id)
    caps = thread_capabilities(current_user, thread)
    if not caps.can_manage_members:
        abort(403)
    errors = {}
    action = request.form.get("action")
    try:
        if action == "rename":
            services.update_group(current_user, thread, request.form.get("name", ""),
                                  request.form.get("description", ""))
            flash("Group updated.", "success")
        elif action == "add":
            ids = [i for i in map(parse_id, request.form.getlist("member_ids")) if i]
            added = services.add_group_members(current_user, thread, ids)
            flash(f"{len(added)} member{'s' if len(added) != 1 else ''} added.", "success")
        elif action == "remove":
            services.remove_group_member(current_user, thread,
                                         parse_id(request.form.get("user_id")) or 0)
            flash("Member removed.", "success")
        elif action in ("archive", "unarchive"):
            services.archive_group(current_user, thread, action == "archive")
            flash("Group archived." if action == "archive" else "Group restored.", "success")
        elif action == "delete":
            name = thread.name
            services.delete_group(current_user, thread)
            flash(f"Group “{name}” deleted.", "success")
            return navigate_to(url_for("chat.index"))
        if action and not errors:
            return navigate_to(url_for("chat.group_settings", thread_id=thread.id))
    except ValidationError as exc:
        errors = exc.errors
    member_ids = {m.user_id for m in thread.members}
    candidates = [s for s in db.session.scalars(enrolled_students_query(current_user))
                  if s.id not in member_ids] if current_user.role == Role.TEACHER else []
    owner = next((m.user for m in thread.members if m.role.value == "OWNER"), current_user)
    teacher_candidates = [t for t in db.session.scalars(services.co_teacher_candidates_query(owner))
                          if t.id not in member_ids]
    return render_template("chat/group_settings.html", thread=thread, errors=errors, caps=caps,
                           candidates=candidates, teacher_candidates=teacher_candidates,
                           members=sorted(thread.members, key=lambda m: (m.role.value != "OWNER",
                                                                         m.user.name.lower()))), \
        (422 if errors else 200)


@bp.route("/search")
@login_required
def search():
    q = request.args.get("q", "").strip()[:200]
    results = chat_search.search_messages(current_user, q) if q else []
    return render_page("chat/search.html", "chat/_search_results.html", q=q, results=results)
