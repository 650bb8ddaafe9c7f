"""Posterior sampling in sampler space: the observation operator, the state's encoding and the guided run.

The tensor level under :func:`~.core.assimilate` and :func:`~.core.ensemble_around`: the observation
operator A is the one decode of :class:`~seaice_explorer.diffusion.pipeline.Pipeline` (Finn et al. 2024)
without bounds, so guidance differentiates through the VAE decoder of a latent backend; a state
enters sampler space normalised, or encoded by the VAE (its posterior mean) and standardised.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch

from ..diffusion.generate import RHO
from ..diffusion.pipeline import CHUNK, Pipeline, to_physical
from ..diffusion.samplers import SAMPLERS, Callback
from ..networks.censored import per_channel
from ..recipe import Recipe
from ..variables import bounds_array
from .guidance import Forward, dps_denoiser, mmps_denoiser, sample_repaint
from .observations import Observation

MethodName = Literal["dps", "mmps", "repaint"]
#: conjugate-gradient steps of MMPS per denoiser call: one (a steepest-descent step along the residual) is
#: the robust choice; on the shipped latent backends three made the fit worse (the network's Jacobian is
#: not the symmetric positive covariance that CG needs)
MMPS_ITERATIONS = 1


# -- sampler space <-> physical units ---------------------------------------------------------------
def forward_operator(pipe: Pipeline) -> Forward:
    """The observation operator A: sampler-space x̂0 -> physical fields, differentiable (the decode, raw bounds)."""
    cfg = pipe.data_config
    if pipe.vae is None:
        return lambda x0: to_physical(x0, None, cfg.variables, cfg.mean, cfg.std, "raw")
    lat_mean, lat_std = pipe.latent_scaling()

    def decode(x0: torch.Tensor) -> torch.Tensor:
        z = x0.float() * per_channel(lat_std, x0) + per_channel(lat_mean, x0)  # (B, L, h, w)
        return to_physical(pipe.vae.decode(z)[0], None, cfg.variables, cfg.mean, cfg.std, "raw")

    return decode


def normalise(pipe: Pipeline, fields: np.ndarray) -> torch.Tensor:
    """Physical fields (..., C, H, W) -> z = (x − mean)/std, clamped to the bounds, 0 on land and where NaN."""
    cfg = pipe.data_config
    lower, upper = bounds_array(tuple(cfg.variables))
    mean, std = np.asarray(cfg.mean)[:, None, None], np.asarray(cfg.std)[:, None, None]
    z = (np.clip(fields, lower[:, None, None], upper[:, None, None]) - mean) / std
    z = np.where(np.isfinite(z) & (pipe.grid["mask"].values > 0), z, 0.0)
    return torch.from_numpy(z.astype(np.float32)).to(pipe.device)


@torch.no_grad()
def to_state(pipe: Pipeline, fields: np.ndarray) -> torch.Tensor:
    """A complete physical state (C, H, W) -> sampler space ``(1, *state_shape)``: normalised, or the VAE's
    posterior mean standardised by the latent scaling (Finn et al. 2024)."""
    z = normalise(pipe, fields)[None]  # (1, C, H, W)
    if pipe.vae is None:
        return z
    lat_mean, lat_std = pipe.latent_scaling()
    mu = pipe.vae.encode(z)[0].float()
    return (mu - per_channel(lat_mean, mu)) / per_channel(lat_std, mu)


# -- sampling ---------------------------------------------------------------------------------------
def _chunked(denoiser: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A guided denoiser run in chunks of :data:`CHUNK` members (the gradient graphs bound the memory)."""
    return lambda x, s, **c: torch.cat([denoiser(xp, sp, **c) for xp, sp in zip(x.split(CHUNK), s.split(CHUNK))])


def base_denoiser(pipe: Pipeline, recipe: Recipe) -> Callable[..., torch.Tensor]:
    """The pipeline's denoiser ``D(x, σ)`` at the recipe's precision."""
    return lambda xs, s: pipe.denoise(xs, s, recipe.precision == "bf16")


def counting(denoiser: Callable[..., torch.Tensor]) -> tuple[Callable[..., torch.Tensor], list[int]]:
    """``denoiser`` and a counter of the sampler's calls to it (network evaluations, as ``generate`` counts)."""
    nfe = [0]

    def counted(xs: torch.Tensor, s: torch.Tensor, **cond: Any) -> torch.Tensor:
        nfe[0] += 1
        return denoiser(xs, s, **cond)

    return counted, nfe


def posterior_samples(pipe: Pipeline, obs: Observation, recipe: Recipe, *, method: MethodName = "mmps",
                      guidance: float = 1.0, jumps: int = 1,
                      callback: Callback | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """``recipe.n`` physical states (n, C, H, W) given ``obs`` (an empty one: generate's states), and the cost.

    ``recipe`` as it runs (bounds and precision resolved). The seed's generator draws exactly what
    ``generate`` draws; the replacement noise of RePaint comes from a second generator (seed + 1).
    """
    cfg, dev = pipe.data_config, pipe.device
    gen = torch.Generator(device=dev).manual_seed(recipe.seed)
    aux = torch.Generator(device=dev).manual_seed((recipe.seed + 1) % 2**63)
    sigmas = pipe.sigmas(recipe.steps, RHO)
    x = pipe.noise(recipe.n, gen)  # (n, *state_shape)
    denoise = base_denoiser(pipe, recipe)
    sampler = SAMPLERS[recipe.sampler]
    t0 = time.perf_counter()
    if method == "repaint":
        denoise, nfe = counting(denoise)
        noisy = obs.values + obs.sigma.view(-1, 1, 1) * torch.randn(x.shape, generator=aux, device=dev)
        known = normalise(pipe, noisy.cpu().numpy())  # (n, C, H, W) perturbed observations, bounds applied
        x0 = sample_repaint(sampler, denoise, x, sigmas, known=known, mask=obs.mask, jumps=jumps, generator=gen,
                            noise_generator=aux, callback=callback)
    else:
        forward = forward_operator(pipe)
        prior = dict(prior_var=torch.tensor(cfg.std, device=dev) ** 2, sigma_data=float(pipe.config.sigma_data))
        if method == "dps":
            guided = dps_denoiser(denoise, obs, forward, guidance=guidance, **prior)
        else:
            guided = mmps_denoiser(denoise, obs, forward, guidance=guidance, iterations=MMPS_ITERATIONS, **prior)
        guided, nfe = counting(_chunked(guided))
        x0 = sampler(guided, x, sigmas, callback=callback, generator=gen)
    t1 = time.perf_counter()
    fields = pipe.decode(x0, recipe.bounds, generator=gen).cpu().numpy()  # (n, C, H, W)
    cost = {"nfe": nfe[0], "sampling_seconds": round(t1 - t0, 4), "decode_seconds": round(time.perf_counter() - t1, 4)}
    return fields, cost
