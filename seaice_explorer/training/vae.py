"""Training of the VAE with a Gaussian or censored-Gaussian decoder (Finn et al. 2024)."""

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

from ..checkpoints import VAEConfig, build_module, load_checkpoint, save_checkpoint
from ..diffusion.pipeline import to_physical
from ..errors import SeaIceInputError
from ..networks import VAE
from ..registry import native_bounds
from ..variables import VARIABLES
from .data import Fields, Normalisation, TrainingData, dataset_name, denormalise, random_crop, write_grid
from .distributed import current_shard, local_device
from .loops import TrainOptions, TrainResult, fit, seeded_module
from .report import save_states_png
from .stream import batches, open_training_data

log = logging.getLogger(__name__)


def train_vae(
    config: VAEConfig | Mapping[str, Any] | None,
    data: str | os.PathLike | xr.Dataset | TrainingData,
    out: str | os.PathLike,
    steps: int,
    *,
    normalisation: Normalisation | tuple = "table",
    options: TrainOptions | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train a VAE on ``data`` and save ``out`` (EMA weights, config, model card, sample.png).

    ``overrides`` are :class:`TrainOptions` fields (``batch_size``, ``lr``, ``seed``, ``device``,
    ``resume``, ``crop``...). Mean/std and grid in the config are set from the data; a store from
    ``prepare`` is streamed.
    """
    opts = dataclasses.replace(options or TrainOptions(), steps=steps, **overrides)
    params = config.to_dict() if isinstance(config, VAEConfig) else dict(config or {})
    td = open_training_data(data, params.get("variables"), normalisation)
    params.update(variables=list(td.variables), grid_size=td.grid_size, grid=td.grid,
                  mean=list(td.mean), std=list(td.std))
    params.setdefault("dataset", dataset_name(data, Path(out).parent))
    cfg = VAEConfig.from_dict(params)
    size = opts.crop or td.grid_size
    if size % cfg.downsample or size > td.grid_size:
        raise SeaIceInputError("crop", f"crop {size} must divide by downsample {cfg.downsample} and fit the grid",
                               f"Use a multiple of {cfg.downsample} up to {td.grid_size}")
    model = seeded_module(lambda: build_module(cfg), opts.seed)
    lower, upper = td.bounds
    fmt = opts.memory_format(local_device(opts.device))
    shard = current_shard()

    def loss_fn(net, x, gen_cpu, gen_dev):  # net(...) is VAE.loss
        device = next(net.parameters()).device
        mask = td.mask[None, None]
        if opts.crop:
            x, mask = random_crop(x, mask, opts.crop, gen_cpu, shard)
        x, mask = x.to(device).contiguous(memory_format=fmt), mask.to(device)
        eps = shard.randn((x.shape[0], cfg.latent_channels, *(n // cfg.downsample for n in x.shape[-2:])), gen_dev)
        out_ = net(x, mask, lower.to(device), upper.to(device), eps=eps)
        nll = shard.global_mean(out_.nll, mask.expand(x.shape[0], -1, -1, -1))
        return nll + cfg.beta * out_.kl, {"nll": nll, "kl": out_.kl}

    def draw(start, gen_cpu):
        return batches(td, opts.batch_size, gen_cpu, shard=shard, start=start, seed=opts.seed, workers=opts.workers)

    n_params = sum(p.numel() for p in model.parameters())
    card = {"training_data": td.source, "parameters": n_params}
    if shard.main:  # the grid travels with the weights (registry, pipeline.grid_of)
        write_grid(out, data)
    result = fit(model, loss_fn, draw, cfg, out, opts, card, entry="loss")
    if result.step >= opts.steps and shard.main:
        _finalise(result, cfg, td, opts)
    return result


@torch.no_grad()
def encode_dataset(vae: nn.Module, fields: Fields, batch: int = 16) -> Tensor:
    """Posterior means of all states ``(T, C, H, W)`` -> ``(T, L, H/f, W/f)`` on the CPU."""
    device = next(vae.parameters()).device
    return torch.cat([vae.encode(fields[i:i + batch].to(device))[0].float().cpu()
                      for i in range(0, fields.shape[0], batch)])


def latent_scaling(latents: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of posterior means ``(T, L, h, w)``: the VAE's latent scaling."""
    mean = latents.mean(dim=(0, 2, 3))
    std = latents.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


@torch.no_grad()
def reconstruct(vae: VAE, cfg: VAEConfig, fields: Fields, batch: int = 16) -> Tensor:
    """Physical reconstructions through the posterior mean, decoded by the pipeline's one decode path:
    the decoder's point estimate (clamp(μ, l, u) for the censored decoder, μ for the Gaussian one)."""
    device = next(vae.parameters()).device
    bounds = native_bounds(cfg.decoder)
    outs = [to_physical(vae(fields[i:i + batch].to(device)), None, cfg.variables, cfg.mean, cfg.std, bounds).cpu()
            for i in range(0, fields.shape[0], batch)]
    return torch.cat(outs)  # (T, C, H, W)


def reconstruction_error(vae: VAE, cfg: VAEConfig, td: TrainingData, batch: int = 16) -> dict[str, float]:
    """RMSE per variable in physical units over all ocean cells and states (read ``batch`` at a time)."""
    ocean = td.mask > 0
    squares, count = torch.zeros(len(cfg.variables), dtype=torch.float64), 0
    for i in range(0, td.fields.shape[0], batch):
        x = td.fields[i:i + batch]
        diff = (reconstruct(vae, cfg, x, batch) - denormalise(x, cfg.mean, cfg.std))[:, :, ocean]  # (b, C, N)
        squares += diff.double().square().sum(dim=(0, 2))
        count += diff.shape[0] * diff.shape[2]
    errors = {}
    for c, name in enumerate(cfg.variables):
        errors[f"{name} RMSE [{VARIABLES[name].units}]"] = float((squares[c] / count).sqrt())
    sigma = vae.log_scale.exp().detach().cpu()
    for c, name in enumerate(cfg.variables):
        errors[f"{name} decoder sigma [{VARIABLES[name].units}]"] = float(sigma[c] * cfg.std[c])
    return errors


def _finalise(result: TrainResult, cfg: VAEConfig, td: TrainingData, opts: TrainOptions) -> None:
    """The latent scaling, the per-variable reconstruction error and a reconstruction PNG of the final checkpoint."""
    vae, _ = load_checkpoint(result.out)
    mean, std = latent_scaling(encode_dataset(vae, td.fields))
    cfg = dataclasses.replace(cfg, latent_mean=mean, latent_std=std)  # the VAE owns its latent scaling
    errors = reconstruction_error(vae, cfg, td)  # type: ignore[arg-type]
    result.card["reconstruction_error"] = errors
    log.info("VAE reconstruction error: %s", errors)
    if opts.preview:
        idx = sorted({0, td.fields.shape[0] // 2})
        truth = denormalise(td.fields[idx], cfg.mean, cfg.std)
        phys = reconstruct(vae, cfg, td.fields[idx])  # type: ignore[arg-type]
        land = (td.mask <= 0).numpy()
        rows = []
        for t, i in enumerate(idx):
            rows += [truth[t].numpy(), phys[t].numpy()]
        states = np.stack(rows)
        states[:, :, land] = np.nan
        titles = [s for i in idx for s in (f"state {i}", f"reconstruction {i}")]
        save_states_png(result.out / "sample.png", states, cfg.variables, titles)
        result.card["sample_image"] = "sample.png"
    save_checkpoint(result.out, vae, cfg, result.card)
