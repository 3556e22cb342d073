"""Run the real app under gunicorn (gevent workers, as in production) for browser and realtime
tests. The server shares the test database and Redis, so what a test commits, it serves."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent  # tests/live/__init__.py


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, database_url: str, redis_url: str, secret_key: str, log_path: Path,
                 workers: int = 1, extra_env: dict | None = None, port: int | None = None,
                 threaded: bool = False):
        """gunicorn with gevent workers, or with ``threaded`` Flask's own development server
        (a thread per request and per websocket, as `flask run` serves)."""
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update({"DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "SECRET_KEY": secret_key, "PORT": str(self.port), "BASE_URL": self.url,
                    "ACCESS_LOG": "", "PYTHONUNBUFFERED": "1"})
        env.update(extra_env or {})
        self.log_path = log_path
        self._log = open(log_path, "wb")
        if threaded:
            command = ["-m", "flask", "--app", "wsgi", "run", "--host", "127.0.0.1",
                       "--port", str(self.port), "--with-threads", "--no-reload"]
        else:
            command = ["-m", "gunicorn", "-c", "gunicorn.conf.py",
                       "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "wsgi:app"]
        self.process = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/login", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()
