"""The floor of the stack: the smallest chat POST a Flask developer could write with Classhub's own
libraries that still checks who is posting, and nothing more.

    PEER_DATABASE_URL=... PEER_REDIS_URL=... SECRET_KEY=... gunicorn -c gunicorn.conf.py \
        --workers 1 bench.peers.secured_post:app

Per POST: Flask-Login loads the user from the session (one SELECT), Flask-WTF checks the CSRF
token, one SELECT checks that the sender is a member of the thread, the ORM INSERTs the message,
Jinja renders the answer (an empty composer and the message, as Classhub's htmx answer is), one
COMMIT, one Redis PUBLISH. No rate limit, no idempotency key, no markdown, no search index, no
notices, no unread counts, and no fan-out: nobody listens on the channel. bench/realtime.py
posts to it with the same senders as to Classhub and the Flask-SocketIO peer, so the three are
measured in one run on one machine.

- ``GET /health``
- ``POST /login/<user>`` (bench only): logs the user in; answers a CSRF token for the session.
- ``POST /threads/<thread>/messages`` (form field ``body``, header ``X-CSRFToken``): 404 unless
  the user is a member. Thread ``n`` is user ``n``'s own.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone

import redis
from flask import Flask, abort, render_template, request
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect, generate_csrf
from jinja2 import DictLoader
from sqlalchemy.orm import Mapped, mapped_column

from bench.common import _sqlalchemy_url

SENDERS = int(os.environ.get("FLOOR_SENDERS", "50"))
CHANNEL = os.environ.get("PEER_CHANNEL", "bench-floor")

app = Flask(__name__)
app.config.update(SECRET_KEY=os.environ["SECRET_KEY"],
                  SQLALCHEMY_DATABASE_URI=_sqlalchemy_url(os.environ["PEER_DATABASE_URL"]))
app.jinja_env.loader = DictLoader({"answer.html": """\
<form id="composer-{{ thread_id }}" class="composer" method="post"
      hx-post="/threads/{{ thread_id }}/messages" hx-target="this" hx-swap="outerHTML">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <label for="composer-body-{{ thread_id }}">Message</label>
  <textarea id="composer-body-{{ thread_id }}" name="body" rows="1"></textarea>
  <button type="submit">Send</button>
</form>
<article id="message-{{ message.id }}" class="message">
  <header><b>{{ current_user.name }}</b> <time datetime="{{ message.created_at.isoformat() }}">
    {{- message.created_at.strftime("%H:%M") }}</time></header>
  <p>{{ message.body }}</p>
</article>
"""})
db = SQLAlchemy(app)
csrf = CSRFProtect(app)
login_manager = LoginManager(app)
publisher = redis.Redis.from_url(os.environ["PEER_REDIS_URL"])


class FloorUser(db.Model, UserMixin):
    __tablename__ = "floor_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]


class FloorMember(db.Model):
    __tablename__ = "floor_members"
    thread_id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True)


class FloorMessage(db.Model):
    __tablename__ = "floor_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(index=True)
    sender_id: Mapped[int]
    body: Mapped[str]
    created_at: Mapped[datetime]


@login_manager.user_loader
def load_user(user_id: str):
    return db.session.get(FloorUser, int(user_id))


@app.get("/health")
def health():
    return "ok"


@app.post("/login/<int:user_id>")
@csrf.exempt  # the bench's way in: there is no form to take a token from yet
def login(user_id: int):
    user = db.session.get(FloorUser, user_id) or abort(404)
    login_user(user)
    return generate_csrf()


@app.post("/threads/<int:thread_id>/messages")
@login_required
def post_message(thread_id: int):
    if db.session.get(FloorMember, (thread_id, current_user.id)) is None:
        abort(404)
    message = FloorMessage(thread_id=thread_id, sender_id=current_user.id,
                           body=request.form.get("body", ""),
                           created_at=datetime.now(timezone.utc))
    db.session.add(message)
    db.session.flush()
    answer = render_template("answer.html", thread_id=thread_id, message=message)
    event = json.dumps({"thread": thread_id, "id": message.id})  # before the commit expires it
    db.session.commit()
    publisher.publish(CHANNEL, event)
    return answer


with app.app_context():
    db.create_all()
    if db.session.get(FloorUser, 1) is None:
        db.session.add_all([FloorUser(id=n, name=f"Teacher {n}") for n in range(1, SENDERS + 1)])
        db.session.add_all([FloorMember(thread_id=n, user_id=n) for n in range(1, SENDERS + 1)])
        db.session.commit()
    db.session.remove()
