"""Observation-guided generation: analytic oracles for the guidance, plumbing on tiny checkpoints (16² grid)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from scipy import integrate, stats

from seaice_explorer.assimilation import (
    assimilate,
    dps_denoiser,
    ensemble_around,
    make_observation,
    mmps_denoiser,
    posterior_samples,
    sample_repaint,
)
from seaice_explorer.data import open_reference
from seaice_explorer.diffusion.generate import generate
from seaice_explorer.diffusion.pipeline import grid_of, load_pipeline
from seaice_explorer.diffusion.samplers import sample_heun
from seaice_explorer.diffusion.schedules import karras_sigmas
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.recipe import PAPER, RECIPE_ATTR, Recipe
from seaice_explorer.registry import discover
from seaice_explorer.variables import STATE_VARIABLES

# -- a closed-form Gaussian prior: x ~ N(M, S²) per pixel, observed through y = A x + σ_y ε --------------
M, S = 0.3, 0.8
N_TOY = 4000


def toy_denoiser(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[x0 | x] for x0 ~ N(M, S²): (S² x + σ² M)/(S² + σ²)."""
    s2 = torch.as_tensor(sigma).reshape(-1, 1, 1, 1) ** 2
    return (S**2 * x + s2 * M) / (S**2 + s2)


def toy_forward(x0: torch.Tensor) -> torch.Tensor:
    """A linear (affine) observation operator, as the data-space decode is."""
    return 0.5 * x0 + 0.1


def _oracle(likelihood) -> tuple[float, float]:
    """Posterior mean and variance of x ∝ N(x; M, S²) · likelihood(x), by quadrature."""
    dens = lambda t: stats.norm.pdf(t, M, S) * likelihood(t)  # noqa: E731
    z = integrate.quad(dens, -8, 8, limit=200)[0]
    mean = integrate.quad(lambda t: t * dens(t), -8, 8, limit=200)[0] / z
    return mean, integrate.quad(lambda t: (t - mean) ** 2 * dens(t), -8, 8, limit=200)[0] / z


LIKELIHOODS = {  # observed value, σ_y, likelihood of x (y = clamp(A x + σ_y ε, 0, 1))
    "inside": (0.5, 0.2, lambda t, y, s: stats.norm.pdf(y, toy_forward(t), s)),
    "at the lower bound": (0.0, 0.2, lambda t, y, s: stats.norm.cdf((y - toy_forward(t)) / s)),
    "at the upper bound": (1.0, 0.2, lambda t, y, s: stats.norm.sf((y - toy_forward(t)) / s)),
}


