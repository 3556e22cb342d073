"""The signalling peer: the smallest WebRTC signalling relay a Flask developer would write with
Flask-SocketIO (what bench/live.py measures Classhub's /ws signalling against).

    PEER_REDIS_URL=... gunicorn -c gunicorn.conf.py --workers 1 bench.peers.signalling_relay:app

One gevent worker and Redis as the message queue, as bench/peers/socketio_server.py (and as
Classhub, whose relay also crosses Redis so that the addressed page may be on another process).
A client emits ``signal`` ({"to": <Socket.IO sid>, "data": {...}}); the server emits ``signal``
({"from": <sender sid>, "data": ...}) to that one sid. No authentication, no membership check,
no size or rate limit, no validation: that is the point of comparison.
"""
from __future__ import annotations

import os

import socketio as python_socketio
from flask import Flask, request
from flask_socketio import SocketIO

app = Flask(__name__)
_redis_url = os.environ.get("PEER_REDIS_URL")
# A RedisManager made here (not ``message_queue=URL``): see bench/peers/socketio_server.py.
_manager = python_socketio.RedisManager(
    _redis_url, channel=os.environ.get("PEER_CHANNEL", "flask-socketio")) if _redis_url else None
socketio = SocketIO(app, async_mode="gevent", client_manager=_manager)


@app.get("/health")
def health():
    return "ok"


@socketio.on("signal")
def relay(message):
    socketio.emit("signal", {"from": request.sid, "data": message.get("data")},
                  to=message.get("to"))
