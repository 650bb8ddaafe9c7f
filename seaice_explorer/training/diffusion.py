"""Training of the data-space (``dm``) and latent (``ldm``) denoisers (Finn et al. 2024).

Both use the EDM loss (Karras et al. 2022, Sec. 5: log-normal p(σ), λ(σ) = 1/c_out²). The data
-space U-Net trains on random crops of the normalised state; the matching crops of the land mask
(the loss weight and a conditioning channel) and of the x/y coordinate channels go with them. The latent denoiser trains on the VAE's
posterior means of the whole data set, standardised per latent channel to unit scale.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor, nn

from ..checkpoints import (
    DataDenoiserConfig,
    DenoiserConfig,
    LatentDenoiserConfig,
    VAEConfig,
    build_module,
    checkpoint_dir,
    checkpoint_hash,
    load_checkpoint,
    save_checkpoint,
)
from ..diffusion.losses import edm_loss
from ..diffusion.pipeline import build_pipeline
from ..diffusion.precond import EDMPrecond
from ..diffusion.samplers import sample_heun
from ..errors import SeaIceInputError
from ..networks.unet import fixed_conditioning
from ..registry import ModelEntry
from .data import Normalisation, TrainingData, dataset_name, denormalise, memory_batches, random_crop, write_grid
from .distributed import current_shard, local_device
from .loops import TrainOptions, TrainResult, fit, seeded_module
from .report import save_states_png
from .stream import batches, open_training_data
from .vae import encode_dataset, latent_scaling, reconstruction_error

log = logging.getLogger(__name__)


def train_diffusion(
    config: DenoiserConfig | Mapping[str, Any] | None,
    data: str | os.PathLike | xr.Dataset | TrainingData,
    out: str | os.PathLike,
    steps: int,
    vae: str | os.PathLike | None = None,
    *,
    normalisation: Normalisation | tuple = "table",
    options: TrainOptions | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a ``dm`` or ``ldm`` (``config["kind"]``) denoiser; ``vae`` names the VAE checkpoint for ldm.

    ``overrides`` are :class:`TrainOptions` fields. Data normalisation, grid and (for ldm) the
    latent statistics and the VAE's name and hash are filled into the saved config. A store from
    ``prepare`` is streamed (ldm: encoded once, in a pass over the store; the latents stay in memory).
    """
    opts = dataclasses.replace(options or TrainOptions(), steps=steps, **overrides)
    params = config.to_dict() if isinstance(config, DenoiserConfig) else dict(config or {})
    kind = params.setdefault("kind", "dm")
    device = local_device(opts.device)
    latents = None
    if kind == "ldm":
        td, latents, params = _latent_data(params, data, vae, device)
    elif kind == "dm":
        td = open_training_data(data, params.get("variables"), normalisation)
        if opts.crop and opts.crop >= td.grid_size:
            opts = dataclasses.replace(opts, crop=None)
        if opts.crop and (opts.crop > td.grid_size or opts.crop % 2 ** (len(params.get("channel_mults") or (1, 2, 2)) - 1)):
            raise SeaIceInputError("crop", f"crop {opts.crop} does not fit the U-Net and the {td.grid_size}² grid",
                                   "Use a multiple of 2**(levels-1) no larger than the grid, e.g. 64")
    else:
        raise SeaIceInputError("kind", f"unknown denoiser kind {kind!r}", "Use 'dm' or 'ldm'")
    params.update(variables=list(td.variables), grid_size=td.grid_size, grid=td.grid, mean=list(td.mean), std=list(td.std))
    params.setdefault("dataset", dataset_name(data, Path(out).parent))
    cfg = DenoiserConfig.from_dict(params)  # a DataDenoiserConfig or LatentDenoiserConfig, by kind
    model = seeded_module(lambda: build_module(cfg), opts.seed)
    cond_full = None
    if isinstance(cfg, DataDenoiserConfig):  # (1 + Cc, H, W): the loss weight (mask) and the U-Net's conditioning D(x, σ, cond=)
        cond_full = torch.cat([td.mask[None], fixed_conditioning(td.mask, cfg.mask_channel, cfg.coord_channels)])
    fmt = opts.memory_format(device)
    shard = current_shard()

    def loss_fn(net, x, gen_cpu, gen_dev):
        dev = next(net.parameters()).device
        weight = cond = None
        if cond_full is not None:
            c = cond_full[None].expand(x.shape[0], -1, -1, -1)  # (B, 1 + Cc, H, W)
            if opts.crop:
                x, c = random_crop(x, c, opts.crop, gen_cpu, shard)
            c = c.to(dev)
            weight, cond = c[:, :1], (c[:, 1:] if cfg.cond_channels else None)
        x = x.to(dev).contiguous(memory_format=fmt)
        rnd, noise = shard.randn((x.shape[0],), gen_dev), shard.randn(tuple(x.shape), gen_dev)  # global-batch draws
        loss = edm_loss(EDMPrecond.from_config(net, cfg), x, weight=weight, p_mean=cfg.p_mean, p_std=cfg.p_std,
                        sigma_data=cfg.sigma_data, extra_args={"cond": cond} if cond is not None else None,
                        rnd=rnd, noise=noise)
        return shard.global_mean(loss, weight), {}

    def draw(start, gen_cpu):
        if latents is not None:
            return memory_batches(latents, opts.batch_size, gen_cpu, shard)
        return batches(td, opts.batch_size, gen_cpu, shard=shard, start=start, seed=opts.seed, workers=opts.workers)

    card = {"training_data": td.source, "parameters": sum(p.numel() for p in model.parameters())}
    if isinstance(cfg, LatentDenoiserConfig):
        card["vae"] = f"{cfg.vae} (sha256 {cfg.vae_hash})"
    if shard.main:  # the grid travels with the weights (registry, pipeline.grid_of)
        write_grid(out, data)
    result = fit(model, loss_fn, draw, cfg, out, opts, card)
    if result.step >= opts.steps and shard.main:
        _finalise(result, cfg, td, vae, opts)
    return result


