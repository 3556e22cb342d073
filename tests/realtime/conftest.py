"""Fixtures for the realtime tests that need a world of their own (a Redis server the test
stops and starts, a gunicorn server on it): the chat world of tests/chat, and its people and
sockets (tests/chat/test_realtime.py's Person and Socket)."""
from tests.chat.conftest import chat, live_servers, other_center  # noqa: F401  (fixtures)
