"""The one replay type: a generate() call's path from noise to sea ice, step by step.

Karras et al. 2022 (arXiv 2206.00364, Alg. 1): a sampler walks a σ schedule from σ_max to 0; at
each step the network sees the noisy state x and returns its guess x̂0 of the clean state. Finn et
al. 2024 (arXiv 2406.18417) sample either the normalised state (data space) or a VAE latent, so the
state is in normalised units and, for latent backends, not on the map grid.

``generate(..., return_trajectory=True)`` returns ``(samples, Trajectory)``; the app's replay tab,
``seaice-explorer animate`` and the tour read the same object. It is torch-free (NumPy and xarray).
Frames are numbered ``0 .. n_steps``: one per sampler step, then the finished samples (σ = 0).

Example
-------
>>> samples, traj = generate("ldm-censored", n=1, steps=20, return_trajectory=True)  # doctest: +SKIP
>>> traj.n_steps, traj.guess("sic", 0).shape, traj.sigma_of(traj.n_steps)  # doctest: +SKIP
(20, (128, 128), 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .variables import VARIABLES

#: Name of the noisy-state variable in :meth:`Trajectory.to_dataset`'s file layout.
STATE_VAR = "state"


def input_scaled(state: np.ndarray, sigma: float, sigma_data: float) -> np.ndarray:
    """The sampler state as the denoiser sees it: x · c_in, c_in = 1 / sqrt(σ_data² + σ²) (Karras et al. 2022, Tab. 1)."""
    return np.asarray(state, dtype=np.float32) / np.sqrt(sigma_data**2 + sigma**2)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Per sampler step: the noise level, the sampler's state and the decoded guess; then the finished samples.

    Attributes
    ----------
    backend : the backend that sampled it.
    samples : the finished samples, per variable ``(sample, y, x)`` in physical units (bounds applied).
    guesses : the decoded guess x̂0 of every step, per variable ``(step, sample, y, x)`` (bounds applied).
    state : ``(step, sample, C, h, w)``, the sampler's noisy state x (normalised; the latent for latent backends).
    sigma : ``(step,)`` the noise level of the state at each step.
    channels : the state's channels: the variables in data space, latent channel numbers otherwise.
    sigma_data : std of the clean normalised state, for the EDM input scaling.
    """

    backend: str
    samples: xr.Dataset
    guesses: xr.Dataset
    state: np.ndarray
    sigma: np.ndarray
    channels: tuple[Any, ...]
    sigma_data: float = 1.0

    def __post_init__(self) -> None:
        steps = self.sigma.shape[0]
        if self.state.ndim != 5 or self.state.shape[0] != steps or self.guesses.sizes.get("step") != steps:
            raise ValueError(f"a trajectory needs one state and one guess per step: sigma {self.sigma.shape}, "
                             f"state {self.state.shape}, guesses {dict(self.guesses.sizes)}")

    @property
    def n_steps(self) -> int:
        """Sampler steps; frames are ``0 .. n_steps`` (the last one the finished samples)."""
        return int(self.sigma.shape[0])

    @property
    def latent(self) -> bool:
        """The state is a latent: its channels are not variables of the grid."""
        return not all(str(c) in VARIABLES for c in self.channels)

    @property
    def variables(self) -> list[str]:
        return [str(v) for v in self.samples.data_vars]

    def _frame(self, frame: int) -> int:
        return int(np.clip(frame, 0, self.n_steps))

    def sigma_of(self, frame: int) -> float:
        """The noise level of ``frame``'s state (0 for the finished samples)."""
        frame = self._frame(frame)
        return 0.0 if frame == self.n_steps else float(self.sigma[frame])

    def guess(self, variable: str, frame: int, sample: int = 0) -> np.ndarray:
        """``(y, x)`` guess of the final state at ``frame``; the finished sample at ``n_steps``."""
        frame = self._frame(frame)
        source = self.samples[variable] if frame == self.n_steps else self.guesses[variable].isel(step=frame)
        return np.asarray(source.isel(sample=sample).transpose("y", "x").values)

    def channel_of(self, variable: str) -> int:
        """The state channel shown for ``variable``: itself in data space, channel 0 of a latent."""
        names = [str(c) for c in self.channels]
        return names.index(variable) if not self.latent and variable in names else 0

    def noisy_label(self, variable: str) -> str:
        return "noisy latent, channel 0" if self.latent else f"noisy {self.channels[self.channel_of(variable)]} (normalised)"

    def noisy(self, frame: int, channel: int = 0, sample: int = 0) -> np.ndarray:
        """``(h, w)`` state of one channel at ``frame`` as the network sees it (input-scaled, unit variance)."""
        frame = self._frame(frame)
        step = min(frame, self.n_steps - 1)
        return input_scaled(self.state[step, sample, channel], self.sigma_of(frame), self.sigma_data)

    def select(self, sample: int) -> Trajectory:
        """The trajectory of one sample (what the app keeps)."""
        one = slice(sample, sample + 1)
        return Trajectory(self.backend, self.samples.isel(sample=one), self.guesses.isel(sample=one),
                          np.ascontiguousarray(self.state[:, one]), self.sigma, self.channels, self.sigma_data)

    def to_dataset(self) -> xr.Dataset:
        """The file layout (``generate --trajectory``): the guesses ``(step, sample, y, x)``, the state
        ``(step, sample, channel, state_y, state_x)`` and the coordinate ``sigma(step)``."""
        ds = self.guesses.copy()
        ds[STATE_VAR] = (("step", "sample", "channel", "state_y", "state_x"), self.state.astype(np.float32),
                         {"long_name": "noisy sampler state x (normalised; the latent for latent backends)"})
        ds.attrs = {**self.samples.attrs, "sigma_data": self.sigma_data}
        return ds.assign_coords(step=np.arange(self.n_steps), channel=list(self.channels),
                                sigma=("step", np.asarray(self.sigma, dtype=np.float64)))

    @classmethod
    def from_dataset(cls, samples: xr.Dataset, ds: xr.Dataset) -> Trajectory:
        """Read :meth:`to_dataset`'s layout back (with the finished ``samples`` of the same call)."""
        missing = [name for name in (STATE_VAR, "sigma", "channel") if name not in ds.variables]
        if missing:
            raise ValueError(f"not a trajectory file: it has no {', '.join(missing)}")
        guesses = ds[[v for v in ds.data_vars if v != STATE_VAR]].drop_vars(["sigma", "channel"], errors="ignore")
        return cls(backend=str(samples.attrs.get("backend", "model")), samples=samples, guesses=guesses,
                   state=np.asarray(ds[STATE_VAR].values, dtype=np.float32),
                   sigma=np.asarray(ds["sigma"].values, dtype=np.float64),
                   channels=tuple(ds["channel"].values.tolist()),
                   sigma_data=float(ds.attrs.get("sigma_data") or 1.0))
