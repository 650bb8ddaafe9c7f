"""Nearest neighbours by IIEE (``evaluation.neighbours``): the matrix against ``stats.distances.iiee``, the
season mix, realism, coverage and memorisation on toy discs of ice with known answers, and the files
``evaluate`` writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.evaluation import neighbours as nb
from seaice_explorer.stats import iiee, synthetic
from seaice_explorer.variables import VARIABLES

KM = 1e3


def toy_grid(n: int = 32, dx: float = 40 * KM, uneven: bool = False) -> xr.Dataset:
    """An n² grid with a land block in one corner; ``uneven``: cell areas that vary across the grid."""
    land = np.zeros((n, n), bool)
    land[: n // 4, : n // 4] = True
    grid = synthetic.projected_grid(n, dx, land=land)
    if uneven:
        grid = grid.assign_coords(cell_area=grid.cell_area * (1 + 0.4 * np.sin(np.arange(n) / 3.0))[None, :])
    return grid


def discs(grid: xr.Dataset, rng: np.random.Generator, n: int, dim: str = "time", days: np.ndarray | None = None,
          jitter: float = 15 * KM) -> xr.Dataset:
    """Discs of ice (sic 1 inside r1, ramp to 0 over 150 km): random centres and radii; with ``days``
    (day of year, (n,)), the radius and centre follow the season on a loop, so each month has its own shape."""
    if days is None:
        r1 = rng.uniform(150, 400, n) * KM
        x0, y0 = rng.uniform(-150, 150, (2, n)) * KM
    else:
        phase = 2 * np.pi * np.asarray(days) / 365.25
        r1 = (280 + 120 * np.cos(phase)) * KM + rng.normal(0, jitter, n)
        x0 = 150 * KM * np.sin(phase) + rng.normal(0, jitter, n)
        y0 = rng.normal(0, jitter, n)
    sic = np.stack([synthetic.ramp_disc(grid, r, r + 150 * KM, x, y) for r, x, y in zip(r1, x0, y0)])
    ds = synthetic.state(grid, dim=dim, sic=sic)
    ds["sic"].attrs = VARIABLES["sic"].cf_attrs()
    return ds


def seasonal(grid: xr.Dataset, times: pd.DatetimeIndex, seed: int) -> xr.Dataset:
    """Daily discs following the season, on dim ``time``."""
    ds = discs(grid, np.random.default_rng(seed), len(times), days=times.dayofyear.values)
    return ds.assign_coords(time=times.values)


def as_samples(ds: xr.Dataset) -> xr.Dataset:
    return ds.rename(time="sample").drop_vars("sample", errors="ignore")


# --------------------------------------------------------------------------- the IIEE matrix
def test_matrix_matches_stats_iiee_with_nan_cells_and_uneven_areas() -> None:
    """Every pair against ``stats.distances.iiee`` (the oracle), on a grid with land, ocean cells that are
    NaN in some states only and cell areas that vary; blocks of 2 states give the same matrix."""
    grid = toy_grid(24, uneven=True)
    rng = np.random.default_rng(0)
    a, b = as_samples(discs(grid, rng, 5)), discs(grid, rng, 6)
    holes = rng.random(a.sic.shape) < 0.05
    a["sic"] = a.sic.where(~holes)
    b["sic"] = b.sic.where(~(rng.random(b.sic.shape) < 0.05))
    got = nb.iiee_matrix(a, b)
    assert got.dims == ("sample", "time") and got.attrs["units"] == "1e6 km2"
    want = iiee(a.sic, b.sic.rename(time="other")).iiee.transpose("sample", "other").values * 1e-12
    assert want.min() > 0.01  # the pairs differ, so the check has teeth
    np.testing.assert_allclose(got.values, want, rtol=1e-5, atol=1e-6)
    chunked = nb.pairwise_iiee(nb.IceCover.of(a, "sample"), nb.IceCover.of(b, "time"), chunk=2)
    np.testing.assert_allclose(chunked, got.values, rtol=1e-6)


def test_matrix_is_exact_zero_on_the_diagonal_and_symmetric() -> None:
    grid = toy_grid()
    ds = discs(grid, np.random.default_rng(1), 12)
    d = nb.iiee_matrix(ds, ds, dims=("time", "time"))
    assert d.dims == ("time", "time_b")
    assert (np.diag(d.values) == 0).all() and (d.values[~np.eye(12, dtype=bool)] > 0).all()
    np.testing.assert_allclose(d.values, d.values.T, rtol=1e-6)


def test_one_cell_of_difference_is_its_area() -> None:
    """Two states that differ in one ocean cell: IIEE = that cell's area; a NaN there: 0."""
    grid = toy_grid(16, uneven=True)
    ds = synthetic.state(grid, sic=np.zeros((2, 16, 16)))
    ds["sic"][1, 10, 12] = 0.5
    d = nb.iiee_matrix(ds, ds, dims=("time", "time")).values
    assert d[0, 1] == pytest.approx(float(grid.cell_area[10, 12]) * 1e-12, rel=1e-6)
    ds["sic"][0, 10, 12] = np.nan
    assert nb.iiee_matrix(ds, ds, dims=("time", "time")).values[0, 1] == 0


