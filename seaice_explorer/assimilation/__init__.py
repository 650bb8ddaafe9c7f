"""Observation-guided generation (issue 22): posterior states given observations, ensembles around a state.

- :mod:`.observations`: the observation model (mask, σ_obs, Gaussian or censored likelihood) and the
  checks of an observation Dataset;
- :mod:`.guidance`: DPS, MMPS and RePaint around the one denoiser contract ``D(x, σ, **cond)``;
- :mod:`.posterior`: the observation operator (the decode), a state's encoding, the guided run;
- :mod:`.core`: :func:`assimilate` and :func:`ensemble_around`, xarray in and out;
- :mod:`.cli`: ``seaice-explorer assimilate``.
"""

from .core import assimilate, ensemble_around
from .guidance import METHODS, dps_denoiser, mmps_denoiser, sample_repaint
from .observations import Observation, make_observation
from .posterior import forward_operator, posterior_samples, to_state

__all__ = ["METHODS", "Observation", "assimilate", "dps_denoiser", "ensemble_around", "forward_operator",
           "make_observation", "mmps_denoiser", "posterior_samples", "sample_repaint", "to_state"]
