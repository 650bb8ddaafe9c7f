"""Plumbing of ``generate`` on tiny randomly initialised checkpoints (16² grid, saved to tmp)."""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from seaice_explorer import __version__
from seaice_explorer.checkpoints import checkpoint_hash
from seaice_explorer.cli import main
from seaice_explorer.diffusion.generate import TIMING_ATTRS, generate
from seaice_explorer.diffusion.pipeline import load_pipeline
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.grid import default_grid
from seaice_explorer.recipe import PAPER, QUICK, Recipe, recipe_of
from seaice_explorer.registry import discover
from seaice_explorer.trajectory import Trajectory
from seaice_explorer.variables import STATE_VARIABLES, VARIABLES

SIZE, LATENT = 16, 4


@pytest.fixture(scope="module")
def models(tiny_models: Path) -> Path:
    return tiny_models


def _gen(models: Path, backend: str = "ldm-censored", **kw):
    kw = {"n": 3, "steps": 4, "seed": 0, "device": "cpu", **kw}
    return generate(backend, models_dir=models, **kw)


def _untimed(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` without the wall-time attrs, which differ between two otherwise identical calls."""
    out = ds.copy()
    out.attrs = {k: v for k, v in ds.attrs.items() if k not in TIMING_ATTRS}
    return out


def _violations(ds: xr.Dataset) -> int:
    count = 0
    for name in set(ds.data_vars) & set(STATE_VARIABLES):
        v = ds[name].values
        lo, hi = VARIABLES[name].lower, VARIABLES[name].upper
        count += int(np.sum(v < lo) + np.sum(v > hi))  # NaN compares False
    return count


@pytest.mark.parametrize("backend", ["dm", "ldm-gaussian", "ldm-censored"])
def test_canonical_dataset_and_provenance(models: Path, backend: str) -> None:
    ds = _gen(models, backend, n=2)
    grid = default_grid(SIZE)
    ocean = grid["mask"].values > 0
    assert list(ds.data_vars) == list(STATE_VARIABLES)
    for name in STATE_VARIABLES:
        da = ds[name]
        assert da.dims == ("sample", "y", "x") and da.shape == (2, SIZE, SIZE) and da.dtype == np.float32
        assert np.isnan(da.values[:, ~ocean]).all() and np.isfinite(da.values[:, ocean]).all()
        assert da.attrs["units"] == VARIABLES[name].units
    for c in ("lat", "lon", "mask", "cell_area"):
        np.testing.assert_array_equal(ds[c].values, grid[c].values)
    names = {"dm": ["dm"], "ldm-gaussian": ["vae-gaussian", "ldm-gaussian"],
             "ldm-censored": ["vae-censored", "ldm-censored"]}[backend]
    assert ds.attrs["checkpoint_sha256"] == ",".join(f"{n}:{checkpoint_hash(models / n)}" for n in names)
    assert (ds.attrs["backend"], ds.attrs["sampler"], ds.attrs["steps"], ds.attrs["seed"]) == (backend, "heun", 4, 0)
    assert ds.attrs["bounds"] == "raw" and ds.attrs["seaice_explorer_version"] == __version__
    assert ds.attrs["dataset"] == "default" and ds.attrs["backend_label"] == discover(models).get(backend).label
    assert ds.attrs["device"] == "cpu" and ds.attrs["proj4"].startswith("+proj=laea")


@pytest.mark.parametrize("backend", ["dm", "ldm-censored"])
@pytest.mark.parametrize("sampler", ["heun", "euler", "ddim"])
def test_same_seed_same_states(models: Path, backend: str, sampler: str) -> None:
    kw = {"bounds": "draw"} if backend == "ldm-censored" else {}
    a = _gen(models, backend, seed=5, sampler=sampler, **kw)
    b = _gen(models, backend, seed=5, sampler=sampler, **kw)
    c = _gen(models, backend, seed=6, sampler=sampler, **kw)
    assert _untimed(a).identical(_untimed(b))
    assert not np.allclose(np.nan_to_num(a.sic.values), np.nan_to_num(c.sic.values))


def test_bounds_modes(models: Path) -> None:
    raw = _gen(models, "dm", n=4, bounds="raw")
    assert _violations(raw) > 0  # a random dm does violate the bounds, and "raw" shows it
    for backend in ("dm", "ldm-gaussian", "ldm-censored"):
        assert _violations(_gen(models, backend, n=4, bounds="clamp")) == 0
    for backend in ("ldm-gaussian", "ldm-censored"):
        mean = _gen(models, backend, n=4, bounds="raw")
        point = _gen(models, backend, n=4, bounds="clamp")
        draw = _gen(models, backend, n=4, bounds="draw")
        for name in STATE_VARIABLES:  # clamp is clamp(mu, l, u) of the raw mean, on every backend
            lo, hi = VARIABLES[name].lower, VARIABLES[name].upper
            np.testing.assert_allclose(point[name].values, np.clip(mean[name].values, lo, hi), rtol=1e-6)
        assert not np.allclose(np.nan_to_num(draw.siu.values), np.nan_to_num(mean.siu.values))
        if backend == "ldm-censored":  # a censored draw puts finite mass exactly on a bound, never beyond
            assert _violations(draw) == 0 and ((draw.sic.values == 0).any() or (draw.sic.values == 1).any())
        else:  # a Gaussian draw is N(mu, sigma²): it spills beyond the bounds
            assert _violations(draw) > 0


@pytest.mark.parametrize(("old", "new"), [("none", "raw"), ("clip", "clamp"), ("censored", "clamp"),
                                          ("censored-sample", "draw")])
def test_old_bounds_names_still_work_with_a_deprecation(models: Path, old: str, new: str) -> None:
    with pytest.warns(DeprecationWarning, match=new):
        a = _gen(models, "ldm-censored", n=2, bounds=old)
    b = _gen(models, "ldm-censored", n=2, bounds=new)
    assert _untimed(a).identical(_untimed(b)) and a.attrs["bounds"] == new


@pytest.mark.parametrize(
    ("backend", "kw"),
    [
        ("dm", {"bounds": "censored"}),
        ("dm", {"bounds": "draw"}),
        ("ldm-gaussian", {"bounds": "censored-sample"}),
        ("ldm-censored", {"n": 0}),
        ("ldm-censored", {"n": 257}),
        ("ldm-censored", {"steps": 0}),
        ("ldm-censored", {"steps": 1001}),
        ("ldm-censored", {"seed": -1}),
        ("ldm-censored", {"sampler": "dpm"}),
        ("ldm-censored", {"bounds": "squash"}),
        ("ldm", {}),
    ],
)
def test_invalid_arguments(models: Path, backend: str, kw: dict) -> None:
    with pytest.raises(SeaIceInputError) as err:
        _gen(models, backend, **kw)
    assert "Use" in str(err.value) or "Pass" in str(err.value)


def test_missing_or_mismatched_checkpoints(models: Path, tmp_path: Path) -> None:
    with pytest.raises(SeaIceInputError, match="unknown backend"):
        _gen(tmp_path, "dm")
    for name in ("vae-censored", "ldm-censored"):
        shutil.copytree(models / name, tmp_path / name)
    shutil.rmtree(tmp_path / "vae-censored")
    shutil.copytree(models / "vae-gaussian", tmp_path / "vae-censored")  # wrong decoder in its place
    with pytest.raises(SeaIceInputError, match="trained on VAE"):
        _gen(tmp_path, "ldm-censored")
    with pytest.raises(SeaIceInputError, match="CUDA|device"):
        _gen(models, "dm", device="cuda" if not torch.cuda.is_available() else "tpu")


class Stop(Exception):
    """Raised from a callback to stop generate."""


def test_callback_and_cancel(models: Path) -> None:
    seen: list[tuple[int, float]] = []
    _gen(models, "ldm-gaussian", steps=5, callback=lambda info: seen.append((info["i"], info["sigma"])))
    assert [i for i, _ in seen] == list(range(5))
    assert all(b < a for (_, a), (_, b) in zip(seen[:-1], seen[1:]))

    def cancel(info):
        assert set(info) == {"i", "sigma", "x", "denoised"} and info["x"].shape == info["denoised"].shape
        if info["i"] == 2:
            raise Stop

    with pytest.raises(Stop):
        _gen(models, "ldm-gaussian", steps=5, callback=cancel)


@pytest.mark.parametrize("backend", ["dm", "ldm-censored"])
def test_trajectory(models: Path, backend: str) -> None:
    kw = {"bounds": "draw"} if backend == "ldm-censored" else {}
    plain = _gen(models, backend, steps=5, **kw)
    ds, traj = _gen(models, backend, steps=5, return_trajectory=True, **kw)
    assert _untimed(ds).identical(_untimed(plain))  # recording previews does not consume the generator
    guesses = traj.guesses
    assert guesses.sic.dims == ("step", "sample", "y", "x") and guesses.sic.shape == (5, 3, SIZE, SIZE)
    assert np.all(np.diff(traj.sigma) < 0) and traj.sigma[0] == pytest.approx(80.0)
    assert traj.samples is ds and traj.n_steps == 5 and traj.sigma_of(5) == 0.0
    np.testing.assert_array_equal(traj.guess("sic", 5, sample=1), ds.sic.isel(sample=1).values)  # the last frame
    assert traj.latent == (backend != "dm")
    # the file layout (generate --trajectory) reads back to the same replay
    back = Trajectory.from_dataset(ds, traj.to_dataset())
    np.testing.assert_array_equal(back.state, traj.state)
    np.testing.assert_array_equal(back.sigma, traj.sigma)
    assert back.channels == traj.channels and back.sigma_data == traj.sigma_data
    xr.testing.assert_equal(back.guesses, traj.guesses)
    one = traj.select(2)
    np.testing.assert_array_equal(one.state[:, 0], traj.state[:, 2])
    np.testing.assert_array_equal(one.guess("sic", 3), traj.guess("sic", 3, sample=2))
    if backend == "dm":
        assert traj.state.shape == (5, 3, 5, SIZE, SIZE)
        # land is pinned to the training fill value 0, so its ODE path is x_i = x_0 σ_i / σ_0 exactly
        land = default_grid(SIZE)["mask"].values == 0
        st = traj.state[..., land]  # (step, sample, channel, n_land)
        ratio = (traj.sigma / traj.sigma[0])[:, None, None, None]
        np.testing.assert_allclose(st, st[:1] * ratio, rtol=1e-4, atol=1e-4)
    else:
        assert traj.state.shape == (5, 3, LATENT, SIZE // 4, SIZE // 4)
        assert _violations(traj.guesses) == 0


def test_models_are_cached_and_reloaded_on_change(models: Path, tmp_path: Path) -> None:
    shutil.copytree(models / "dm", tmp_path / "dm")
    a = load_pipeline(discover(tmp_path).get("dm"), "cpu")
    assert load_pipeline(discover(tmp_path).get("dm"), "cpu") is a
    cfg = tmp_path / "dm" / "config.json"
    st = cfg.stat()
    os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_pipeline(discover(tmp_path).get("dm"), "cpu") is not a


def test_cli_writes_netcdf(models: Path, tmp_path: Path) -> None:
    out, traj = tmp_path / "samples.nc", tmp_path / "traj.nc"
    rc = main(["generate", "--backend", "ldm-censored", "--n", "2", "--steps", "3", "--seed", "1",
               "--bounds", "clamp", "--sampler", "heun", "--device", "cpu", "--models", str(models),
               "--out", str(out), "--trajectory", str(traj), "--no-progress"])
    assert rc == 0
    expected = _gen(models, "ldm-censored", n=2, steps=3, seed=1, bounds="clamp")
    with xr.open_dataset(out) as ds:
        np.testing.assert_array_equal(ds.sic.values, expected.sic.values)
        assert ds.attrs["checkpoint_sha256"] == expected.attrs["checkpoint_sha256"]
    with xr.open_dataset(traj) as tr:
        assert tr.sizes["step"] == 3
    assert main(["generate", "--backend", "dm", "--bounds", "draw", "--models", str(models),
                 "--out", str(out)]) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_path_bf16_is_deterministic_and_bounded(models: Path) -> None:
    a = _gen(models, "ldm-censored", device="cuda", bounds="draw")
    b = _gen(models, "ldm-censored", device="cuda", bounds="draw")
    assert _untimed(a).identical(_untimed(b)) and a.attrs["precision"] == "bf16 autocast"
    assert _violations(a) == 0
    assert _violations(_gen(models, "dm", device="auto", bounds="clamp")) == 0


def test_bf16_precision_is_close_to_float32_and_recorded(models: Path) -> None:
    fp32 = _gen(models, "ldm-gaussian", precision="float32")
    bf16 = _gen(models, "ldm-gaussian", precision="bf16")
    assert fp32.attrs["precision"] == "float32" and bf16.attrs["precision"] == "bf16 autocast"
    assert not np.array_equal(fp32.sic.values, bf16.sic.values, equal_nan=True)  # it did run in bf16
    scale = float(np.nanstd(fp32.sit.values)) + 1e-6
    assert float(np.nanmax(np.abs(fp32.sit.values - bf16.sit.values))) < 0.5 * scale + 0.05
    again = _gen(models, "ldm-gaussian", precision="bf16")
    xr.testing.assert_identical(_untimed(bf16), _untimed(again))


def test_unknown_precision_is_a_clear_error(models: Path) -> None:
    with pytest.raises(SeaIceInputError, match="precision"):
        _gen(models, precision="fp8")


@pytest.mark.parametrize(("sampler", "nfe"), [("heun", 7), ("euler", 4), ("ddim", 4), ("dpmpp-2m", 4)])
def test_cost_of_a_call_is_recorded(models: Path, sampler: str, nfe: int) -> None:
    """Network evaluations (Heun: 2n − 1) and the seconds of sampling and decoding travel in the attrs."""
    ds = _gen(models, "ldm-gaussian", steps=4, sampler=sampler)
    assert ds.attrs["nfe"] == nfe
    assert ds.attrs["sampling_seconds"] > 0 and ds.attrs["decode_seconds"] > 0


# -- runs as data: the recipe of a call ------------------------------------------------------------
def test_the_recipe_is_the_default_and_keywords_override_it(models: Path) -> None:
    """``generate(backend, recipe)`` and ``generate(backend, n=…, …)`` are the same call; the defaults are PAPER."""
    by_recipe = generate("dm", PAPER.replace(n=2, steps=2, seed=3), device="cpu", models_dir=models)
    by_keywords = generate("dm", n=2, steps=2, seed=3, device="cpu", models_dir=models)
    assert _untimed(by_recipe).identical(_untimed(by_keywords))
    assert recipe_of(by_keywords.attrs) == PAPER.replace(n=2, steps=2, seed=3, precision="float32")


def test_a_generated_file_records_its_recipe_as_it_ran(models: Path) -> None:
    """Bounds as applied (old names mapped) and precision as used ("auto" made concrete); the backend too."""
    with pytest.warns(DeprecationWarning):
        ds = generate("ldm-censored", QUICK.replace(n=1, steps=2, bounds="censored"), device="cpu", models_dir=models)
    recorded = recipe_of(ds.attrs)
    assert recorded == QUICK.replace(n=1, steps=2, bounds="clamp", precision="float32")
    assert json.loads(ds.attrs["recipe"]) == recorded.to_dict() and ds.attrs["backend"] == "ldm-censored"
    assert (ds.attrs["sampler"], ds.attrs["steps"], ds.attrs["bounds"]) == ("dpmpp-2m", 2, "clamp")


def test_a_recipe_is_required_positionally(models: Path) -> None:
    with pytest.raises(SeaIceInputError, match="not a Recipe"):
        generate("dm", 4, models_dir=models)  # type: ignore[arg-type]


def test_generate_like_reruns_the_recipe_and_backend_of_a_file(models: Path, tmp_path: Path) -> None:
    first, again, other = tmp_path / "first.nc", tmp_path / "again.nc", tmp_path / "other.nc"
    assert main(["generate", "--backend", "ldm-gaussian", "--n", "1", "--steps", "2", "--seed", "4",
                 "--sampler", "dpmpp-2m", "--bounds", "clamp", "--device", "cpu", "--models", str(models),
                 "--out", str(first), "--no-progress"]) == 0
    assert main(["generate", "--like", str(first), "--device", "cpu", "--models", str(models),
                 "--out", str(again), "--no-progress"]) == 0
    with xr.open_dataset(first) as a, xr.open_dataset(again) as b:
        assert b.attrs["backend"] == "ldm-gaussian" and b.attrs["recipe"] == a.attrs["recipe"]
        np.testing.assert_array_equal(a.sic.values, b.sic.values)
        np.testing.assert_array_equal(a.sit.values, b.sit.values)
    # an option given explicitly overrides the file's recipe, the rest stays
    assert main(["generate", "--like", str(first), "--seed", "5", "--device", "cpu", "--models", str(models),
                 "--out", str(other), "--no-progress"]) == 0
    with xr.open_dataset(other) as c:
        assert recipe_of(c.attrs) == Recipe(sampler="dpmpp-2m", steps=2, n=1, seed=5, bounds="clamp",
                                            precision="float32")


def test_generate_like_a_file_without_a_recipe_is_a_clear_error(models: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    plain = tmp_path / "observations.nc"
    xr.Dataset({"sic": ("x", [0.5])}, attrs={"backend": "dm"}).to_netcdf(plain)
    out = tmp_path / "s.nc"
    assert main(["generate", "--like", str(plain), "--models", str(models), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(plain) in err and "records no recipe" in err and "--backend" in err
    assert main(["generate", "--like", str(tmp_path / "missing.nc"), "--models", str(models),
                 "--out", str(out)]) == 2
    assert "missing.nc" in capsys.readouterr().err and not out.exists()
