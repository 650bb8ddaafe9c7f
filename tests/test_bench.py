"""The benchmark's plumbing on tiny checkpoints (speed itself is never asserted)."""

from __future__ import annotations

import json
from pathlib import Path

from seaice_explorer import bench
from seaice_explorer.cli import main


def test_bench_reports_sampling_memory_and_ratios(tiny_models: Path) -> None:
    report = bench.run_bench(n=2, steps=2, device="cpu", precisions=("float32",), models_dir=str(tiny_models),
                             backends=("dm", "ldm-gaussian"),
                             train=False)
    assert set(report["sampling"]) == {"dm/float32", "ldm-gaussian/float32"}
    for row in report["sampling"].values():
        assert "error" not in row, row
        assert row["seconds"] > 0 and row["peak_rss_mb"] > 50 and row["precision"] == "float32"
    dm = report["sampling"]["dm/float32"]["seconds"]
    ldm = report["sampling"]["ldm-gaussian/float32"]["seconds"]
    assert report["ratios"]["dm/ldm-gaussian (float32)"] == round(dm / ldm, 2)


def test_bench_cli_prints_json_and_records_errors(tiny_models: Path, capsys) -> None:
    code = main(["bench", "--json", "--n", "1", "--steps", "1", "--precision", "bf16", "--backends", "dm",
                 "ldm-censored", "--no-train", "--models-dir", str(tiny_models / "missing")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert all("error" in row for row in report["sampling"].values())  # no checkpoints there: reported, not raised
    assert report["ratios"] == {}
