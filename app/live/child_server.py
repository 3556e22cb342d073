"""What the media servers this app can start for itself (Janus, coturn) have in common: a child
process with a log file in its work folder, started and then polled until it answers, and
stopped with SIGTERM (SIGKILL if it hangs)."""
from __future__ import annotations

import shutil
import signal
import subprocess
import time


class ChildServer:
    """Mixed into a dataclass that has ``process``, ``workdir``, ``_own_workdir`` (the folder
    was made for it, so it goes when it stops), ``log_path`` and ``start()``."""

    name = "the server"

    def ready(self) -> bool:
        """True once the server answers (polled every 0.1 s after it is started)."""
        raise TypeError(f"{type(self).__name__} must say when it is ready")

    def wait_until_ready(self, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            if self.ready():
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not answer within {timeout} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def serve_until_interrupted(self) -> None:
        """The command line's run: start, print the app's settings for this server, and stop
        it on Ctrl-C or SIGTERM (or when it exits on its own)."""
        self.start()
        for key, value in self.environment().items():
            print(f"{key}={value}", flush=True)
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        try:
            while not stopping and self.process and self.process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
