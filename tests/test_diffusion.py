"""Diffusion maths against closed forms: schedules, EDM preconditioning, samplers, EDM loss.

Oracles: for Gaussian data N(m, s²) the exact denoiser is D(x; σ) = (s² x + σ² m)/(s² + σ²) and
the probability-flow ODE has the exact solution x(0) = m + (x(σ_max) − m) s / √(s² + σ_max²)
(Karras et al. 2022, Eq. 4); a Gaussian mixture has a closed-form denoiser too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from seaice_explorer.diffusion import (
    EDMLoss,
    EDMPrecond,
    edm_loss,
    karras_sigmas,
    loglinear_sigmas,
    noise_like,
    sample_ddim,
    sample_dpmpp_2m,
    sample_euler,
    sample_heun,
)
from seaice_explorer.errors import SeaIceInputError

SIGMA_MAX = 80.0


def gaussian_denoiser(m: torch.Tensor, s: torch.Tensor):
    """Exact E[x0 | x] for x0 ~ N(m, s²) per channel, m and s of shape (1, C, 1, 1)."""

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        sig2 = sigma.view(-1, 1, 1, 1).to(x.dtype) ** 2
        return (s**2 * x + sig2 * m) / (s**2 + sig2)

    return denoise


def mixture_denoiser(pi: list[float], m: list[float], s: list[float]):
    """Exact E[x0 | x] for a 1-D Gaussian mixture sum_k pi_k N(m_k, s_k²)."""
    pi_t, m_t, s_t = (torch.tensor(v, dtype=torch.float64) for v in (pi, m, s))

    def denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        xd = x.double()[..., None]  # (B, C, H, W, K)
        sig2 = sigma.double().view(-1, 1, 1, 1, 1) ** 2
        var = s_t**2 + sig2
        logw = pi_t.log() - 0.5 * var.log() - 0.5 * (xd - m_t) ** 2 / var
        w = torch.softmax(logw, dim=-1)
        post = (s_t**2 * xd + sig2 * m_t) / var
        return (w * post).sum(-1).to(x.dtype)

    return denoise


class Counting:
    """Wraps a denoiser and counts its evaluations."""

    def __init__(self, fn) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, x, sigma):
        self.calls += 1
        return self.fn(x, sigma)


M = torch.tensor([2.0, -1.0]).view(1, 2, 1, 1)
S = torch.tensor([0.5, 1.5]).view(1, 2, 1, 1)
SHAPE = (2048, 2, 4, 4)  # 32,768 iid values per channel
N_PER_CHANNEL = SHAPE[0] * SHAPE[2] * SHAPE[3]


def _x_init(seed: int = 0, shape=SHAPE) -> torch.Tensor:
    return noise_like(shape, SIGMA_MAX, torch.Generator().manual_seed(seed))


def _exact_ode(x_init: torch.Tensor) -> torch.Tensor:
    return M + (x_init - M) * S / torch.sqrt(S**2 + SIGMA_MAX**2)


def _assert_gaussian_marginal(out: torch.Tensor, std_rel_tol: float) -> None:
    """Per-channel mean and std vs N(M, S²): 4 standard errors, plus the known bias of starting at
    N(0, σ_max²) instead of N(m, s² + σ_max²) and an allowance for the discretisation."""
    n = out.numel() // out.shape[1]
    mean = out.mean(dim=(0, 2, 3))
    std = out.std(dim=(0, 2, 3))
    m, s = M.flatten(), S.flatten()
    init_bias = m.abs() * s / torch.sqrt(s**2 + SIGMA_MAX**2)
    assert torch.all((mean - m).abs() <= init_bias + 4 * s / math.sqrt(n)), (mean, m)
    assert torch.all((std / s - 1).abs() <= std_rel_tol + 4 / math.sqrt(2 * n)), (std, s)


# ----------------------------------------------------------------------------- schedules
@pytest.mark.parametrize("n", [1, 2, 5, 20, 100])
def test_karras_sigmas_endpoints_monotone_zero(n: int) -> None:
    sig = karras_sigmas(n, 0.002, 80.0)
    assert sig.shape == (n + 1,) and sig.dtype == torch.float32
    assert sig[0].item() == pytest.approx(80.0) and sig[-1].item() == 0.0
    if n > 1:
        assert sig[-2].item() == pytest.approx(0.002)
    assert torch.all(sig[1:] < sig[:-1])


def test_karras_sigmas_are_linear_in_sigma_pow_one_over_rho() -> None:
    """Eq. 5 of Karras et al. (2022): σ_i^{1/ρ} is an arithmetic sequence."""
    rho = 7.0
    sig = karras_sigmas(12, 0.01, 50.0, rho=rho).double()[:-1]
    root = sig ** (1 / rho)
    np.testing.assert_allclose(torch.diff(root).numpy(), torch.diff(root)[0].item(), rtol=1e-5)


def test_loglinear_sigmas_equally_spaced_in_log() -> None:
    sig = loglinear_sigmas(10, 0.01, 10.0)
    assert sig[-1] == 0 and sig[0].item() == pytest.approx(10.0) and sig[-2].item() == pytest.approx(0.01)
    np.testing.assert_allclose(torch.diff(sig[:-1].double().log()).numpy(), math.log(1e-3) / 9, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(n=0), dict(n=5, sigma_min=1.0, sigma_max=0.5), dict(n=5, sigma_min=0.0)])
def test_schedule_rejects_bad_input(kwargs) -> None:
    with pytest.raises(SeaIceInputError):
        karras_sigmas(**kwargs)


# ----------------------------------------------------------------------------- preconditioning
class Zero(nn.Module):
    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class TinyNet(nn.Module):
    """A 1-layer raw network with the contract net(x, c_noise)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * c_noise.view(-1, 1, 1, 1)


