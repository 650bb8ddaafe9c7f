"""Diffusion maths shared by data-space and latent diffusion: schedules, EDM preconditioning,
samplers, the EDM loss and the censored Gaussian (Karras et al. 2022; Finn et al. 2024).

Generation lives in :mod:`seaice_explorer.diffusion.generate` (``from
seaice_explorer.diffusion.generate import generate``); it is not imported here, so this package
stays free of xarray and the checkpoints (and the module name does not shadow the function).
"""

from ..networks.censored import (
    bounds_tensors,
    censored_gaussian_nll,
    censored_point,
    censored_sample,
    gaussian_nll,
)
from .diagnostics import mean_bias
from .losses import EDMLoss, edm_loss, weighted_mean
from .precond import EDMPrecond, edm_coefficients
from .samplers import SAMPLERS, noise_like, sample_ddim, sample_dpmpp_2m, sample_euler, sample_heun
from .schedules import karras_sigmas, loglinear_sigmas

__all__ = [
    "EDMLoss",
    "EDMPrecond",
    "SAMPLERS",
    "bounds_tensors",
    "censored_gaussian_nll",
    "censored_point",
    "censored_sample",
    "edm_coefficients",
    "edm_loss",
    "gaussian_nll",
    "karras_sigmas",
    "loglinear_sigmas",
    "mean_bias",
    "noise_like",
    "sample_ddim",
    "sample_dpmpp_2m",
    "sample_euler",
    "sample_heun",
    "weighted_mean",
]
