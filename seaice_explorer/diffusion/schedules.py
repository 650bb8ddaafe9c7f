"""Noise-level schedules: pure functions returning decreasing sigmas that end in 0.

Karras et al. (2022), "Elucidating the design space of diffusion-based generative models",
arXiv 2206.00364, Eq. 5 (the ρ-schedule); the log-linear schedule is ρ → ∞ of the same family.
"""

from __future__ import annotations

import math

import torch

from ..errors import SeaIceInputError


def _check(n: int, sigma_min: float, sigma_max: float) -> None:
    if int(n) < 1:
        raise SeaIceInputError(None, f"number of sampling steps n={n} is below 1", "Use at least 1 step, e.g. 20")
    if not (0.0 < sigma_min < sigma_max < math.inf):
        raise SeaIceInputError(
            None,
            f"sigma_min={sigma_min} and sigma_max={sigma_max} do not satisfy 0 < sigma_min < sigma_max",
            "Pass finite noise levels with sigma_min < sigma_max, e.g. 0.002 and 80",
        )


def karras_sigmas(
    n: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The ρ-schedule of Karras et al. (2022, Eq. 5): ``n`` sigmas from ``sigma_max`` to ``sigma_min``, then 0.

    σ_i = (σ_max^{1/ρ} + i/(n−1) (σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ for i < n, σ_n = 0.
    With ``n == 1`` the single step goes from ``sigma_max`` straight to 0.

    Returns a float32 tensor of shape ``(n + 1,)``.

    Examples
    --------
    >>> karras_sigmas(3, 0.1, 10.0).tolist()[-1]
    0.0
    """
    _check(n, sigma_min, sigma_max)
    n = int(n)
    if n == 1:
        sig = torch.tensor([sigma_max], dtype=torch.float64)
    else:
        ramp = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
        sig = (hi + ramp * (lo - hi)) ** rho
        sig[0], sig[-1] = sigma_max, sigma_min  # exact endpoints despite rounding
    out = torch.cat([sig, sig.new_zeros(1)])  # (n + 1,)
    return out.to(device=device, dtype=torch.float32)


def loglinear_sigmas(
    n: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Geometric schedule (uniform in log σ), the ρ → ∞ limit of Karras et al. (2022, Eq. 5); ends in 0."""
    _check(n, sigma_min, sigma_max)
    n = int(n)
    if n == 1:
        sig = torch.tensor([sigma_max], dtype=torch.float64)
    else:
        sig = torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64))
    out = torch.cat([sig, sig.new_zeros(1)])  # (n + 1,)
    return out.to(device=device, dtype=torch.float32)
