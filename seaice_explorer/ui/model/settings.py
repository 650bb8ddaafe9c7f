"""What a page's user chose: the settings of one dashboard session (``param``, no Panel).

:class:`Settings` holds the generation settings (they travel in the URL and make the
:class:`~seaice_explorer.recipe.Recipe` and cache keys of a Generate click) and the view settings;
:class:`~.state.ExplorerState` adds the results and the actions. The backends offered and the
bounds each can apply come from the registry (``self.registry``, set by the state).
"""

from __future__ import annotations

import random
from typing import Any

import param

from ...configs import DEFAULT_DATASET
from ...recipe import QUICK, Recipe, cache_key, sampler_names
from ...registry import ModelEntry, Registry
from ...variables import STATE_VARIABLES
from .bounds import BOUNDS, BoundsSelector, bounds_modes
from .jobs import GenerationKey

#: The sampler names, from the one (torch-free) sampler table.
SAMPLERS: tuple[str, ...] = tuple(sampler_names())


class Settings(param.Parameterized):
    """The generation and view settings of one session (Finn et al. 2024 comparison)."""

    registry: Registry

    # ---- generation settings (sidebar; seed, backends, variable, ... travel in the URL)
    dataset = param.Selector(default=DEFAULT_DATASET, objects=[DEFAULT_DATASET],
                             doc="Data set: its backends are compared with its reference.")
    backends = param.ListSelector(default=[], objects=[], check_on_set=True,
                                  doc="Backends of the data set to compare side by side.")
    variable = param.Selector(default="sic", objects=list(STATE_VARIABLES), doc="Variable shown on the maps.")
    # The defaults are the QUICK recipe (recipe.py says why the app's differ from the CLI's PAPER recipe).
    n = param.Integer(default=QUICK.n, bounds=(1, 64), doc="Number of samples per backend (ensemble size).")
    sampler = param.Selector(default=QUICK.sampler, objects=list(SAMPLERS),
                             doc="ODE sampler (Heun is the paper's; DPM-Solver++(2M) needs fewer steps).")
    steps = param.Integer(default=QUICK.steps, bounds=(2, 200),
                          doc="Sampler steps (network calls per step: the sampler table of recipe.py).")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Random seed: the same seed gives the same states.")
    bounds = BoundsSelector(default=QUICK.bounds, objects=list(BOUNDS), doc="Physical bounds: " + "; ".join(BOUNDS.values()))
    reference = param.Selector(default=DEFAULT_DATASET, objects=[DEFAULT_DATASET],
                               doc="Reference data set (configured on the server, never a path from the browser).")

    # ---- view settings
    member = param.Integer(default=0, bounds=(0, 63), doc="Ensemble member shown on the maps.")
    summary = param.Selector(default="member", objects=["member", "mean", "spread"],
                             doc="Show one member, the ensemble mean or the ensemble spread (std).")
    show_miz = param.Boolean(default=True, doc="Overlay the MIZ contours (sic 0.15 and 0.80).")
    ref_index = param.Integer(default=0, bounds=(0, None), doc="Reference state (time index) on the maps.")
    denoise_backend = param.Selector(default=None, objects=[], allow_None=True, check_on_set=True,
                                     doc="Backend to watch denoising.")
    denoise_step = param.Integer(default=0, bounds=(0, None), doc="Sampler step shown in the denoising replay.")

    # ------------------------------------------------------------------ derived
    def entries(self) -> list[ModelEntry]:
        """The selected backends' registry entries."""
        return [self.registry.get(b) for b in self.backends]

    def bounds_modes(self) -> dict[str, str | None]:
        """Each bounds mode with None (every selected backend can apply it) or why not."""
        return bounds_modes(self.entries())

    def bounds_problem(self) -> str | None:
        """Why the chosen bounds mode cannot run on the selection, or None."""
        return self.bounds_modes()[self.bounds]

    def settings(self) -> tuple:
        """The settings that determine the results (for the ``stale`` flag)."""
        return (tuple(self.backends), self.n, self.steps, self.sampler, self.seed, self.bounds, self.reference)

    def recipe(self, **changes: Any) -> Recipe:
        """The run settings shown, as a :class:`~seaice_explorer.recipe.Recipe` (with ``changes``)."""
        return Recipe(sampler=self.sampler, steps=self.steps, n=self.n, seed=self.seed, bounds=self.bounds,
                      precision=QUICK.precision).replace(**changes)

    def command(self) -> str:
        """The ``seaice-explorer generate`` line that reproduces the first selected backend's samples."""
        return self.recipe().command(self.backends[0] if self.backends else "BACKEND")

    def plan(self) -> list[GenerationKey]:
        """One cache key per selected backend, all with the chosen bounds mode."""
        recipe = self.recipe()
        return [cache_key(b, recipe, self.reference) for b in self.backends]

    def new_seed(self) -> None:
        """Draw a new seed (deterministic sequence from the current one)."""
        self.seed = random.Random(self.seed).randrange(0, 2**31 - 1)

