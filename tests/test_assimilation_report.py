"""``seaice-explorer assimilation-report`` (issue 22 §3): tuning, the resumable row cache, the report folder and
the targets' verdicts, with counting toy makers on a 16² grid and, for the plumbing, the tiny checkpoints."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.evaluation import assimilation_cli as cli
from seaice_explorer.evaluation import assimilation_fivevar as five
from seaice_explorer.evaluation import assimilation_knobs as knobs_mod
from seaice_explorer.evaluation import assimilation_runs as runs
from seaice_explorer.evaluation import assimilation_stages as stages
from seaice_explorer.evaluation.assimilation_scores import assimilation_days, day_state
from seaice_explorer.evaluation.assimilation_summary import TARGETS, Estimate, diff_ci, dispersion, effect_word, ratio_ci
from seaice_explorer.evaluation.assimilation_verdicts import read_verdicts
from seaice_explorer.evaluation.baselines import inpainting_maker
from seaice_explorer.grid import default_grid
from seaice_explorer.outputs import mark_folder

SIZE = 16
NOISE = {"mmps": 0.01, "dps": 0.3, "repaint": 0.1}  # the toy posterior's error per method: mmps must win the tuning


@pytest.fixture(scope="module")
def truth() -> xr.Dataset:
    """Every day of 2019 on the tiny models' 16² grid: ice within a radius that changes with the season."""
    grid = default_grid(SIZE)
    days = pd.date_range("2019-01-01T12:00", "2019-12-31T12:00", freq="D")
    yy, xx = np.meshgrid(np.arange(SIZE) - 7.5, np.arange(SIZE) - 7.5, indexing="ij")
    radius = 5.0 + 1.5 * np.cos(2 * np.pi * days.dayofyear.values / 365.0)  # (T,)
    sic = np.clip(1.2 - np.hypot(yy, xx)[None] / radius[:, None, None], 0.0, 1.0)  # (T, H, W)
    sic = np.where(grid["mask"].values[None] == 1, sic, np.nan).astype(np.float32)
    ds = xr.Dataset({"sic": (("time", "y", "x"), sic, {"units": "1"})}, coords={"time": days})
    return ds.assign_coords(grid.coords)


class Toys:
    """Counting toy makers: the posterior is the truth plus noise (NOISE by method), the rest random."""

    def __init__(self, truth: xr.Dataset) -> None:
        self.truth, self.calls = truth, Counter()

    def _members(self, obs: xr.Dataset, n: int, scale: float, seed: int, around_truth: bool) -> xr.Dataset:
        day = day_state(self.truth, pd.Timestamp(obs["time"].values.ravel()[0]))
        rng = np.random.default_rng(seed)
        base = day["sic"].values if around_truth else np.full((SIZE, SIZE), 0.5)
        members = np.clip(base + rng.normal(0, scale, size=(n, SIZE, SIZE)), 0, 1)
        return xr.Dataset({"sic": (("sample", "y", "x"), np.where(day.mask.values == 1, members, np.nan))},
                          coords={k: v for k, v in day.coords.items() if k != "time"})

    def factories(self) -> stages.Factories:
        def posterior(backend: str, knob: knobs_mod.Knob):
            def make(obs, n, seed):
                self.calls[("posterior", backend, knob.label)] += 1
                return self._members(obs, n, NOISE[knob.method], seed, True)
            return make

        def unconditional(backend: str, knob: knobs_mod.Knob):
            def make(obs, n, seed):
                self.calls[("unconditional", backend)] += 1
                return self._members(obs, n, 0.3, seed, False)
            return make

        def climatology():
            def make(obs, n, seed):
                self.calls[("climatology",)] += 1
                return self._members(obs, n, 0.25, seed, False)
            return make

        def inpainting():
            real = inpainting_maker()

            def make(obs, n, seed):
                self.calls[("inpainting",)] += 1
                return real(obs, n, seed)
            return make

        return stages.Factories(posterior, unconditional, climatology, inpainting)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return parser.parse_args(list(argv))


def common(tmp: Path, models: Path) -> list[str]:
    return ["--work", str(tmp / "work"), "--out", str(tmp / "out"), "--models", str(models), "--replicates", "200",
            "--device", "cpu"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tiny_models: Path, truth: xr.Dataset):
    """A tuning run: 2 tuning days × 2 knobs (dps, mmps at guidance 1) of ldm-gaussian."""
    tmp = tmp_path_factory.mktemp("assim")
    toys = Toys(truth)
    args = parse("--stage", "tune", "--tune-days", "2", "--backends", "ldm-gaussian", "--guidance", "1.0",
                 "--n", "4", *common(tmp, tiny_models))
    assert cli.run(args, toys.factories(), truth=truth) == 0
    return tmp, toys


