"""Conditioning an unconditional diffusion prior on observations at sampling time (no retraining).

Three methods, each built around the repository's one denoiser contract ``D(x, σ, **cond) -> x̂0``
(Karras et al. 2022, arXiv 2206.00364), so every sampler of :mod:`~seaice_explorer.diffusion.samplers`
runs them unchanged. With Tweedie's formula, D(x, σ) = x + σ² ∇_x log p(x; σ), a denoiser of the
posterior p(x | y) is D(x, σ) + σ² ∇_x log p(y | x; σ), and each method approximates that term:

- :func:`dps_denoiser`: Diffusion Posterior Sampling (Chung et al. 2023, arXiv 2209.14687, Eq. 16),
  p(y | x; σ) ≈ p(y | x̂0(x)), the gradient taken through the denoiser (and the VAE decoder of a latent
  backend). The observation variance is inflated by ρ(σ)², the Gaussian-prior variance of x̂0 (ΠGDM's
  r_t², Song et al. 2023, ICLR, Sec. 3.2): it keeps the guidance finite at large σ and makes the
  score exact for a Gaussian prior observed through a linear operator, censored or not.
- :func:`mmps_denoiser`: Moment Matching Posterior Sampling (Rozet et al. 2024, arXiv 2405.13712,
  Eq. 8–10), E[x | x_σ, y] ≈ x̂0 + Σ Aᵀ (Σ_y + A Σ Aᵀ)⁻¹ (y − A(x̂0)) with Σ = σ² ∂x̂0/∂x from
  vector-Jacobian products and conjugate gradients (one step: three made the fit worse on the
  shipped backends); A is linearised at x̂0, and a censored
  observation at a bound becomes a Gaussian site by expectation propagation (Minka 2001).
- :func:`sample_repaint`: RePaint (Lugmayr et al. 2022, arXiv 2201.09865, Alg. 1), gradient-free
  replacement of the observed cells by the observation noised to the current σ. It needs the state to
  *be* the observed field, so it runs in data space only.

Why not azula (Rozet, 0.11): its denoisers take a time t of a schedule (α_t, σ_t) and return a
posterior object, and its guidance methods are sampler classes (``DPSSampler``, ``RePaintSampler``) or
wrap its own ``Denoiser``; using them would need adapters both ways around our EDM denoiser and our
plain sampler functions, and a dependency, for about a hundred lines of maths. We follow its MMPS
(vector-Jacobian products, a short linear solve) and wrote our own, in σ space.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..diffusion.denoiser import Denoiser
from ..diffusion.samplers import Callback
from .observations import Observation

#: A ↦ physical fields: sampler-space x̂0 (B, ...) -> (B, C, H, W), differentiable (the decode without bounds).
Forward = Callable[[Tensor], Tensor]
#: ``sampler(denoiser, x, sigmas, *, callback, generator)`` as in :data:`~seaice_explorer.diffusion.samplers.SAMPLERS`.
Sampler = Callable[..., Tensor]


class Method(NamedTuple):
    """One conditioning method: its name, label, paper and the backend kinds it runs on."""

    name: str
    label: str
    reference: str
    kinds: tuple[str, ...]


#: name -> :class:`Method`, the one list of conditioning methods.
METHODS: Mapping[str, Method] = MappingProxyType({m.name: m for m in (
    Method("dps", "DPS", "Chung et al. 2023, Eq. 16 (variance inflated as Song et al. 2023)", ("data", "latent")),
    Method("mmps", "MMPS", "Rozet et al. 2024, Eq. 8-10 (one conjugate-gradient step)", ("data", "latent")),
    Method("repaint", "RePaint", "Lugmayr et al. 2022, Alg. 1 (data space only)", ("data",)),
)})


def _sigma4(sigma: Tensor, x: Tensor) -> Tensor:
    """σ as ``(B, 1, 1, 1)`` float32 for a batch ``x``."""
    return torch.as_tensor(sigma, dtype=torch.float32, device=x.device).reshape(-1).expand(x.shape[0]).view(-1, 1, 1, 1)


def prior_variance(sigma: Tensor, prior_var: Tensor, sigma_data: float) -> Tensor:
    """ρ(σ)² per member and channel ``(B, C)``: v σ²/(σ_d² + σ²), the variance of x̂0 under a Gaussian prior
    of variance v (σ_d² in sampler space; Song et al. 2023, r_t²)."""
    s2 = sigma.reshape(-1, 1).float() ** 2  # (B, 1)
    return prior_var[None].to(s2) * s2 / (sigma_data**2 + s2)


def dps_denoiser(denoiser: Denoiser, obs: Observation, forward: Forward, *, guidance: float = 1.0,
                 prior_var: Tensor | None = None, sigma_data: float = 1.0) -> Denoiser:
    """DPS as a denoiser (Chung et al. 2023, Eq. 16): D + guidance · σ² ∇_x log p(y | A(x̂0(x))).

    ``prior_var`` ``(C,)``: prior variance of each observed variable in physical units; the likelihood's
    variance becomes σ_obs² + prior_var · σ²/(σ_d² + σ²) (None: plain DPS, σ_obs² alone).
    """

    def guided(x: Tensor, sigma: Tensor, **cond: Any) -> Tensor:
        if obs.count == 0:
            return denoiser(x, sigma, **cond)
        sig = _sigma4(sigma, x)  # (B, 1, 1, 1)
        extra = None if prior_var is None else prior_variance(sig, prior_var, sigma_data)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoiser(xg, sigma, **cond)
            log_lik = obs.log_likelihood(forward(x0), extra).sum()
            (grad,) = torch.autograd.grad(log_lik, xg)
        return (x0.detach() + guidance * sig**2 * grad).to(x.dtype)

    return guided


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-member inner product ``(B, 1, 1, 1)``."""
    return (a * b).flatten(1).sum(1).view(-1, 1, 1, 1)


