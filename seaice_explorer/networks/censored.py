"""The censored Gaussian of the censored VAE decoder (Finn et al. 2024, arXiv 2406.18417).

A value y of a bounded variable is modelled as y = clamp(μ + σ ε, l, u) with ε ~ N(0, 1): a
Gaussian whose mass below l (above u) sits exactly at l (u). Its negative log-likelihood per cell:

- l < y < u: −log φ((y − μ)/σ) + log σ (the Gaussian density);
- y ≤ l: −log Φ((l − μ)/σ);
- y ≥ u: −log Φ((μ − u)/σ),

with log Φ from ``torch.special.log_ndtr`` (stable far in the tails). Bounds are data: per-channel
tensors of shape ``(C,)`` from :func:`seaice_explorer.variables.bounds_array`, ±inf where a
variable is unbounded, so the plain Gaussian is the same function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch

from ..variables import STATE_VARIABLES, bounds_array
from .layers import weighted_mean

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def bounds_tensors(
    names: Sequence[str] = STATE_VARIABLES,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (lower, upper) bounds ``(C,)`` of the named variables, ±inf where unbounded."""
    lower, upper = bounds_array(tuple(names))
    return (torch.as_tensor(lower, dtype=dtype, device=device),
            torch.as_tensor(upper, dtype=dtype, device=device))


def per_channel(t: torch.Tensor | float, ref: torch.Tensor) -> torch.Tensor:
    """Broadcast a ``(C,)`` tensor along dim 1 of ``ref`` (B, C, ...); other shapes pass through."""
    t = torch.as_tensor(t, dtype=ref.dtype, device=ref.device)
    if t.ndim == 1 and ref.ndim >= 2:
        if t.shape[0] != ref.shape[1]:
            raise ValueError(f"{t.shape[0]} per-channel values for {ref.shape[1]} channels")
        return t.view((1, -1) + (1,) * (ref.ndim - 2))
    return t


def censored_gaussian_nll(
    y: torch.Tensor,
    mu: torch.Tensor,
    sigma: torch.Tensor | float,
    lower: torch.Tensor | float,
    upper: torch.Tensor | float,
    weight: torch.Tensor | None = None,
    *,
    reduction: Literal["mean", "none"] = "mean",
) -> torch.Tensor:
    """Censored-Gaussian NLL (Finn et al. 2024), averaged over ALL weighted cells together.

    Parameters
    ----------
    y, mu : ``(B, C, H, W)`` targets and locations (normalised or physical, consistently).
    sigma : scale, broadcastable to ``y``; a ``(C,)`` tensor is a scale per channel.
    lower, upper : ``(C,)`` bounds (or broadcastable tensors), ±inf where unbounded.
    weight : ``(1 or B, 1 or C, H, W)`` ocean mask; the mean runs over every weighted cell of every
        case (inside / at lower / at upper) in one sum, never per case.
    reduction : ``"mean"`` (scalar) or ``"none"`` (per-cell NLL, shape of ``y``).
    """
    dtype = torch.promote_types(mu.dtype, torch.float32)  # bf16/fp16 -> fp32, fp64 stays
    mu = mu.to(dtype)
    y = y.to(dtype).expand_as(mu)
    sigma = per_channel(sigma, mu).expand_as(mu)
    lo = per_channel(lower, mu).expand_as(mu)
    hi = per_channel(upper, mu).expand_as(mu)
    if weight is not None:  # unweighted (land) targets may be NaN: keep them out of the gradient
        keep = weight.to(device=mu.device).expand_as(mu) > 0
        y = torch.where(keep, y, mu.detach())
    at_lo = y <= lo  # never true where lo = -inf
    at_hi = (y >= hi) & ~at_lo
    # finite stand-ins for infinite bounds keep every branch (and its gradient) finite
    lo_f = torch.where(torch.isfinite(lo), lo, torch.zeros_like(lo))
    hi_f = torch.where(torch.isfinite(hi), hi, torch.zeros_like(hi))
    z = (y - mu) / sigma
    nll_in = 0.5 * z**2 + sigma.log() + _HALF_LOG_2PI
    nll_lo = -torch.special.log_ndtr((lo_f - mu) / sigma)
    nll_hi = -torch.special.log_ndtr((mu - hi_f) / sigma)
    nll = torch.where(at_lo, nll_lo, torch.where(at_hi, nll_hi, nll_in))  # (B, C, H, W)
    if reduction == "none":
        return nll
    return weighted_mean(nll, weight)


def gaussian_nll(
    y: torch.Tensor,
    mu: torch.Tensor,
    sigma: torch.Tensor | float,
    weight: torch.Tensor | None = None,
    *,
    reduction: Literal["mean", "none"] = "mean",
) -> torch.Tensor:
    """Plain Gaussian NLL, the censored one with infinite bounds (the Gaussian VAE decoder)."""
    return censored_gaussian_nll(y, mu, sigma, -math.inf, math.inf, weight, reduction=reduction)


def censored_point(mu: torch.Tensor, lower: torch.Tensor | float, upper: torch.Tensor | float) -> torch.Tensor:
    """Point estimate of the censored decoder: clamp(μ, l, u) (Finn et al. 2024)."""
    lo = per_channel(lower, mu)
    hi = per_channel(upper, mu)
    return torch.minimum(torch.maximum(mu, lo), hi)


def censored_sample(
    mu: torch.Tensor,
    sigma: torch.Tensor | float,
    lower: torch.Tensor | float,
    upper: torch.Tensor | float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Exact draw from the censored Gaussian: clamp(μ + σ ε, l, u), ε ~ N(0, 1) from ``generator``."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return censored_point(mu + per_channel(sigma, mu) * eps, lower, upper)