def _finalise(result: TrainResult, cfg: DenoiserConfig, td: TrainingData, vae: Any, opts: TrainOptions) -> None:
    """Final model card: the VAE's reconstruction error (ldm) and a sample image."""
    net, _ = load_checkpoint(result.out)
    vae_net = vae_cfg = None
    if cfg.kind == "ldm":
        vae_net, vae_cfg = load_checkpoint(vae)
        errors = reconstruction_error(vae_net, vae_cfg, td)  # type: ignore[arg-type]
        result.card["reconstruction_error"] = {f"VAE {k}": v for k, v in errors.items()}
    if opts.preview:
        _preview(result, net, cfg, td, vae, opts.seed)
    save_checkpoint(result.out, net, cfg, result.card)


def _latent_data(params: dict, data: Any, vae: str | os.PathLike | None, device: torch.device):
    """Encode the data set once with the VAE (posterior mean) and standardise per latent channel."""
    if vae is None:
        raise SeaIceInputError("vae", "latent diffusion needs a trained VAE", "Pass --vae models/vae-gaussian (or vae-censored)")
    net, vcfg = load_checkpoint(vae, device=device)
    if not isinstance(vcfg, VAEConfig):
        raise SeaIceInputError(vae, f"expected a VAE checkpoint, found kind {vcfg.kind!r}", "Pass a VAE checkpoint")
    td = open_training_data(data, vcfg.variables, (vcfg.mean, vcfg.std))
    if td.grid_size != vcfg.grid_size:
        raise SeaIceInputError(vae, f"VAE trained on a {vcfg.grid_size}² grid, data are {td.grid_size}²",
                               "Train the VAE on the same grid as the diffusion model")
    latents = encode_dataset(net, td.fields)  # (T, L, h, w)
    folder = checkpoint_dir(vae)
    params.update(vae=Path(folder).name, vae_hash=checkpoint_hash(folder), latent_channels=vcfg.latent_channels,
                  latent_size=vcfg.latent_size)
    if vcfg.latent_mean is not None:  # the VAE owns the latent scaling
        lmean, lstd = torch.tensor(vcfg.latent_mean), torch.tensor(vcfg.latent_std)
    else:  # a VAE from before it owned its scaling: keep it in the ldm config (legacy fields)
        stats = latent_scaling(latents)
        params.update(latent_mean=list(stats[0]), latent_std=list(stats[1]))
        lmean, lstd = torch.tensor(stats[0]), torch.tensor(stats[1])
    z = (latents - lmean[:, None, None]) / lstd[:, None, None]
    log.info("latents %s, channel std before standardising %s", tuple(z.shape), [round(float(v), 3) for v in lstd])
    return td, z.contiguous(), params


@torch.no_grad()
def _preview(result: TrainResult, net: nn.Module, cfg: DenoiserConfig, td: TrainingData, vae: Any,
             seed: int, n: int = 3) -> None:
    """Four rows (a reference state and ``n`` samples, 20 Heun steps) in ``sample.png``, decoded by the pipeline."""
    vae_net, vae_cfg = load_checkpoint(vae) if cfg.kind == "ldm" else (None, None)
    entry = ModelEntry(result.out.name, result.out, cfg, vae_cfg, Path(vae) if vae is not None else None)
    grid = xr.Dataset({"mask": (("y", "x"), td.mask.numpy())})
    pipe = build_pipeline(entry, net, vae_net, grid)
    gen = torch.Generator().manual_seed(seed)
    x0 = sample_heun(lambda xs, s, **_: pipe.denoise(xs, s), pipe.noise(n, gen), pipe.sigmas(20))
    samples = pipe.decode(x0, entry.native_bounds)  # (n, C, H, W) physical
    phys = torch.cat([denormalise(td.fields[:1], pipe.data_config.mean, pipe.data_config.std), samples]).numpy()
    phys[:, :, (td.mask <= 0).numpy()] = np.nan
    save_states_png(result.out / "sample.png", phys, cfg.variables, ["reference"] + [f"sample {i + 1}" for i in range(n)])
    result.card["sample_image"] = "sample.png"
