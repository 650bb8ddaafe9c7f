"""EDM preconditioning: turns a raw network into a denoiser ``D(x, sigma, **cond) -> x0_hat``.

Karras et al. (2022), arXiv 2206.00364, Table 1 ("Ours"), Eq. 7:
D(x; σ) = c_skip(σ) x + c_out(σ) F(c_in(σ) x; c_noise(σ)) with
c_skip = σ_d² / (σ² + σ_d²), c_out = σ σ_d / √(σ² + σ_d²), c_in = 1 / √(σ² + σ_d²),
c_noise = ¼ ln σ. The wrapper also owns the noise range [σ_min, σ_max] the model was trained and is
sampled over (EDM's ``EDMPrecond.sigma_min``/``sigma_max``): schedules and the initial noise read it here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from ..configs import DenoiserConfig


def sigma_batch(sigma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """Broadcast a scalar or ``(B,)`` sigma to a float32 ``(B,)`` tensor on ``x``'s device."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=x.device)
    if sigma.ndim == 0:
        return sigma.expand(x.shape[0])
    sigma = sigma.reshape(-1)
    if sigma.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"sigma has {sigma.shape[0]} values for a batch of {x.shape[0]}")
    return sigma.expand(x.shape[0])


def edm_coefficients(sigma: torch.Tensor, sigma_data: float | torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(c_skip, c_out, c_in, c_noise) of Karras et al. (2022, Table 1) for each sigma (same shape)."""
    sd2 = torch.as_tensor(sigma_data, dtype=sigma.dtype, device=sigma.device) ** 2
    s2 = sigma**2
    c_skip = sd2 / (s2 + sd2)
    c_out = sigma * sd2.sqrt() / (s2 + sd2).sqrt()
    c_in = 1.0 / (s2 + sd2).sqrt()
    c_noise = sigma.log() / 4.0
    return c_skip, c_out, c_in, c_noise


class EDMPrecond(nn.Module):
    """Wraps a raw ``net(x_in: (B,C,H,W), c_noise: (B,)) -> (B,C,H,W)`` into an EDM denoiser (a ``Denoiser``).

    ``sigma_data`` is the standard deviation of the (normalised) training data; it is kept as a
    non-persistent buffer so the state dict holds only the network's weights (the value
    travels in the model's ``config.json``). ``sigma_min`` and ``sigma_max`` (plain floats, Karras et
    al. 2022, Table 1: 0.002 and 80) bound the noise levels the model is sampled over.

    Examples
    --------
    >>> class Zero(nn.Module):
    ...     def forward(self, x, c_noise):
    ...         return torch.zeros_like(x)
    >>> D = EDMPrecond(Zero(), sigma_data=0.5)
    >>> D(torch.ones(2, 1, 4, 4), torch.tensor(0.5)).mean().item()  # c_skip = 0.5
    0.5
    >>> (D.sigma_min, D.sigma_max)
    (0.002, 80.0)
    """

    sigma_data: torch.Tensor

    def __init__(self, net: nn.Module, sigma_data: float = 1.0, *, sigma_min: float = 0.002,
                 sigma_max: float = 80.0) -> None:
        super().__init__()
        if not float(sigma_data) > 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data}")
        if not 0 < float(sigma_min) < float(sigma_max) < math.inf:
            raise ValueError(f"need 0 < sigma_min < sigma_max < inf, got {sigma_min} and {sigma_max}")
        self.net = net
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.register_buffer("sigma_data", torch.tensor(float(sigma_data)), persistent=False)

    @classmethod
    def from_config(cls, net: nn.Module, config: DenoiserConfig) -> EDMPrecond:
        """``net`` wrapped with the σ_data and σ range of a denoiser's config."""
        return cls(net, config.sigma_data, sigma_min=config.sigma_min, sigma_max=config.sigma_max)

    def coefficients(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(c_skip, c_out, c_in, c_noise) for a float32 sigma tensor (any shape)."""
        return edm_coefficients(sigma, self.sigma_data)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | float, **cond: torch.Tensor) -> torch.Tensor:
        """x0_hat = c_skip x + c_out F(c_in x, c_noise, **cond); computed in float32, returned in ``x.dtype``.

        ``cond`` (e.g. ``cond=`` the land mask and coordinates of a data-space model) goes to the network.
        """
        sig = sigma_batch(sigma, x)  # (B,)
        c_skip, c_out, c_in, c_noise = self.coefficients(sig)
        shape = (-1,) + (1,) * (x.ndim - 1)  # (B, 1, 1, 1)
        x32 = x.float()
        f = self.net(c_in.view(shape) * x32, c_noise, **cond)  # (B, C, H, W), maybe bf16 under autocast
        out = c_skip.view(shape) * x32 + c_out.view(shape) * f.float()
        return out.to(x.dtype)