class Recorder(nn.Module):
    """Returns a constant and records what the wrapper fed it."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.seen: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.clone(), c_noise.clone()))
        return torch.full_like(x, self.value)


@pytest.mark.parametrize("sigma_data", [0.5, 1.0])
def test_precond_zero_net_is_c_skip_and_optimal_for_centred_gaussian(sigma_data: float) -> None:
    """With F = 0, D = c_skip x = σ_d² x/(σ² + σ_d²): the exact denoiser of N(0, σ_d²) data."""
    D = EDMPrecond(Zero(), sigma_data=sigma_data)
    x = torch.randn(3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    sigma = torch.tensor([0.1, 1.0, 30.0])
    exact = gaussian_denoiser(torch.zeros(1, 2, 1, 1), torch.full((1, 2, 1, 1), sigma_data))
    torch.testing.assert_close(D(x, sigma), exact(x, sigma))


def test_precond_coefficient_identities_and_inputs() -> None:
    sd = 0.7
    net = Recorder(2.0)
    D = EDMPrecond(net, sigma_data=sd)
    sigma = torch.tensor([0.002, 0.3, 5.0, 80.0], dtype=torch.float32)
    c_skip, c_out, c_in, c_noise = D.coefficients(sigma)
    # unit-variance network input and target (Karras et al. 2022, App. B.6)
    torch.testing.assert_close(c_in**2 * (sigma**2 + sd**2), torch.ones(4))
    torch.testing.assert_close(c_skip + c_out**2 / sd**2, torch.ones(4))
    lam = (sigma**2 + sd**2) / (sigma * sd) ** 2
    torch.testing.assert_close(lam * c_out**2, torch.ones(4))  # effective loss weight 1
    torch.testing.assert_close(c_noise, sigma.log() / 4)
    x = torch.randn(4, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    out = D(x, sigma)
    x_in, cn = net.seen[-1]
    torch.testing.assert_close(x_in, c_in.view(-1, 1, 1, 1) * x)
    torch.testing.assert_close(cn, c_noise)
    torch.testing.assert_close(out, c_skip.view(-1, 1, 1, 1) * x + 2.0 * c_out.view(-1, 1, 1, 1))


def test_precond_scalar_sigma_broadcasts_and_state_dict_is_the_nets() -> None:
    D = EDMPrecond(TinyNet(1), sigma_data=0.5)
    x = torch.randn(3, 1, 2, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(D(x, torch.tensor(0.4)), D(x, torch.full((3,), 0.4)))
        torch.testing.assert_close(D(x, 0.4), D(x, torch.full((3,), 0.4)))
    assert set(D.state_dict()) == {"net.conv.weight", "net.conv.bias"}
    assert D.sigma_data.item() == 0.5


# ----------------------------------------------------------------------------- samplers
def test_heun_converges_at_second_order_and_euler_at_first() -> None:
    """Per-sample error vs the exact ODE solution shrinks ~4× (Heun) and ~2× (Euler) per doubling."""
    x_init = _x_init(shape=(512, 2, 2, 2)).double()
    exact = _exact_ode(x_init)
    D = gaussian_denoiser(M.double(), S.double())

    def err(sampler, n):
        return (sampler(D, x_init, karras_sigmas(n).double()) - exact).abs().max().item()

    heun_ratio = err(sample_heun, 40) / err(sample_heun, 20)
    euler_ratio = err(sample_euler, 200) / err(sample_euler, 100)
    assert 0.15 < heun_ratio < 0.35, heun_ratio
    assert 0.4 < euler_ratio < 0.6, euler_ratio
    assert err(sample_heun, 80) < 0.02
    # DPM-Solver++(2M) is 2nd order with one evaluation per step: halving the step size cuts its
    # error ~4×, and at 20 evaluations it is 3× more accurate than Heun with 19 (10 steps)
    dpm_ratio = err(sample_dpmpp_2m, 80) / err(sample_dpmpp_2m, 40)
    assert 0.15 < dpm_ratio < 0.35, dpm_ratio
    assert 3 * err(sample_dpmpp_2m, 20) < err(sample_heun, 10)


@pytest.mark.parametrize(
    ("sampler", "steps", "kwargs", "std_tol"),
    [
        (sample_heun, 80, {}, 0.01),  # 2nd order: discretisation < 1 % at 80 steps (test above)
        (sample_euler, 800, {}, 0.01),  # 1st order: needs ~10× the steps
        (sample_ddim, 800, {}, 0.01),
        (sample_heun, 200, {"s_churn": 40.0}, 0.02),  # stochastic Alg. 2
        (sample_ddim, 400, {"eta": 1.0}, 0.03),  # ancestral: O(1/n) variance deficit
        (sample_dpmpp_2m, 40, {}, 0.01),  # 2nd-order multistep: 40 evaluations
    ],
)
def test_samplers_reproduce_gaussian_marginal(sampler, steps, kwargs, std_tol) -> None:
    D = gaussian_denoiser(M, S)
    out = sampler(D, _x_init(), karras_sigmas(steps), generator=torch.Generator().manual_seed(1), **kwargs)
    _assert_gaussian_marginal(out, std_tol)


def test_heun_reproduces_bimodal_mixture() -> None:
    """Non-linear exact denoiser: mixture weight, mean and variance of a 2-component mixture."""
    pi, m, s = [0.3, 0.7], [-2.0, 1.5], [0.3, 0.5]
    n = 40_000
    x = noise_like((n, 1, 1, 1), SIGMA_MAX, torch.Generator().manual_seed(3), dtype=torch.float64)
    out = sample_heun(mixture_denoiser(pi, m, s), x, karras_sigmas(80).double()).flatten().numpy()
    mid = -0.25
    p_low = pi[0] * stats.norm.cdf(mid, m[0], s[0]) + pi[1] * stats.norm.cdf(mid, m[1], s[1])
    mean = pi[0] * m[0] + pi[1] * m[1]
    var = sum(p * (sk**2 + mk**2) for p, mk, sk in zip(pi, m, s)) - mean**2
    assert abs((out < mid).mean() - p_low) < 4 * math.sqrt(p_low * (1 - p_low) / n) + 0.005
    assert abs(out.mean() - mean) < 4 * math.sqrt(var / n) + 0.02
    assert abs(out.var() / var - 1) < 0.03
    # within-mode spread is right too (not only the weights)
    low = out[out < mid]
    assert abs(low.std() / s[0] - 1) < 0.05


@pytest.mark.parametrize(("sampler", "evals"), [(sample_heun, 39), (sample_euler, 20), (sample_ddim, 20),
                                                (sample_dpmpp_2m, 20)])
def test_callback_and_evaluation_count(sampler, evals: int) -> None:
    D = Counting(gaussian_denoiser(M, S))
    seen: list[tuple[int, float, tuple, tuple]] = []
    sigmas = karras_sigmas(20)
    x = _x_init(shape=(8, 2, 3, 3))
    sampler(D, x, sigmas, callback=lambda d: seen.append((d["i"], d["sigma"], d["x"].shape, d["denoised"].shape)))
    assert D.calls == evals
    assert [s[0] for s in seen] == list(range(20))
    sig_seen = [s[1] for s in seen]
    assert all(isinstance(v, float) for v in sig_seen)
    assert all(b < a for a, b in zip(sig_seen[:-1], sig_seen[1:]))
    np.testing.assert_allclose(sig_seen, sigmas[:-1].numpy(), rtol=1e-6)
    assert all(s[2] == x.shape and s[3] == x.shape for s in seen)


def test_callback_exception_stops_sampling() -> None:
    class Stop(Exception):
        pass

    D = Counting(gaussian_denoiser(M, S))

    def cb(info):
        if info["i"] == 3:
            raise Stop

    with pytest.raises(Stop):
        sample_heun(D, _x_init(shape=(2, 2, 2, 2)), karras_sigmas(20), callback=cb)
    assert D.calls == 3 * 2 + 1  # three full Heun steps, then the 4th step's first evaluation


@pytest.mark.parametrize("sampler", [sample_heun, sample_euler, sample_ddim, sample_dpmpp_2m])
def test_extra_args_reach_the_denoiser(sampler) -> None:
    """k-diffusion's contract: D(x, σ, **extra_args); the conditioning changes the result."""
    base = gaussian_denoiser(M, S)
    seen: list[float] = []

    def conditioned(x, sigma, *, shift):
        seen.append(shift)
        return base(x, sigma) + shift

    x = _x_init(shape=(4, 2, 3, 3))
    a = sampler(conditioned, x, karras_sigmas(5), extra_args={"shift": 0.0})
    b = sampler(conditioned, x, karras_sigmas(5), extra_args={"shift": 0.5})
    assert set(seen) == {0.0, 0.5} and not torch.allclose(a, b)
    torch.testing.assert_close(a, sampler(base, x, karras_sigmas(5)))


