"""Denoising score-matching loss with the EDM noise distribution and weighting.

Karras et al. (2022), arXiv 2206.00364, Sec. 5 and Table 1: ln σ ~ N(P_mean, P_std²) with
P_mean = −1.2, P_std = 1.2, and λ(σ) = (σ² + σ_d²) / (σ σ_d)², which makes the effective
weight on the raw network output 1 at every noise level (λ c_out² = 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..networks.layers import weighted_mean
from .denoiser import Denoiser

__all__ = ["Denoiser", "EDMLoss", "edm_loss", "weighted_mean"]


def edm_loss(
    denoiser: Denoiser,
    x0: torch.Tensor,
    *,
    weight: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    p_mean: float = -1.2,
    p_std: float = 1.2,
    sigma_data: float = 1.0,
    extra_args: Mapping[str, Any] | None = None,
    rnd: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """EDM training loss (Karras et al. 2022, Eq. 8 with Table 1's λ(σ) and log-normal p(σ)).

    Parameters
    ----------
    denoiser : ``D(x, sigma, **extra_args) -> x0_hat`` with ``sigma`` of shape ``(B,)``.
    x0 : clean (normalised) data, ``(B, C, H, W)``, finite everywhere (fill land with 0).
    weight : mask of shape ``(1 or B, 1 or C, H, W)``, 1 on ocean and 0 on land; the loss is the
        mean over all weighted cells together.
    generator : seeds the noise levels and the noise (must live on ``x0``'s device).
    extra_args : conditioning passed to the denoiser (e.g. ``cond=`` the cropped mask and coordinates).
    rnd, noise : the standard normal draws for ln σ ``(B,)`` and for the noise (``x0``'s shape); drawn
        by ``generator`` when None (a data-parallel process passes its rows of the global batch's draws).

    Returns
    -------
    Scalar tensor: mean of λ(σ) ‖D(x0 + σ n; σ) − x0‖² over weighted cells.
    """
    b = x0.shape[0]
    shape = (b,) + (1,) * (x0.ndim - 1)  # (B, 1, 1, 1)
    if rnd is None:
        rnd = torch.randn(b, generator=generator, device=x0.device, dtype=torch.float32)
    sigma = (rnd * p_std + p_mean).exp()  # (B,)
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    lam = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2  # (B,)
    x0_hat = denoiser(x0 + noise * sigma.view(shape), sigma, **(extra_args or {}))  # (B, C, H, W)
    per_cell = lam.view(shape) * (x0_hat.float() - x0.float()) ** 2
    return weighted_mean(per_cell, weight)


@dataclass(frozen=True)
class EDMLoss:
    """The EDM loss as a tiny callable holding its hyper-parameters (Karras et al. 2022, Sec. 5)."""

    p_mean: float = -1.2
    p_std: float = 1.2
    sigma_data: float = 1.0

    def __call__(
        self,
        denoiser: Denoiser,
        x0: torch.Tensor,
        *,
        weight: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        return edm_loss(denoiser, x0, weight=weight, generator=generator,
                        p_mean=self.p_mean, p_std=self.p_std, sigma_data=self.sigma_data)
