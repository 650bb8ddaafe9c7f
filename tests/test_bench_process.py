"""Whole-process CLI timings: the children really run, failures are counted (speed never asserted)."""

from __future__ import annotations

import sys
from pathlib import Path

from seaice_explorer import bench_process
from seaice_explorer.registry import discover


def test_timed_counts_failures_and_measures_memory() -> None:
    ok = bench_process.timed([sys.executable, "-c", "b = bytearray(200 * 2**20)"], repeat=2)
    assert ok["failures"] == 0 and ok["wall_s"] > 0
    assert ok["peak_rss_mib"] >= 200  # the child's own peak, not this process's
    bad = bench_process.timed([sys.executable, "-c", "raise SystemExit(3)"], repeat=2)
    assert bad["failures"] == 2 and "wall_s" not in bad


def test_whole_process_rows_on_tiny_models(tiny_models: Path) -> None:
    report = bench_process.whole_process(discover(tiny_models), repeat=1, n=2, steps=1, models_dir=str(tiny_models))
    rows = report["rows"]
    assert report["allocator"] in ("glibc mallopt", "tcmalloc", "off", "unavailable")
    assert "baseline: import torch, xarray" in rows and "--help" in rows
    generate_rows = [k for k in rows if "steps=" in k]
    assert len(generate_rows) == 4 and any(k.endswith("allocator off") for k in generate_rows)
    for key, row in rows.items():
        assert row["failures"] == 0, (key, row)
        assert row["x_baseline"] > 0
    assert rows[next(k for k in rows if k.endswith("allocator off"))]["env"] == {"SEAICE_EXPLORER_MALLOC": "off"}
    assert len(report["ratios"]) == 2
