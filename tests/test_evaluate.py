"""``seaice-explorer evaluate`` on the tiny random checkpoints of conftest (16² grid) and a tiny reference.

The backend names below are the folder names of conftest's tiny models; the code under test finds
them through the registry.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import xarray as xr

from seaice_explorer.cli import main
from seaice_explorer.data.reference import make_reference, write_reference
from seaice_explorer.diffusion import generate as generate_mod
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.evaluation.compare import ReferenceSummary, score_set
from seaice_explorer.evaluation import evaluate
from seaice_explorer.evaluation.evaluate import plan_settings, project, sample_path
from seaice_explorer.evaluation.findings import assess
from seaice_explorer.evaluation.rules import EQUIVALENCE_MARGIN, FindingPart
from seaice_explorer.evaluation.verdicts import CLAIMS, finding_verdict
from seaice_explorer.registry import discover
from seaice_explorer.stats import Distribution, energy_distance, state, wasserstein1
from seaice_explorer.variables import STATE_VARIABLES, VARIABLES

SIZE, N, STEPS = 16, 4, 2  # SIZE: the grid of conftest's tiny_models
#: Table columns that carry a 90 % interval (``_lo``, ``_hi``).
SCORES_WITH_INTERVALS = ("extent_mean_1e6km2", "extent_w1_1e6km2", "miz_area_mean_1e6km2", "miz_area_w1_1e6km2",
                         "miz_freq_rmse", "mean_rmse_norm", "std_rmse_norm", "energy_norm", "violations_pct",
                         "sic_at_bounds_pct", "sic_spec_ratio_small", "sit_mean_rmse", "sic_energy", "sid_violation_pct")
PART_KEYS = ["finding", "part", "verdict", "effect", "ci_low", "ci_high", "null", "margin", "n", "backends"]
BOUNDS = ["raw", "clamp", "draw"]
ORDER = ["dm", "ldm-censored", "ldm-gaussian"]
KIND = {"dm": ("data", "none"), "ldm-censored": ("latent", "censored"), "ldm-gaussian": ("latent", "gaussian")}
#: generate calls of a full run: one raw sample per backend, plus the decoder draws
RAW = {("dm", "raw"), ("ldm-censored", "raw"), ("ldm-censored", "draw"), ("ldm-gaussian", "raw"),
       ("ldm-gaussian", "draw")}
PNGS = ("sample_maps.png", "miz_frequency.png", "distributions.png", "spectra.png")


class Counter:
    """Wraps ``generate`` and records its (backend, bounds) calls."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def __call__(self, backend, **kw):
        self.calls.append((backend, kw["bounds"]))
        return self.real(backend, **kw)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> dict:
    """One full run on the shared tiny checkpoints (conftest) and a 16² synthetic reference."""
    root = tmp_path_factory.mktemp("evaluate")
    (root / "models").symlink_to(tiny_models, target_is_directory=True)
    ref_path = write_reference(make_reference(seed=0, size=SIZE, days=12), root / "ref.nc")
    out = root / "report"
    counter = Counter(generate_mod.generate)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(generate_mod, "generate", counter)
        rc = main(_argv(root, out, "--bounds", *BOUNDS))
    registry = discover(tiny_models)
    names = registry.names  # the default: every backend, in registry order
    valid = [(b, m) for b in names for m in BOUNDS if (b, m) != ("dm", "draw")]
    return {"root": root, "ref": ref_path, "out": out, "rc": rc, "calls": counter.calls, "names": names,
            "valid": valid, "labels": {e.name: e.label for e in registry.entries.values()}}


def _argv(root: Path, out: Path, *extra: str) -> list[str]:
    return ["evaluate", "--n", str(N), "--steps", str(STEPS), "--reference", str(root / "ref.nc"), "--out", str(out),
            "--models", str(root / "models"), "--device", "cpu", "--replicates", "300", "--draws", "50", *extra]