def test_tune_picks_the_lower_crps_knob_on_tuning_days_only(tuned) -> None:
    tmp, toys = tuned
    knobs = json.loads((tmp / "work" / "knobs.json").read_text())
    entry = knobs["backends"]["ldm-gaussian"]
    assert entry["chosen"]["method"] == "mmps" and entry["chosen"]["guidance"] == 1.0
    crps = {c["label"]: c["crps"]["estimate"] for c in entry["configs"]}
    assert len(crps) == 2 and crps[entry["chosen_label"]] == min(crps.values())
    tuning = {f"{d:%Y-%m-%d}" for d in assimilation_days()["tuning"]}
    assert len(entry["days"]) == 2 and set(entry["days"]) <= tuning
    assert sum(v for k, v in toys.calls.items() if k[0] == "posterior") == 4  # 2 days × 2 knobs
    assert knobs["grid"]["guidance"] == [1.0] and knobs["n"] == 4


def test_report_reads_the_knobs_and_writes_the_folder(tuned, tiny_models: Path, truth: xr.Dataset) -> None:
    tmp, _ = tuned
    toys = Toys(truth)
    args = parse("--stage", "report", "--max-days", "2", "--masks", "edge_box", "--backends", "ldm-gaussian",
                 *common(tmp, tiny_models))
    assert cli.run(args, toys.factories(), truth=truth) == 0
    out = tmp / "out"
    assert {"README.md", "scores.nc", "knobs.json", "example.png", "rank_histograms.png"} <= {
        p.name for p in out.iterdir()}
    with xr.open_dataset(out / "scores.nc") as ds:
        makers = list(ds.maker.values)
        assert ds.sizes["day"] == 2 and list(ds.mask.values) == ["edge_box"]
        assert "created_by" in ds.attrs
        assert all(str(d).startswith("cpu (") for d in ds["device"].sel(maker=makers[0]).values.ravel())
    chosen = json.loads((tmp / "work" / "knobs.json").read_text())["backends"]["ldm-gaussian"]["chosen_label"]
    assert f"ldm-gaussian posterior ({chosen})" in makers
    assert {"ldm-gaussian unconditional", "climatology", "harmonic inpainting"} <= set(makers)
    readme = (out / "README.md").read_text()
    for text in ("## Targets", "## Calibration finding", "## Scores", "## Speed", "edge_box 2/62", chosen,
                 "| posterior | cpu ("):
        assert text in readme
    assert any(v in readme for v in ("| met |", "| missed |", "| not resolved |"))
    verdicts = read_verdicts(out)  # the README's targets as data: the tour quotes these
    assert verdicts.report_days == 62 and verdicts.members == 16 and verdicts.days_scored == 2
    crps = verdicts.target("ldm-gaussian", "edge_box", "crps_ratio")
    assert crps["days"] == 2 and crps["verdict"] in ("met", "missed", "not resolved") and "≤ 0.8" in crps["rule"]
    assert f"| {crps['verdict']} |" in readme and verdicts.target("ldm-gaussian", "pole_hole", "crps_ratio") is None
    assert verdicts.calibration_of("ldm-gaussian", "edge_box")["expected"] == pytest.approx(15 / 17)
    assert toys.calls[("unconditional", "ldm-gaussian")] == 2 and toys.calls[("posterior", "ldm-gaussian",
                                                                                 chosen)] == 2


def test_a_rerun_does_no_new_work(tuned, tiny_models: Path, truth: xr.Dataset) -> None:
    tmp, _ = tuned
    argv = ["--stage", "report", "--max-days", "2", "--masks", "edge_box", "--backends", "ldm-gaussian",
            *common(tmp, tiny_models)]
    cli.run(parse(*argv), Toys(truth).factories(), truth=truth)  # whatever the order of the tests
    again = Toys(truth)
    assert cli.run(parse(*argv), again.factories(), truth=truth) == 0
    assert sum(again.calls.values()) == 0
    more = Toys(truth)  # one more day: only its rows are computed
    cli.run(parse(*argv[:2], "--max-days", "3", *argv[4:]), more.factories(), truth=truth)
    assert more.calls[("climatology",)] == 1 and more.calls[("inpainting",)] == 1
    only = Toys(truth)
    cli.run(parse("--report-only", *common(tmp, tiny_models)), only.factories(), truth=truth)
    assert sum(only.calls.values()) == 0
    assert "edge_box 3/62" in (tmp / "out" / "README.md").read_text()


