"""The live tests reuse the chat world (a class, a group of teacher + two students, a direct
thread) and the two gunicorn servers of the realtime tests."""
from tests.chat.conftest import chat, live_servers, other_center  # noqa: F401