def test_outputs_exist_and_parse(setup: dict) -> None:
    out, VALID = setup["out"], setup["valid"]
    assert setup["rc"] == 0 and len(VALID) == 8
    table = pd.read_csv(out / "table.csv")
    assert list(zip(table.backend, table.bounds))[:len(VALID)] == VALID  # invalid combos skipped, not errored
    assert list(table.backend[len(VALID):]) == ["reference-split-floor", "reference"]
    assert list(table.columns[:5]) == ["backend", "bounds", "label", "kind", "decoder"]
    for _, row in table.iloc[:len(VALID)].iterrows():
        assert (row.kind, row.decoder) == KIND[row.backend] and row.label == setup["labels"][row.backend]
    for col in ("extent_mean_1e6km2", "extent_p10_1e6km2", "extent_p90_1e6km2", "extent_w1_1e6km2",
                "miz_area_mean_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse", "mean_rmse_norm", "std_rmse_norm",
                "energy_norm", "violations_pct", "time_per_sample_s", "sic_at_bounds_pct",
                *[f"{v}_{s}" for v in STATE_VARIABLES for s in ("mean_rmse", "std_rmse", "energy", "spec_ratio_small")],
                *[f"{v}_violation_pct" for v in ("sit", "sic", "sid")]):
        assert col in table.columns, col
    gen = table.iloc[:len(VALID)]
    assert np.isfinite(gen[["extent_w1_1e6km2", "miz_freq_rmse", "energy_norm", "time_per_sample_s"]].values).all()
    assert (gen.time_per_sample_s > 0).all()
    for col in SCORES_WITH_INTERVALS:  # each score is followed by its interval
        i = list(table.columns).index(col)
        assert list(table.columns[i + 1:i + 3]) == [f"{col}_lo", f"{col}_hi"], col
    assert "n_lo" not in table.columns and "time_per_sample_s_lo" not in table.columns
    md = (out / "table.md").read_text()
    assert all(f"| {b}/{s} |" in md for b, s in VALID) and "dm/draw" not in md
    row = gen.iloc[0]
    assert f"{row.extent_w1_1e6km2:.3f} [{row.extent_w1_1e6km2_lo:.3f}, {row.extent_w1_1e6km2_hi:.3f}]" in md
    readme = (out / "README.md").read_text()
    assert f"seaice-explorer evaluate --backends {' '.join(setup['names'])} --n 4 --steps 2" in readme
    skipped = readme.split("skipped invalid combinations:")[1]
    assert skipped.split("\n")[0].strip() == "dm/draw"
    assert "`dm/draw`: dm diffuses in data space" in skipped.split("##")[0]  # the reason is listed
    for name in PNGS:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
        import matplotlib.image

        assert matplotlib.image.imread(out / name).ndim == 3
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    assert total < 5e6


def test_maps_netcdf(setup: dict) -> None:
    with xr.open_dataset(setup["out"] / "maps.nc") as ds:
        labels = [f"{b}/{s}" for b, s in setup["valid"]]
        assert list(ds.setting.values) == labels
        assert ds.miz_frequency.dims == ("setting", "y", "x") and ds.miz_frequency.attrs["units"] == "1"
        diff = ds.miz_frequency - ds.miz_frequency_reference
        np.testing.assert_allclose(ds.miz_frequency_difference, diff, atol=2e-4)
        for v in STATE_VARIABLES:
            assert ds[f"{v}_mean"].attrs["units"] == VARIABLES[v].units
            assert ds[f"{v}_std_reference"].dims == ("y", "x")
            assert ds[f"{v}_spectrum"].dims == ("setting", "wavenumber")
        land = ds.mask.values == 0
        assert np.isnan(ds.sic_mean.values[:, land]).all()


def test_table_matches_direct_computation(setup: dict) -> None:
    """Row values recomputed with numpy from the cached raw samples and the reference file."""
    root, out = setup["root"], setup["out"]
    table = pd.read_csv(out / "table.csv").set_index(["backend", "bounds"])
    raw = xr.open_dataset(sample_path(out / "samples", "dm", "raw", N, STEPS, 0)).load()
    ocean = raw["mask"].values == 1
    for bounds in ("raw", "clamp"):
        ds = project(raw, bounds)
        row = table.loc[("dm", bounds)]
        sic = ds.sic.values[:, ocean]
        below, above = np.mean(sic < 0), np.mean(sic > 1)
        assert row["sic_violation_pct"] == pytest.approx(100 * (below + above), rel=1e-5, abs=1e-9)
        area = ds.cell_area.values[ocean]
        ext = ((sic >= 0.15) * area).sum(axis=1) / 1e12
        assert row["extent_mean_1e6km2"] == pytest.approx(ext.mean(), rel=1e-5)
    assert table.loc[("dm", "clamp"), "violations_pct"] == 0
    ref = xr.open_dataset(setup["ref"]).load()
    ref_ext = (((ref.sic.values[:, ocean] >= 0.15) * area).sum(axis=1)) / 1e12
    assert table.loc[("dm", "raw"), "extent_w1_1e6km2"] == pytest.approx(scipy.stats.wasserstein_distance(ext_of(raw), ref_ext), rel=1e-5)


