"""Samplers: plain functions that integrate the diffusion ODE/SDE over a sigma schedule.

All follow Karras et al. (2022), arXiv 2206.00364, with σ(t) = t and s(t) = 1 (the VE / EDM
parameterisation), where the probability-flow ODE is dx/dσ = (x − D(x; σ)) / σ (Eq. 4 / Eq. 3).
``denoiser`` is any :class:`~.denoiser.Denoiser` ``D(x, sigma, **extra_args) -> x0_hat`` with ``sigma``
of shape ``(B,)`` (as in k-diffusion: ``extra_args`` carries the conditioning, e.g. the land mask).
``callback({"i", "sigma", "x", "denoised"})`` is called once per step with the state the denoiser
saw; raising from it stops sampling (the exception propagates, nothing is left half-done).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import torch

from ..recipe import SAMPLER_TABLE
from .denoiser import Denoiser

Sigmas = torch.Tensor | Sequence[float]
ExtraArgs = Mapping[str, Any] | None
#: ``callback(info)`` with ``info = {"i": step, "sigma": σ, "x": state, "denoised": x0_hat}``.
Callback = Callable[[dict[str, Any]], None]


def noise_like(
    shape: Sequence[int],
    sigma_max: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Initial state x_N ~ N(0, σ_max² I) (Karras et al. 2022, Alg. 1 line 1)."""
    return torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype) * float(sigma_max)


def _as_floats(sigmas: Sigmas) -> list[float]:
    """The schedule as Python floats, checked to be positive and strictly decreasing (last may be 0)."""
    sig = [float(s) for s in (sigmas.tolist() if isinstance(sigmas, torch.Tensor) else sigmas)]
    if len(sig) < 2:
        raise ValueError(f"a sigma schedule needs at least 2 values, got {len(sig)}")
    if any(not s > 0 for s in sig[:-1]) or sig[-1] < 0:
        raise ValueError("sigmas must be positive (only the last may be 0)")
    if any(b >= a for a, b in zip(sig[:-1], sig[1:])):
        raise ValueError("sigmas must be strictly decreasing")
    return sig


def _denoise(denoiser: Denoiser, x: torch.Tensor, sigma: float, extra_args: ExtraArgs) -> torch.Tensor:
    s = torch.full((x.shape[0],), sigma, dtype=torch.float32, device=x.device)  # (B,)
    return denoiser(x, s, **(extra_args or {})).to(x.dtype)


def _report(callback: Callback | None, i: int, sigma: float, x: torch.Tensor, denoised: torch.Tensor) -> None:
    if callback is not None:
        callback({"i": i, "sigma": sigma, "x": x, "denoised": denoised})


