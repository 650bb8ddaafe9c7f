"""Observation-guided generation with the shipped unconditional backends (issue 22), xarray in and out.

:func:`assimilate` draws states of the posterior p(x | y) of a backend's prior given observations y
(NaN = unobserved) by conditioning the sampler (:mod:`.guidance`: DPS, MMPS, RePaint);
:func:`ensemble_around` draws an ensemble around one given state by noising it to a level σ and
denoising from there (SDEdit, Meng et al. 2022, arXiv 2108.01073; the ensemble generator of Finn et
al., NPG 2024, as issue 22 asks). Both return the Dataset of ``generate`` (Finn et al. 2024): variables
``(sample, y, x)`` in physical units, NaN on land, grid coordinates, the recipe and provenance attrs.

Example
-------
>>> day = open_reference("osisaf").isel(time=40).load()                       # doctest: +SKIP
>>> obs = day.where(day.lat > 75)                                               # doctest: +SKIP
>>> post = assimilate("osisaf-ldm-gaussian", obs, PAPER.replace(n=8), obs_sigma=0.05)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import xarray as xr

from .. import __version__
from ..checkpoints import resolve_device
from ..diffusion.generate import RHO, checked_recipe, to_dataset
from ..diffusion.pipeline import Pipeline, grid_of, load_pipeline
from ..diffusion.samplers import SAMPLERS, Callback
from ..diffusion.schedules import karras_sigmas
from ..errors import SeaIceInputError
from ..recipe import PAPER, RECIPE_ATTR, Recipe
from ..registry import ModelEntry, Registry, discover
from .guidance import METHODS
from .observations import ObsSigma, check_obs_sigma, make_observation, read_fields
from .posterior import MethodName, base_denoiser, counting, posterior_samples, to_state

log = logging.getLogger(__name__)

#: below this many steps the guidance of dps and mmps overshoots on the shipped backends (a warning)
MIN_GUIDED_STEPS = 10


def _check_knobs(method: str, guidance: float, jumps: int, entry: ModelEntry) -> None:
    if method not in METHODS:
        raise SeaIceInputError("method", f"unknown method {method!r}", f"Use one of {', '.join(METHODS)}")
    if entry.kind not in METHODS[method].kinds:
        usable = ", ".join(m for m, spec in METHODS.items() if entry.kind in spec.kinds)
        raise SeaIceInputError("method", f"{method} replaces observed cells of the state, but {entry.name} diffuses "
                               "in a VAE latent, which has no cells to replace", f"Use {usable}, or a data-space backend")
    if isinstance(guidance, bool) or not isinstance(guidance, (int, float)) or not math.isfinite(guidance) or guidance < 0:
        raise SeaIceInputError("guidance", f"guidance={guidance!r} is not a finite number >= 0",
                               "Pass 1 for the likelihood as it is, more to pull harder, 0 for none")
    if isinstance(jumps, bool) or not isinstance(jumps, int) or jumps < 1:
        raise SeaIceInputError("jumps", f"jumps={jumps!r} is not an integer >= 1", "Pass 1 (no resampling) or more")


def _family_hint(registry: Registry, entry: ModelEntry) -> Callable[[np.ndarray], str]:
    """For a file on another grid: the backends whose grid has that file's land mask."""

    def hint(mask: np.ndarray) -> str:
        fits: list[str] = []
        for dataset in registry.datasets:
            others = [e for e in registry.for_dataset(dataset) if e.dataset != entry.dataset]
            if others and np.array_equal(grid_of(others[0])["mask"].values > 0, mask):
                fits += [e.name for e in others]
        return f" ({', '.join(fits)})" if fits else ""

    return hint


