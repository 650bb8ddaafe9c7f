"""``seaice-explorer evaluate`` on the tiny random checkpoints of conftest (16² grid) and a tiny reference."""

from __future__ import annotations

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
from seaice_explorer.stats import compare, state
from seaice_explorer.evaluation.evaluate import plan_settings, project, sample_path
from seaice_explorer.evaluation.findings import assess
from seaice_explorer.evaluation.compare import ECDF, ecdf_distances, score_set, summarise_reference
from seaice_explorer.variables import STATE_VARIABLES, VARIABLES

SIZE, N, STEPS = 16, 4, 2  # SIZE: the grid of conftest's tiny_models
BOUNDS = ["none", "clip", "censored", "censored-sample"]
VALID = [("dm", "none"), ("dm", "clip"), ("ldm-gaussian", "none"), ("ldm-gaussian", "clip"),
         ("ldm-censored", "none"), ("ldm-censored", "clip"), ("ldm-censored", "censored"),
         ("ldm-censored", "censored-sample")]
#: generate calls of a full run: one raw sample per backend, plus the censored draw
RAW = {("dm", "none"), ("ldm-gaussian", "none"), ("ldm-censored", "none"), ("ldm-censored", "censored-sample")}
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
    return {"root": root, "ref": ref_path, "out": out, "rc": rc, "calls": counter.calls}


def _argv(root: Path, out: Path, *extra: str) -> list[str]:
    return ["evaluate", "--n", str(N), "--steps", str(STEPS), "--reference", str(root / "ref.nc"), "--out", str(out),
            "--models-dir", str(root / "models"), "--device", "cpu", *extra]


def test_outputs_exist_and_parse(setup: dict) -> None:
    out = setup["out"]
    assert setup["rc"] == 0
    table = pd.read_csv(out / "table.csv")
    assert list(zip(table.backend, table.bounds))[:len(VALID)] == VALID  # invalid combos skipped, not errored
    assert list(table.backend[len(VALID):]) == ["reference-subsample", "reference"]
    for col in ("extent_mean_1e6km2", "extent_p10_1e6km2", "extent_p90_1e6km2", "extent_w1_1e6km2",
                "miz_area_mean_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse", "mean_rmse_norm", "std_rmse_norm",
                "energy_norm", "violations_pct", "time_per_sample_s", "sic_at_bounds_pct",
                *[f"{v}_{s}" for v in STATE_VARIABLES for s in ("mean_rmse", "std_rmse", "energy", "spec_ratio_small")],
                *[f"{v}_violation_pct" for v in ("sit", "sic", "sid")]):
        assert col in table.columns, col
    gen = table.iloc[:len(VALID)]
    assert np.isfinite(gen[["extent_w1_1e6km2", "miz_freq_rmse", "energy_norm", "time_per_sample_s"]].values).all()
    assert (gen.time_per_sample_s > 0).all()
    md = (out / "table.md").read_text()
    assert all(f"| {b}/{s} |" in md for b, s in VALID) and "dm/censored" not in md
    readme = (out / "README.md").read_text()
    assert "seaice-explorer evaluate --backends dm ldm-gaussian ldm-censored --n 4 --steps 2" in readme
    assert "dm/censored" in readme.split("skipped invalid combinations:")[1].split("\n")[0]
    for name in PNGS:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
        import matplotlib.image

        assert matplotlib.image.imread(out / name).ndim == 3
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    assert total < 5e6


def test_maps_netcdf(setup: dict) -> None:
    with xr.open_dataset(setup["out"] / "maps.nc") as ds:
        labels = [f"{b}/{s}" for b, s in VALID]
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
    raw = xr.open_dataset(sample_path(out / "samples", "dm", "none", N, STEPS, 0)).load()
    ocean = raw["mask"].values == 1
    for bounds in ("none", "clip"):
        ds = project(raw, bounds)
        row = table.loc[("dm", bounds)]
        sic = ds.sic.values[:, ocean]
        below, above = np.mean(sic < 0), np.mean(sic > 1)
        assert row["sic_violation_pct"] == pytest.approx(100 * (below + above), rel=1e-5, abs=1e-9)
        area = ds.cell_area.values[ocean]
        ext = ((sic >= 0.15) * area).sum(axis=1) / 1e12
        assert row["extent_mean_1e6km2"] == pytest.approx(ext.mean(), rel=1e-5)
    assert table.loc[("dm", "clip"), "violations_pct"] == 0
    ref = xr.open_dataset(setup["ref"]).load()
    ref_ext = (((ref.sic.values[:, ocean] >= 0.15) * area).sum(axis=1)) / 1e12
    assert table.loc[("dm", "none"), "extent_w1_1e6km2"] == pytest.approx(scipy.stats.wasserstein_distance(ext_of(raw), ref_ext), rel=1e-5)


def ext_of(ds: xr.Dataset) -> np.ndarray:
    return np.asarray(state.extent(ds).values) / 1e12


