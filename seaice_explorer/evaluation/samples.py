"""The generated sets ``evaluate`` scores: backend/bounds settings, the sample cache and the ``clamp`` projection.

The bounds modes are ``raw``, ``clamp`` and ``draw`` (:data:`seaice_explorer.registry.BOUNDS`; old
names are mapped and deduplicated). ``clamp`` is a projection clamp(x, l, u) of the ``raw`` sample,
so each backend is sampled once with ``raw`` and projected here (:func:`project`); ``draw`` is sampled
on its own. A sample is cached as ``<samples>/<backend>_<bounds>_n<n>_s<steps>_seed<seed>.nc`` and
reused while its recipe (:func:`seaice_explorer.recipe.cache_key`) and the backend's checkpoints are
unchanged. Sampler, steps and seed default to :data:`seaice_explorer.recipe.PAPER`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from ..checkpoints import checkpoint_hash
from ..diffusion.generate import MAX_SAMPLES
from ..errors import SeaIceInputError
from ..outputs import atomic_file
from ..recipe import PAPER, RECIPE_ATTR, Recipe, cache_key, recipe_of
from ..registry import BOUNDS, DEPRECATED_BOUNDS, ModelEntry
from ..variables import VARIABLES
from .bootstrap import derived_seed

log = logging.getLogger(__name__)

#: the reports' sampler (PAPER's); the cache file name names any other
SAMPLER = PAPER.sampler


@dataclass(frozen=True)
class Setting:
    """One backend at one bounds mode: one row of the table."""

    entry: ModelEntry
    bounds: str  # raw | clamp | draw

    @property
    def backend(self) -> str:
        return self.entry.name

    @property
    def label(self) -> str:
        return f"{self.backend}/{self.bounds}"

    @property
    def raw_bounds(self) -> str:
        """The bounds ``generate`` is called with: ``clamp`` is projected from the ``raw`` sample."""
        return "raw" if self.bounds == "clamp" else self.bounds


def plan_settings(entries: Sequence[ModelEntry], bounds: Sequence[str]) -> tuple[list[Setting], list[str]]:
    """(valid settings, ``"backend/bounds: reason"`` of each skipped combination), backend then bounds order.

    Old bounds names are mapped per backend (``entry.resolve_bounds``) and duplicates dropped.
    """
    unknown = [b for b in bounds if b not in BOUNDS and b not in DEPRECATED_BOUNDS]
    if unknown:
        raise SeaIceInputError("--bounds", f"unknown bounds {', '.join(map(repr, unknown))}", f"Use {', '.join(BOUNDS)}")
    valid: dict[tuple[str, str], Setting] = {}
    skipped: list[str] = []
    for entry in {e.name: e for e in entries}.values():
        for b in dict.fromkeys(bounds):
            try:
                mode = entry.resolve_bounds(b)
            except SeaIceInputError as err:
                skipped.append(f"{entry.name}/{b}: {err.problem}")
                continue
            valid.setdefault((entry.name, mode), Setting(entry, mode))
    if not valid:
        raise SeaIceInputError("--bounds", "no valid backend/bounds combination", "Include 'raw' or 'clamp'")
    return list(valid.values()), skipped


@dataclass(frozen=True)
class SampleRequest:
    """How the sets are generated: the recipe a cached sample must match."""

    n: int
    steps: int
    seed: int
    device: str = "auto"
    models_dir: str | PathLike | None = None
    no_cache: bool = False
    sampler: str = SAMPLER

    def recipe(self, bounds: str) -> Recipe:
        """The recipe of this request at ``bounds`` (precision: PAPER's, ``auto``)."""
        return PAPER.replace(sampler=self.sampler, steps=self.steps, n=self.n, seed=self.seed, bounds=bounds)


def sample_path(samples_dir: Path, backend: str, bounds: str, n: int, steps: int, seed: int,
                sampler: str = SAMPLER) -> Path:
    """``<samples>/<backend>_<bounds>_n<n>_s<steps>_seed<seed>.nc`` (``…_<sampler>.nc`` for another sampler than Heun)."""
    suffix = "" if sampler == SAMPLER else f"_{sampler}"
    return Path(samples_dir) / f"{backend}_{bounds}_n{n}_s{steps}_seed{seed}{suffix}.nc"


def current_hashes(entry: ModelEntry) -> str:
    """``name:sha256[:12],…`` of the checkpoints behind a backend, VAE first (as ``generate``'s attrs)."""
    return ",".join(f"{folder.name}:{checkpoint_hash(folder)}" for folder in entry.folders)


def _recorded(ds: xr.Dataset) -> Recipe | None:
    """The recipe a cached file records (files cached before recipes were recorded: from their attrs)."""
    a = ds.attrs
    try:
        if RECIPE_ATTR in a:
            return recipe_of(a)
        return PAPER.replace(sampler=a["sampler"], steps=int(a["steps"]), n=int(ds.sizes["sample"]),
                             seed=int(a["seed"]), bounds=a["bounds"])
    except (KeyError, TypeError, ValueError):  # SeaIceInputError is a ValueError
        return None


def _cache_matches(ds: xr.Dataset, backend: str, bounds: str, request: SampleRequest, hashes: str) -> bool:
    wanted, recorded = request.recipe(bounds), _recorded(ds)
    if recorded is None or ds.sizes.get("sample") != recorded.n:
        return False
    if wanted.precision == "auto":  # auto: whatever the device ran
        recorded = recorded.replace(precision="auto")
    return (cache_key(ds.attrs.get("backend", ""), recorded, None) == cache_key(backend, wanted, None)
            and ds.attrs.get("checkpoint_sha256") == hashes)


@dataclass
class Sampled:
    """A raw sample and how it was obtained."""

    ds: xr.Dataset
    seconds: float  # wall time of the generate call (from the cache file when reused)
    cached: bool
    path: Path


def obtain(entry: ModelEntry, bounds: str, request: SampleRequest, samples_dir: Path,
           generate_fn: Callable[..., xr.Dataset]) -> Sampled:
    """Reuse the cached sample if it matches (backend, bounds, n, steps, seed, checkpoints), else generate it.

    More than ``MAX_SAMPLES`` states come in chunks of at most that many, each obtained (and cached) as
    its own request: the first with ``seed`` itself (so n = 512 starts with the n = 256 set of the same
    seed), chunk k with :func:`chunk_seed`."""
    if request.n > MAX_SAMPLES:
        return _obtain_chunks(entry, bounds, request, samples_dir, generate_fn)
    backend = entry.name
    path = sample_path(samples_dir, backend, bounds, request.n, request.steps, request.seed, request.sampler)
    hashes = current_hashes(entry)
    if path.exists() and not request.no_cache:
        with xr.open_dataset(path) as cached:
            ds = cached.load()
        if _cache_matches(ds, backend, bounds, request, hashes):
            log.info("reusing %s", path)
            return Sampled(ds, float(ds.attrs.get("generation_seconds", np.nan)), True, path)
        log.warning("cache %s does not match the request or the checkpoints; regenerating", path)
    log.info("generating %s bounds=%s n=%d steps=%d seed=%d", backend, bounds, request.n, request.steps, request.seed)
    start = time.perf_counter()

    def progress(info: dict[str, Any]) -> None:
        step = int(info["i"])
        if step % 5 == 4 or step == request.steps - 1:
            log.info("%s: step %d/%d (sigma %.3g), %.0f s", backend, step + 1, request.steps, float(info["sigma"]),
                     time.perf_counter() - start)

    ds = generate_fn(backend, n=request.n, steps=request.steps, seed=request.seed, bounds=bounds, sampler=request.sampler,
                     device=request.device, models_dir=request.models_dir, callback=progress)
    seconds = time.perf_counter() - start
    ds.attrs["generation_seconds"] = seconds
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, encoding={v: {"zlib": True, "complevel": 1} for v in ds.data_vars})
    return Sampled(ds, seconds, False, path)