def _provenance(pipe: Pipeline, recipe: Recipe, backend: str, command: str, cost: dict[str, Any]) -> dict[str, Any]:
    """The attrs ``generate`` records: backend, checkpoints, recipe as it ran, σ range, version, device, cost."""
    entry = pipe.entry
    return {
        "title": f"seaice-explorer {command} samples, backend {backend}",
        "source": f"seaice-explorer {__version__} {command} (Finn et al. 2024 re-implementation)",
        "backend": backend, "backend_label": entry.label, "dataset": entry.dataset,
        "checkpoints": ",".join(name for name, _ in pipe.hashes),
        "checkpoint_sha256": ",".join(f"{name}:{h}" for name, h in pipe.hashes),
        RECIPE_ATTR: recipe.to_json(), "sampler": recipe.sampler, "steps": recipe.steps, "seed": recipe.seed,
        "bounds": recipe.bounds, "sigma_min": float(pipe.denoiser.sigma_min),
        "sigma_max": float(pipe.denoiser.sigma_max), "rho": RHO, "sigma_data": float(pipe.config.sigma_data),
        "seaice_explorer_version": __version__, "device": pipe.device.type,
        "precision": "bf16 autocast" if recipe.precision == "bf16" else "float32", **cost,
    }


def _setup(backend: str, recipe: Recipe, overrides: dict[str, Any], device: str,
           models_dir: str | os.PathLike | None) -> tuple[Registry, ModelEntry, Recipe, torch.device]:
    recipe = checked_recipe(recipe, overrides)
    registry = discover(models_dir)
    entry = registry.get(backend)
    dev = resolve_device(device)
    return registry, entry, recipe.replace(bounds=entry.resolve_bounds(recipe.bounds)).resolve(dev.type), dev


def _dataset(pipe: Pipeline, fields: np.ndarray, attrs: dict[str, Any]) -> xr.Dataset:
    ds = to_dataset(fields, ("sample", "y", "x"), pipe.data_config, pipe.grid, attrs)
    return ds.assign_coords(sample=np.arange(fields.shape[0]))


# -- the public functions ---------------------------------------------------------------------------
def assimilate(backend: str, obs: xr.Dataset, recipe: Recipe = PAPER, *, obs_sigma: ObsSigma = 0.05,
               method: MethodName = "mmps", guidance: float = 1.0, jumps: int = 1, n: int | None = None,
               steps: int | None = None, seed: int | None = None, bounds: str | None = None,
               sampler: str | None = None, precision: str | None = None, device: str = "auto",
               models_dir: str | os.PathLike | None = None, callback: Callback | None = None,
               source: str = "obs") -> xr.Dataset:
    """``recipe.n`` states of ``backend``'s posterior given ``obs`` (Chung et al. 2023; Rozet et al. 2024; Lugmayr et al. 2022).

    Parameters
    ----------
    backend : a backend of the registry; ``obs`` must be on its grid (the coordinates of its data set).
    obs : one state's observed variables ``(y, x)`` (a singleton ``time`` is fine) in physical units,
        NaN where unobserved; values within the variable table's bounds.
    recipe, n, steps, seed, bounds, sampler, precision : as for ``generate``.
    obs_sigma : observation error σ_obs in physical units, one number or ``{variable: number}``.
    method : ``"mmps"`` (default) or ``"dps"`` (both backend kinds; censored backends use the censored
        likelihood at the bounds) or ``"repaint"`` (data-space backends only). Guided sampling needs
        about 10 steps or more: with fewer, dps and mmps overshoot (a warning says so).
    guidance : scale of the likelihood term (1: as it is; 0: unconditional); unused by ``repaint``.
    jumps : RePaint's resampling jumps r per step (1: none).
    callback, device, models_dir : as for ``generate``; ``source`` names ``obs`` in messages and attrs.

    Returns
    -------
    ``generate``'s Dataset plus attrs ``method``, ``obs_sigma`` (JSON, per observed variable),
    ``guidance``, ``jumps``, ``likelihood``, ``observed_cells`` and ``observed_fraction`` (of the ocean
    cells of all the backend's variables), ``observations``.
    """
    registry, entry, recipe, dev = _setup(backend, recipe, dict(n=n, steps=steps, seed=seed, bounds=bounds,
                                                                sampler=sampler, precision=precision), device, models_dir)
    _check_knobs(method, guidance, jumps, entry)
    pipe = load_pipeline(entry, dev)
    variables, ocean = tuple(pipe.data_config.variables), pipe.grid["mask"].values > 0
    fields = read_fields(obs, variables, pipe.grid, source=source, family_hint=_family_hint(registry, entry))
    observed = [v for i, v in enumerate(variables) if np.isfinite(fields[i]).any()]
    if not observed:
        raise SeaIceInputError(source, "no observation: every value is NaN (or on land)",
                               "Keep the observed cells finite; NaN marks the unobserved ones")
    sigma = check_obs_sigma(obs_sigma, variables, observed)
    if method != "repaint" and guidance > 0 and recipe.steps < MIN_GUIDED_STEPS:
        log.warning("%s with %d steps: guided sampling overshoots with fewer than %d steps", method, recipe.steps,
                    MIN_GUIDED_STEPS)
    observation = make_observation(fields, variables, sigma, censored=entry.decoder == "censored", ocean=ocean,
                                   device=dev)
    samples, cost = posterior_samples(pipe, observation, recipe, method=method, guidance=float(guidance),
                                      jumps=jumps, callback=callback)
    counts = observation.mask.flatten(1).sum(1).tolist()
    attrs = _provenance(pipe, recipe, backend, "assimilate", cost) | {
        "method": method, "method_reference": METHODS[method].reference,
        "obs_sigma": json.dumps({v: float(sigma[variables.index(v)]) for v in observed}),
        "guidance": float(guidance), "jumps": int(jumps),
        "likelihood": "censored at bounds" if observation.censored else "gaussian",
        "observed_cells": json.dumps({v: int(c) for v, c in zip(variables, counts) if c}),
        "observed_fraction": float(sum(counts) / (len(variables) * ocean.sum())),
        "observations": source,
    }
    log.info("%s: %d posterior states of %s given %d observed cells (%s)", backend, recipe.n, ", ".join(variables),
             observation.count, method)
    return _dataset(pipe, samples, attrs)


