"""Issue 12's "Why" rows, before and after, measured the same way in one run.

``--before DIR`` is a checkout of the earlier version (e.g. ``git archive 3c933c5 | tar -x -C DIR``)
with its own ``models/`` and ``data/``. Each command runs as a whole process (start-up included),
alternating before/after ``--repeat`` times, next to the baseline ``python -c "import torch,
xarray"``; the medians of wall time and peak RSS are printed as JSON with the ratios:

- ``generate --backend ldm-gaussian --n 1 --steps 1`` (and its ratio to the baseline);
- dm, 16 samples × 5 Heun steps: glibc malloc (allocator off), the allocator setting, tcmalloc
  preloaded (when ``libtcmalloc_minimal.so.4`` is installed);
- dm and ldm-gaussian, 16 samples × 20 Heun steps, and their ratio;
- ``seaice-explorer --help``.

Usage::

    python benchmarks/before_after.py --before /tmp/before/app [--repeat 3] [--skip-long]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from seaice_explorer.bench_process import run_child

ROOT = Path(__file__).resolve().parents[1]
TCMALLOC = Path("/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4")


def cli(version: Path) -> list[str]:
    """The version's CLI as a fresh process, its package first on the path."""
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(version)!r}); "
            "from seaice_explorer.cli import main; raise SystemExit(main())"]


def generate(version: Path, backend: str, n: int, steps: int, out: Path) -> list[str]:
    return [*cli(version), "generate", "--backend", backend, "--n", str(n), "--steps", str(steps),
            "--out", str(out), "--models-dir", str(version / "models"), "--no-progress"]


def measure(rows: dict[str, tuple[list[str], dict[str, str]]], repeat: int) -> dict[str, dict]:
    """Median wall seconds and peak RSS MiB of each row, the rows interleaved within each round."""
    runs: dict[str, list[tuple[float, float, int]]] = {k: [] for k in rows}
    for _ in range(repeat):
        for key, (cmd, env) in rows.items():
            runs[key].append(run_child(cmd, env))
    out = {}
    for key, rs in runs.items():
        ok = [(w, m) for w, m, rc in rs if rc == 0]
        out[key] = {"failures": len(rs) - len(ok)}
        if ok:
            out[key].update(wall_s=round(statistics.median(w for w, _ in ok), 2),
                            peak_rss_mib=round(statistics.median(m for _, m in ok)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the earlier version")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-long", action="store_true", help="leave out the 16 × 20-step rows")
    args = parser.parse_args()
    versions = {"before": args.before.resolve(), "after": ROOT}
    off = {"SEAICE_EXPLORER_MALLOC": "off"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "x.nc"
        rows: dict[str, tuple[list[str], dict[str, str]]] = {
            "baseline import torch, xarray": ([sys.executable, "-c", "import torch, xarray"], {})}
        for name, v in versions.items():
            rows[f"{name}: --help"] = ([*cli(v), "--help"], {})
            rows[f"{name}: ldm-gaussian n=1 steps=1"] = (generate(v, "ldm-gaussian", 1, 1, out), {})
        rows["after: dm n=16 steps=5, allocator off"] = (generate(ROOT, "dm", 16, 5, out), off)
        rows["after: dm n=16 steps=5"] = (generate(ROOT, "dm", 16, 5, out), {})
        if TCMALLOC.exists():
            rows["after: dm n=16 steps=5, tcmalloc"] = (generate(ROOT, "dm", 16, 5, out), {**off, "LD_PRELOAD": str(TCMALLOC)})
        if not args.skip_long:
            for name, v in versions.items():
                for backend in ("dm", "ldm-gaussian"):
                    rows[f"{name}: {backend} n=16 steps=20"] = (generate(v, backend, 16, 20, out), {})
        result = measure(rows, args.repeat)
    base = result["baseline import torch, xarray"].get("wall_s")
    ratios = {}
    for name in versions:
        row = result[f"{name}: ldm-gaussian n=1 steps=1"]
        if base and row.get("wall_s"):
            ratios[f"{name}: ldm n=1 steps=1 / baseline"] = round(row["wall_s"] / base, 2)
        dm, ldm = (result.get(f"{name}: {b} n=16 steps=20", {}).get("wall_s") for b in ("dm", "ldm-gaussian"))
        if dm and ldm:
            ratios[f"{name}: dm / ldm n=16 steps=20"] = round(dm / ldm, 2)
    dm_before, dm_after = (result.get(f"{n}: dm n=16 steps=20", {}).get("wall_s") for n in versions)
    if dm_before and dm_after:
        ratios["dm n=16 steps=20 before / after"] = round(dm_before / dm_after, 2)
    glibc, fast = (result.get(k, {}).get("wall_s") for k in ("after: dm n=16 steps=5, allocator off", "after: dm n=16 steps=5"))
    if glibc and fast:
        ratios["dm n=16 steps=5 glibc / allocator setting"] = round(glibc / fast, 2)
    print(json.dumps({"repeat": args.repeat, "cores": os.cpu_count(), "rows": result, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
