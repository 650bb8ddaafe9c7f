"""A busy server stops on SIGTERM: ``panel serve app.py --warm`` exits within 5 s of it, even while
it is generating (a container's ``docker stop``, systemd or a CI job sends SIGTERM, then SIGKILL).

No browser: one page is fetched with ``urllib``, which builds a session and starts its first
generation (and, with ``--warm``, the guided tour's preparation is under way). SIGTERM is sent once
a worker thread of the server is seen computing. The server must be gone within 5 s, with exit
status 0 (threads left computing into the interpreter's finalisation can abort it instead).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from test_browser import missing_app_data

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
EXIT_S = 5.0
BUSY_CPU_S = 0.5  # CPU seconds a worker thread must burn after the page is built: it is generating

pytestmark = pytest.mark.slow


def _missing_prerequisite() -> str | None:
    if missing_app_data():
        return missing_app_data()
    if not Path("/proc/self/task").is_dir():
        return "needs Linux /proc to find the server and watch its threads"
    return None


def _stat(path: Path) -> list[str] | None:
    """Fields of a /proc ``stat`` file after the command name (state first), None once gone."""
    try:
        text = path.read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _server_pid(port: int) -> int:
    """The ``panel serve`` child of this process listening on ``port`` (the helper keeps its Popen)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        fields = _stat(proc / "stat")
        if fields is None or int(fields[1]) != os.getpid():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"panel" in argv and str(port).encode() in argv:
            return int(proc.name)
    raise AssertionError(f"no panel serve child process on port {port}")


def _thread_cpu_s(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread but the main one (the event loop)."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        fields = _stat(task / "stat")
        if fields is not None and int(task.name) != pid:
            cpu[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return cpu


def _wait_busy(pid: int, deadline_s: float = 180.0) -> float:
    """Wait until one worker thread has burnt ``BUSY_CPU_S`` since now; returns the seconds waited."""
    start, t0 = _thread_cpu_s(pid), time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        now = _thread_cpu_s(pid)
        if any(cpu - start.get(tid, 0.0) >= BUSY_CPU_S for tid, cpu in now.items()):
            return time.monotonic() - t0
        time.sleep(0.1)
    pytest.fail(f"the server never got busy generating within {deadline_s:.0f} s")


def _exited(pid: int) -> bool:
    fields = _stat(Path(f"/proc/{pid}/stat"))
    return fields is None or fields[0] in ("Z", "X")  # a zombie: exited, not yet reaped by the helper


def _exit_status(pid: int) -> int | None:
    """The wait status of an exited, unreaped child (``exit_code`` of /proc/PID/stat), None if unknown."""
    fields = _stat(Path(f"/proc/{pid}/stat"))
    return int(fields[49]) if fields is not None and len(fields) > 49 else None


def test_sigterm_stops_a_server_busy_generating(panel_serve):
    reason = _missing_prerequisite()
    if reason:
        pytest.skip(reason)
    with panel_serve(APP, flags=["--warm"], startup_s=300) as url:
        pid = _server_pid(urlsplit(url).port)
        with urllib.request.urlopen(url, timeout=300) as page:  # builds a session: its first generation starts
            body = page.read().decode("utf-8", "replace")
        assert "Sea-ice explorer" in body, "the app did not build its page (an error in app.py or the ui?)"
        _wait_busy(pid)
        assert not _exited(pid)
        os.kill(pid, signal.SIGTERM)
        t0 = time.monotonic()
        while not _exited(pid) and time.monotonic() - t0 < EXIT_S:
            time.sleep(0.05)
        waited = time.monotonic() - t0
        assert _exited(pid), f"panel serve still running {waited:.1f} s after SIGTERM while generating"
        status = _exit_status(pid)
        if status is not None:  # a clean stop, not a crash of threads left running into finalisation
            how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit code {os.WEXITSTATUS(status)}"
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"panel serve ended with {how} after SIGTERM"