def ensemble_around(backend: str, state: xr.Dataset, sigma: float, recipe: Recipe = PAPER, *, n: int | None = None,
                    steps: int | None = None, seed: int | None = None, bounds: str | None = None,
                    sampler: str | None = None, precision: str | None = None, device: str = "auto",
                    models_dir: str | os.PathLike | None = None, callback: Callback | None = None,
                    source: str = "state") -> xr.Dataset:
    """``recipe.n`` states around ``state``: noised to ``sigma`` and denoised from there (SDEdit, Meng et al. 2022).

    ``state``: every variable of the backend on every ocean cell, physical units. ``sigma``: the
    spread knob, a noise level in sampler space in (σ_min, σ_max]; small keeps the members close to the
    state (to the VAE's reconstruction of it for latent backends), σ_max forgets it. ``steps`` of the
    ρ-schedule run from ``sigma`` to σ_min, then 0. Returns ``generate``'s Dataset with attrs
    ``method`` ("ensemble_around") and ``sigma_start``.
    """
    _, entry, recipe, dev = _setup(backend, recipe, dict(n=n, steps=steps, seed=seed, bounds=bounds, sampler=sampler,
                                                         precision=precision), device, models_dir)
    pipe = load_pipeline(entry, dev)
    lo, hi = pipe.denoiser.sigma_min, pipe.denoiser.sigma_max
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not lo < sigma <= hi:
        raise SeaIceInputError("sigma", f"sigma={sigma!r} is not a noise level in ({lo}, {hi}]",
                               "Pass a spread between the backend's sigma_min and sigma_max, e.g. 0.5")
    fields = read_fields(state, pipe.data_config.variables, pipe.grid, source=source, complete=True)
    start = to_state(pipe, fields)  # (1, *state_shape)
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    x = start + float(sigma) * torch.randn((recipe.n,) + tuple(start.shape[1:]), generator=gen, device=dev)
    sigmas = karras_sigmas(recipe.steps, lo, float(sigma), RHO)
    denoise, nfe = counting(base_denoiser(pipe, recipe))
    t0 = time.perf_counter()
    x0 = SAMPLERS[recipe.sampler](denoise, x, sigmas, callback=callback, generator=gen)
    t1 = time.perf_counter()
    samples = pipe.decode(x0, recipe.bounds, generator=gen).cpu().numpy()
    cost = {"nfe": nfe[0], "sampling_seconds": round(t1 - t0, 4), "decode_seconds": round(time.perf_counter() - t1, 4)}
    attrs = _provenance(pipe, recipe, backend, "ensemble_around", cost) | {
        "method": "ensemble_around", "method_reference": "SDEdit, Meng et al. 2022", "sigma_start": float(sigma),
        "start_state": source}
    return _dataset(pipe, samples, attrs)
