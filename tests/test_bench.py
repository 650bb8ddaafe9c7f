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
    assert code == 1  # nothing was measured (issue 24): the report is printed, the exit status says so
    assert all("error" in row for row in report["sampling"].values())  # no checkpoints there: reported, not raised
    assert report["ratios"] == {}


def test_bench_takes_backends_and_the_vae_from_the_registry(tiny_models: Path) -> None:
    import argparse

    from seaice_explorer.registry import discover

    registry = discover(tiny_models)
    first_latent = next(e for e in registry.entries.values() if e.kind == "latent")
    assert bench._first_of_kind(registry, "latent") is first_latent and first_latent.vae_path is not None
    assert bench._first_of_kind(registry, "data").vae_path is None
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    for flag in ("--models", "--models-dir"):  # --models-dir: the old spelling, kept as a hidden alias
        assert parser.parse_args([flag, str(tiny_models)]).models == str(tiny_models)
    assert parser.parse_args([]).backends is None  # default: every backend of the registry
    report = {"sampling": {f"{b}/float32": {"seconds": 2.0 if e.kind == "data" else 0.5}
                           for b, e in registry.entries.items()}, "ratios": {}}
    bench._ratios(report, registry, registry.names, "float32")
    data = [e.name for e in registry.entries.values() if e.kind == "data"]
    latent = [e.name for e in registry.entries.values() if e.kind == "latent"]
    assert report["ratios"] == {f"{d}/{lat} (float32)": 4.0 for d in data for lat in latent}


def test_quality_against_nfe_table(tiny_models, tmp_path) -> None:
    """Per backend and sampler: NFE as the sampler spends them, the scores, and the noise floor."""
    from seaice_explorer.evaluation.quality import quality_against_nfe, within_floor
    from test_training import synthetic_states

    ref = tmp_path / "ref.nc"
    synthetic_states(n=8).to_netcdf(ref)
    grid = {"heun": (2, 3), "dpmpp-2m": (3,)}
    report = quality_against_nfe(["ldm-censored"], n=3, reference=str(ref), models_dir=str(tiny_models),
                                 device="cpu", grid=grid)
    assert [(r["sampler"], r["steps"], r["nfe"]) for r in report["rows"]] == [("heun", 2, 3), ("heun", 3, 5),
                                                                             ("dpmpp-2m", 3, 3)]
    assert set(report["noise_floor"]) == {"extent_w1_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse"}
    base = report["rows"][1]
    cheapest = within_floor(report["rows"], report["noise_floor"], base)
    assert cheapest and cheapest[0]["nfe"] <= base["nfe"] and base in cheapest
    huge = {k: 1e9 for k in report["noise_floor"]}
    assert within_floor(report["rows"], huge, base)[0]["nfe"] == 3


def test_within_floor_keeps_better_scores_and_drops_worse_ones() -> None:
    from seaice_explorer.evaluation.quality import within_floor

    floor = {"extent_w1_1e6km2": 0.1, "miz_freq_rmse": 0.01}
    base = {"backend": "dm", "nfe": 39, "seconds": 9.0, "extent_w1_1e6km2": 0.4, "miz_freq_rmse": 0.03}
    better = {**base, "nfe": 5, "seconds": 1.0, "extent_w1_1e6km2": 0.1}  # far better than the floor: kept
    worse = {**base, "nfe": 3, "seconds": 0.5, "miz_freq_rmse": 0.05}  # worse by 2 floors: dropped
    other = {**better, "backend": "ldm", "nfe": 1}  # another backend: not compared
    assert [r["nfe"] for r in within_floor([base, better, worse, other], floor, base)] == [5, 39]


def test_app_default_sampler_is_within_the_floor_of_heun_20_in_the_shipped_quality_tables() -> None:
    """The app's default (sampler, steps) is backed by bench --quality: within the noise floor of
    Heun with 20 steps for every backend measured, and the cheapest such setting of each table."""
    from seaice_explorer.evaluation.quality import within_floor
    from seaice_explorer.ui.model.state import ExplorerState

    default = (ExplorerState.param.sampler.default, ExplorerState.param.steps.default)
    tables = sorted((Path(__file__).parents[1] / "docs" / "benchmarks").glob("quality_nfe_*.json"))
    assert tables
    backends = 0
    for path in tables:
        report = json.loads(path.read_text())
        for backend in {r["backend"] for r in report["rows"]}:
            rows = [r for r in report["rows"] if r["backend"] == backend]
            base = next(r for r in rows if r["sampler"] == "heun" and r["steps"] == 20)
            ok = within_floor(rows, report["noise_floor"], base)
            assert default in {(r["sampler"], r["steps"]) for r in ok}, (path.name, backend)
            assert ok[0]["nfe"] == min(r["nfe"] for r in rows if (r["sampler"], r["steps"]) == default)
            backends += 1
    assert backends >= 3