def ext_of(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(state.extent(ds).values) / 1e12


def test_generate_called_once_per_raw_sample_and_cache_reused(setup: dict, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert sorted(setup["calls"]) == sorted(RAW)  # raw and clamp share one raw sample
    samples = setup["out"] / "samples"
    assert sorted(p.name for p in samples.glob("*.nc")) == sorted(
        sample_path(samples, b, s, N, STEPS, 0).name for b, s in RAW)
    counter = Counter(generate_mod.generate)
    monkeypatch.setattr(generate_mod, "generate", counter)
    args = _argv(setup["root"], tmp_path / "again", "--backends", "ldm-gaussian", "--bounds", "raw", "clamp",
                 "--samples-dir", str(samples))
    assert main(args) == 0
    assert counter.calls == []
    again = pd.read_csv(tmp_path / "again" / "table.csv").set_index(["backend", "bounds"])
    first = pd.read_csv(setup["out"] / "table.csv").set_index(["backend", "bounds"])
    assert again.loc[("ldm-gaussian", "clamp"), "miz_freq_rmse"] == first.loc[("ldm-gaussian", "clamp"), "miz_freq_rmse"]
    assert main(args + ["--no-cache", "--overwrite"]) == 0  # its own report: replaced only when asked
    assert counter.calls == [("ldm-gaussian", "raw")]


def test_projection_equals_generate(setup: dict) -> None:
    models = setup["root"] / "models"
    kw = {"n": 2, "steps": STEPS, "seed": 3, "device": "cpu", "models_dir": models}
    for backend in ("dm", "ldm-censored", "ldm-gaussian"):
        raw = generate_mod.generate(backend, bounds="raw", **kw)
        direct = generate_mod.generate(backend, bounds="clamp", **kw)
        for v in STATE_VARIABLES:
            np.testing.assert_array_equal(project(raw, "clamp")[v].values, direct[v].values)
        assert project(raw, "raw") is raw


def test_projection_is_an_xarray_clip() -> None:
    grid = make_reference(seed=0, size=SIZE, days=1).isel(time=0, drop=True)
    raw = grid.expand_dims(sample=2).copy()
    raw["sic"] = raw["sic"] * 1.5 - 0.2
    raw["sit"] = raw["sit"] - 0.5
    out = project(raw, "clamp")
    land = raw["mask"].values == 0
    for v in STATE_VARIABLES:
        lo, hi = VARIABLES[v].lower, VARIABLES[v].upper
        np.testing.assert_array_equal(out[v].values, np.clip(raw[v].values, lo, hi))
        assert out[v].dtype == raw[v].dtype and out[v].attrs == raw[v].attrs
        assert np.isnan(out[v].values[:, land]).all()
    assert out.attrs["bounds"] == "clamp"


def test_reference_against_itself_scores_perfectly(setup: dict) -> None:
    ref = xr.open_dataset(setup["ref"]).load()
    summary = ReferenceSummary.of(ref)
    row, _ = score_set(ref.rename(time="sample"), summary)
    for key in ("extent_w1_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse", "mean_rmse_norm", "std_rmse_norm",
                "energy_norm"):
        assert row[key] == pytest.approx(0.0, abs=1e-9), key
    for v in STATE_VARIABLES:
        assert row[f"{v}_spec_ratio_small"] == pytest.approx(1.0)


def test_grid_mismatch_is_an_input_error(setup: dict, tmp_path: Path) -> None:
    write_reference(make_reference(seed=0, size=2 * SIZE, days=2), tmp_path / "ref32.nc")
    args = _argv(setup["root"], tmp_path / "r", "--backends", "ldm-gaussian", "--bounds", "raw",
                 "--samples-dir", str(setup["out"] / "samples"))
    args[args.index("--reference") + 1] = str(tmp_path / "ref32.nc")
    assert main(args) == 2  # SeaIceInputError -> message and exit code 2


def test_plan_settings(tiny_models: Path) -> None:
    reg = discover(tiny_models)
    dm, cens, gauss = (reg.get(n) for n in ORDER)
    valid, skipped = plan_settings([dm, cens], ["clamp", "draw"])
    assert [s.label for s in valid] == ["dm/clamp", "ldm-censored/clamp", "ldm-censored/draw"]
    assert [s.split(":")[0] for s in skipped] == ["dm/draw"] and "data space" in skipped[0]
    # old names map to the new modes; censored's "clip" and "censored" are one mode now: one row
    with pytest.warns(DeprecationWarning):
        valid, skipped = plan_settings([dm, cens, gauss], ["none", "clip", "censored", "censored-sample"])
    assert [s.label for s in valid] == ["dm/raw", "dm/clamp", "ldm-censored/raw", "ldm-censored/clamp",
                                        "ldm-censored/draw", "ldm-gaussian/raw", "ldm-gaussian/clamp"]
    assert [s.split(":")[0] for s in skipped] == ["dm/censored", "dm/censored-sample", "ldm-gaussian/censored",
                                                  "ldm-gaussian/censored-sample"]
    with pytest.raises(SeaIceInputError, match="no valid"):
        plan_settings([dm], ["draw"])
    with pytest.raises(SeaIceInputError, match="unknown bounds"):
        plan_settings([dm], ["sometimes"])


def test_unknown_backend_names_the_known_ones(setup: dict, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    args = parser.parse_args(_argv(setup["root"], tmp_path / "r", "--backends", "gan")[1:])
    with pytest.raises(SeaIceInputError, match=f"known: {', '.join(setup['names'])}"):
        evaluate.run(args)


def _old_cdf_distances(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The hand-written (energy, W1) this project used before scipy: the oracle of the swap."""
    a, b = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    pooled = np.sort(np.concatenate([a, b]))
    gap = np.abs(np.searchsorted(a, pooled[:-1], side="right") / a.size
                 - np.searchsorted(b, pooled[:-1], side="right") / b.size)
    width = np.diff(pooled)
    return float(np.sqrt(2.0 * np.sum(gap**2 * width))), float(np.sum(gap * width))


@pytest.mark.parametrize("ties", [False, True])
def test_distances_match_the_old_formulas_and_scipy(ties: bool) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1.5, 3000)
    if ties:
        a, b = np.round(a, 1), np.clip(np.round(b, 2), -1, 1)
    energy, w1 = _old_cdf_distances(a, b)
    for x, y in ((a, b), (Distribution.of(a), b), (a, Distribution.of(b)), (Distribution.of(a), Distribution.of(b))):
        assert energy_distance(x, y) == pytest.approx(energy, rel=1e-9)
        assert wasserstein1(x, y) == pytest.approx(w1, rel=1e-9)
    assert energy == pytest.approx(scipy.stats.energy_distance(a, b), rel=1e-9)
    assert w1 == pytest.approx(scipy.stats.wasserstein_distance(a, b), rel=1e-9)


def test_reference_marginals_are_lazy(setup: dict) -> None:
    ref = xr.open_dataset(setup["ref"]).load()
    summary = ReferenceSummary.of(ref)
    gen = ref.isel(time=[0, 3]).rename(time="sample")
    row, _ = score_set(gen, summary, marginals=False)
    assert "marginals" not in summary.__dict__ and "sic_energy" not in row and "energy_norm" not in row
    full, _ = score_set(gen, summary)
    assert "marginals" in summary.__dict__
    ocean = ref["mask"].values == 1
    energy, w1 = _old_cdf_distances(gen.sic.values[:, ocean].ravel(), ref.sic.values[:, ocean].ravel())
    assert full["sic_energy"] == pytest.approx(energy, rel=1e-9) and full["sic_marginal_w1"] == pytest.approx(w1, rel=1e-9)
    assert {k: v for k, v in full.items() if k in row} == row


# --------------------------------------------------------------------------- findings follow the numbers
def _table(**over: dict) -> pd.DataFrame:
    """A synthetic table: dm/raw, ldm-gaussian/raw and clamp, ldm-censored/raw and clamp, with overrides."""
    base = {"extent_w1_1e6km2": 0.2, "miz_area_w1_1e6km2": 0.1, "miz_freq_rmse": 0.1, "mean_rmse_norm": 0.1,
            "std_rmse_norm": 0.1, "energy_norm": 0.05, "violations_pct": 1.0,
            **{f"{v}_spec_ratio_small": 1.0 for v in STATE_VARIABLES}}
    rows = []
    for backend, bounds in (("dm", "raw"), ("ldm-gaussian", "raw"), ("ldm-gaussian", "clamp"),
                            ("ldm-censored", "raw"), ("ldm-censored", "clamp")):
        kind, decoder = KIND[backend]
        rows.append({"backend": backend, "bounds": bounds, "kind": kind, "decoder": decoder, **base,
                     **over.get(backend, {})})
    return pd.DataFrame(rows)


def _verdicts(table: pd.DataFrame) -> list[str]:
    return [f.verdict for f in assess(table)]


def test_finding3_follows_the_numbers() -> None:
    better = _table(**{"ldm-censored": {"miz_freq_rmse": 0.05, "miz_area_w1_1e6km2": 0.05, "violations_pct": 0.0}})
    worse = _table(**{"ldm-censored": {"miz_freq_rmse": 0.2, "miz_area_w1_1e6km2": 0.3, "violations_pct": 0.0}})
    mixed = _table(**{"ldm-censored": {"miz_freq_rmse": 0.05, "miz_area_w1_1e6km2": 0.3, "violations_pct": 0.0}})
    assert _verdicts(better)[2] == "reproduced"
    assert _verdicts(worse)[2] == "refuted"
    assert _verdicts(mixed)[2] == "partly reproduced"
    finding = assess(better)[2]
    assert "0.0500 vs 0.1000" in finding.evidence and finding.markdown().startswith("3. **")
    assert finding.evidence.startswith("ldm-censored/clamp vs ldm-gaussian/raw")  # each at its native bounds


def test_finding1_and_2_follow_the_numbers() -> None:
    same = _table(**{b: {f"{v}_spec_ratio_small": 0.5 for v in STATE_VARIABLES} for b in ("ldm-gaussian", "ldm-censored")})
    assert _verdicts(same)[:2] == ["reproduced", "reproduced"]
    much_worse = {k: 5.0 for k in ("extent_w1_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse", "mean_rmse_norm",
                                    "std_rmse_norm", "energy_norm")}
    sharper = {f"{v}_spec_ratio_small": 1.5 for v in STATE_VARIABLES}
    refuted = _table(**{b: {**much_worse, **sharper} for b in ("ldm-gaussian", "ldm-censored")})
    assert _verdicts(refuted)[:2] == ["refuted", "refuted"]
    one = _table(**{"ldm-gaussian": {**much_worse, **{f"{v}_spec_ratio_small": 0.5 for v in STATE_VARIABLES}}})
    assert _verdicts(one)[:2] == ["partly reproduced", "partly reproduced"]


def test_findings_not_tested_without_backends() -> None:
    table = _table().query("backend == 'dm'")
    assert _verdicts(table) == ["not tested"] * 3


def test_findings_use_kind_and_decoder_not_names() -> None:
    renamed = _table(**{"ldm-censored": {"miz_freq_rmse": 0.05, "miz_area_w1_1e6km2": 0.05, "violations_pct": 0.0}})
    renamed["backend"] = renamed["backend"].map({"dm": "pixels", "ldm-gaussian": "my-vae", "ldm-censored": "tobit"})
    assert _verdicts(renamed) == ["reproduced", "refuted", "reproduced"]
    assert "tobit/clamp vs my-vae/raw" in assess(renamed)[2].evidence


def test_intervals_are_ordered_and_the_floor_is_out_of_sample(setup: dict) -> None:
    table = pd.read_csv(setup["out"] / "table.csv")
    backends = table.iloc[:len(setup["valid"])]
    for col in SCORES_WITH_INTERVALS:
        lo, hi = backends[f"{col}_lo"].to_numpy(), backends[f"{col}_hi"].to_numpy()
        assert np.isfinite(lo).all() and (lo <= hi + 1e-12).all(), col
    clamp = backends[backends.bounds == "clamp"]
    assert (clamp[["violations_pct", "violations_pct_lo", "violations_pct_hi"]].to_numpy() == 0).all()
    floor = table[table.backend == "reference-split-floor"].iloc[0]
    assert floor.n == N and floor.kind == "reference" and "median of 50 draws" in floor.label
    for col in SCORES_WITH_INTERVALS[:8]:
        assert floor[f"{col}_lo"] <= floor[col] <= floor[f"{col}_hi"], col  # median within its 5-95 % range
    assert floor.extent_w1_1e6km2_lo >= 0 and floor.time_per_sample_s != floor.time_per_sample_s  # NaN: no samples


def test_readme_and_findings_json_state_the_same_verdicts(setup: dict) -> None:
    parts = json.loads((setup["out"] / "findings.json").read_text())
    readme = (setup["out"] / "README.md").read_text()
    assert isinstance(parts, list) and parts and all(list(p) == PART_KEYS for p in parts)
    assert {p["finding"] for p in parts} == {1, 2, 3}
    assert all(p["verdict"] in ("reproduced", "refuted", "not resolved") and p["n"] == N for p in parts)
    assert all(p["margin"] == EQUIVALENCE_MARGIN for p in parts if p["finding"] == 1)
    assert all(p["margin"] is None and p["null"] in (0.0, 1.0) for p in parts if p["finding"] > 1)
    for number, claim in CLAIMS.items():
        mine = [FindingPart(**{**p, "backends": tuple(p["backends"])}) for p in parts if p["finding"] == number]
        assert f"{number}. **{claim}: {finding_verdict(mine)}.**" in readme
        assert all(f"   - {p.part}: {p.verdict} at n = {N}" in readme for p in mine)
    assert "[1/1.25, 1.25]" in readme and "95 % interval" in readme and "1.5 × the baseline" in readme
    assert "Sec." not in readme and "arXiv 2406.18417" in readme


@pytest.mark.slow
def test_shipped_models_and_default_reference(tmp_path: Path) -> None:
    """End to end on the shipped checkpoints and the bundled reference, with few samples and steps."""
    from seaice_explorer.configs import MODELS_DIR
    from seaice_explorer.data import default_reference_path

    if not all((MODELS_DIR / name / "model.safetensors").is_file()
               for name in ("dm", "vae-gaussian", "ldm-gaussian", "vae-censored", "ldm-censored")):
        pytest.skip("shipped checkpoints not present in models/")
    if not default_reference_path().is_file():
        pytest.skip("bundled default reference not present")
    out = tmp_path / "report"
    assert main(["evaluate", "--n", "4", "--steps", "2", "--out", str(out), "--device", "cpu"]) == 0
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 6 + 2 and np.isfinite(table.miz_freq_rmse.iloc[:6]).all()  # raw and clamp per backend


def test_dashboard_scores_are_the_table_scores(setup: dict) -> None:
    """One comparison layer: the app's score row of a sample is the evaluate row of the same sample."""
    from types import SimpleNamespace

    from seaice_explorer.ui.model import analysis

    ref = xr.open_dataset(setup["ref"]).load()
    raw = xr.open_dataset(sample_path(setup["out"] / "samples", "dm", "raw", N, STEPS, 0)).load()
    data = analysis.summarise_reference(ref, "test")
    res = analysis.analyse(raw, data, key=SimpleNamespace(backend="dm", bounds="raw"), seconds=2.0)
    row = pd.read_csv(setup["out"] / "table.csv").set_index(["backend", "bounds"]).loc[("dm", "raw")]
    for column, shown in analysis.SCORE_COLUMNS.items():
        assert res.scores[shown] == pytest.approx(row[column], rel=1e-5), column
    assert res.scores["generation time [s]"] == 2.0
    assert res.beyond_fraction == pytest.approx(row["violations_pct"] / 100, rel=1e-5)
    np.testing.assert_allclose(res.extent, ext_of(raw))
    assert "marginals" not in data.reference.__dict__  # the app never sorts the reference's values


def test_baseline_row_scores_another_period_like_a_backend(tiny_models, tmp_path) -> None:
    """``--baseline DATA`` adds a row of n random states of DATA, scored like a backend's samples."""
    from test_training import synthetic_states

    ref, other = tmp_path / "ref.nc", tmp_path / "other.nc"
    synthetic_states(seed=0).to_netcdf(ref)
    synthetic_states(n=8, seed=1).to_netcdf(other)
    out = tmp_path / "report"
    assert main(["evaluate", "--models", str(tiny_models), "--backends", "ldm-censored", "--reference", str(ref),
                 "--baseline", str(other), "--n", "4", "--steps", "2", "--device", "cpu", "--out", str(out)]) == 0
    table = pd.read_csv(out / "table.csv")
    row = table[table["backend"] == f"baseline {other}"].iloc[0]
    assert row["n"] == 4 and row["kind"] == "baseline" and np.isfinite(row["extent_w1_1e6km2"])
    assert row["extent_w1_1e6km2_lo"] <= row["extent_w1_1e6km2"] <= row["extent_w1_1e6km2_hi"]  # median, 5-95 %
    assert {"sic_at_0_pct", "sic_at_1_pct"} <= set(table.columns)
    ref_row = table[table["backend"] == "reference"].iloc[0]
    assert ref_row["sic_at_0_pct"] + ref_row["sic_at_1_pct"] == pytest.approx(ref_row["sic_at_bounds_pct"])
    assert f"--baseline {other}" in (out / "README.md").read_text()


# --------------------------------------------------------------------------- the library function, planted sets
def test_evaluate_is_a_library_function_judging_planted_sets(tiny_models: Path, tmp_path: Path) -> None:
    """``evaluate()`` from Python with a ``generate_fn`` that returns prepared sets (test_verdicts.planted):
    the data-space "backend" like the reference, the Gaussian-decoder one blurred with smooth noise beyond
    the bounds, the censored one like the reference. Finding 3 is reproduced, the Gaussian backend smooths
    sic (finding 2), and the report's objects are those of findings.json."""
    from test_verdicts import N as PLANTED_N
    from test_verdicts import TRUTH_RADIUS, planted, toy_grid, toy_states

    grid = toy_grid()
    ref = toy_states(grid, 2 * PLANTED_N, 1, dim="time", radius=TRUTH_RADIUS)
    ref = ref.assign_coords(time=np.arange(ref.sizes["time"]).astype("datetime64[D]"))
    for v in ref.data_vars:
        ref[v].attrs = VARIABLES[v].cf_attrs()
    ref.to_netcdf(tmp_path / "ref.nc")
    sets = planted(grid)
    by_decoder = {"none": sets["sharp"], "gaussian": sets["bad"], "censored": sets["good"]}
    registry = discover(tiny_models)

    def prepared(backend: str, *, n: int, bounds: str, **_: object) -> xr.Dataset:
        assert bounds == "raw"  # clamp is projected from the raw set
        return by_decoder[registry.get(backend).decoder].isel(sample=slice(0, n)).assign_attrs(backend=backend,
                                                                                               bounds=bounds)

    report = evaluate.evaluate(None, tmp_path / "ref.nc", out=tmp_path / "report", n=PLANTED_N, models_dir=tiny_models,
                               replicates=300, draws=50, generate_fn=prepared)
    assert isinstance(report, evaluate.EvaluationReport) and report.folder == tmp_path / "report"
    assert all(p.is_file() for p in report.files) and {p.name for p in report.files} >= {
        "table.csv", "table.md", "findings.json", "README.md", "maps.nc", *PNGS}
    assert json.loads((report.folder / "findings.json").read_text()) == [p.to_dict() for p in report.findings]
    assert report.verdicts.verdict(3) == "reproduced", [j.text for j in report.verdicts.of(3)]
    sic = [j.part.verdict for j in report.verdicts.of(2) if j.part.part.startswith("sic ")
           and j.part.backends == ("ldm-gaussian", "dm")]
    assert sic == ["reproduced"]
    table = report.table.set_index(["backend", "bounds"])
    for col in ("extent_w1_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse", "sic_mean_rmse", "sic_violation_pct"):
        row = table.loc[("ldm-gaussian", "raw")]  # a clearly wrong set: the interval brackets its score
        assert row[f"{col}_lo"] <= row[col] <= row[f"{col}_hi"], col
    assert table.loc[("reference", "all states"), "n"] == 2 * PLANTED_N


# --------------------------------------------------------------------------- OSI SAF daily files as the reference
@pytest.mark.slow
def test_osisaf_daily_files_are_put_on_the_models_grid(shared_data: Path, tiny_models: Path, tmp_path: Path) -> None:
    """One year of OSI SAF daily fields (a glob) as ``--reference``: averaged onto the models' grid by the
    bundled dataset's regridding; at 128² it equals the bundled ``osisaf:validation`` (2019) to within its
    int16 packing (5e-5), and ``evaluate`` scores the tiny models (16²) against the 365 days."""
    from seaice_explorer.data import open_reference
    from seaice_explorer.data.readers import osisaf_dataset_path

    pattern = str(shared_data / "osisaf_daily" / "osisaf_nh_ice_conc_daily_2019*.nc")
    models = {e.grid_size: e for e in discover(tiny_models).entries.values()}
    if osisaf_dataset_path().is_file():
        big = evaluate.open_on_grid(pattern, [_at_size(models[SIZE], 128)])
        bundled = open_reference("osisaf:validation").load()
        assert (big.mask.values == bundled.mask.values).all() and np.array_equal(big.time, bundled.time)
        np.testing.assert_allclose(big.sic.values, bundled.sic.values, atol=5.01e-5)
    out = tmp_path / "report"
    assert main(["evaluate", "--models", str(tiny_models), "--backends", "ldm-censored", "--reference", pattern,
                 "--bounds", "raw", "--n", "4", "--steps", "2", "--device", "cpu", "--replicates", "100",
                 "--draws", "20", "--out", str(out)]) == 0
    table = pd.read_csv(out / "table.csv").set_index("backend")
    assert table.loc["reference", "n"] == 365 and np.isfinite(table.loc["ldm-censored", "extent_w1_1e6km2"])
    readme = (out / "README.md").read_text()
    assert "365 states, EASE2-North LAEA 16x16" in readme and "OSI SAF" in readme


def _at_size(entry, size: int):
    """The entry with its config's grid size replaced (its grid only matters to the regridding here)."""
    from dataclasses import replace

    return replace(entry, config=replace(entry.config, grid_size=size))


def test_large_requests_come_in_cached_chunks(tiny_models: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """n above generate's limit: chunks of at most the limit, the first with the run's seed (so it starts with
    the smaller set of that seed), the others with seeds of their own, each cached; a rerun generates nothing."""
    from seaice_explorer.evaluation import samples as samples_mod

    monkeypatch.setattr(samples_mod, "MAX_SAMPLES", 3)
    entry = discover(tiny_models).entries["ldm-gaussian"]
    counter = Counter(generate_mod.generate)
    request = samples_mod.SampleRequest(n=7, steps=2, seed=5, device="cpu", models_dir=tiny_models)
    got = samples_mod.obtain(entry, "raw", request, tmp_path, counter)
    assert got.ds.sizes["sample"] == 7 and not got.cached and len(counter.calls) == 3
    seeds = [int(s) for s in got.ds.attrs["chunk_seeds"].split(", ")]
    assert seeds[0] == 5 and len(set(seeds)) == 3 and got.ds.attrs["seed"] == 5
    small = samples_mod.obtain(entry, "raw", samples_mod.SampleRequest(n=3, steps=2, seed=5, device="cpu",
                                                                        models_dir=tiny_models), tmp_path, counter)
    assert small.cached and len(counter.calls) == 3  # the first chunk is the n = 3 set of seed 5
    xr.testing.assert_equal(small.ds["sic"].drop_vars("sample", errors="ignore"),
                            got.ds["sic"].isel(sample=slice(0, 3)).drop_vars("sample", errors="ignore"))
    assert not np.allclose(got.ds["sic"].isel(sample=0), got.ds["sic"].isel(sample=3), equal_nan=True)
    again = samples_mod.obtain(entry, "raw", request, tmp_path, counter)
    assert again.cached and len(counter.calls) == 3
    other = samples_mod.obtain(entry, "raw", dataclasses.replace(request, seed=6), tmp_path, counter)
    assert int(other.ds.attrs["chunk_seeds"].split(", ")[1]) not in seeds