def test_a_corrupt_verdicts_file_is_named(tmp_path: Path) -> None:
    assert read_verdicts(tmp_path) is None  # no report: nothing to quote
    (tmp_path / "verdicts.json").write_text('{"targets": []}')
    with pytest.raises(ValueError, match="verdicts.json is not a verdicts file.*--report-only"):
        read_verdicts(tmp_path)


def test_report_without_knobs_is_refused(tmp_path: Path, tiny_models: Path, truth: xr.Dataset) -> None:
    args = parse("--stage", "report", "--backends", "ldm-gaussian", *common(tmp_path, tiny_models))
    with pytest.raises(SeaIceInputError, match="--stage tune"):
        cli.run(args, Toys(truth).factories(), truth=truth)


@pytest.mark.parametrize("foreign", ["a file", "evaluate's report"])
def test_a_foreign_out_folder_is_refused(tmp_path: Path, tiny_models: Path, truth: xr.Dataset, foreign: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if foreign == "a file":
        (out / "notes.txt").write_text("mine")
    else:
        mark_folder(out, "report", "evaluate")
    toys = Toys(truth)
    with pytest.raises(SeaIceInputError, match="never replaced"):
        cli.run(parse("--report-only", *common(tmp_path, tiny_models)), toys.factories(), truth=truth)
    assert sorted(p.name for p in out.iterdir()) == (["notes.txt"] if foreign == "a file" else [".seaice-explorer.json"])
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("target, interval, verdict", [
    ("crps_ratio", (0.60, 0.79), "met"), ("crps_ratio", (0.81, 0.95), "missed"), ("crps_ratio", (0.70, 0.85), "not resolved"),
    ("iiee_ratio", (0.50, 0.90), "met"), ("iiee_ratio", (0.85, 1.10), "not resolved"), ("iiee_ratio", (0.95, 1.2), "missed"),
    ("coverage", (0.82, 0.93), "met"), ("coverage", (0.60, 0.78), "missed"), ("coverage", (0.96, 0.99), "missed"),
    ("coverage", (0.75, 0.90), "not resolved"), ("coverage", (0.90, 0.97), "not resolved"),
    ("coverage", (float("nan"), 0.9), "not resolved"),
])
def test_targets_are_judged_by_the_whole_interval(target: str, interval: tuple[float, float], verdict: str) -> None:
    assert TARGETS[target].judge(*interval) == verdict


def test_calibration_and_effect_words() -> None:
    assert dispersion(Estimate(0.7, 0.65, 0.75, 10), 15 / 17) == "under-dispersed"
    assert dispersion(Estimate(0.9, 0.85, 0.92, 10), 15 / 17) == "consistent with calibration"
    assert dispersion(Estimate(1.3, 1.1, 1.5, 10), 1.0) == "over-dispersed"
    assert effect_word(Estimate(-0.01, -0.02, -0.005, 10)) == "helps"
    assert effect_word(Estimate(0.0, -0.01, 0.01, 10)) == "not resolved"
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 2, 30), rng.uniform(1, 2, 30)
    ratio = ratio_ci(0.5 * b + 0.01 * a, b)  # paired: the ratio's interval is narrow around 0.5
    assert ratio.ci_low < ratio.estimate < ratio.ci_high and ratio.ci_high - ratio.ci_low < 0.02
    gap = diff_ci(np.append(a, np.nan), np.append(a - 0.1, 1.0))
    assert gap.days == 30 and gap.estimate == pytest.approx(0.1)


def test_day_order_spreads_and_extends() -> None:
    days = assimilation_days()["report"]
    assert runs.spread_order(8) == [0, 4, 2, 6, 1, 3, 5, 7]
    two, five_ = runs.take_days(days, 2), runs.take_days(days, 5)
    assert set(two) <= set(five_) and len(set(runs.take_days(days, None))) == 62
    assert (two[1] - two[0]).days > 150  # the second day lies about half a year away


def test_real_makers_on_tiny_models(tmp_path: Path, tiny_models: Path, truth: xr.Dataset) -> None:
    """Plumbing: assimilate and generate with the tiny checkpoints (2 steps, 2 members), fake climatology."""
    real = stages.default_factories(seed=0, device="cpu", models_dir=tiny_models)
    factories = dataclasses.replace(real, climatology=Toys(truth).factories().climatology)
    base = [*common(tmp_path, tiny_models), "--backends", "ldm-censored", "--steps", "2", "--n", "2"]
    cli.run(parse("--stage", "tune", "--tune-days", "1", "--guidance", "1.0", *base), factories, truth=truth)
    cli.run(parse("--stage", "report", "--max-days", "1", "--masks", "edge_box", *base), factories, truth=truth)
    with xr.open_dataset(tmp_path / "out" / "scores.nc") as ds:
        post = ds.sel(maker=[m for m in ds.maker.values if "posterior" in str(m)][0])
        assert np.isfinite(post["crps"]).all() and float(post["seconds_per_member"].max()) > 0
    assert (tmp_path / "out" / "example.png").read_bytes()[:4] == b"\x89PNG"


