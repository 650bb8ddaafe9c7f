"""Checks of a trained denoiser against properties every exact denoiser has.

Mean bias (the tower property): for the exact denoiser D(x, σ) = E[x0 | x0 + σ n], averaging
D over the data and the noise gives back the data mean, E[D(x0 + σ n, σ)] = E[x0], at every σ.
A trained denoiser whose bias is not zero at large σ pushes every sample the same way from the
first sampler steps on: on 128² sea-ice states the season (the state's mean) is still visible at
σ ≈ 40, and a bias there shifts the extent of all samples (Hoogeboom et al. 2023, Sec. 3.1, on why
higher resolutions need the noise levels shifted up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ..errors import SeaIceInputError
from .denoiser import Denoiser

__all__ = ["Denoiser", "mean_bias"]


@torch.no_grad()
def mean_bias(
    denoiser: Denoiser,
    x0: Tensor,
    sigmas: Sequence[float],
    weight: Tensor | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 32,
    extra_args: Mapping[str, Any] | None = None,
) -> Tensor:
    """(len(sigmas), C): per channel, the weighted mean of D(x0 + σ n, σ) minus that of x0.

    ``x0`` is (N, C, H, W) data in the denoiser's space and ``weight`` an (H, W) cell weight (the
    ocean mask); noise is drawn once per state and σ; ``extra_args`` is the conditioning passed to the
    denoiser (``D(x, σ, **extra_args)``). Zero up to Monte-Carlo error for the exact denoiser; the
    Monte-Carlo standard error shrinks with N·H·W.
    """
    if x0.ndim != 4 or x0.shape[0] == 0:
        raise SeaIceInputError("x0", f"shape {tuple(x0.shape)} is not (N, C, H, W) with N ≥ 1", "Pass a batch of states")
    if not len(sigmas) or min(sigmas) <= 0:
        raise SeaIceInputError("sigmas", f"{list(sigmas)} must be non-empty and positive", "Pass noise levels, e.g. [1, 10, 80]")
    w = torch.ones(x0.shape[-2:], dtype=x0.dtype) if weight is None else weight.to(x0.dtype)
    if w.shape != x0.shape[-2:] or float(w.sum()) <= 0:
        raise SeaIceInputError("weight", f"shape {tuple(w.shape)} (sum {float(w.sum()):g}) does not weight the "
                               f"{tuple(x0.shape[-2:])} grid", "Pass the (H, W) ocean mask")
    w = w.to(x0.device)
    norm = w.sum() * x0.shape[0]
    truth = (x0 * w).sum((0, 2, 3)) / norm
    rows = []
    for s in sigmas:
        total = torch.zeros_like(truth)
        for i in range(0, x0.shape[0], batch_size):
            xb = x0[i:i + batch_size]
            noise = torch.randn(xb.shape, generator=generator, dtype=xb.dtype, device=xb.device)
            sigma = torch.full((xb.shape[0],), float(s), dtype=xb.dtype, device=xb.device)
            x0_hat = denoiser(xb + s * noise, sigma, **(extra_args or {}))  # (b, C, H, W)
            total += (x0_hat.to(xb.dtype) * w).sum((0, 2, 3))
        rows.append(total / norm - truth)
    return torch.stack(rows)
