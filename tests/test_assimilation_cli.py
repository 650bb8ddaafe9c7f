"""``seaice-explorer assimilate`` on a day of the bundled OSI SAF set, with a region set to NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from seaice_explorer.assimilation import assimilate
from seaice_explorer.cli import main
from seaice_explorer.data import open_reference
from seaice_explorer.errors import SeaIceInputError

BACKEND = "osisaf-ldm-gaussian"


@pytest.fixture(scope="module")
def day() -> xr.Dataset:
    """Day 40 of the bundled OSI SAF set with everything south of 75° N unobserved (NaN)."""
    ds = open_reference("osisaf").isel(time=40).load()
    return ds.assign(sic=ds.sic.where(ds.lat > 75))


@pytest.fixture(scope="module")
def obs_file(day: xr.Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("obs") / "obs.nc"
    day.to_netcdf(path)
    return path


def _run(obs: Path, out: Path, *extra: str) -> int:
    return main(["assimilate", "--backend", BACKEND, "--obs", str(obs), "--n", "2", "--steps", "2", "--seed", "0",
                 "--obs-sigma", "0.05", "--method", "dps", "--device", "cpu", "--out", str(out), "--no-progress",
                 *extra])


def test_cli_writes_the_posterior(obs_file: Path, tmp_path: Path, day: xr.Dataset) -> None:
    out = tmp_path / "post.nc"
    assert _run(obs_file, out) == 0
    with xr.open_dataset(out) as ds:
        assert ds.sic.dims == ("sample", "y", "x") and ds.sizes == {"sample": 2, "y": 128, "x": 128}
        np.testing.assert_array_equal(ds.y.values, day.y.values)
        assert np.isnan(ds.sic.values[:, day.mask.values == 0]).all()
        attrs = ds.attrs
        assert (attrs["method"], attrs["backend"], attrs["created_by"]) == ("dps", BACKEND, "seaice-explorer assimilate")
        assert json.loads(attrs["obs_sigma"]) == {"sic": 0.05} and attrs["guidance"] == 1.0
        observed = int((np.isfinite(day.sic.values) & (day.mask.values > 0)).sum())
        assert attrs["observed_fraction"] == pytest.approx(observed / int((day.mask.values > 0).sum()))
        assert json.loads(attrs["recipe"])["steps"] == 2 and attrs["observations"] == str(obs_file)
    assert _run(obs_file, out) == 2  # never clobbered without --overwrite
    assert _run(obs_file, out, "--overwrite") == 0


@pytest.mark.parametrize("change,message", [
    (lambda ds: ds.assign(sic=ds.sic + 0.5), "outside its bounds"),
    (lambda ds: ds.assign(sic=ds.sic * np.nan), "every value is NaN"),
    (lambda ds: ds.isel(x=slice(0, 100)), "wrong grid"),
    (lambda ds: ds.assign(sit=ds.sic), "not one this backend models"),
])
def test_cli_bad_observations_exit_2_with_the_problem(day: xr.Dataset, tmp_path: Path, change, message: str,
                                                       capsys: pytest.CaptureFixture) -> None:
    obs = tmp_path / "bad.nc"
    change(day).to_netcdf(obs)
    assert _run(obs, tmp_path / "post.nc") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "post.nc").exists()


@pytest.mark.parametrize("sigma,message", [("0", "not a finite number > 0"), ("nan", "not a finite number > 0"),
                                           ("-0.1", "not a finite number > 0"), ("abc", "not a number"),
                                           ("sit=0.1", "not one this backend models")])
def test_cli_bad_obs_sigma(obs_file: Path, tmp_path: Path, sigma: str, message: str,
                           capsys: pytest.CaptureFixture) -> None:
    assert _run(obs_file, tmp_path / "post.nc", "--obs-sigma", sigma) == 2
    assert message in capsys.readouterr().err


def test_cli_missing_obs_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _run(tmp_path / "none.nc", tmp_path / "post.nc") == 2
    assert "names no file" in capsys.readouterr().err


def test_a_day_with_its_time_axis_works(day: xr.Dataset) -> None:
    obs = day.expand_dims("time")  # as ds.isel(time=[40]) gives it
    post = assimilate(BACKEND, obs, n=1, steps=1, method="dps", device="cpu")
    assert post.sic.dims == ("sample", "y", "x")


def test_a_backend_of_another_family_is_refused(day: xr.Dataset) -> None:
    # dm models sic too, on the same 128² EASE2 grid, but with the synthetic data set's land mask
    with pytest.raises(SeaIceInputError, match="another data set's family.*osisaf-ldm-gaussian"):
        assimilate("dm", day, n=1, steps=1, device="cpu")
    five = open_reference("default").isel(time=0).load()
    with pytest.raises(SeaIceInputError, match="'sit' is not one this backend models"):
        assimilate(BACKEND, five, n=1, steps=1, device="cpu")
