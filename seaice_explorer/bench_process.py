"""Whole-process timings of the CLI, start-up included: what a user waits for at the prompt.

Each command runs ``repeat`` times as a fresh child process, one after the other, next to the
baseline ``python -c "import torch, xarray"``; the report gives the median wall time, the median
peak RSS of the child (``os.wait4``'s ``ru_maxrss``) and each row's ratio to the baseline. The
data-space generation also runs with the allocator setting switched off (``SEAICE_EXPLORER_MALLOC
=off``), so the effect of :func:`runtime.configure_allocator` is measured side by side.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .registry import Registry
from .runtime import ENV, configure_allocator

#: the CLI as a user calls it: the console script when installed, else ``python -m``
CLI = [shutil.which("seaice-explorer")] if shutil.which("seaice-explorer") else [sys.executable, "-m", "seaice_explorer.cli"]


def run_child(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS MiB, exit status) of one child process running ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, proc.returncode  # Linux: KiB


def timed(cmd: Sequence[str], repeat: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Median wall time and peak RSS of ``repeat`` runs of ``cmd``; failures are counted, not raised."""
    runs = [run_child(cmd, env) for _ in range(repeat)]
    ok = [(w, m) for w, m, rc in runs if rc == 0]
    row: dict[str, Any] = {"command": " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)),
                           "runs": repeat, "failures": repeat - len(ok)}
    if env:
        row["env"] = env
    if ok:
        row["wall_s"] = round(statistics.median(w for w, _ in ok), 2)
        row["peak_rss_mib"] = round(statistics.median(m for _, m in ok))
    return row


def generate_cmd(backend: str, n: int, steps: int, out: Path, models_dir: str | None) -> list[str]:
    cmd = [*CLI, "generate", "--backend", backend, "--n", str(n), "--steps", str(steps), "--out", str(out),
           "--no-progress", "--overwrite"]  # the same file each run: replaced by design
    return cmd + (["--models", models_dir] if models_dir else [])


def whole_process(registry: Registry, repeat: int = 3, n: int = 16, steps: int = 20,
                  models_dir: str | None = None) -> dict[str, Any]:
    """Whole-process rows (issue 12 "Why" table) for the registry's first data-space and latent
    backends of the default dataset; ratios to the ``import torch, xarray`` baseline and dm ÷ ldm."""
    entries = [e for e in registry.entries.values() if e.dataset == "default"] or list(registry.entries.values())
    data = next((e.name for e in entries if e.kind == "data"), None)
    latent = next((e.name for e in entries if e.kind == "latent"), None)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples.nc"
        rows["baseline: import torch, xarray"] = timed([sys.executable, "-c", "import torch, xarray"], repeat)
        rows["--help"] = timed([*CLI, "--help"], repeat)
        if latent:
            rows[f"{latent} n=1 steps=1"] = timed(generate_cmd(latent, 1, 1, out, models_dir), repeat)
            rows[f"{latent} n={n} steps={steps}"] = timed(generate_cmd(latent, n, steps, out, models_dir), repeat)
        if data:
            cmd = generate_cmd(data, n, steps, out, models_dir)
            rows[f"{data} n={n} steps={steps}"] = timed(cmd, repeat)
            rows[f"{data} n={n} steps={steps}, allocator off"] = timed(cmd, repeat, {ENV: "off"})
    base = rows["baseline: import torch, xarray"].get("wall_s")
    for row in rows.values():
        if base and row.get("wall_s"):
            row["x_baseline"] = round(row["wall_s"] / base, 2)
    ratios: dict[str, float] = {}
    if data and latent:
        dm, ldm = rows[f"{data} n={n} steps={steps}"].get("wall_s"), rows[f"{latent} n={n} steps={steps}"].get("wall_s")
        off = rows[f"{data} n={n} steps={steps}, allocator off"].get("wall_s")
        if dm and ldm:
            ratios[f"{data}/{latent} whole process"] = round(dm / ldm, 2)
        if dm and off:
            ratios[f"{data} allocator off/on"] = round(off / dm, 2)
    return {"allocator": configure_allocator(), "allocator_env": os.environ.get(ENV, ""), "repeat": repeat,
            "rows": rows, "ratios": ratios}