@pytest.mark.parametrize("case", list(LIKELIHOODS))
@pytest.mark.parametrize("method", ["dps", "mmps"])
def test_guided_gaussian_prior_gives_the_analytic_posterior(method: str, case: str) -> None:
    y, sigma_y, lik = LIKELIHOODS[case]
    obs = make_observation(np.full((1, 1, 1), y), ("sic",), [sigma_y], censored=True)
    build = dps_denoiser if method == "dps" else mmps_denoiser
    guided = build(toy_denoiser, obs, toy_forward, prior_var=torch.tensor([0.25 * S**2]), sigma_data=S)
    x = 80.0 * torch.randn(N_TOY, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    post = sample_heun(guided, x, karras_sigmas(100, 0.002, 80.0)).double().flatten()
    mean, var = _oracle(lambda t: lik(t, y, sigma_y))
    se_mean, se_var = math.sqrt(var / N_TOY), var * math.sqrt(2 / (N_TOY - 1))
    assert abs(post.mean().item() - mean) < 4 * se_mean + 0.005  # sampling error + ODE discretisation
    assert abs(post.var().item() - var) < 4 * se_var + 0.01 * var
    assert abs(mean - M) > 10 * se_mean  # the observation moved the posterior: the test can fail


def test_no_guidance_is_the_prior() -> None:
    obs = make_observation(np.full((1, 1, 1), 0.5), ("sic",), [0.2], censored=False)
    guided = dps_denoiser(toy_denoiser, obs, toy_forward, guidance=0.0)
    x = 80.0 * torch.randn(N_TOY, 1, 1, 1, generator=torch.Generator().manual_seed(1))
    sigmas = karras_sigmas(50, 0.002, 80.0)
    torch.testing.assert_close(sample_heun(guided, x, sigmas), sample_heun(toy_denoiser, x, sigmas))


def test_censored_likelihood_matches_scipy() -> None:
    values = np.array([0.0, 0.3, 1.0, np.nan]).reshape(1, 1, 4)
    obs = make_observation(values, ("sic",), [0.1], censored=True)
    mu = torch.tensor([[[[0.2, 0.25, 0.7, 5.0]]]], dtype=torch.float64)
    got = obs.log_likelihood(mu).item()
    want = stats.norm.logcdf((0.0 - 0.2) / 0.1) + stats.norm.logpdf(0.3, 0.25, 0.1) + stats.norm.logsf((1.0 - 0.7) / 0.1)
    assert got == pytest.approx(want, rel=1e-6)
    inflated = obs.log_likelihood(mu, torch.tensor([[0.03]])).item()  # σ² = 0.01 + 0.03
    s = math.sqrt(0.04)
    assert inflated == pytest.approx(stats.norm.logcdf(-0.2 / s) + stats.norm.logpdf(0.3, 0.25, s)
                                     + stats.norm.logsf(0.3 / s), rel=1e-6)
    gaussian = make_observation(values, ("sic",), [0.1], censored=False).log_likelihood(mu).item()
    assert gaussian == pytest.approx(stats.norm.logpdf([0.0, 0.3, 1.0], [0.2, 0.25, 0.7], 0.1).sum(), rel=1e-6)


def test_repaint_keeps_the_known_cells_and_fills_the_rest() -> None:
    known = torch.full((64, 1, 2, 1), 0.7)
    mask = torch.tensor([True, False]).view(1, 2, 1)
    x = 80.0 * torch.randn(64, 1, 2, 1, generator=torch.Generator().manual_seed(2))
    out = sample_repaint(sample_heun, toy_denoiser, x, karras_sigmas(40, 0.002, 80.0), known=known, mask=mask,
                         jumps=2, noise_generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out[:, 0, 0], known[:, 0, 0])
    free = out[:, 0, 1]  # independent of the known cell under this prior: the prior marginal
    assert abs(free.mean().item() - M) < 4 * S / 8 and 0.5 * S < free.std().item() < 1.5 * S


# -- plumbing on tiny checkpoints -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def models(tiny_models: Path) -> Path:
    return tiny_models


def _grid(models: Path, backend: str) -> xr.Dataset:
    return grid_of(discover(models).get(backend))


def _obs(models: Path, backend: str = "dm", **values: float) -> xr.Dataset:
    """A Dataset on the backend's grid: the given variables observed on the western half, NaN elsewhere."""
    grid = _grid(models, backend)
    west = np.broadcast_to(np.arange(grid.sizes["x"])[None, :] < grid.sizes["x"] // 2, grid["mask"].shape)
    fields = {name: (("y", "x"), np.where(west, v, np.nan).astype(np.float32)) for name, v in values.items()}
    return xr.Dataset(fields, coords=grid.coords)


def test_repaint_with_tiny_obs_sigma_reproduces_the_observed_cells(models: Path) -> None:
    obs = _obs(models, sic=0.6, sit=1.5)
    post = assimilate("dm", obs, n=3, steps=4, obs_sigma=1e-3, method="repaint", jumps=2, device="cpu",
                      models_dir=models)
    for name, value in (("sic", 0.6), ("sit", 1.5)):
        seen = np.isfinite(obs[name].values) & (post.mask.values > 0)
        assert seen.sum() > 10
        np.testing.assert_allclose(post[name].values[:, seen], value, atol=5e-3)  # 5 σ_obs
        assert np.nanstd(post[name].values[:, ~seen & (post.mask.values > 0)]) > 0.01  # the rest is generated


@pytest.mark.parametrize("backend,method", [("dm", "dps"), ("dm", "mmps"), ("dm", "repaint"),
                                            ("ldm-censored", "dps"), ("ldm-gaussian", "mmps")])
def test_without_observations_it_is_generate(models: Path, backend: str, method: str) -> None:
    entry = discover(models).get(backend)
    pipe = load_pipeline(entry, "cpu")
    cfg = pipe.data_config
    empty = make_observation(np.full((len(cfg.variables),) + pipe.grid["mask"].shape, np.nan), cfg.variables,
                             [0.05] * len(cfg.variables), censored=entry.decoder == "censored")
    recipe = PAPER.replace(n=3, steps=3, seed=4, bounds="clamp").resolve("cpu")
    fields, cost = posterior_samples(pipe, empty, recipe, method=method)
    ds = generate(backend, recipe, device="cpu", models_dir=models)
    ocean = pipe.grid["mask"].values > 0
    for i, name in enumerate(cfg.variables):
        np.testing.assert_array_equal(fields[:, i][:, ocean], ds[name].values[:, ocean])
    assert cost["nfe"] == ds.attrs["nfe"]


def _rmse_at_obs(backend: str, obs: xr.Dataset, truth: np.ndarray, method: str, models: Path | None) -> dict:
    """RMSE of the members over the observed ocean cells, without guidance (0) and with (1)."""
    errors = {}
    for guidance in (0.0, 1.0):
        post = assimilate(backend, obs, n=2, steps=10, obs_sigma=0.05, method=method, guidance=guidance,
                          bounds="clamp", device="cpu", models_dir=models)
        seen = np.isfinite(obs.sic.values) & (post.mask.values > 0)
        errors[guidance] = float(np.sqrt(np.mean((post.sic.values[:, seen] - truth[seen]) ** 2)))
    return errors


@pytest.mark.parametrize("backend,method", [("dm", "dps"), ("dm", "mmps"), ("ldm-gaussian", "dps"),
                                            ("ldm-censored", "mmps")])
def test_guidance_pulls_towards_the_observations(models: Path, backend: str, method: str) -> None:
    obs = _obs(models, backend, sic=0.8)
    errors = _rmse_at_obs(backend, obs, np.full(obs.sic.shape, 0.8), method, models)
    # a random tiny VAE can hardly draw a half-covered field: there, only better, not much better
    assert errors[1.0] < (0.7 if backend == "dm" else 0.95) * errors[0.0], errors


@pytest.mark.parametrize("backend,method", [("osisaf-ldm-gaussian", "dps"), ("osisaf-ldm-censored", "mmps")])
def test_shipped_latent_backends_fit_an_osisaf_day(backend: str, method: str) -> None:
    day = open_reference("osisaf").isel(time=40).load()
    obs = day[["sic"]].where(day.lon < 0)  # the western hemisphere observed
    errors = _rmse_at_obs(backend, obs, day.sic.values, method, None)
    assert errors[1.0] < 0.5 * errors[0.0] and errors[1.0] < 0.15, errors


def test_output_layout_and_attrs(models: Path) -> None:
    obs = _obs(models, "ldm-censored", sic=1.0)
    post = assimilate("ldm-censored", obs, PAPER.replace(n=2, steps=2), obs_sigma={"sic": 0.1}, method="dps",
                      guidance=2.0, device="cpu", models_dir=models, source="west.nc")
    assert set(post.data_vars) == set(STATE_VARIABLES)
    assert post.sic.dims == ("sample", "y", "x") and post.sizes["sample"] == 2
    assert np.isnan(post.sic.values[:, post.mask.values == 0]).all()
    attrs = post.attrs
    assert (attrs["method"], attrs["guidance"], attrs["likelihood"]) == ("dps", 2.0, "censored at bounds")
    assert json.loads(attrs["obs_sigma"]) == {"sic": 0.1}
    ocean = int((post.mask.values > 0).sum())
    observed = int((np.isfinite(obs.sic.values) & (post.mask.values > 0)).sum())
    assert json.loads(attrs["observed_cells"]) == {"sic": observed}
    assert attrs["observed_fraction"] == pytest.approx(observed / (5 * ocean))
    assert Recipe.from_dict(json.loads(attrs[RECIPE_ATTR])) == PAPER.replace(n=2, steps=2, precision="float32")
    assert attrs["backend"] == "ldm-censored" and attrs["observations"] == "west.nc"


BAD_OBS = {
    "wrong shape": (lambda ds: ds.isel(y=slice(0, 8)), "wrong grid"),
    "shifted coordinates": (lambda ds: ds.assign_coords(y=ds.y + 7000.0), "coordinates differ"),
    "unknown variable": (lambda ds: ds.assign(foo=ds.sic), "unknown variable 'foo'"),
    "all NaN": (lambda ds: ds * np.nan, "every value is NaN"),
    "outside the bounds": (lambda ds: ds + 0.7, "outside its bounds"),
    "several states": (lambda ds: xr.concat([ds, ds], "time"), "several states"),
    "no grid dims": (lambda ds: ds.rename(y="row"), "not \\(y, x\\)"),
}


@pytest.mark.parametrize("case", list(BAD_OBS))
def test_bad_observations_are_clear_errors(models: Path, case: str) -> None:
    change, message = BAD_OBS[case]
    with pytest.raises(SeaIceInputError, match=message):
        assimilate("dm", change(_obs(models, sic=0.5)), n=1, steps=1, device="cpu", models_dir=models)


@pytest.mark.parametrize("kw,message", [
    ({"obs_sigma": 0.0}, "not a finite number > 0"), ({"obs_sigma": -1.0}, "not a finite number > 0"),
    ({"obs_sigma": float("nan")}, "not a finite number > 0"), ({"obs_sigma": math.inf}, "not a finite number > 0"),
    ({"obs_sigma": {"sit": 0.1}}, "no observation error for the observed sic"),
    ({"obs_sigma": {"sic": 0.1, "snow": 1.0}}, "unknown variable 'snow'"),
    ({"method": "ensemble"}, "unknown method"), ({"guidance": float("nan")}, "guidance=nan"),
    ({"guidance": -1.0}, "guidance=-1.0"), ({"jumps": 0}, "jumps=0"),
])
def test_bad_settings_are_clear_errors(models: Path, kw: dict, message: str) -> None:
    with pytest.raises(SeaIceInputError, match=message):
        assimilate("dm", _obs(models, sic=0.5), n=1, steps=1, device="cpu", models_dir=models, **kw)


def test_repaint_on_a_latent_backend_is_refused(models: Path) -> None:
    with pytest.raises(SeaIceInputError, match="VAE latent"):
        assimilate("ldm-gaussian", _obs(models, "ldm-gaussian", sic=0.5), method="repaint", device="cpu",
                   models_dir=models)


def test_ensemble_around_a_state(models: Path) -> None:
    state = generate("dm", PAPER.replace(n=1, steps=3, bounds="clamp"), device="cpu", models_dir=models).isel(sample=0)
    spreads = []
    for sigma in (0.01, 1.0):
        ens = ensemble_around("dm", state, sigma, n=4, steps=4, device="cpu", models_dir=models)
        assert ens.sic.dims == ("sample", "y", "x") and ens.attrs["sigma_start"] == sigma
        spreads.append(float(np.nanmean(ens.sit.std("sample"))))
        if sigma == 0.01:
            np.testing.assert_allclose(ens.sic.values, np.broadcast_to(state.sic.values, ens.sic.shape), atol=0.05)
    assert spreads[1] > 5 * spreads[0]
    with pytest.raises(SeaIceInputError, match="not a noise level"):
        ensemble_around("dm", state, 0.0, n=1, device="cpu", models_dir=models)
    with pytest.raises(SeaIceInputError, match="lacks sit"):
        ensemble_around("dm", state.assign(sit=state.sit * np.nan), 0.5, n=1, device="cpu", models_dir=models)
