"""Where a chat POST's CPU goes: `python -m bench.post_profile [--profile]`.

In one process, on a throwaway database (PostgreSQL when DATABASE_URL is set; bench/common.py):
a teacher posts to their 30-member class as the browser does (htmx, CSRF; the request goes
through the whole WSGI app, login, limiter, the edge's commit and its Redis pipeline), and the
events that reach Redis are handed to a hub holding 30 connections, the members' sockets
subscribed as open thread pages are (user, thread list and thread topics; frames written to a
socket that drops them), the way gunicorn's worker dispatches them. CPU time (``process_time``)
is taken for each part separately: the request, then each event's fan-out.

``--statements`` prints the SQL of one POST and of its events' fan-out; ``--profile`` adds a cProfile of each part, sorted by own time and by cumulative time.
Figures only: nothing here asserts anything. Events are taken from the Redis database's channel:
run it where no test or other server publishes on that database meanwhile.
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import database_kind

CLASS_SIZE = int(os.environ.get("CLASS_SIZE", "30"))
WARM_UP = 20
POSTS = int(os.environ.get("PROFILE_POSTS", "200"))


class _DroppingSocket:
    """A websocket whose frames go nowhere: ``ws`` stands for its wsproto connection (framing)
    and ``sock`` for its socket."""

    connected = True

    def __init__(self):
        self.ws = self.sock = self

    def send(self, event):
        return b""

    def sendall(self, data):
        pass

    def close(self, **_):
        pass


def _seed(app):
    from werkzeug.security import generate_password_hash

    from app.accounts.models import Center, Role, User
    from app.chat import services
    from app.extensions import db
    from bench.common import course_with, email, slug

    center = Center(name="Profile Academy", slug=slug("profile"), timezone="Europe/London")
    db.session.add(center)
    db.session.flush()
    password_hash = generate_password_hash("not-used")
    teacher = User(center_id=center.id, role=Role.TEACHER, name="Teacher", email=email("t"),
                   password_hash=password_hash)
    students = [User(center_id=center.id, role=Role.STUDENT, name=f"Student {n:02d}",
                     email=email(f"s{n}"), password_hash=password_hash)
                for n in range(CLASS_SIZE - 1)]
    db.session.add_all([teacher, *students])
    db.session.flush()
    course = course_with(center.id, "Class", teacher.id, [s.id for s in students])
    thread = services.ensure_class_thread(course)
    db.session.commit()
    return teacher.id, [s.id for s in students], thread.id


def _print_profile(title: str, profile: cProfile.Profile, calls: int) -> None:
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats(order).print_stats(40)
        print(f"\n--- {title}: by {order} ({calls} calls) ---")
        print(out.getvalue()[-9000:])


def _show_statements(app, post, events, fan_out) -> None:
    """One more POST and its fan-out, printing each SQL statement each part runs."""
    from sqlalchemy import event as sa_event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split())[:int(os.environ.get("PROFILE_SQL_WIDTH", "160"))])

    sa_event.listen(engine, "before_cursor_execute", note)
    try:
        post(-1)
        print(f"\n--- the request: {len(seen)} statements ---", *seen, sep="\n  ")
        seen.clear()
        found = events()
        for one in found:
            fan_out([one])
            print(f"--- {one.name}: {len(seen)} statements ---", *seen, sep="\n  ")
            seen.clear()
    finally:
        sa_event.remove(engine, "before_cursor_execute", note)


def main(argv: list[str]) -> None:
    from werkzeug.test import EnvironBuilder

    from app.accounts.models import User
    from app.extensions import db
    from app.gc_tuning import tune_for_server
    from app.realtime.events import Event, channel_for
    from app.realtime.hub import Connection, DeliveryScope, Hub, senders_held
    from app.redis_conn import get_redis
    from bench import chat_data
    from bench.common import bench_app, load_average

    profiling = "--profile" in argv
    showing_statements = "--statements" in argv
    with bench_app("postprofile", CHAT_MESSAGE_RATE_LIMIT="100000 per minute") as (app, _root):
        with app.app_context():
            teacher_id, student_ids, thread_id = _seed(app)
            cookie, csrf = chat_data.logged_in_with_csrf(app, teacher_id)
            session_ids = {u: db.session.get(User, u).get_id() for u in student_ids}
            db.session.remove()
        hub = Hub()
        hub._app = app
        for user_id in student_ids:
            conn = Connection(_DroppingSocket(), user_id, session_id=session_ids[user_id],
                              start_sender=lambda write: write.__self__._drain())
            hub.add(conn)
            for topic in (f"user:{user_id}", f"threads:{user_id}", f"thread:{thread_id}"):
                hub.subscribe(conn, topic)
        pubsub = get_redis(app).pubsub()
        pubsub.subscribe(channel_for(app))
        pubsub.get_message(timeout=5)
        cookie_name = app.config["SESSION_COOKIE_NAME"]
        tune_for_server()  # as gunicorn's post_worker_init does

        def post(number: int):
            environ = EnvironBuilder(
                path=f"/chat/threads/{thread_id}/messages", method="POST",
                base_url=app.config["BASE_URL"], data={"body": f"Message {number}",
                                                      "client_key": f"profile-key-{number:06d}"},
                headers={"Cookie": f"{cookie_name}={cookie}", "X-CSRFToken": csrf,
                         "HX-Request": "true", "HX-Target": "composer",
                         "HX-Current-URL": f"{app.config['BASE_URL']}/chat/threads/{thread_id}"},
            ).get_environ()
            statuses = []
            began = time.process_time()
            body = b"".join(app.wsgi_app(environ, lambda status, headers: statuses.append(status)))
            spent = time.process_time() - began
            if not statuses[0].startswith("200"):
                raise RuntimeError(f"posting answered {statuses[0]}: {body[:300]!r}")
            return spent

        def events() -> list[Event]:
            found = []
            while (message := pubsub.get_message(timeout=0.05)) is not None:
                if message["type"] == "message":
                    found.append(Event.from_json(message["data"]))
            return found

        # As the hub's listener keeps it while events follow closely (Hub._arrivals): one
        # delivery scope for every batch here, the posts coming back to back, on a thread of
        # its own as the listener's is (its request context is not the requests').
        scope = DeliveryScope(app)
        listener = ThreadPoolExecutor(max_workers=1)

        def dispatch_all(found: list[Event], profile) -> dict[str, float]:
            spent = {}
            if profile is not None:
                profile.enable()
            with senders_held():
                for event in found:
                    began = time.thread_time()
                    hub.dispatch(event, scope)
                    spent[event.name] = time.thread_time() - began
            if profile is not None:
                profile.disable()
            return spent

        def fan_out(found: list[Event], profile=None) -> dict[str, float]:
            """As the hub dispatches what arrives together (Hub.dispatch_batch)."""
            return listener.submit(dispatch_all, found, profile).result()

        for number in range(WARM_UP):
            post(number)
            fan_out(events())
        if showing_statements:
            _show_statements(app, post, events, fan_out)
        request_cpu, event_cpu = [], {}
        request_profile = cProfile.Profile(time.process_time)
        fan_out_profile = cProfile.Profile(time.thread_time)
        for number in range(POSTS):
            if profiling:
                request_profile.enable()
            request_cpu.append(post(WARM_UP + number))
            if profiling:
                request_profile.disable()
            found = events()
            for name, spent in fan_out(found, fan_out_profile if profiling else None).items():
                event_cpu.setdefault(name, []).append(spent)
        listener.submit(scope.close).result()
        listener.shutdown()
        pubsub.close()

    def ms(values):
        return f"median {statistics.median(values) * 1000:.2f} ms, mean " \
               f"{statistics.mean(values) * 1000:.2f} ms"

    print(f"A POST to a {CLASS_SIZE}-member class on {database_kind()}, {POSTS} posts, its "
          f"events dispatched to {CLASS_SIZE - 1} connected members (load {load_average()})"
          f"{'; under cProfile: times inflated' if profiling else ''}")
    print(f"  the request (WSGI app, commit and publish included): {ms(request_cpu)}")
    total = [sum(parts) for parts in zip(*event_cpu.values())]
    for name, values in event_cpu.items():
        print(f"  fan-out of {name}: {ms(values)}")
    print(f"  fan-out, all events: {ms(total)}")
    print(f"  in all: {ms([a + b for a, b in zip(request_cpu, total)])}")
    if profiling:
        _print_profile("the request", request_profile, POSTS)
        _print_profile("the fan-out", fan_out_profile, POSTS)
        if os.environ.get("PROFILE_DUMP"):  # for pstats or snakeviz
            request_profile.dump_stats(os.environ["PROFILE_DUMP"] + ".request")
            fan_out_profile.dump_stats(os.environ["PROFILE_DUMP"] + ".fanout")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main(sys.argv[1:])