def conjugate_gradient(op: Callable[[Tensor], Tensor], b: Tensor, iterations: int) -> Tensor:
    """``iterations`` steps of conjugate gradients (Hestenes & Stiefel 1952) for op(v) = b, per member, from v = 0."""
    v = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = _dot(r, r)
    for _ in range(iterations):
        ap = op(p)
        den = _dot(p, ap)
        alpha = torch.where(den > 0, rr / den.clamp_min(1e-30), torch.zeros_like(den))
        v, r = v + alpha * p, r - alpha * ap
        rr_new = _dot(r, r)
        p = r + torch.where(rr > 0, rr_new / rr.clamp_min(1e-30), torch.zeros_like(rr)) * p
        rr = rr_new
    return v


def mmps_denoiser(denoiser: Denoiser, obs: Observation, forward: Forward, *, guidance: float = 1.0,
                  prior_var: Tensor | None = None, sigma_data: float = 1.0, iterations: int = 1) -> Denoiser:
    """MMPS as a denoiser (Rozet et al. 2024, Eq. 8–10): x̂0 + guidance · Σ Aᵀ (Σ_y + A Σ Aᵀ)⁻¹ (y − A(x̂0)).

    Σ = σ² ∂x̂0/∂x (Tweedie's covariance; its symmetry lets one vector-Jacobian product stand for Σ),
    A linearised at x̂0 (a Jacobian-vector product through the decode). Censored observations at a
    bound enter as the Gaussian sites of :meth:`Observation.sites`, whose predictive variance is
    ``prior_var`` · σ²/(σ_d² + σ²) as in :func:`dps_denoiser` (needed for censored observations only).
    """
    if obs.censored and prior_var is None:
        raise ValueError("censored observations need prior_var for their sites")

    def guided(x: Tensor, sigma: Tensor, **cond: Any) -> Tensor:
        if obs.count == 0:
            return denoiser(x, sigma, **cond)
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            x0 = denoiser(xg, sigma, **cond)
            mu = forward(x0)  # (B, C, H, W) physical
        x0_d, mu_d = x0.detach(), mu.detach()
        sig = _sigma4(sigma, x)
        extra = mu_d.new_zeros(mu_d.shape[:2]) if prior_var is None else prior_variance(sig, prior_var, sigma_data)
        y, var_y, mask = obs.sites(mu_d, extra)  # (B, C, H, W) each

        def vjp(v: Tensor) -> Tensor:  # (∂μ/∂x)ᵀ v = ∂x̂0/∂xᵀ Aᵀ v
            return torch.autograd.grad(mu, xg, v, retain_graph=True)[0]

        def op(v: Tensor) -> Tensor:  # (Σ_y + A Σ Aᵀ) v on the observed cells
            v = mask * v
            a_cov = torch.func.jvp(forward, (x0_d,), (vjp(v).to(x0_d.dtype),))[1]
            return mask * (var_y * v + sig**2 * a_cov)

        v = conjugate_gradient(op, mask * (y - mu_d), iterations)
        return (x0_d + guidance * sig**2 * vjp(mask * v)).to(x.dtype)

    return guided


def sample_repaint(sampler: Sampler, denoiser: Denoiser, x: Tensor, sigmas: Tensor, *, known: Tensor, mask: Tensor,
                   jumps: int = 1, generator: torch.Generator | None = None,
                   noise_generator: torch.Generator | None = None, callback: Callback | None = None) -> Tensor:
    """RePaint (Lugmayr et al. 2022, Alg. 1) in σ space around any sampler, one step at a time.

    After each step of ``sampler`` from σ to σ' the observed cells (``mask``, broadcast to ``x``) become
    ``known + σ' ε``; with ``jumps`` r > 1 the step is redone r − 1 more times from x + sqrt(σ² − σ'²) ε
    (the resampling). A multistep sampler (DPM-Solver++(2M)) runs first order here. ``noise_generator``
    draws the replacement noise, ``generator`` goes to the sampler.
    """
    sig = [float(s) for s in sigmas]
    mask = mask.expand_as(x)
    for i in range(len(sig) - 1):
        s_cur, s_next = sig[i], sig[i + 1]
        for j in range(jumps):
            report = None if callback is None or j else (lambda info, i=i: callback({**info, "i": i}))
            x_next = sampler(denoiser, x, sigmas[i:i + 2], callback=report, generator=generator)
            fresh = torch.randn(x.shape, generator=noise_generator, device=x.device, dtype=x.dtype)
            x_next = torch.where(mask, known + s_next * fresh, x_next)
            if j < jumps - 1:
                back = torch.randn(x.shape, generator=noise_generator, device=x.device, dtype=x.dtype)
                x = x_next + math.sqrt(s_cur**2 - s_next**2) * back
        x = x_next
    return x
