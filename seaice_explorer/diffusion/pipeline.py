"""One backend's whole path from noise to sea ice: denoiser, conditioning, latent scaling, decode.

Finn et al. 2024 (arXiv 2406.18417): data-space diffusion samples the normalised state;
latent diffusion samples the standardised latent of a VAE and decodes it with a Gaussian or
censored-Gaussian decoder. A :class:`Pipeline` owns, for one backend:

- the denoiser ``D(x, σ, **cond)`` (EDM preconditioning, Karras et al. 2022, Eq. 7), which owns the
  σ range: :meth:`Pipeline.sigmas` and :meth:`Pipeline.noise` read it there;
- the conditioning ``cond``: the land mask and x/y coordinates of a data-space model, passed as
  extra arguments as in EDM and k-diffusion;
- the latent scaling, read from the VAE's config (as diffusers' ``scaling_factor``);
- :meth:`Pipeline.decode`, the one way from sampler space to physical units, with the bounds
  mode applied by :func:`to_physical`.

Generation, training previews, VAE reconstructions, ``evaluate`` and ``bench`` all decode here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..checkpoints import checkpoint_hash, load_checkpoint
from ..configs import (
    CONFIG_FILE,
    DEFAULT_DATASET,
    GRID_FILE,
    WEIGHTS_FILE,
    DataDenoiserConfig,
    DenoiserConfig,
    LatentDenoiserConfig,
    VAEConfig,
    is_named_dataset,
)
from ..data import open_reference
from ..errors import SeaIceInputError
from ..grid import default_grid
from ..networks.censored import bounds_tensors, censored_point, censored_sample, per_channel
from ..networks.unet import fixed_conditioning
from ..registry import Bounds, ModelEntry, dataset_source
from .precond import EDMPrecond
from .samplers import noise_like
from .schedules import karras_sigmas

log = logging.getLogger(__name__)

#: denoiser / decoder evaluations run in chunks of this many samples (memory, not results)
CHUNK = 32


def to_physical(mu: torch.Tensor, scale: torch.Tensor | None, variables: Sequence[str], mean: Sequence[float],
                std: Sequence[float], bounds: Bounds = "raw", generator: torch.Generator | None = None,
                decoder: str = "none") -> torch.Tensor:
    """Normalised decoder mean ``mu`` (B, C, H, W) and scale ``(C,)`` -> physical units, bounds applied.

    ``raw``: mean · std + mean; ``clamp``: clamp(·, l, u) onto the variable table's bounds (the
    censored decoder's point estimate); ``draw``: one draw from the decoder, clamp(μ + σε, l, u)
    for the censored decoder or μ + σε for the Gaussian one (Finn et al. 2024).
    """
    m = per_channel(torch.tensor(mean, device=mu.device), mu)
    s_vec = torch.tensor(std, device=mu.device)
    phys = mu.float() * per_channel(s_vec, mu) + m  # (B, C, H, W)
    if bounds == "raw":
        return phys
    lower, upper = bounds_tensors(variables, device=mu.device)
    if bounds == "clamp":
        return censored_point(phys, lower, upper)
    if bounds != "draw":
        raise ValueError(f"unknown bounds mode {bounds!r}")
    if scale is None or generator is None:
        raise ValueError("a decoder draw needs the decoder's scale and a torch.Generator")
    if decoder != "censored":
        lower, upper = torch.full_like(lower, -torch.inf), torch.full_like(upper, torch.inf)
    return censored_sample(phys, scale.float() * s_vec, lower, upper, generator=generator)


@dataclass(frozen=True, eq=False)
class Pipeline:
    """The networks, conditioning and grid of one backend on one device (shared: never mutate)."""

    entry: ModelEntry
    denoiser: EDMPrecond  # around the U-Net: D(x, sigma, **cond) -> x0_hat; owns sigma_min, sigma_max
    vae: nn.Module | None  # latent backends only
    grid: xr.Dataset  # the data-space grid: mask, cell area, lat/lon
    cond: dict[str, torch.Tensor]  # extra arguments of D (empty for latent backends)
    hashes: tuple[tuple[str, str], ...] = ()  # (checkpoint name, sha256[:12]), VAE first

    @property
    def config(self) -> DenoiserConfig:
        return self.entry.config

    @property
    def data_config(self) -> DenoiserConfig | VAEConfig:
        """The config that describes data space: variables, mean/std, grid."""
        return self.entry.vae_config or self.entry.config

    @property
    def state_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of what the sampler integrates: the normalised state or the latent."""
        c = self.config
        return (c.in_channels, c.spatial_size, c.spatial_size)

    @property
    def device(self) -> torch.device:
        return next(self.denoiser.parameters()).device

    def sigmas(self, steps: int, rho: float = 7.0) -> torch.Tensor:
        """The ρ-schedule (Karras et al. 2022, Eq. 5) over the denoiser's [σ_min, σ_max], then 0: ``(steps + 1,)``."""
        return karras_sigmas(steps, self.denoiser.sigma_min, self.denoiser.sigma_max, rho)

    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` initial states x ~ N(0, σ_max² I) (Karras et al. 2022, Alg. 1 line 1) on the generator's
        device (else the pipeline's): ``(n, *state_shape)``."""
        device = generator.device if generator is not None else self.device
        return noise_like((n,) + self.state_shape, self.denoiser.sigma_max, generator, device)

    @property
    def ocean(self) -> torch.Tensor:
        """(H, W) float ocean mask of the data-space grid on the pipeline's device."""
        return torch.from_numpy(self.grid["mask"].values > 0).to(self.device, torch.float32)

    def latent_scaling(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel (mean, std) that standardise the VAE's latents (the VAE's config owns them)."""
        vae_cfg = self.entry.vae_config
        src = vae_cfg if vae_cfg is not None and vae_cfg.latent_mean is not None else self.config  # legacy: ldm's
        return (torch.tensor(src.latent_mean, device=self.device), torch.tensor(src.latent_std, device=self.device))

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, bf16: bool = False) -> torch.Tensor:
        """D(x, σ, **cond) in chunks; bf16 autocast with channels_last when asked; data-space land pinned to 0.

        Pinning x0_hat to the training fill value (0, normalised) on land keeps land cells on the exact
        ODE path of a point mass, as they were during training (noise added to zeros).
        """
        ctx = torch.autocast(x.device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
        fmt = torch.channels_last if bf16 else torch.contiguous_format
        with ctx:
            out = torch.cat([self.denoiser(xp.contiguous(memory_format=fmt), sp, **self.cond)
                             for xp, sp in zip(x.split(CHUNK), sigma.split(CHUNK))]).float()
        return out if self.vae is not None else out * self.ocean  # (B, C, H, W)

    @torch.no_grad()
    def decode(self, x: torch.Tensor, bounds: Bounds = "raw", generator: torch.Generator | None = None) -> torch.Tensor:
        """Sampler space -> physical units (B, C, H, W) with ``bounds`` applied (land not masked)."""
        cfg = self.data_config
        if self.vae is None:
            mu, scale = x.float(), None
        else:
            lat_mean, lat_std = self.latent_scaling()
            mus = []
            for part in x.split(CHUNK):
                z = part.float() * per_channel(lat_std, part) + per_channel(lat_mean, part)  # (b, L, h, w)
                mu_part, scale = self.vae.decode(z)
                mus.append(mu_part.float())
            mu = torch.cat(mus)  # (B, C, H, W) normalised
        return to_physical(mu, scale, cfg.variables, cfg.mean, cfg.std, bounds, generator, self.entry.decoder)


def grid_of(entry: ModelEntry) -> xr.Dataset:
    """The data-space grid a backend was trained on: its dataset's own grid (coordinates, land mask,
    cell areas; e.g. the OSI SAF land/lake mask), else the default EASE2-North grid at its size."""
    cfg = entry.vae_config or entry.config
    own = (entry.vae_path or entry.path) / GRID_FILE  # the grid kept beside the weights
    if cfg.dataset != DEFAULT_DATASET and own.is_file() and not is_named_dataset(cfg.dataset):
        return _grid_file(own, cfg.grid_size)
    if cfg.dataset != DEFAULT_DATASET:
        try:  # a known name, or a file inside the models folder: never the current directory or outside
            ds = open_reference(dataset_source(cfg.dataset, entry.models_dir))
        except (SeaIceInputError, OSError) as err:
            log.warning("%s: cannot open its dataset %s for the grid (%s); using the default grid",
                        entry.name, cfg.dataset, err)
        else:
            if ds.sizes.get("y") == cfg.grid_size == ds.sizes.get("x"):
                grid = xr.Dataset(coords={k: ds[k].load() for k in ("y", "x", "lat", "lon", "mask", "cell_area")
                                          if k in ds.coords or k in ds.variables})
                grid.attrs.update({k: ds.attrs[k] for k in ("grid", "proj4", "resolution_m") if k in ds.attrs})
                return grid
    text = str(cfg.grid)
    if text == "default" or text.startswith("EASE2-North"):
        return default_grid(cfg.grid_size)
    raise SeaIceInputError("grid", f"the model was trained on grid {text!r}, which cannot be rebuilt here",
                           "Keep its dataset inside the models folder where the config's 'dataset' points, "
                           "or train on the default grid")


def _grid_file(path: Path, size: int) -> xr.Dataset:
    """The grid a model folder keeps (:data:`GRID_FILE`), checked against the config's grid size."""
    try:
        with xr.open_dataset(path) as ds:
            grid = ds.load()
    except (OSError, ValueError) as err:
        raise SeaIceInputError(path, f"unreadable grid file ({err})", "Retrain the model, or restore grid.nc") from None
    if grid.sizes.get("y") != size or grid.sizes.get("x") != size or "mask" not in grid.variables:
        raise SeaIceInputError(path, f"grid {dict(grid.sizes)} does not fit the config's {size}² grid",
                               "Retrain the model, or restore its grid.nc")
    return grid


def build_pipeline(entry: ModelEntry, net: nn.Module, vae: nn.Module | None, grid: xr.Dataset,
                   hashes: tuple[tuple[str, str], ...] = ()) -> Pipeline:
    """A pipeline from networks in memory (loading, training previews): wraps ``net`` in EDMPrecond."""
    cfg = entry.config
    device = next(net.parameters()).device
    cond: dict[str, torch.Tensor] = {}
    if isinstance(cfg, DataDenoiserConfig) and cfg.cond_channels:
        mask = torch.from_numpy((grid["mask"].values > 0).astype(np.float32))
        cond["cond"] = fixed_conditioning(mask, cfg.mask_channel, cfg.coord_channels)[None].to(device)
    return Pipeline(entry, EDMPrecond.from_config(net, cfg).to(device), vae, grid, cond, hashes)


def _stamp(folder: Path) -> tuple[str, int, int]:
    files = [folder / CONFIG_FILE, folder / WEIGHTS_FILE]
    return (str(folder.resolve()),) + tuple(f.stat().st_mtime_ns if f.is_file() else -1 for f in files)


def load_pipeline(entry: ModelEntry, device: str | torch.device = "cpu") -> Pipeline:
    """Load (once per process, again when a file changes) the checkpoints of ``entry``."""
    stamps = tuple(_stamp(f) for f in entry.folders)
    return _load_cached(entry, stamps, str(torch.device(device)))


@lru_cache(maxsize=8)
def _load_cached(entry: ModelEntry, stamps: tuple, device: str) -> Pipeline:
    net, _ = load_checkpoint(entry.path, device=device)
    vae = None
    if entry.vae_path is not None:
        vae, _ = load_checkpoint(entry.vae_path, device=device)
    hashes = tuple((f.name, checkpoint_hash(f)) for f in entry.folders)
    want = entry.config.vae_hash if isinstance(entry.config, LatentDenoiserConfig) else None
    if vae is not None and want and not (want.startswith(hashes[0][1]) or hashes[0][1].startswith(want)):
        raise SeaIceInputError(entry.path, f"trained on VAE {want}, but {entry.vae_path.name} is {hashes[0][1]}",
                               "Retrain the latent denoiser on the current VAE (or restore that VAE)")
    log.info("loaded backend %s on %s (%s)", entry.name, device, ", ".join(f"{n}:{h}" for n, h in hashes))
    return build_pipeline(entry, net, vae, grid_of(entry), hashes)
