"""Quality against cost: scores of each backend at 5–40 network evaluations (NFE), with the noise floor.

A few-step sampler is worth having when its samples score like Heun's with 20 steps (39 NFE)
within the sampling noise of the scores at this n. The noise floor is the score of n random
reference states against all of them (the ``reference-subsample`` row of ``evaluate``). Scores:
extent W1, MIZ-area W1 (10⁶ km²) and MIZ-frequency RMSE (Finn et al. 2024).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..data import open_reference
from ..diffusion.generate import generate
from ..recipe import PAPER, QUICK
from ..registry import discover
from .compare import ReferenceSummary, score_set

log = logging.getLogger(__name__)

#: sampler -> steps; NFE: Heun 2n − 1 (5, 9, 15, 19, 39), DPM-Solver++(2M) n (5, 8, 12, 20, 40)
NFE_GRID: Mapping[str, tuple[int, ...]] = {PAPER.sampler: (3, 5, 8, 10, 20), QUICK.sampler: (5, 8, 12, 20, 40)}
SCORES: tuple[str, ...] = ("extent_w1_1e6km2", "miz_area_w1_1e6km2", "miz_freq_rmse")


def subsample(ref: xr.Dataset, n: int, seed: int) -> xr.Dataset:
    """``n`` random states (dim ``time``) of ``ref``, in time order."""
    rng = np.random.default_rng(seed)
    return ref.isel(time=np.sort(rng.choice(ref.sizes["time"], size=min(n, ref.sizes["time"]), replace=False)))


def quality_against_nfe(backends: Sequence[str] | None = None, n: int = 64, seed: int = 0,
                        reference: str = "default", models_dir: str | None = None, device: str = "auto",
                        grid: Mapping[str, Sequence[int]] = NFE_GRID,
                        generate_fn: Callable[..., xr.Dataset] = generate) -> dict[str, Any]:
    """Rows (backend, sampler, steps, nfe, seconds, scores) and the noise floor, JSON-ready."""
    registry = discover(models_dir)
    names = list(backends) if backends else registry.require().names
    ref = open_reference(reference).load()
    summary = ReferenceSummary.of(ref)
    floor, _ = score_set(subsample(ref, n, seed), summary, dim="time", marginals=False, maps=False)
    rows = []
    for name in names:
        entry = registry.get(name)
        for sampler, steps_list in grid.items():
            for steps in steps_list:
                ds = generate_fn(name, n=n, steps=steps, seed=seed, bounds=entry.native_bounds, sampler=sampler,
                                 device=device, models_dir=models_dir)
                row, _ = score_set(ds, summary, marginals=False, maps=False)
                rows.append({"backend": name, "sampler": sampler, "steps": steps, "nfe": int(ds.attrs["nfe"]),
                             "seconds": round(float(ds.attrs["sampling_seconds"]) + float(ds.attrs["decode_seconds"]), 3),
                             **{k: round(float(row[k]), 5) for k in SCORES if k in row}})
                log.info("quality %s", rows[-1])
    return {"n": n, "seed": seed, "reference": reference, "noise_floor": {k: round(float(floor[k]), 5)
                                                                       for k in SCORES if k in floor},
            "rows": rows}


def within_floor(rows: Sequence[Mapping[str, Any]], floor: Mapping[str, float], base: Mapping[str, Any]) -> list[dict]:
    """Rows no worse than ``base`` (e.g. Heun with 20 steps) by more than the noise floor in any
    score: score − base score ≤ floor score (the scores are distances: lower is better, and a
    setting that scores better than the base is as good), cheapest (fewest NFE) first."""
    ok = [r for r in rows if r["backend"] == base["backend"]
          and all(r[k] - base[k] <= floor[k] for k in floor if k in r and k in base)]
    return sorted(ok, key=lambda r: (r["nfe"], r["seconds"]))
