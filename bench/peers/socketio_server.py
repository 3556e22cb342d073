"""The realtime peer: what a Flask developer would otherwise write with Flask-SocketIO.

    PEER_DATABASE_URL=... PEER_REDIS_URL=... gunicorn -c gunicorn.conf.py --workers 1 \
        bench.peers.socketio_server:app

One gevent worker, like Classhub's (gunicorn.conf.py), the same websocket library underneath
(simple-websocket), the same kind of database, and Redis as the message queue (what
Flask-SocketIO needs to fan out across processes, as Classhub's hub does through pub/sub). Per
message it does the same kind of work: insert a row, commit, emit to the room. No rendering,
no per-recipient events, no authorization: that is the point of comparison.

- ``POST /rooms/<room>/messages`` (form field ``body``): insert, commit, then emit ``message``
  ({id, room, body, committed_at}) to the room; answers the same JSON. ``committed_at`` is the
  wall-clock time right after the commit (as bench/served.py stamps Classhub's).
- ``POST /rooms/<room>/progress/<student>`` (form field ``progress``): the control center's
  peer (bench/control_center.py): update the student's progress row (inserted the first
  time), commit, emit ``progress`` ({room, student, progress, committed_at}) to the room (the
  tutor's page); answers the same JSON.
- Socket.IO event ``join`` ({"room": ...}, acknowledged): join a room.
"""
from __future__ import annotations

import os
import time

import socketio as python_socketio
import sqlalchemy as sa
from flask import Flask, jsonify, request
from flask_socketio import SocketIO, join_room

engine = sa.create_engine(os.environ["PEER_DATABASE_URL"])  # the default pool: 5 + 10, as the app
metadata = sa.MetaData()
messages = sa.Table(
    "peer_messages", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("room", sa.String(64), nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
progress_rows = sa.Table(
    "peer_progress", metadata,
    sa.Column("room", sa.String(64), primary_key=True),
    sa.Column("student", sa.Integer, primary_key=True),
    sa.Column("progress", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
metadata.create_all(engine)

app = Flask(__name__)
# A RedisManager made here rather than ``message_queue=URL``: Flask-SocketIO picks the manager
# by URL scheme and sends the embedded Redis's unix:// URL to Kombu. A channel per run: pub/sub
# ignores the database number, and the Redis server may be shared.
_redis_url = os.environ.get("PEER_REDIS_URL")
_manager = python_socketio.RedisManager(
    _redis_url, channel=os.environ.get("PEER_CHANNEL", "flask-socketio")) if _redis_url else None
socketio = SocketIO(app, async_mode="gevent", client_manager=_manager)


@app.get("/health")
def health():
    return "ok"


@app.post("/rooms/<room>/messages")
def post_message(room: str):
    body = request.form.get("body", "")
    with engine.begin() as conn:
        message_id = conn.execute(messages.insert().values(
            room=room, body=body, created_at=sa.func.now()).returning(messages.c.id)).scalar_one()
    committed_at = time.time()
    payload = {"id": message_id, "room": room, "body": body, "committed_at": committed_at}
    socketio.emit("message", payload, to=room)
    return jsonify(payload)


@app.post("/rooms/<room>/progress/<int:student>")
def set_progress(room: str, student: int):
    progress = int(request.form.get("progress", "0"))
    with engine.begin() as conn:
        updated = conn.execute(progress_rows.update().where(
            progress_rows.c.room == room, progress_rows.c.student == student)
            .values(progress=progress, updated_at=sa.func.now())).rowcount
        if not updated:
            conn.execute(progress_rows.insert().values(room=room, student=student,
                                                       progress=progress,
                                                       updated_at=sa.func.now()))
    committed_at = time.time()
    payload = {"room": room, "student": student, "progress": progress,
               "committed_at": committed_at}
    socketio.emit("progress", payload, to=room)
    return jsonify(payload)


@socketio.on("join")
def join(data):
    join_room(str(data["room"]))
    return "joined"