# --------------------------------------------------------------------------- season mix, realism, coverage
def test_only_january_reference_gives_month_one() -> None:
    grid = toy_grid()
    ref = seasonal(grid, pd.date_range("2001-01-01", periods=31), seed=0)
    samples = as_samples(seasonal(grid, pd.date_range("2001-07-01", periods=20, freq="7D"), seed=1))
    mix = nb.season_mix(samples, ref)
    assert list(mix.index) == list(range(1, 13)) and mix.loc[1, "samples"] == 1.0 and mix.loc[1, "reference"] == 1.0
    assert mix.samples.sum() == pytest.approx(1.0)


def test_season_mix_finds_the_month_the_samples_were_drawn_from() -> None:
    """Fresh mid-March states against two years of daily states: their nearest days are in March (a
    neighbouring month at most), while the reference's own shares follow the calendar."""
    grid = toy_grid()
    times = pd.date_range("2001-01-01", "2002-12-31")
    ref = seasonal(grid, times, seed=0)
    march = pd.date_range("2003-03-08", "2003-03-24")
    mix = nb.season_mix(as_samples(seasonal(grid, march, seed=5)), ref)
    assert mix.loc[3, "samples"] >= 0.8
    assert mix.samples.drop([2, 3, 4]).sum() == 0
    np.testing.assert_allclose(mix.reference, times.month.value_counts().sort_index() / len(times))


def test_realism_and_coverage_of_a_summer_only_set() -> None:
    """Copies of reference summer days: realism 0 for every state; coverage 0 on the copied days and
    largest in winter, which the set misses."""
    grid = toy_grid()
    ref = seasonal(grid, pd.date_range("2001-01-01", "2001-12-31"), seed=0)
    summer = ref.sel(time=slice("2001-06-15", "2001-08-15"))
    real = nb.realism(as_samples(summer), ref)
    assert real.dims == ("sample",) and (real.values == 0).all()
    cov = nb.coverage(as_samples(summer), ref)
    assert cov.dims == ("time",) and (cov.sel(time=summer.time).values == 0).all()
    winter = cov.sel(time=cov.time.dt.month.isin([12, 1, 2]))
    assert float(winter.min()) > float(cov.quantile(0.5))
    p = nb.Percentiles.of(cov)
    assert p.p5 <= p.median <= p.p95 and p.median == pytest.approx(float(cov.median()))


# --------------------------------------------------------------------------- memorisation
@pytest.fixture(scope="module")
def split() -> dict[str, xr.Dataset]:
    """Training, held-out and fresh states from one generator (random discs), and copies of training states."""
    grid = toy_grid()
    rng = np.random.default_rng(3)
    train = discs(grid, rng, 300)
    return {"train": train, "held_out": discs(grid, rng, 150), "fresh": as_samples(discs(grid, rng, 60)),
            "copies": as_samples(train.isel(time=rng.choice(300, 60, replace=False)))}


def test_planted_copies_are_memorised_fresh_states_are_not(split: dict[str, xr.Dataset]) -> None:
    copies = nb.memorisation(split["copies"], split["train"], split["held_out"])
    fresh = nb.memorisation(split["fresh"], split["train"], split["held_out"])
    assert copies.threshold > 0 and copies.threshold == pytest.approx(fresh.threshold)
    assert copies.flags.all() and copies.share == 1.0 and (copies.to_train == 0).all()
    assert fresh.share <= 0.15  # about the 5 % a set drawn like the held-out days gives
    assert np.median(fresh.to_train) > copies.threshold
    strict = nb.memorisation(split["fresh"], split["train"], split["held_out"], quantile=0.0)
    assert strict.threshold == pytest.approx(float(strict.held_out_to_train.min())) and strict.share <= 0.05


def test_half_copied_set_has_half_memorised(split: dict[str, xr.Dataset]) -> None:
    mixed = xr.concat([split["copies"].isel(sample=slice(0, 30)), split["fresh"].isel(sample=slice(0, 30))], "sample")
    mem = nb.memorisation(mixed, split["train"], split["held_out"])
    assert mem.flags[:30].all() and 0.5 <= mem.share <= 0.6


# --------------------------------------------------------------------------- the evaluate report
def _canonical(ds: xr.Dataset, path: Path) -> str:
    ds.to_netcdf(path)
    return str(path)


