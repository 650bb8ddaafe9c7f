"""The censored Gaussian (Finn et al. 2024) against scipy.stats.norm as the oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from seaice_explorer.diffusion import (
    bounds_tensors,
    censored_gaussian_nll,
    censored_point,
    censored_sample,
    gaussian_nll,
)
from seaice_explorer.variables import STATE_VARIABLES, VARIABLES

# channels: lower-bounded only (like sit), both bounds (like sic/sid), unbounded (like siu)
LOWER = np.array([0.0, 0.0, -np.inf])
UPPER = np.array([np.inf, 1.0, np.inf])


def _cases(seed: int = 0, shape=(6, 3, 10, 10)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random targets with many values exactly at, beyond and inside the bounds."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.5, 1.5, shape)
    sigma = np.exp(rng.normal(-1.0, 0.7, shape))
    y = rng.normal(0.5, 1.0, shape)
    kind = rng.integers(0, 5, shape)  # 0: at lower, 1: at upper, 2: beyond, 3–4: free
    lo = np.broadcast_to(LOWER.reshape(1, -1, 1, 1), shape)
    hi = np.broadcast_to(UPPER.reshape(1, -1, 1, 1), shape)
    y = np.where((kind == 0) & np.isfinite(lo), lo, y)
    y = np.where((kind == 1) & np.isfinite(hi), hi, y)
    beyond = np.where(rng.random(shape) < 0.5, lo - rng.random(shape), hi + rng.random(shape))
    y = np.where((kind == 2) & np.isfinite(beyond), beyond, y)
    return y, mu, sigma


def _scipy_nll(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    lo = np.broadcast_to(LOWER.reshape(1, -1, 1, 1), y.shape)
    hi = np.broadcast_to(UPPER.reshape(1, -1, 1, 1), y.shape)
    inside = -stats.norm.logpdf(y, mu, sigma)
    at_lo = -stats.norm.logcdf(lo, mu, sigma)
    at_hi = -stats.norm.logsf(hi, mu, sigma)
    return np.where(y <= lo, at_lo, np.where(y >= hi, at_hi, inside))


def _t(a: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)


def test_per_cell_nll_matches_scipy_float64() -> None:
    y, mu, sigma = _cases()
    got = censored_gaussian_nll(_t(y), _t(mu), _t(sigma), _t(LOWER), _t(UPPER), reduction="none")
    expected = _scipy_nll(y, mu, sigma)
    # every case is exercised
    lo = LOWER.reshape(1, -1, 1, 1)
    hi = UPPER.reshape(1, -1, 1, 1)
    assert (y == lo).any() and (y < lo).any() and (y == hi).any() and (y > hi).any()
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_mean_nll_matches_scipy_float32() -> None:
    y, mu, sigma = _cases(seed=1)
    got = censored_gaussian_nll(_t(y, torch.float32), _t(mu, torch.float32), _t(sigma, torch.float32),
                                _t(LOWER, torch.float32), _t(UPPER, torch.float32))
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(_scipy_nll(y, mu, sigma).mean(), rel=1e-5)


def test_far_tails_are_exact() -> None:
    """log Φ far in the tail (−log Φ(−40) ≈ 804) where a naive log(cdf) would give inf."""
    mu = _t(np.array([40.0, 40.0, -39.0, 0.0])).view(1, 4, 1, 1)
    y = _t(np.array([0.0, 0.0, 1.0, 3.0])).view(1, 4, 1, 1)
    lower = _t(np.array([0.0, 0.0, 0.0, -np.inf]))
    upper = _t(np.array([np.inf, 1.0, 1.0, np.inf]))
    got = censored_gaussian_nll(y, mu, 1.0, lower, upper, reduction="none").flatten().numpy()
    expected = [-stats.norm.logcdf(0, 40, 1), -stats.norm.logcdf(0, 40, 1),
                -stats.norm.logsf(1, -39, 1), -stats.norm.logpdf(3, 0, 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    assert got[0] > 800


def test_average_over_all_weighted_cells_together() -> None:
    y, mu, sigma = _cases(seed=2)
    rng = np.random.default_rng(3)
    mask = (rng.random((1, 1) + y.shape[2:]) < 0.6).astype(np.float64)  # (1, 1, H, W) ocean mask
    y_nan = np.where(mask > 0, y, np.nan)  # land is NaN in the data: it must not leak
    got = censored_gaussian_nll(_t(y_nan), _t(mu), _t(sigma), _t(LOWER), _t(UPPER), _t(mask)).item()
    per_cell = _scipy_nll(y, mu, sigma)
    w = np.broadcast_to(mask, y.shape)
    expected = (per_cell * w).sum() / w.sum()
    assert got == pytest.approx(expected, rel=1e-10)
    # averaging each case separately and summing is a different number (the rule matters here)
    lo, hi = LOWER.reshape(1, -1, 1, 1), UPPER.reshape(1, -1, 1, 1)
    cases = [(y <= lo), (y >= hi) & ~(y <= lo), (y > lo) & (y < hi)]
    per_case = sum((per_cell * w)[c].sum() / w[c].sum() for c in cases)
    assert abs(per_case - expected) > 0.1


def test_unbounded_channels_are_the_plain_gaussian() -> None:
    y, mu, sigma = _cases(seed=4)
    inf = _t(np.full(3, np.inf))
    a = censored_gaussian_nll(_t(y), _t(mu), _t(sigma), -inf, inf, reduction="none")
    b = gaussian_nll(_t(y), _t(mu), _t(sigma), reduction="none")
    torch.testing.assert_close(a, b)
    np.testing.assert_allclose(b.numpy(), -stats.norm.logpdf(y, mu, sigma), rtol=1e-10)


def test_per_channel_sigma() -> None:
    y, mu, _ = _cases(seed=5)
    sig_c = np.array([0.2, 0.5, 1.3])
    got = censored_gaussian_nll(_t(y), _t(mu), _t(sig_c), _t(LOWER), _t(UPPER), reduction="none")
    expected = _scipy_nll(y, mu, np.broadcast_to(sig_c.reshape(1, -1, 1, 1), y.shape))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_gradients_finite_for_extreme_mu_and_correct() -> None:
    mu = torch.tensor([-1e3, -50.0, 0.0, 50.0, 1e3, 0.5]).repeat(3, 1).T.reshape(6, 3, 1, 1).double()
    mu.requires_grad_(True)
    log_sigma = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 0.5]).view(1, 3, 1, 1).expand(6, 3, 1, 1).double()
    loss = censored_gaussian_nll(y, mu, log_sigma.exp(), _t(LOWER), _t(UPPER))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(mu.grad).all() and torch.isfinite(log_sigma.grad).all()
    # analytic gradients match finite differences
    m = torch.tensor([[[[0.3]], [[-2.0]], [[1.7]]]], dtype=torch.float64, requires_grad=True)
    s = torch.tensor([0.4, 0.9, 1.1], dtype=torch.float64, requires_grad=True)
    yy = torch.tensor([[[[0.0]], [[1.0]], [[0.2]]]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: censored_gaussian_nll(yy, a, b, _t(LOWER), _t(UPPER)), (m, s))


def test_nan_land_keeps_gradients_finite() -> None:
    y = torch.tensor([[[[0.0, float("nan")]]]], dtype=torch.float64)
    mu = torch.zeros(1, 1, 1, 2, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[[[1.0, 0.0]]]])
    loss = censored_gaussian_nll(y, mu, 1.0, _t(LOWER[:1]), _t(UPPER[:1]), mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(mu.grad).all()
    assert mu.grad[0, 0, 0, 1].item() == 0.0


def test_censored_point_is_clamp() -> None:
    mu = torch.tensor([-0.5, 0.3, 1.4]).view(3, 1, 1, 1).expand(3, 3, 2, 2)
    lo, hi = _t(LOWER, torch.float32), _t(UPPER, torch.float32)
    out = censored_point(mu, lo, hi)
    assert out.shape == mu.shape
    np.testing.assert_allclose(out[:, 0, 0, 0].numpy(), [0.0, 0.3, 1.4])
    np.testing.assert_allclose(out[:, 1, 0, 0].numpy(), [0.0, 0.3, 1.0])
    np.testing.assert_allclose(out[:, 2, 0, 0].numpy(), [-0.5, 0.3, 1.4])


def test_censored_sample_is_exact() -> None:
    """Point masses at the bounds are Φ((l−μ)/σ) and 1 − Φ((u−μ)/σ); inside, the Gaussian CDF."""
    n = 200_000
    mu, sigma = 0.2, 0.5
    out = censored_sample(torch.full((n, 1), mu, dtype=torch.float64), sigma, _t(LOWER[1:2]), _t(UPPER[1:2]),
                          generator=torch.Generator().manual_seed(0)).flatten().numpy()
    assert out.min() >= 0.0 and out.max() <= 1.0

    def check(p_hat: float, p: float) -> None:
        assert abs(p_hat - p) < 4 * math.sqrt(p * (1 - p) / n), (p_hat, p)

    check((out == 0.0).mean(), stats.norm.cdf(0.0, mu, sigma))
    check((out == 1.0).mean(), stats.norm.sf(1.0, mu, sigma))
    for t in (0.1, 0.4, 0.8):
        check((out <= t).mean(), stats.norm.cdf(t, mu, sigma))


def test_censored_sample_reproducible_and_within_bounds() -> None:
    mu = torch.randn(4, 3, 5, 5, generator=torch.Generator().manual_seed(1)) * 3
    lo, hi = _t(LOWER, torch.float32), _t(UPPER, torch.float32)
    a = censored_sample(mu, 0.5, lo, hi, generator=torch.Generator().manual_seed(2))
    b = censored_sample(mu, 0.5, lo, hi, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert (a[:, :2] >= 0).all() and (a[:, 1] <= 1).all()
    assert (a[:, 2] < 0).any()  # the unbounded channel is not clipped


def test_bounds_tensors_come_from_the_variable_table() -> None:
    lo, hi = bounds_tensors(STATE_VARIABLES)
    assert lo.shape == hi.shape == (len(STATE_VARIABLES),)
    for i, name in enumerate(STATE_VARIABLES):
        assert lo[i].item() == VARIABLES[name].lower and hi[i].item() == VARIABLES[name].upper
    assert lo[STATE_VARIABLES.index("sit")] == 0 and math.isinf(hi[STATE_VARIABLES.index("sit")])
    assert math.isinf(lo[STATE_VARIABLES.index("siu")])
