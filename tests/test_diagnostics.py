"""The mean-bias check: zero for the exact denoiser, and it finds a bias at the noise levels that have it."""

from __future__ import annotations

import pytest
import torch

from seaice_explorer.diffusion.diagnostics import mean_bias
from seaice_explorer.errors import SeaIceInputError

M = torch.tensor([0.5, -1.0]).view(1, 2, 1, 1)
S = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
SIGMAS = [0.5, 5.0, 20.0, 80.0]


def exact(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[x0 | x] for x0 ~ N(M, S²) per channel."""
    sig2 = sigma.view(-1, 1, 1, 1) ** 2
    return (S**2 * x + sig2 * M) / (S**2 + sig2)


def _data(n: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return M + S * torch.randn(n, 2, 16, 16, generator=g)


def test_exact_denoiser_has_no_mean_bias() -> None:
    bias = mean_bias(exact, _data(), SIGMAS, generator=torch.Generator().manual_seed(1))
    assert bias.shape == (len(SIGMAS), 2)
    assert bias.abs().max() < 0.05


def test_bias_at_high_noise_is_found_where_it_is() -> None:
    def biased(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:  # winter-biased above sigma 10
        return exact(x, sigma) + 0.3 * (sigma.view(-1, 1, 1, 1) > 10)

    bias = mean_bias(biased, _data(), SIGMAS, generator=torch.Generator().manual_seed(1))
    assert bias[:2].abs().max() < 0.05
    assert torch.allclose(bias[2:], torch.full((2, 2), 0.3), atol=0.06)


def test_weight_ignores_land_cells() -> None:
    x0 = _data()
    mask = torch.ones(16, 16)
    mask[:, :4] = 0
    x0 = x0 * mask

    def land_garbage(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return exact(x, sigma) * mask + 50.0 * (1 - mask)

    gen = torch.Generator().manual_seed(1)
    weighted = mean_bias(land_garbage, x0, [1.0], weight=mask, generator=gen)
    assert weighted.abs().max() < 0.1
    unweighted = mean_bias(land_garbage, x0, [1.0], generator=torch.Generator().manual_seed(1))
    assert unweighted.min() > 10


@pytest.mark.parametrize("kwargs, name", [
    (dict(x0=torch.zeros(2, 16, 16), sigmas=[1.0]), "x0"),
    (dict(x0=torch.zeros(1, 2, 16, 16), sigmas=[]), "sigmas"),
    (dict(x0=torch.zeros(1, 2, 16, 16), sigmas=[0.0, 1.0]), "sigmas"),
    (dict(x0=torch.zeros(1, 2, 16, 16), sigmas=[1.0], weight=torch.ones(8, 8)), "weight"),
    (dict(x0=torch.zeros(1, 2, 16, 16), sigmas=[1.0], weight=torch.zeros(16, 16)), "weight"),
])
def test_bad_input_names_the_argument(kwargs, name) -> None:
    with pytest.raises(SeaIceInputError, match=name):
        mean_bias(exact, **kwargs)