def test_ddim_eta0_equals_euler() -> None:
    D = gaussian_denoiser(M, S)
    x = _x_init(shape=(16, 2, 2, 2))
    sig = karras_sigmas(15)
    torch.testing.assert_close(sample_ddim(D, x, sig), sample_euler(D, x, sig), rtol=1e-5, atol=1e-5)


def test_ddim_eta1_step_is_the_ddpm_posterior() -> None:
    """One ancestral step with known x0 draws from the DDPM posterior q(x' | x, x0) in σ form:
    N(x0 + (σ'²/σ²)(x − x0), σ'²(σ² − σ'²)/σ²)."""
    sig, sig_next, x0, xv = 2.0, 0.5, 0.3, 1.7
    n = 100_000
    x = torch.full((n, 1, 1, 1), xv, dtype=torch.float64)
    out = sample_ddim(lambda xx, s: torch.full_like(xx, x0), x, [sig, sig_next], eta=1.0,
                      generator=torch.Generator().manual_seed(4)).flatten().numpy()
    mean = x0 + sig_next**2 / sig**2 * (xv - x0)
    std = math.sqrt(sig_next**2 * (sig**2 - sig_next**2) / sig**2)
    assert abs(out.mean() - mean) < 4 * std / math.sqrt(n)
    assert abs(out.std() / std - 1) < 4 / math.sqrt(2 * n)


