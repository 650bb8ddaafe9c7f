"""Generation: sea-ice states from a shipped backend, as a canonical ``xr.Dataset``.

Finn et al. 2024 (arXiv 2406.18417, Sec. 3): ``dm`` samples the normalised state directly,
``ldm-gaussian`` / ``ldm-censored`` sample a VAE latent and decode it with a Gaussian or
censored-Gaussian decoder. Sampling follows Karras et al. 2022 (arXiv 2206.00364): x ~ N(0, σ_max²),
a ρ = 7 schedule (Eq. 5) and Heun's sampler (Alg. 1) by default.

Example
-------
>>> ds = generate("ldm-censored", n=4, steps=20, seed=0, bounds="censored")  # doctest: +SKIP
>>> ds.sic.dims
('sample', 'y', 'x')
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, overload

import numpy as np
import torch
import xarray as xr
from torch import nn

from .. import __version__
from ..checkpoints import (
    BACKENDS,
    CONFIG_FILE,
    WEIGHTS_FILE,
    DenoiserConfig,
    VAEConfig,
    checkpoint_dir,
    checkpoint_hash,
    load_checkpoint,
    load_denoiser,
)
from ..errors import SeaIceInputError
from ..variables import VARIABLES
from .censored import bounds_tensors, censored_point, censored_sample, per_channel
from .samplers import SAMPLERS, Callback, noise_like
from .schedules import karras_sigmas

log = logging.getLogger(__name__)

Backend = Literal["dm", "ldm-gaussian", "ldm-censored"]
BoundsMode = Literal["none", "clip", "censored", "censored-sample"]
SamplerName = Literal["heun", "euler", "ddim"]
Precision = Literal["auto", "float32", "bf16"]
PRECISIONS: tuple[str, ...] = ("auto", "float32", "bf16")

BOUNDS_MODES: tuple[str, ...] = ("none", "clip", "censored", "censored-sample")
MAX_SAMPLES, MAX_STEPS = 256, 1000
RHO = 7.0
#: denoiser / decoder evaluations run in chunks of this many samples (memory, not results)
CHUNK = 32


class GenerationCancelled(Exception):
    """Raise this from a ``callback`` to stop :func:`generate`; it propagates to the caller."""


# -- loading --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoadedBackend:
    """The networks and configs behind one backend, on one device (shared: never mutate)."""

    name: str
    denoiser: nn.Module  # EDMPrecond around the U-Net: D(x, sigma) -> x0_hat
    config: DenoiserConfig
    vae: nn.Module | None  # latent backends only
    vae_config: VAEConfig | None
    hashes: tuple[tuple[str, str], ...]  # (checkpoint name, sha256[:12]) in load order

    @property
    def data_config(self) -> DenoiserConfig | VAEConfig:
        """The config that describes data space: variables, mean/std, grid."""
        return self.vae_config if self.vae_config is not None else self.config

    @property
    def state_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of what the sampler integrates: the normalised state or the latent."""
        c = self.config
        return (c.in_channels, c.spatial_size, c.spatial_size)

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    @torch.no_grad()
    def decode(self, x: torch.Tensor, bounds: str = "none",
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Sampler space -> physical units (B, C, H, W), with ``bounds`` applied (land not masked).

        ``censored-sample`` draws from ``generator``; without one it falls back to the point estimate.
        """
        cfg = self.data_config
        if self.vae is None:
            mu, scale = x.float(), None
        else:
            mus, scale = [], None
            lat_mean = torch.tensor(self.config.latent_mean, device=x.device)
            lat_std = torch.tensor(self.config.latent_std, device=x.device)
            for part in x.split(CHUNK):
                z = part.float() * per_channel(lat_std, part) + per_channel(lat_mean, part)  # (b, L, h, w)
                mu_part, scale = self.vae.decode(z)
                mus.append(mu_part.float())
            mu = torch.cat(mus)  # (B, C, H, W) normalised
        mean = torch.tensor(cfg.mean, device=x.device)
        std = torch.tensor(cfg.std, device=x.device)
        phys = mu * per_channel(std, mu) + per_channel(mean, mu)
        if bounds == "none":
            return phys
        lower, upper = bounds_tensors(cfg.variables, device=x.device)
        if bounds == "censored-sample" and generator is not None and scale is not None:
            return censored_sample(phys, scale.float() * std, lower, upper, generator=generator)
        return censored_point(phys, lower, upper)


def _stamp(folder: Path) -> tuple[str, int, int]:
    files = [folder / CONFIG_FILE, folder / WEIGHTS_FILE]
    return (str(folder.resolve()),) + tuple(f.stat().st_mtime_ns if f.is_file() else -1 for f in files)


def load_backend(backend: Backend, models_dir: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu") -> LoadedBackend:
    """Load (once per process, re-read when a file changes) the checkpoints of ``backend``."""
    _check_choice("backend", backend, tuple(BACKENDS))
    stamps = tuple(_stamp(checkpoint_dir(name, models_dir)) for name in BACKENDS[backend])
    return _load_cached(backend, stamps, str(torch.device(device)))


@lru_cache(maxsize=8)
def _load_cached(backend: str, stamps: tuple[tuple[str, int, int], ...], device: str) -> LoadedBackend:
    folders = [Path(s[0]) for s in stamps]
    denoiser, config = load_denoiser(folders[-1], device=device)
    vae = vae_config = None
    if len(folders) == 2:
        vae, vae_config = load_checkpoint(folders[0], device=device)
    hashes = tuple((f.name, checkpoint_hash(f)) for f in folders)
    if len(folders) == 2:
        _check_pair(backend, folders, config, vae_config, hashes[0][1])
    elif config.kind != "dm":
        raise SeaIceInputError(folders[-1], f"backend dm needs a data-space checkpoint, found kind {config.kind!r}",
                               "Point models_dir at a folder whose dm/ holds a dm checkpoint")
    log.info("loaded backend %s on %s (%s)", backend, device, ", ".join(f"{n}:{h}" for n, h in hashes))
    return LoadedBackend(backend, denoiser, config, vae, vae_config, hashes)


def _check_pair(backend: str, folders: list[Path], config: DenoiserConfig, vae_config: object, vae_hash: str) -> None:
    """A latent backend's VAE and denoiser must belong together."""
    if not isinstance(vae_config, VAEConfig):
        raise SeaIceInputError(folders[0], "expected a VAE checkpoint", "Put the VAE of this backend there")
    want = backend.split("-", 1)[1]
    if vae_config.decoder != want:
        raise SeaIceInputError(folders[0], f"VAE decoder is {vae_config.decoder!r}, backend {backend} needs {want!r}",
                               f"Use the {want} VAE checkpoint for {backend}")
    if config.kind != "ldm" or config.latent_channels != vae_config.latent_channels \
            or config.latent_size != vae_config.latent_size:
        raise SeaIceInputError(folders[1], f"denoiser (kind {config.kind}, {config.latent_channels}×"
                               f"{config.latent_size}²) does not fit the VAE latent "
                               f"({vae_config.latent_channels}×{vae_config.latent_size}²)",
                               "Retrain the latent denoiser on this VAE")
    if config.vae_hash and not (config.vae_hash.startswith(vae_hash) or vae_hash.startswith(config.vae_hash)):
        raise SeaIceInputError(folders[1], f"trained on VAE {config.vae_hash}, but {folders[0].name} is {vae_hash}",
                               "Retrain the latent denoiser on the current VAE (or restore that VAE)")


# -- validation -----------------------------------------------------------------------------------
def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SeaIceInputError(name, f"unknown {name} {value!r}", f"Use one of {', '.join(choices)}")


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise SeaIceInputError(name, f"{name}={value!r} is not an integer in {lo}..{hi}",
                               f"Pass {name} between {lo} and {hi}")
    return int(value)


def _validate(backend: str, n: int, steps: int, seed: int, bounds: str, sampler: str) -> None:
    _check_choice("backend", backend, tuple(BACKENDS))
    _check_choice("sampler", sampler, tuple(SAMPLERS))
    _check_choice("bounds", bounds, BOUNDS_MODES)
    _check_int("n", n, 1, MAX_SAMPLES)
    _check_int("steps", steps, 1, MAX_STEPS)
    _check_int("seed", seed, 0, 2**63 - 1)
    if bounds.startswith("censored") and backend != "ldm-censored":
        raise SeaIceInputError("bounds", f"bounds={bounds!r} needs the censored decoder, but backend is {backend!r}",
                               "Use backend='ldm-censored', or bounds='clip' / 'none' with this backend")


def pick_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; asking for CUDA without one is an input error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise SeaIceInputError("device", f"unknown device {device!r}", "Use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SeaIceInputError("device", "CUDA was asked for but is not available", "Use device='auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise SeaIceInputError("device", f"device type {dev.type!r} is not supported", "Use 'auto', 'cpu' or 'cuda'")
    return dev


# -- sampling -------------------------------------------------------------------------------------
class _Denoiser:
    """Chunked evaluation of the shared denoiser; bf16 autocast on CUDA; land pinned to 0 for ``dm``.

    Pinning x0_hat to the training fill value (0, normalised) on land keeps land cells on the exact
    ODE path of a point mass, as they were during training (noise added to zeros).
    """

    def __init__(self, denoiser: nn.Module, ocean: torch.Tensor | None, autocast: bool) -> None:
        self.denoiser, self.ocean, self.autocast = denoiser, ocean, autocast

    def __call__(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        ctx = torch.autocast(x.device.type, dtype=torch.bfloat16) if self.autocast else nullcontext()
        fmt = torch.channels_last if self.autocast else torch.contiguous_format
        with ctx:
            out = torch.cat([self.denoiser(xp.contiguous(memory_format=fmt), sp)
                             for xp, sp in zip(x.split(CHUNK), sigma.split(CHUNK))])
        out = out.float()
        return out if self.ocean is None else out * self.ocean  # (B, C, H, W)


def _grid(cfg: DenoiserConfig | VAEConfig) -> xr.Dataset:
    from ..grid import default_grid

    text = str(cfg.grid)
    if text == "default" or text.startswith("EASE2-North"):
        return default_grid(cfg.grid_size)
    raise SeaIceInputError("grid", f"the model was trained on grid {text!r}, which generate cannot rebuild",
                           "Train on the default EASE2-North grid (grid.default_grid)")


def _to_dataset(fields: np.ndarray, dims: tuple[str, ...], cfg: DenoiserConfig | VAEConfig,
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
def generate(backend: Backend, n: int = ..., steps: int = ..., seed: int = ..., bounds: BoundsMode = ...,
             sampler: SamplerName = ..., device: str = ..., *, callback: Callback | None = ...,
             models_dir: str | os.PathLike | None = ..., return_trajectory: Literal[False] = ...,
             precision: Precision = ...) -> xr.Dataset: ...
@overload
def generate(backend: Backend, n: int = ..., steps: int = ..., seed: int = ..., bounds: BoundsMode = ...,
             sampler: SamplerName = ..., device: str = ..., *, callback: Callback | None = ...,
             models_dir: str | os.PathLike | None = ...,
             return_trajectory: Literal[True], precision: Precision = ...) -> tuple[xr.Dataset, xr.Dataset]: ...
def generate(
    backend: Backend,
    n: int = 16,
    steps: int = 20,
    seed: int = 0,
    bounds: BoundsMode = "none",
    sampler: SamplerName = "heun",
    device: str = "auto",
    *,
    callback: Callback | None = None,
    models_dir: str | os.PathLike | None = None,
    return_trajectory: bool = False,
    precision: Precision = "auto",
) -> xr.Dataset | tuple[xr.Dataset, xr.Dataset]:
    """Generate ``n`` sea-ice states with ``backend`` (Finn et al. 2024, Sec. 3; Karras et al. 2022, Alg. 1).

    Parameters
    ----------
    backend : ``"dm"`` (data space), ``"ldm-gaussian"`` or ``"ldm-censored"`` (latent).
    n, steps, seed : number of samples (1–256), sampler steps (1–1000), seed of a
        ``torch.Generator`` on the device (the same seed on the same device gives the same states).
    bounds : ``"none"`` raw output (may violate bounds), ``"clip"`` clamp to the variable table's
        bounds, ``"censored"`` / ``"censored-sample"`` (``ldm-censored`` only) the censored decoder's
        point estimate clamp(μ, l, u) or a random draw clamp(μ + σε, l, u).
    sampler : ``"heun"`` (2n − 1 evaluations), ``"euler"`` or ``"ddim"`` (deterministic).
    device : ``"auto"`` (CUDA if present, with bf16 autocast, else CPU), ``"cpu"`` or ``"cuda"``.
    callback : ``callback(step, sigma, x, x0_hat)`` per step, in the sampler's (latent) space; raise
        (e.g. :class:`GenerationCancelled`) to stop: the exception propagates, nothing is returned.
    models_dir : folder of the checkpoints (default ``models/`` or ``$SEAICE_EXPLORER_MODELS``).
    precision : ``"float32"``, ``"bf16"`` (autocast with channels_last for the denoiser; about 2×
        faster on CPU and GPU) or ``"auto"`` (bf16 on CUDA, float32 on CPU).
    return_trajectory : also return a second Dataset, dims ``(step, sample, y, x)``: the decoded
        x0_hat of every step per variable (bounds applied; ``censored-sample`` previews use the
        point estimate, so the samples do not change) with coordinate ``sigma(step)``, and
        ``state`` ``(step, sample, channel, state_y, state_x)``: the sampler's noisy state x in
        normalised units (the latent for latent backends).

    Returns
    -------
    Canonical Dataset: variables ``(sample, y, x)`` in physical units, NaN on land, grid coords,
    provenance attrs (backend, checkpoints and their sha256, sampler, steps, seed, bounds, version,
    device). With ``return_trajectory`` a tuple ``(samples, trajectory)``.
    """
    _validate(backend, n, steps, seed, bounds, sampler)
    _check_choice("precision", precision, PRECISIONS)
    dev = pick_device(device)
    bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
    lb = load_backend(backend, models_dir, dev)
    cfg, grid = lb.data_config, _grid(lb.data_config)
    if grid.sizes["y"] != cfg.grid_size:
        raise SeaIceInputError("grid", f"grid of {grid.sizes['y']} cells for a model of {cfg.grid_size}",
                               "Retrain the model")
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    sigmas = karras_sigmas(steps, lb.config.sigma_min, lb.config.sigma_max, RHO)
    x = noise_like((n,) + lb.state_shape, lb.config.sigma_max, gen, dev)  # (n, C, H, W)
    ocean = torch.from_numpy(grid["mask"].values > 0).to(dev, torch.float32) if lb.vae is None else None
    denoise = _Denoiser(lb.denoiser, ocean, autocast=bf16)

    states: list[np.ndarray] = []
    previews: list[np.ndarray] = []
    seen_sigmas: list[float] = []

    def on_step(step: int, sigma: float, xs: torch.Tensor, x0_hat: torch.Tensor) -> None:
        if return_trajectory:
            seen_sigmas.append(sigma)
            states.append(xs.float().cpu().numpy())
            previews.append(lb.decode(x0_hat, bounds).cpu().numpy())
        if callback is not None:
            callback(step, sigma, xs, x0_hat)

    x0 = SAMPLERS[sampler](denoise, x, sigmas, callback=on_step, generator=gen)
    fields = lb.decode(x0, bounds, generator=gen).cpu().numpy()  # (n, C, H, W)
    attrs = {
        "title": f"seaice-explorer samples, backend {backend}",
        "source": f"seaice-explorer {__version__} generate (Finn et al. 2024 re-implementation)",
        "backend": backend,
        "checkpoints": ",".join(name for name, _ in lb.hashes),
        "checkpoint_sha256": ",".join(f"{name}:{h}" for name, h in lb.hashes),
        "sampler": sampler, "steps": int(steps), "seed": int(seed), "bounds": bounds,
        "sigma_min": float(lb.config.sigma_min), "sigma_max": float(lb.config.sigma_max), "rho": RHO,
        "seaice_explorer_version": __version__, "device": dev.type,
        "precision": "bf16 autocast" if bf16 else "float32",
    }
    ds = _to_dataset(fields, ("sample", "y", "x"), cfg, grid, attrs)
    ds = ds.assign_coords(sample=np.arange(n))
    if not return_trajectory:
        return ds
    traj = _to_dataset(np.stack(previews), ("step", "sample", "y", "x"), cfg, grid, attrs)
    channel = list(cfg.variables) if lb.vae is None else list(range(lb.state_shape[0]))
    traj["state"] = (("step", "sample", "channel", "state_y", "state_x"), np.stack(states).astype(np.float32),
                     {"long_name": "noisy sampler state x (normalised; the latent for latent backends)"})
    traj = traj.assign_coords(step=np.arange(len(seen_sigmas)), sample=np.arange(n), channel=channel,
                              sigma=("step", np.asarray(seen_sigmas, dtype=np.float64)))
    return ds, traj
