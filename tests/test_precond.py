"""EDM preconditioning owns the σ range; the pipeline's schedule and initial noise read it there."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seaice_explorer.configs import DataDenoiserConfig
from seaice_explorer.diffusion import denoiser, diagnostics, losses, samplers
from seaice_explorer.diffusion.precond import EDMPrecond
from seaice_explorer.diffusion.schedules import karras_sigmas


class Zero(nn.Module):
    def forward(self, x, c_noise, **cond):
        return torch.zeros_like(x)


def test_edm_precond_exposes_its_sigma_range() -> None:
    D = EDMPrecond(Zero())
    assert (D.sigma_min, D.sigma_max, float(D.sigma_data)) == (0.002, 80.0, 1.0)  # Karras et al. 2022, Table 1
    cfg = DataDenoiserConfig(sigma_min=0.01, sigma_max=40.0, sigma_data=0.5)
    D = EDMPrecond.from_config(Zero(), cfg)
    assert (D.sigma_min, D.sigma_max, float(D.sigma_data)) == (0.01, 40.0, 0.5)
    assert "sigma_min" not in D.state_dict() and "sigma_data" not in D.state_dict()  # weights only


@pytest.mark.parametrize("lo, hi", [(0.0, 80.0), (1.0, 1.0), (5.0, 1.0), (0.002, float("inf"))])
def test_edm_precond_refuses_a_bad_sigma_range(lo, hi) -> None:
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        EDMPrecond(Zero(), sigma_min=lo, sigma_max=hi)


def test_the_denoiser_contract_is_defined_once() -> None:
    """``Denoiser`` (``D(x, sigma, **cond) -> x0_hat``) is one type, imported by samplers, loss and diagnostics."""
    assert samplers.Denoiser is losses.Denoiser is diagnostics.Denoiser is denoiser.Denoiser


def test_pipeline_schedule_and_noise_read_the_preconditioner(tiny_models) -> None:
    from seaice_explorer.diffusion.pipeline import load_pipeline
    from seaice_explorer.registry import discover

    pipe = load_pipeline(discover(tiny_models).get("dm"))
    D = pipe.denoiser
    assert (D.sigma_min, D.sigma_max) == (pipe.config.sigma_min, pipe.config.sigma_max)
    torch.testing.assert_close(pipe.sigmas(5), karras_sigmas(5, D.sigma_min, D.sigma_max, 7.0))
    x = pipe.noise(3, torch.Generator().manual_seed(0))
    expected = torch.randn((3,) + pipe.state_shape, generator=torch.Generator().manual_seed(0)) * D.sigma_max
    torch.testing.assert_close(x, expected)
