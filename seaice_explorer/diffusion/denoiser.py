"""The one denoiser contract shared by the samplers, the loss and the diagnostics.

A denoiser is any callable ``D(x, sigma, **cond) -> x0_hat`` (Karras et al. 2022, arXiv 2206.00364,
Eq. 2 and 7; k-diffusion's ``model(x, sigma, **extra_args)``): ``x`` the noisy state ``(B, C, H, W)``,
``sigma`` its noise level ``(B,)``, ``cond`` the conditioning (e.g. ``cond=`` the land mask and x/y
coordinates of a data-space model), ``x0_hat`` the estimate of the clean state, shaped as ``x``.
Data-space and latent diffusion share it and differ only by the encode/decode around it.
"""

from __future__ import annotations

from typing import Any, Protocol

from torch import Tensor


class Denoiser(Protocol):
    """``D(x, sigma, **cond) -> x0_hat``: :class:`~.precond.EDMPrecond`, a pipeline's ``denoise``, an oracle."""

    def __call__(self, x: Tensor, sigma: Tensor, /, **cond: Any) -> Tensor: ...