def _randn(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


@torch.no_grad()
def sample_euler(denoiser: Denoiser, x: torch.Tensor, sigmas: Sigmas, *, extra_args: ExtraArgs = None,
                 callback: Callback | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Euler integration of the probability-flow ODE (Karras et al. 2022, Alg. 1 without line 6–8).

    One denoiser evaluation per step. ``generator`` is unused (deterministic) and accepted for a
    uniform signature.
    """
    sig = _as_floats(sigmas)
    for i in range(len(sig) - 1):
        x0_hat = _denoise(denoiser, x, sig[i], extra_args)
        _report(callback, i, sig[i], x, x0_hat)
        d = (x - x0_hat) / sig[i]
        x = x + (sig[i + 1] - sig[i]) * d
    return x


@torch.no_grad()
def sample_heun(denoiser: Denoiser, x: torch.Tensor, sigmas: Sigmas, *, extra_args: ExtraArgs = None,
                callback: Callback | None = None, generator: torch.Generator | None = None, s_churn: float = 0.0,
                s_tmin: float = 0.0, s_tmax: float = math.inf, s_noise: float = 1.0) -> torch.Tensor:
    """Heun's 2nd-order sampler (Karras et al. 2022, Alg. 1; with ``s_churn > 0`` the stochastic Alg. 2).

    The 2nd-order correction is skipped at the last step when it goes to σ = 0, so ``n`` steps
    cost 2n − 1 denoiser evaluations (20 steps = 39). ``generator`` seeds the churn noise only.
    """
    sig = _as_floats(sigmas)
    n = len(sig) - 1
    for i in range(n):
        s_cur, s_next = sig[i], sig[i + 1]
        gamma = min(s_churn / n, math.sqrt(2.0) - 1.0) if s_tmin <= s_cur <= s_tmax else 0.0
        s_hat = s_cur * (1.0 + gamma)
        if gamma > 0:
            x = x + math.sqrt(s_hat**2 - s_cur**2) * s_noise * _randn(x, generator)
        x0_hat = _denoise(denoiser, x, s_hat, extra_args)
        _report(callback, i, s_hat, x, x0_hat)
        d = (x - x0_hat) / s_hat
        x_next = x + (s_next - s_hat) * d
        if s_next > 0:
            d_next = (x_next - _denoise(denoiser, x_next, s_next, extra_args)) / s_next
            x_next = x + (s_next - s_hat) * 0.5 * (d + d_next)
        x = x_next
    return x


@torch.no_grad()
def sample_ddim(denoiser: Denoiser, x: torch.Tensor, sigmas: Sigmas, *, extra_args: ExtraArgs = None,
                callback: Callback | None = None, generator: torch.Generator | None = None,
                eta: float = 0.0) -> torch.Tensor:
    """DDIM (Song et al. 2021, arXiv 2010.02502, Eq. 12) written in σ space.

    With ``eta = 0`` (default) it is deterministic and, for the VE/EDM ODE, identical to Euler in
    σ: x ← x̂₀ + (σ_next/σ)(x − x̂₀) (Karras et al. 2022, Sec. 3 and App. B.2).
    ``eta = 1`` is ancestral sampling: the step to σ_next splits into σ_down² + σ_up² = σ_next²
    with σ_up² = σ_next²(σ² − σ_next²)/σ², the fresh noise drawn from ``generator``.
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    sig = _as_floats(sigmas)
    for i in range(len(sig) - 1):
        s_cur, s_next = sig[i], sig[i + 1]
        x0_hat = _denoise(denoiser, x, s_cur, extra_args)
        _report(callback, i, s_cur, x, x0_hat)
        s_up = min(s_next, eta * math.sqrt(s_next**2 * (s_cur**2 - s_next**2) / s_cur**2))
        s_down = math.sqrt(s_next**2 - s_up**2)
        x = x0_hat + (s_down / s_cur) * (x - x0_hat)
        if s_up > 0:
            x = x + s_up * _randn(x, generator)
    return x


@torch.no_grad()
def sample_dpmpp_2m(denoiser: Denoiser, x: torch.Tensor, sigmas: Sigmas, *, extra_args: ExtraArgs = None,
                    callback: Callback | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, arXiv 2211.01095, Alg. 2) in σ space, with t = −ln σ.

    A multistep 2nd-order solver of the probability-flow ODE in data-prediction form: one denoiser
    evaluation per step (n steps = n evaluations), reusing the previous step's x̂₀:
    x ← (σ_next/σ) x − (e^{−h} − 1) D̂, with h = t_next − t and D̂ = (1 + 1/2r) x̂₀ − (1/2r) x̂₀_prev,
    r = h_prev / h; the first step and the last (to σ = 0) are first order. ``generator`` is unused
    (deterministic) and accepted for a uniform signature.
    """
    sig = _as_floats(sigmas)
    old_denoised: torch.Tensor | None = None
    h_last = 0.0
    for i in range(len(sig) - 1):
        s_cur, s_next = sig[i], sig[i + 1]
        denoised = _denoise(denoiser, x, s_cur, extra_args)
        _report(callback, i, s_cur, x, denoised)
        if s_next == 0:
            x = denoised  # the ODE's end point: D at the last level
            break
        h = math.log(s_cur) - math.log(s_next)  # t_next - t, t = -ln σ
        d_hat = denoised
        if old_denoised is not None:
            r = h_last / h
            d_hat = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
        x = (s_next / s_cur) * x - math.expm1(-h) * d_hat
        old_denoised, h_last = denoised, h
    return x


#: sampler name -> function, for the names of :data:`seaice_explorer.recipe.SAMPLER_TABLE` (the one list
#: of samplers; each row names its function here).
SAMPLERS: Mapping[str, Callable[..., torch.Tensor]] = MappingProxyType(
    {name: globals()[spec.function] for name, spec in SAMPLER_TABLE.items()})
