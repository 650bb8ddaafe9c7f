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
