"""Generation: sea-ice states from any backend of the registry, as a canonical ``xr.Dataset``.

Finn et al. 2024 (arXiv 2406.18417): a data-space backend samples the normalised state
directly, a latent backend samples a VAE latent and decodes it with a Gaussian or censored-Gaussian
decoder (:class:`~.pipeline.Pipeline`). Sampling follows Karras et al. 2022 (arXiv 2206.00364):
x ~ N(0, σ_max²), a ρ = 7 schedule (Eq. 5) and the sampler of a :class:`~seaice_explorer.recipe.Recipe`
(default :data:`~seaice_explorer.recipe.PAPER`: Heun, Alg. 1, 20 steps). Every generated Dataset
records its recipe (``attrs["recipe"]``, JSON) and backend, so ``generate --like FILE`` reruns it.

Example
-------
>>> ds = generate("ldm-censored", PAPER.replace(n=4, bounds="clamp"))  # doctest: +SKIP
>>> ds.sic.dims, ds.attrs["recipe"]  # doctest: +SKIP
(('sample', 'y', 'x'), '{"sampler": "heun", "steps": 20, "n": 4, "seed": 0, "bounds": "clamp", "precision": "float32"}')
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Literal, overload

import numpy as np
import torch
import xarray as xr

from .. import __version__
from ..checkpoints import resolve_device
from ..configs import DenoiserConfig, VAEConfig
from ..errors import SeaIceInputError
from ..recipe import PAPER, RECIPE_ATTR, Recipe
from ..registry import discover
from ..trajectory import Trajectory
from ..variables import VARIABLES
from .pipeline import load_pipeline
from .samplers import SAMPLERS, Callback

log = logging.getLogger(__name__)

#: the most samples and steps of one call (the recipe itself only asks for at least 1)
MAX_SAMPLES, MAX_STEPS = 256, 1000
#: attrs that measure this call's wall time: they differ between two otherwise identical calls
TIMING_ATTRS: tuple[str, ...] = ("sampling_seconds", "decode_seconds")
RHO = 7.0


# -- validation -----------------------------------------------------------------------------------
def checked_recipe(recipe: Recipe, overrides: dict[str, Any]) -> Recipe:
    """``recipe`` with the keyword overrides that were given (not None), checked, within one call's limits."""
    if not isinstance(recipe, Recipe):
        raise SeaIceInputError("recipe", f"{recipe!r} is not a Recipe",
                               "Pass a seaice_explorer.recipe.Recipe (e.g. PAPER) and the rest by keyword (n=…)")
    recipe = recipe.replace(**{k: v for k, v in overrides.items() if v is not None})
    for name, hi in (("n", MAX_SAMPLES), ("steps", MAX_STEPS)):
        value = getattr(recipe, name)
        if value > hi:
            raise SeaIceInputError(name, f"{name}={value} is not an integer in 1..{hi}", f"Pass {name} between 1 and {hi}")
    return recipe


# -- sampling -------------------------------------------------------------------------------------
def to_dataset(fields: np.ndarray, dims: tuple[str, ...], cfg: DenoiserConfig | VAEConfig,
                grid: xr.Dataset, attrs: dict[str, object]) -> xr.Dataset:
    """(…, C, H, W) physical fields -> canonical Dataset, NaN on land."""
    ocean = grid["mask"].values > 0
    data_vars = {}
    for i, name in enumerate(cfg.variables):
        arr = np.where(ocean, fields[..., i, :, :], np.nan).astype(np.float32)
        data_vars[name] = (dims, arr, VARIABLES[name].cf_attrs())
    ds = xr.Dataset(data_vars, coords=grid.coords)
    ds.attrs.update({k: v for k, v in grid.attrs.items() if k in ("grid", "proj4", "resolution_m")})
    ds.attrs.update(attrs)
    return ds


@overload
def generate(backend: str, recipe: Recipe = ..., *, n: int | None = ..., steps: int | None = ...,
             seed: int | None = ..., bounds: str | None = ..., sampler: str | None = ...,
             precision: str | None = ..., device: str = ..., callback: Callback | None = ...,
             models_dir: str | os.PathLike | None = ..., return_trajectory: Literal[False] = ...) -> xr.Dataset: ...
@overload
def generate(backend: str, recipe: Recipe = ..., *, n: int | None = ..., steps: int | None = ...,
             seed: int | None = ..., bounds: str | None = ..., sampler: str | None = ...,
             precision: str | None = ..., device: str = ..., callback: Callback | None = ...,
             models_dir: str | os.PathLike | None = ...,
             return_trajectory: Literal[True]) -> tuple[xr.Dataset, Trajectory]: ...