def chunk_seed(seed: int, k: int) -> int:
    """The seed of chunk ``k`` ≥ 1 of a large request (no chunk shares its draws with another seed's)."""
    return derived_seed(seed, "chunk", k) % 2**31


def _obtain_chunks(entry: ModelEntry, bounds: str, request: SampleRequest, samples_dir: Path,
                   generate_fn: Callable[..., xr.Dataset]) -> Sampled:
    parts = []
    for k, start in enumerate(range(0, request.n, MAX_SAMPLES)):
        chunk = replace(request, n=min(MAX_SAMPLES, request.n - start),
                        seed=request.seed if k == 0 else chunk_seed(request.seed, k))
        parts.append(obtain(entry, bounds, chunk, samples_dir, generate_fn))
    ds = xr.concat([p.ds for p in parts], "sample", combine_attrs="override")
    if "sample" in ds.coords:
        ds = ds.assign_coords(sample=np.arange(ds.sizes["sample"]))
    seconds = float(sum(p.seconds for p in parts))
    ds.attrs.update(seed=request.seed, generation_seconds=seconds,
                    chunk_seeds=", ".join(str(p.ds.attrs.get("seed")) for p in parts))
    first = _recorded(parts[0].ds)
    if first is not None:  # the whole set: n of all chunks, the run's seed (chunk_seeds says how it was drawn)
        ds.attrs[RECIPE_ATTR] = first.replace(n=ds.sizes["sample"], seed=request.seed).to_json()
    return Sampled(ds, seconds, all(p.cached for p in parts), parts[0].path)


def project(raw: xr.Dataset, bounds: str) -> xr.Dataset:
    """``clamp`` from the raw sample: clamp(x, l, u) per variable with the bounds of
    ``variables.VARIABLES``, the projection ``generate`` applies itself (land stays NaN)."""
    if bounds != "clamp":
        return raw
    out = raw.copy()
    for v in raw.data_vars:
        if v in VARIABLES and VARIABLES[v].bounded:
            out[v] = raw[v].clip(VARIABLES[v].lower, VARIABLES[v].upper, keep_attrs=True)
    out.attrs.update(bounds=bounds, derived_from="the bounds='raw' sample, projected with clamp(x, l, u)")
    return out