def test_fivevar_on_tiny_models(tmp_path: Path, tiny_models: Path, truth: xr.Dataset) -> None:
    synthetic = five.synthetic_days(count=2, seed=1, size=SIZE)
    with pytest.raises(SeaIceInputError, match="shipped"):
        five.synthetic_days(count=2, seed=0, size=SIZE)
    real = stages.default_factories(seed=0, device="cpu", models_dir=tiny_models)
    args = parse("--stage", "fivevar", "--backends", "ldm-censored", "--steps", "2", "--n", "2",
                 *common(tmp_path, tiny_models))
    assert cli.run(args, real, truth=truth, synthetic=synthetic) == 0
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "## SYNTHETIC: the five-variable family" in readme and "SYNTHETIC ldm-censored" in readme
    with xr.open_dataset(tmp_path / "out" / "fivevar_scores.nc") as ds:
        assert "SYNTHETIC" in ds.attrs["synthetic"] and ds.sizes["day"] == 2
        assert np.isfinite(ds["crps"].sel(variable="sit")).all()
        assert float(ds["sit_count"].sum()) > 0 and float(ds["truth_sit_count"].sum()) > 0


def test_couplings_count_thickness_over_open_water_and_bin_it() -> None:
    grid = default_grid(SIZE)
    ocean = grid["mask"].values == 1
    sic = np.where(np.arange(SIZE)[None, :] < SIZE // 2, 0.0, 0.95) * np.ones((SIZE, SIZE))
    truth = xr.Dataset({"sic": (("y", "x"), np.where(ocean, sic, np.nan)),
                        "sit": (("y", "x"), np.where(ocean, 2.0 * sic, np.nan))}, coords=grid.coords)
    sit = np.stack([np.full((SIZE, SIZE), 0.5), np.zeros((SIZE, SIZE))])  # member 1 ice everywhere, member 2 none
    ens = xr.Dataset({"sic": (("sample", "y", "x"), np.stack([sic, sic])), "sit": (("sample", "y", "x"), sit)},
                     coords=grid.coords)
    got = five.couplings(truth, ens)
    water = ocean & (sic == 0)
    assert got["open_water_cells"] == water.sum() and got["open_water_sit_share"] == pytest.approx(0.5)
    assert got["truth_open_water_sit_share"] == 0.0
    top = len(five.SIC_BINS) - 2  # sic 0.95 falls in the last bin
    assert got["truth_sit_sum"][top] / got["truth_sit_count"][top] == pytest.approx(1.9)
    assert got["sit_sum"][0] / got["sit_count"][0] == pytest.approx(0.25)  # (0.5 + 0) / 2 over open water


def test_a_backend_scored_on_fewer_masks_and_a_new_out_folder(tuned, tmp_path: Path, tiny_models: Path,
                                                               truth: xr.Dataset) -> None:
    """The data-space model is scored on two masks of four: its other masks have no verdict (not NaN, which
    JSON can't hold), and a report folder that does not exist yet is made."""
    tmp, _ = tuned
    work = tmp_path / "work"
    work.mkdir()
    knobs = json.loads((tmp / "work" / "knobs.json").read_text())
    knobs["backends"]["ldm-censored"] = knobs["backends"]["ldm-gaussian"]
    (work / "knobs.json").write_text(json.dumps(knobs))
    base = ["--stage", "report", "--max-days", "2", "--work", str(work), "--out", str(tmp_path / "new" / "out"),
            "--models", str(tiny_models), "--replicates", "200", "--device", "cpu"]
    toys = Toys(truth)
    assert cli.run(parse(*base, "--backends", "ldm-gaussian", "--masks", "edge_box", "pole_hole"),
                   toys.factories(), truth=truth) == 0
    assert cli.run(parse(*base, "--backends", "ldm-censored", "--masks", "edge_box"), toys.factories(),
                   truth=truth) == 0
    verdicts = read_verdicts(tmp_path / "new" / "out")
    assert verdicts.calibration_of("ldm-gaussian", "pole_hole") is not None
    assert verdicts.calibration_of("ldm-censored", "edge_box") is not None
    assert verdicts.calibration_of("ldm-censored", "pole_hole") is None
    assert verdicts.target("ldm-censored", "pole_hole", "crps_ratio") is None
    pole = (tmp_path / "new" / "out" / "README.md").read_text().split("### pole_hole")[1].split("\n#")[0]
    assert "ldm-gaussian posterior" in pole and "ldm-censored posterior" not in pole  # no empty row