def generate(
    backend: str,
    recipe: Recipe = PAPER,
    *,
    n: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    bounds: str | None = None,
    sampler: str | None = None,
    precision: str | None = None,
    device: str = "auto",
    callback: Callback | None = None,
    models_dir: str | os.PathLike | None = None,
    return_trajectory: bool = False,
) -> xr.Dataset | tuple[xr.Dataset, Trajectory]:
    """Generate ``recipe.n`` sea-ice states with ``backend`` (Finn et al. 2024; Karras et al. 2022, Alg. 1).

    Parameters
    ----------
    backend : a backend of the registry (``registry.discover(models_dir).names``).
    recipe : how to generate (:class:`~seaice_explorer.recipe.Recipe`; default
        :data:`~seaice_explorer.recipe.PAPER`, Heun with 20 steps; the app uses ``QUICK``).
    n, steps, seed, bounds, sampler, precision : keyword overrides of the recipe's fields (None: the
        recipe's). ``n``: samples (1–256); ``steps``: sampler steps (1–1000); ``seed``: of a
        ``torch.Generator`` on the device (the same seed on the same device gives the same states).
        ``bounds``: ``"raw"`` the model's (decoder's) mean, may violate the bounds; ``"clamp"``
        clamp(μ, l, u) onto the variable table's bounds (the censored decoder's point estimate);
        ``"draw"`` (latent backends) one random draw from the VAE decoder; old names ``none``, ``clip``,
        ``censored``, ``censored-sample`` still work (deprecated). ``sampler``: a name of
        :data:`~seaice_explorer.recipe.SAMPLER_TABLE` (all deterministic). ``precision``: ``"float32"``,
        ``"bf16"`` (autocast with channels_last for the denoiser; about 2× faster on CPU and GPU) or
        ``"auto"`` (bf16 on CUDA, float32 on CPU). A bad value raises :class:`SeaIceInputError`.
    device : ``"auto"`` (CUDA if present, else CPU), ``"cpu"`` or ``"cuda"``
        (:func:`~seaice_explorer.checkpoints.resolve_device`).
    callback : ``callback({"i", "sigma", "x", "denoised"})`` per step, in the sampler's (latent)
        space; raise any exception to stop: it propagates to the caller.
    models_dir : folder of the models (default ``models/`` or ``$SEAICE_EXPLORER_MODELS``).
    return_trajectory : also return the denoising path, a :class:`~seaice_explorer.trajectory.Trajectory`:
        per step its σ, the sampler's noisy state (normalised; the latent for latent backends) and the
        decoded guess x̂0 (bounds applied; ``draw`` previews use the backend's native mode, so the
        samples do not change). Its ``to_dataset()`` is the ``--trajectory`` file layout.

    Returns
    -------
    Canonical Dataset: variables ``(sample, y, x)`` in physical units, NaN on land, grid coords,
    provenance attrs (backend, dataset, checkpoints and their sha256, ``recipe``: the recipe as it ran,
    with the bounds mode applied and the precision used, as JSON; sampler, steps, seed, bounds,
    version, device). With ``return_trajectory`` a tuple ``(samples, trajectory)``.
    """
    recipe = checked_recipe(recipe, dict(n=n, steps=steps, seed=seed, bounds=bounds, sampler=sampler, precision=precision))
    entry = discover(models_dir).get(backend)
    dev = resolve_device(device)
    recipe = recipe.replace(bounds=entry.resolve_bounds(recipe.bounds)).resolve(dev.type)  # as it runs
    mode, n, steps, bf16 = recipe.bounds, recipe.n, recipe.steps, recipe.precision == "bf16"
    pipe = load_pipeline(entry, dev)
    cfg, grid = pipe.data_config, pipe.grid
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    sigmas = pipe.sigmas(steps, RHO)  # the preconditioner's σ range
    x = pipe.noise(n, gen)  # (n, C, H, W)
    preview_mode = entry.native_bounds if mode == "draw" else mode
    states: list[np.ndarray] = []
    previews: list[np.ndarray] = []
    seen_sigmas: list[float] = []

    def on_step(info: dict[str, Any]) -> None:
        if return_trajectory:
            seen_sigmas.append(info["sigma"])
            states.append(info["x"].float().cpu().numpy())
            previews.append(pipe.decode(info["denoised"], preview_mode).cpu().numpy())
        if callback is not None:
            callback(info)

    nfe = [0]

    def denoise(xs: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        nfe[0] += 1
        return pipe.denoise(xs, s, bf16)

    t0 = time.perf_counter()
    x0 = SAMPLERS[recipe.sampler](denoise, x, sigmas, callback=on_step, generator=gen)
    t1 = time.perf_counter()
    fields = pipe.decode(x0, mode, generator=gen).cpu().numpy()  # (n, C, H, W)
    t2 = time.perf_counter()
    attrs = {
        "title": f"seaice-explorer samples, backend {backend}",
        "source": f"seaice-explorer {__version__} generate (Finn et al. 2024 re-implementation)",
        "backend": backend, "backend_label": entry.label, "dataset": entry.dataset,
        "checkpoints": ",".join(name for name, _ in pipe.hashes),
        "checkpoint_sha256": ",".join(f"{name}:{h}" for name, h in pipe.hashes),
        RECIPE_ATTR: recipe.to_json(),
        "sampler": recipe.sampler, "steps": steps, "seed": recipe.seed, "bounds": mode,
        "sigma_min": float(pipe.denoiser.sigma_min), "sigma_max": float(pipe.denoiser.sigma_max), "rho": RHO,
        "sigma_data": float(pipe.config.sigma_data),
        "seaice_explorer_version": __version__, "device": dev.type,
        "precision": "bf16 autocast" if bf16 else "float32",
        # the cost of this call: network evaluations, and seconds spent sampling (incl. trajectory previews)
        # and decoding; the app's timing view and the bench read them
        "nfe": nfe[0], "sampling_seconds": round(t1 - t0, 4), "decode_seconds": round(t2 - t1, 4),
    }
    ds = to_dataset(fields, ("sample", "y", "x"), cfg, grid, attrs)
    ds = ds.assign_coords(sample=np.arange(n))
    if not return_trajectory:
        return ds
    guesses = to_dataset(np.stack(previews), ("step", "sample", "y", "x"), cfg, grid, attrs)
    guesses = guesses.assign_coords(step=np.arange(len(seen_sigmas)), sample=np.arange(n))
    channels = tuple(cfg.variables) if pipe.vae is None else tuple(range(pipe.state_shape[0]))
    return ds, Trajectory(backend, ds, guesses, np.stack(states).astype(np.float32),
                          np.asarray(seen_sigmas, dtype=np.float64), channels, float(pipe.config.sigma_data))