def test_generate_called_once_per_raw_sample_and_cache_reused(setup: dict, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert sorted(setup["calls"]) == sorted(RAW)  # none/clip/censored share one raw sample
    samples = setup["out"] / "samples"
    assert sorted(p.name for p in samples.glob("*.nc")) == sorted(
        sample_path(samples, b, s, N, STEPS, 0).name for b, s in RAW)
    counter = Counter(generate_mod.generate)
    monkeypatch.setattr(generate_mod, "generate", counter)
    args = _argv(setup["root"], tmp_path / "again", "--backends", "ldm-gaussian", "--bounds", "none", "clip",
                 "--samples-dir", str(samples))
    assert main(args) == 0
    assert counter.calls == []
    again = pd.read_csv(tmp_path / "again" / "table.csv").set_index(["backend", "bounds"])
    first = pd.read_csv(setup["out"] / "table.csv").set_index(["backend", "bounds"])
    assert again.loc[("ldm-gaussian", "clip"), "miz_freq_rmse"] == first.loc[("ldm-gaussian", "clip"), "miz_freq_rmse"]
    assert main(args + ["--no-cache"]) == 0
    assert counter.calls == [("ldm-gaussian", "none")]


def test_projection_equals_generate(setup: dict) -> None:
    models = setup["root"] / "models"
    kw = {"n": 2, "steps": STEPS, "seed": 3, "device": "cpu", "models_dir": models}
    for backend, bounds in (("dm", "clip"), ("ldm-censored", "censored")):
        raw = generate_mod.generate(backend, bounds="none", **kw)
        direct = generate_mod.generate(backend, bounds=bounds, **kw)
        for v in STATE_VARIABLES:
            np.testing.assert_array_equal(project(raw, bounds)[v].values, direct[v].values)


def test_reference_against_itself_scores_perfectly(setup: dict) -> None:
    ref = xr.open_dataset(setup["ref"]).load()
    summary = summarise_reference(ref)
    row, _ = score_set(ref.rename(time="sample"), summary)
    for key in ("extent_w1_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse", "mean_rmse_norm", "std_rmse_norm",
                "energy_norm"):
        assert row[key] == pytest.approx(0.0, abs=1e-9), key
    for v in STATE_VARIABLES:
        assert row[f"{v}_spec_ratio_small"] == pytest.approx(1.0)


def test_grid_mismatch_is_an_input_error(setup: dict, tmp_path: Path) -> None:
    write_reference(make_reference(seed=0, size=2 * SIZE, days=2), tmp_path / "ref32.nc")
    args = _argv(setup["root"], tmp_path / "r", "--backends", "ldm-gaussian", "--bounds", "none",
                 "--samples-dir", str(setup["out"] / "samples"))
    args[args.index("--reference") + 1] = str(tmp_path / "ref32.nc")
    assert main(args) == 2  # SeaIceInputError -> message and exit code 2


def test_plan_settings() -> None:
    valid, skipped = plan_settings(["dm", "ldm-censored"], ["clip", "censored"])
    assert [(s.backend, s.bounds) for s in valid] == [("dm", "clip"), ("ldm-censored", "clip"), ("ldm-censored", "censored")]
    assert [s.label for s in skipped] == ["dm/censored"]
    with pytest.raises(SeaIceInputError):
        plan_settings(["dm"], ["censored"])


@pytest.mark.parametrize("ties", [False, True])
def test_ecdf_distances_match_compare_and_scipy(ties: bool) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 500), rng.normal(0.3, 1.5, 3000)
    if ties:
        a, b = np.round(a, 1), np.clip(np.round(b, 2), -1, 1)
    energy, w1 = ecdf_distances(ECDF.of(a), ECDF.of(b))
    assert energy == pytest.approx(compare.energy_distance(a, b), rel=1e-10)
    assert w1 == pytest.approx(compare.wasserstein1(a, b), rel=1e-10)
    assert energy == pytest.approx(scipy.stats.energy_distance(a, b), rel=1e-9)
    assert w1 == pytest.approx(scipy.stats.wasserstein_distance(a, b), rel=1e-9)


# --------------------------------------------------------------------------- findings follow the numbers
def _table(**over: dict) -> pd.DataFrame:
    """A synthetic table: dm, ldm-gaussian/none, ldm-censored/censored, with per-backend overrides."""
    base = {"extent_w1_1e6km2": 0.2, "miz_area_w1_1e6km2": 0.1, "miz_freq_rmse": 0.1, "mean_rmse_norm": 0.1,
            "std_rmse_norm": 0.1, "energy_norm": 0.05, "violations_pct": 1.0,
            **{f"{v}_spec_ratio_small": 1.0 for v in STATE_VARIABLES}}
    rows = []
    for backend, bounds in (("dm", "none"), ("ldm-gaussian", "none"), ("ldm-gaussian", "clip"),
                            ("ldm-censored", "none"), ("ldm-censored", "censored")):
        rows.append({"backend": backend, "bounds": bounds, **base, **over.get(backend, {})})
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


def test_readme_states_the_verdicts_of_its_table(setup: dict) -> None:
    table = pd.read_csv(setup["out"] / "table.csv")
    readme = (setup["out"] / "README.md").read_text()
    for finding in assess(table):
        assert f"{finding.number}. **{finding.claim}: {finding.verdict}.**" in readme


@pytest.mark.slow
def test_shipped_models_and_default_reference(tmp_path: Path) -> None:
    """End to end on the shipped checkpoints and the bundled reference, with few samples and steps."""
    from seaice_explorer.checkpoints import MODELS_DIR
    from seaice_explorer.data import default_reference_path

    if not all((MODELS_DIR / name / "model.safetensors").is_file()
               for name in ("dm", "vae-gaussian", "ldm-gaussian", "vae-censored", "ldm-censored")):
        pytest.skip("shipped checkpoints not present in models/")
    if not default_reference_path().is_file():
        pytest.skip("bundled default reference not present")
    out = tmp_path / "report"
    assert main(["evaluate", "--n", "4", "--steps", "2", "--out", str(out), "--device", "cpu"]) == 0
    table = pd.read_csv(out / "table.csv")
    assert len(table) == 7 + 2 and np.isfinite(table.miz_freq_rmse.iloc[:7]).all()
