"""Serve the dashboard for a measurement: one helper for the browser tests and the benchmarks.

:func:`serve` starts ``panel serve app.py`` the way README's "Use it" and "Teaching and outreach"
sections do (``[--warm] --port P --address 127.0.0.1 --allow-websocket-origin 127.0.0.1:P
[--args ...]``) on a free loopback port, waits until the server answers HTTP, and yields a
:class:`Server`: its URL, the PID of the server's own Python process (started as
``sys.executable -m panel``, so the PID is the interpreter itself, not a shell or console-script
wrapper), its resident memory (``/proc/<pid>/status``) and :meth:`Server.stop`, which sends SIGTERM,
times the exit and sends SIGKILL after a limit. Usage::

    with serve(ROOT / "app.py", ["--warm"], startup_s=900) as server:
        page.goto(f"{server.url}?presentation=true&tour=1")
        print(server.rss_mb())
        stopped = server.stop()          # optional: leaving the block stops it too
        print(stopped.exit_s, stopped.killed)

The readiness probe asks for ``/`` without following redirects: any HTTP answer means the server's
event loop runs (with ``--warm`` that is after the start-up run of the app), and no page session is
built by it (a request for the app's own URL would build one). The server's output goes to a log
file (:meth:`Server.log_text`), never to a pipe nobody reads (a full pipe would stall the server).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
HOST = "127.0.0.1"

log = logging.getLogger(__name__)


class ServeError(RuntimeError):
    """``panel serve`` exited or did not answer HTTP in time (the message ends with its log)."""


@dataclass(frozen=True)
class Stopped:
    """How a server ended: seconds from SIGTERM to exit, whether SIGKILL was needed, the exit status."""

    exit_s: float
    killed: bool
    returncode: int | None


def free_port() -> int:
    """A TCP port on the loopback interface that is free now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (``VmRSS`` of ``/proc/<pid>/status``), NaN once gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")  # a zombie has no VmRSS line


def command(app: Path, port: int, flags: Sequence[str] = (), app_args: Sequence[str] = ()) -> list[str]:
    """The ``panel serve`` command line of README, run by this interpreter (``python -m panel``)."""
    return [sys.executable, "-m", "panel", "serve", str(app), *flags, "--port", str(port), "--address", HOST,
            "--allow-websocket-origin", f"{HOST}:{port}", *(["--args", *app_args] if app_args else [])]


class Server:
    """A running ``panel serve``: its URL, PID, memory and log; :meth:`stop` ends it (once)."""

    def __init__(self, proc: subprocess.Popen, url: str, port: int, log_path: Path) -> None:
        self.proc, self.url, self.port, self.log_path = proc, url, port, log_path
        self.stopped: Stopped | None = None

    @property
    def pid(self) -> int:
        """The server's Python process (the one that holds the sessions and the models)."""
        return self.proc.pid

    def rss_mb(self) -> float:
        """The server's resident memory now, MiB."""
        return rss_mb(self.pid)

    def running(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, limit_s: float = 10.0) -> Stopped:
        """SIGTERM, wait up to ``limit_s`` seconds for the exit (timed), then SIGKILL. Idempotent."""
        if self.stopped is not None:
            return self.stopped
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)  # nothing is sent to a process that already exited
        killed = False
        try:
            self.proc.wait(limit_s)
        except subprocess.TimeoutExpired:
            log.warning("panel serve (pid %d) still running %.0f s after SIGTERM: SIGKILL", self.pid, limit_s)
            self.proc.kill()
            self.proc.wait()
            killed = True
        self.stopped = Stopped(exit_s=time.perf_counter() - t0, killed=killed, returncode=self.proc.returncode)
        return self.stopped


def _answers_http(port: int, timeout_s: float = 5.0) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
        return True
    except OSError:  # refused, reset or timed out: not serving yet
        return False
    finally:
        conn.close()


def wait_until_serving(server: Server, startup_s: float) -> float:
    """Block until ``server`` answers HTTP; returns the seconds waited. Raises :class:`ServeError`."""
    t0 = time.monotonic()
    while not _answers_http(server.port):
        if not server.running():
            raise ServeError(f"panel serve exited with status {server.proc.returncode}:\n{server.log_text()[-4000:]}")
        if time.monotonic() - t0 > startup_s:
            raise ServeError(f"panel serve did not answer HTTP within {startup_s:.0f} s:\n{server.log_text()[-4000:]}")
        time.sleep(0.5)
    return time.monotonic() - t0


@contextlib.contextmanager
def serve(app: Path = APP, flags: Sequence[str] = (), app_args: Sequence[str] = (), *, startup_s: float = 300.0,
          stop_s: float = 10.0, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``panel serve app`` on a free loopback port, yielded once it answers HTTP, stopped on leaving.

    ``flags`` go to ``panel serve`` (e.g. ``["--warm"]``), ``app_args`` to the app (after ``--args``);
    ``startup_s`` bounds the wait for the first HTTP answer, ``stop_s`` the wait after SIGTERM."""
    app = Path(app).resolve()
    port = free_port()
    fd, name = tempfile.mkstemp(prefix="panel-serve-", suffix=".log")
    log_path = Path(name)
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(command(app, port, flags, app_args), cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    server = Server(proc, f"http://{HOST}:{port}/{app.stem}", port, log_path)
    try:
        waited = wait_until_serving(server, startup_s)
        log.info("panel serve %s (pid %d) answers on port %d after %.1f s", app.name, server.pid, port, waited)
        yield server
    finally:
        server.stop(stop_s)
        log_path.unlink(missing_ok=True)
