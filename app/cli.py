"""Command line: `flask --app wsgi seed-demo | create-center | serve`."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import click
from flask import Flask, current_app

from app.extensions import db
from app.redis_conn import stop_embedded_redis


def register_cli(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Load the demo center, people and courses (safe to run again)."""
        from app.demo import seed_demo

        created = seed_demo()
        summary = ", ".join(f"{n} {k}" for k, n in created.items())
        click.echo(f"Demo data ready ({summary} created).")

    @app.cli.command("create-center")
    @click.argument("name")
    @click.option("--slug", required=True)
    @click.option("--timezone", default="UTC", show_default=True)
    @click.option("--admin-email", required=True)
    @click.option("--admin-name", default="Admin", show_default=True)
    @click.password_option("--admin-password")
    def create_center_command(name, slug, timezone, admin_email, admin_name, admin_password):
        """Create a center (tenant) with its first admin."""
        from app.accounts import services
        from app.accounts.models import Role, User

        try:
            center = services.create_center(name, slug, timezone)
            email = services.normalize_email(admin_email)
            problem = services.password_problem(admin_password)
            if problem:
                raise click.BadParameter(problem, param_hint="--admin-password")
            if services.email_taken(email):
                raise click.BadParameter("an account with this email exists",
                                         param_hint="--admin-email")
            admin_name = (admin_name or "").strip()
            if services.name_problem(admin_name):
                raise click.BadParameter(services.name_problem(admin_name),
                                         param_hint="--admin-name")
            admin = User(center_id=center.id, email=email, name=admin_name, role=Role.ADMIN)
            admin.set_password(admin_password)
            db.session.add(admin)
            db.session.commit()  # the command's edge: the center and its admin, one unit of work
        except (services.ValidationError, ValueError) as exc:
            db.session.rollback()
            raise click.ClickException(str(exc)) from None
        click.echo(f"Center {name!r} created; {email} can log in as its admin.")

    @app.cli.command("serve")
    @click.option("--workers", default=lambda: os.environ.get("WEB_CONCURRENCY", "2"),
                  show_default="WEB_CONCURRENCY or 2")
    def serve_command(workers):
        """Run the web server (gunicorn + gevent), the RQ worker and the cron scheduler together;
        Ctrl-C stops them all."""
        from app.demo import DEMO_LOGINS, DEMO_PASSWORD

        env = dict(os.environ)
        # The embedded Redis (if any) was started by this process when the app was created;
        # children are handed its URL so web and worker share one server.
        env["REDIS_URL"] = current_app.config["REDIS_URL"]
        env["SECRET_KEY"] = current_app.config["SECRET_KEY"]
        port = current_app.config["PORT"]
        bind = env.get("BIND", f"127.0.0.1:{port}")
        refused = _why_not_listening(bind)
        if refused:
            # Else gunicorn retries for five seconds after the banner said Classhub is running.
            raise click.ClickException(
                f"Cannot listen on {bind} ({refused}): if something runs there, stop it or "
                "choose another port (PORT=5001 make run).")
        children: list[subprocess.Popen] = []

        def start(*args):
            # Each child in its own process group: Ctrl-C in the terminal signals only this
            # process, which then stops each child exactly once. (Children that got the
            # terminal's SIGINT and then this process's SIGTERM were interrupted mid-shutdown
            # and printed tracebacks.)
            children.append(subprocess.Popen([sys.executable, *args], env=env, process_group=0))

        def stop(*_):
            # A second Ctrl-C while the children finish must not abort with a traceback.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
        base_url = current_app.config["BASE_URL"]
        janus = turn = None
        try:
            janus = _start_local_janus(current_app, env, port)
            turn = _start_local_turn(current_app, env)
            start("-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", bind,
                  "--workers", str(workers), "wsgi:app")
            start("worker.py", "--quiet")
            start("worker.py", "--cron", "--quiet")
            click.echo("")
            click.echo(f"  Classhub is running at {base_url}")
            click.echo(f"  Demo logins (password: {DEMO_PASSWORD}):")
            for email, role in DEMO_LOGINS:
                click.echo(f"    {role:<8} {email}")
            limit = current_app.config["LIVE_MESH_LIMIT"]
            if janus is not None:
                click.echo(f"  Calls: peer to peer up to {limit} people, a local Janus above "
                           f"({janus.url})")
            elif not current_app.config["JANUS_URL"]:
                click.echo(f"  Calls: peer to peer, up to {limit} people (install Janus for "
                           "larger calls: apt-get install janus coturn)")
            if turn is not None:
                click.echo(f"  TURN relay: coturn at {turn.host}:{turn.port} (credentials minted per join)")
            click.echo("  Press Ctrl-C to stop the web server and the worker.")
            click.echo("")
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
            failed = [c for c in children if c.poll() is not None]
            click.echo(f"A process exited ({failed[0].args[1:3]}); stopping.", err=True)
        except KeyboardInterrupt:
            click.echo("\nStopping...")
        finally:
            stop()
            if janus is not None:
                janus.stop()
            if turn is not None:
                turn.stop()
            stop_embedded_redis()  # saved and stopped once nothing uses it any more


def _why_not_listening(bind: str) -> str | None:
    """Why gunicorn could not listen on ``bind`` ("host:port"): the port is taken, or the
    address is not this machine's; None when it can."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit() or host.startswith("unix"):
        return None  # a unix socket or an address gunicorn will judge itself
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As gunicorn binds: SO_REUSEADDR lets a port in TIME_WAIT be reused, never a listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _start_local_janus(app: Flask, env: dict, port: int):
    """When Janus is installed and no media server is configured, run one for this ``serve``
    (calls above the mesh limit then work out of the box) and hand the web processes its
    settings; it stops with them. None when there is nothing to start, or it would not start
    (the calls then stay peer to peer, and say so)."""
    from app.live.janus_server import JANUS_BINARY, JanusServer, free_port

    if app.config["JANUS_URL"] or not os.path.exists(JANUS_BINARY):
        return None
    folder = os.path.join(app.instance_path, "janus")
    janus = JanusServer(port=free_port(), workdir=folder, ice_enforce_list=None,
                        # Janus's event handler reports joins and leaves to this app.
                        webhook_url=f"http://127.0.0.1:{port}/live/janus/events")
    try:
        janus.start()
    except Exception as exc:  # a broken install must not keep the app from starting
        click.echo(f"  Janus did not start ({exc}); calls stay peer to peer.", err=True)
        return None
    env.update(janus.environment())
    return janus


def _start_local_turn(app: Flask, env: dict):
    """When coturn is installed and no TURN server is configured, run one for this ``serve``
    beside the local Janus and hand the web processes its URLs and secret (the engines mint
    per-join credentials from them); it stops with them. None when there is nothing to start,
    or it would not start (calls then go without a relay, and say so)."""
    from app.live.turn_server import TURN_BINARY, TurnServer

    if app.config["TURN_URLS"] or not os.path.exists(TURN_BINARY):
        return None
    # Relaying to loopback addresses opens this machine's local services to TURN clients, and
    # is needed only when two browsers on this machine must use the relay (calls forced through
    # it): allowed only then (app/live/turn_server.py).
    turn = TurnServer(workdir=os.path.join(app.instance_path, "coturn"),
                      allow_loopback_peers=app.config["ICE_TRANSPORT_POLICY"] == "relay")
    try:
        turn.start()
    except Exception as exc:  # a broken install must not keep the app from starting
        click.echo(f"  coturn did not start ({exc}); calls go without a TURN relay.", err=True)
        return None
    env.update(turn.environment())
    return turn