@pytest.mark.parametrize(("sampler", "kwargs"), [(sample_heun, {"s_churn": 10.0}), (sample_ddim, {"eta": 1.0})])
def test_same_seed_same_output(sampler, kwargs) -> None:
    D = gaussian_denoiser(M, S)

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        x = noise_like((4, 2, 3, 3), SIGMA_MAX, g)
        return sampler(D, x, karras_sigmas(10), generator=g, **kwargs)

    assert torch.equal(run(7), run(7))
    assert not torch.allclose(run(7), run(8))


def test_sampler_rejects_bad_schedule() -> None:
    D = gaussian_denoiser(M, S)
    x = torch.zeros(1, 2, 1, 1)
    with pytest.raises(ValueError):
        sample_heun(D, x, [1.0, 2.0, 0.0])
    with pytest.raises(ValueError):
        sample_euler(D, x, [1.0])


# ----------------------------------------------------------------------------- EDM loss
def test_edm_loss_is_one_in_expectation_for_the_exact_denoiser() -> None:
    """For x0 ~ N(0, σ_d²) and the exact denoiser, λ(σ) E‖D − x0‖² = 1 at every σ (Table 1)."""
    sd = 0.5
    g = torch.Generator().manual_seed(5)
    x0 = torch.randn(4096, 1, 8, 8, generator=g) * sd
    D = gaussian_denoiser(torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), sd))
    loss = edm_loss(D, x0, generator=g, sigma_data=sd).item()
    n = x0.numel()
    assert abs(loss - 1.0) < 4 * math.sqrt(2.0 / n)  # given σ every cell is an independent χ²₁
    # a mis-specified σ_d breaks the identity (the test can fail)
    wrong = edm_loss(D, x0, generator=torch.Generator().manual_seed(5), sigma_data=2.0).item()
    assert abs(wrong - 1.0) > 0.2


