"""The allocator setting: applied once at start, logged, and switched off by the environment."""

from __future__ import annotations

import subprocess
import sys

CODE = ("import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout); "
        "from seaice_explorer.runtime import configure_allocator as c; print(c()); print(c())")


def _run(env_value: str | None) -> list[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if env_value is not None:
        env["SEAICE_EXPLORER_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True, env=env)
    return out.stdout.splitlines()


def test_allocator_is_applied_and_logged_once() -> None:
    lines = _run(None)
    logs = [ln for ln in lines if "allocator:" in ln]
    assert len(logs) == 1  # logged once, although called twice
    mode = lines[-1]
    assert lines[-2] == mode and mode in ("glibc mallopt", "unavailable")
    if sys.platform.startswith("linux"):
        assert mode == "glibc mallopt"


def test_allocator_can_be_switched_off() -> None:
    lines = _run("off")
    assert lines[-1] == "off" and any("allocator: off" in ln for ln in lines)


def test_cli_configures_the_allocator(monkeypatch) -> None:
    from seaice_explorer import cli

    called = []
    monkeypatch.setattr(cli, "configure_allocator", lambda: called.append(True) or "glibc mallopt")
    try:
        cli.main(["stats", "--help"])  # argparse exits after printing the help
    except SystemExit:
        pass
    assert called == [True]


RELEASE = """
import numpy as np
from seaice_explorer.runtime import configure_allocator, release_memory
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")) // 1024
print(configure_allocator())
blocks = [np.ones(2**20) for _ in range(100)]  # 100 x 8 MiB: in the heap once mmap is off for them
del blocks
kept = rss()
print(release_memory(), kept, rss())
"""


def test_release_memory_hands_the_kept_heap_back() -> None:
    if not sys.platform.startswith("linux"):
        return
    out = subprocess.run([sys.executable, "-c", RELEASE], capture_output=True, text=True, check=True).stdout
    mode, numbers = out.splitlines()
    released, kept, after = numbers.split()[0], int(numbers.split()[1]), int(numbers.split()[2])
    assert mode == "glibc mallopt" and released == "True"
    assert kept > 600  # the raised thresholds keep the freed 800 MiB in the heap ...
    assert after < kept - 500  # ... until release_memory returns it