def test_report_uses_the_held_out_days_and_skips_with_a_reason(tmp_path: Path) -> None:
    """A training file of 2001–2002 and a reference of 2002–2003: only 2003 is held out; a backend whose
    samples copy training days has them all memorised, one with fresh states few; the reference as its
    own training data is skipped with the reason, without failing."""
    grid = toy_grid()
    train = seasonal(grid, pd.date_range("2001-01-01", "2002-12-31"), seed=0)
    ref = xr.concat([train.sel(time="2002"), seasonal(grid, pd.date_range("2003-01-01", "2003-12-31"), seed=1)],
                    "time")
    source = _canonical(train, tmp_path / "train.nc")
    held = nb.open_training(source, ref, "reference.nc")
    assert isinstance(held, nb.Training) and held.held_out.sum() == 365 and held.train.n == 730
    assert not held.held_out[:365].any()
    rng = np.random.default_rng(0)
    sets = {"copy": ("raw", as_samples(train.isel(time=rng.choice(730, 40, replace=False)))),
            "fresh": ("clamp", as_samples(seasonal(grid, pd.date_range("2004-01-01", periods=40, freq="9D"), 7)))}
    same = nb.open_training(source, train, source)
    assert same == f"every reference day is a training day of {source}"
    report = nb.neighbour_report(sets, ref, {"copy": held, "fresh": held})
    t = report.table.set_index("backend")
    assert list(t.index) == ["copy", "fresh", "reference"] and t.loc["fresh", "bounds"] == "clamp"
    assert t.loc["copy", "memorised_share"] == 1.0 and t.loc["fresh", "memorised_share"] <= 0.15
    assert t.loc["copy", "realism_median_1e6km2"] == 0 < t.loc["fresh", "realism_median_1e6km2"]
    assert t.loc["copy", "held_out_days"] == 365 and np.isnan(t.loc["reference", "coverage_median_1e6km2"])
    assert t.loc["reference", "realism_p5_1e6km2"] <= t.loc["reference", "realism_median_1e6km2"]
    assert list(report.seasons.columns) == ["month", "copy", "fresh", "reference"]
    np.testing.assert_allclose(report.seasons[["copy", "fresh", "reference"]].sum(), 1.0)
    mix = nb.season_mix(sets["fresh"][1], ref)  # the report's shares are the public function's
    np.testing.assert_allclose(report.seasons.set_index("month")[["fresh", "reference"]], mix[["samples", "reference"]])
    skipped = nb.neighbour_report(sets, ref, {"copy": "its data is elsewhere"})
    assert skipped.table.memorised_share.isna().all() and list(skipped.table.memorisation_skipped[:2]) == [
        "its data is elsewhere", "no training set given"]
    assert skipped.notes == ("copy: its data is elsewhere", "fresh: no training set given")


def test_evaluate_writes_neighbours_and_seasons(tiny_models: Path, tmp_path: Path) -> None:
    """``evaluate`` with a ``generate_fn`` that returns reference days: ``neighbours.csv`` has realism 0 for
    each backend, ``seasons.csv`` the month shares, the README the section; memorisation is skipped (the
    tiny models name the 128² default data, the reference is 16²) with its reason, and the run succeeds."""
    from seaice_explorer.evaluation import evaluate

    ref = seasonal(toy_grid(16), pd.date_range("2001-01-01", periods=40, freq="9D"), seed=0)
    ref_path = _canonical(ref, tmp_path / "ref.nc")

    def prepared(backend: str, *, n: int, bounds: str, **_: object) -> xr.Dataset:
        return as_samples(ref.isel(time=np.arange(n) % ref.sizes["time"])).assign_attrs(backend=backend, bounds=bounds)

    report = evaluate.evaluate(["dm", "ldm-censored"], ref_path, out=tmp_path / "report", n=8, models_dir=tiny_models,
                               bounds=["raw", "clamp"], replicates=20, draws=5, generate_fn=prepared)
    assert {"neighbours.csv", "seasons.csv"} <= {p.name for p in report.files}
    table = pd.read_csv(report.folder / "neighbours.csv")
    assert list(zip(table.backend, table.bounds))[:2] == [("dm", "raw"), ("ldm-censored", "clamp")]
    assert (table.realism_median_1e6km2.iloc[:2] == 0).all() and (table.coverage_p95_1e6km2.iloc[:2] > 0).all()
    assert table.memorised_share.isna().all() and table.memorisation_skipped.iloc[0].startswith("its data default")
    seasons = pd.read_csv(report.folder / "seasons.csv")
    assert list(seasons.columns) == ["month", "dm", "ldm-censored", "reference"] and len(seasons) == 12
    readme = (report.folder / "README.md").read_text()
    assert "## Season mix, realism and coverage (IIEE)" in readme and "| dm/raw | 8 | 0.000 [0.000, 0.000] |" in readme
    assert ("Memorisation of dm, ldm-censored: not computed, its data default is on a 128×128 grid, the reference "
            "on 16×16.") in readme


def test_unseen_days_on_the_training_calendar_are_held_out(tmp_path: Path) -> None:
    """The synthetic family's unseen days come from the generator with a new seed on the training dates:
    same date, another field, so held out; the training file itself as the reference holds none out."""
    grid = toy_grid()
    days = pd.date_range("2001-01-01", "2001-12-31")
    train = seasonal(grid, days, seed=0)
    unseen = seasonal(grid, days, seed=1)
    source = _canonical(train, tmp_path / "train.nc")
    held = nb.open_training(source, unseen, "unseen.nc")
    assert isinstance(held, nb.Training) and held.held_out.all()
    mixed = xr.concat([train.isel(time=slice(0, 100)), unseen.isel(time=slice(100, None))], "time")
    partly = nb.open_training(source, mixed, "mixed.nc")
    assert isinstance(partly, nb.Training) and not partly.held_out[:100].any() and partly.held_out[100:].all()