def test_edm_loss_noise_levels_are_lognormal() -> None:
    seen: list[torch.Tensor] = []

    def D(x, sigma):
        seen.append(sigma)
        return torch.zeros_like(x)

    edm_loss(D, torch.zeros(8192, 1, 1, 1), generator=torch.Generator().manual_seed(6))
    logs = seen[0].log().double().numpy()
    assert stats.kstest(logs, stats.norm(-1.2, 1.2).cdf).pvalue > 1e-3


def test_edm_loss_point_mass_perfect_denoiser_is_zero_and_mask_ignores_land() -> None:
    x0 = torch.full((4, 2, 6, 6), 0.37)
    perfect = lambda x, s: torch.full_like(x, 0.37)  # noqa: E731
    assert edm_loss(perfect, x0, generator=torch.Generator().manual_seed(0)).item() == 0.0

    mask = torch.ones(1, 1, 6, 6)
    mask[..., :3, :] = 0  # land in the top half

    def bad_on_land(x, s):
        out = torch.full_like(x, 0.37)
        out[..., :3, :] = 1e3
        return out

    loss = edm_loss(bad_on_land, x0, weight=mask, generator=torch.Generator().manual_seed(0))
    assert loss.item() == 0.0
    unmasked = edm_loss(bad_on_land, x0, generator=torch.Generator().manual_seed(0))
    assert unmasked.item() > 1.0


def test_edm_loss_mask_averages_over_ocean_cells_only() -> None:
    """Denominator = number of ocean cells (per sample and channel), not all cells."""
    x0 = torch.zeros(2, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 0, 0] = 1
    sigmas: list[torch.Tensor] = []

    def off_by_one(x, s):
        sigmas.append(s)
        return torch.ones_like(x)

    loss = edm_loss(off_by_one, x0, weight=mask, generator=torch.Generator().manual_seed(0), sigma_data=1.0)
    sig = sigmas[0].double()
    lam = (sig**2 + 1) / sig**2
    assert loss.item() == pytest.approx(lam.mean().item(), rel=1e-5)


def test_edm_loss_callable_matches_function_and_is_finite() -> None:
    D = EDMPrecond(TinyNet(2), sigma_data=0.5)
    x0 = torch.randn(4, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    a = EDMLoss(sigma_data=0.5)(D, x0, generator=torch.Generator().manual_seed(9))
    b = edm_loss(D, x0, generator=torch.Generator().manual_seed(9), sigma_data=0.5)
    assert torch.isfinite(a) and a.item() == b.item()
    a.backward()
    assert all(torch.isfinite(p.grad).all() for p in D.parameters())
