"""What one run of the Observations tab gives (issue 22), no Panel: its key, its fields and scores, and
the map specs the view draws from them; with the drawn-box mask and the climatological members.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd
import xarray as xr

from ...data.masks import EDGE_THRESHOLD, make_mask, observe, ocean_cells
from ...errors import SeaIceInputError
from ...evaluation.assimilation_scores import day_state, score_day
from ...evaluation.baselines import climatology_maker, inpainting_maker
from ...plots.maps import MapGeometry, MapSpec, field_spec
from ...plots.style import HIDDEN_COLOUR
from ...recipe import Recipe

#: The preset of a box drawn on the observed map (x0, x1, y0, y1 in the grid's projected metres).
DRAWN_BOX = "drawn box"
#: The variable shown and scored (the one both families model).
VARIABLE = "sic"
#: Score columns of the table: score_day's key -> display name.
SCORE_COLUMNS = {"crps": "fair CRPS", "iiee": "IIEE [10³ km²]", "coverage": "coverage",
                 "coverage_expected": "calibrated coverage", "spread": "spread", "rmse": "RMSE of mean"}


@dataclass(frozen=True)
class ObservationKey:
    """What identifies one run (the results cache's key); ``mask`` is a preset or ``"box x0 x1 y0 y1"``."""

    backend: str
    truth: str  # the reference the day comes from
    day: str  # YYYY-MM-DD
    mask: str
    obs_sigma: float
    method: str
    recipe: Recipe  # n, steps, seed of the tab; RECIPE's sampler and bounds


@dataclass(frozen=True, eq=False)
class ObservationResult:
    """One run's fields (native grid) and its scores in the hidden cells, per source."""

    key: ObservationKey
    truth: xr.Dataset  # (y, x) the day's state: held out until revealed
    hidden: xr.DataArray  # (y, x) bool, True where unobserved
    observed: xr.Dataset  # (y, x) NaN on the hidden cells
    ensemble: xr.Dataset  # (sample, y, x) the posterior
    scores: dict[str, dict[str, float]]  # source -> SCORE_COLUMNS key -> value
    geometry: MapGeometry
    seconds: float  # the conditioned sampling
    total_seconds: float

    @property
    def n(self) -> int:
        return int(self.ensemble.sizes["sample"])

    @cached_property
    def mean(self) -> xr.DataArray:
        return self.ensemble[VARIABLE].mean("sample")

    @cached_property
    def spread(self) -> xr.DataArray:
        return self.ensemble[VARIABLE].std("sample")

    @cached_property
    def median(self) -> xr.DataArray:
        return self.ensemble[VARIABLE].median("sample")

    @cached_property
    def probability(self) -> xr.DataArray:
        """P(sic ≥ 0.15): the share of members with ice, NaN on land."""
        sic = self.ensemble[VARIABLE]
        return (sic >= EDGE_THRESHOLD).mean("sample").where(sic.notnull().all("sample"))

    @property
    def hidden_share(self) -> float:
        """Hidden share of the ocean cells."""
        return float(self.hidden.values.sum() / max(ocean_cells(self.hidden).sum(), 1))


def box_mask(state: xr.Dataset, box: tuple[float, float, float, float]) -> xr.DataArray:
    """Hidden ocean cells inside ``box`` = (x0, x1, y0, y1), projected metres."""
    x0, x1, y0, y1 = box
    inside = ((state["x"] >= min(x0, x1)) & (state["x"] <= max(x0, x1))
              & (state["y"] >= min(y0, y1)) & (state["y"] <= max(y0, y1))).transpose("y", "x")
    flag = inside.values & ocean_cells(state)
    out = xr.DataArray(flag, dims=("y", "x"), coords={"y": state["y"], "x": state["x"]}, name="hidden")
    return out.assign_attrs(mask=DRAWN_BOX, hidden_cells=int(flag.sum()))


def climatology(record: xr.Dataset, obs: xr.Dataset, n: int, seed: int) -> xr.Dataset:
    """``n`` climatological members for the observed day: the same calendar window of the record's
    other years (2016–2018 for a 2019 day of the OSI SAF record), never the day itself."""
    day = pd.Timestamp(obs["time"].values.ravel()[0])
    times = record.indexes["time"]
    pool = np.flatnonzero(times.year != day.year)
    if pool.size == 0:  # a one-year record: every other day of it
        pool = np.flatnonzero(times.normalize() != day.normalize())
    return climatology_maker(record.isel(time=pool))(obs, n, seed)

def box_of(mask: str) -> tuple[float, float, float, float]:
    """The box of a ``"box x0 x1 y0 y1"`` mask name."""
    x0, x1, y0, y1 = (float(v) for v in mask.split()[1:])
    return x0, x1, y0, y1


def compute(key: ObservationKey, record: xr.Dataset, geometry: MapGeometry,
            condition: Callable[[xr.Dataset], xr.Dataset], pool: xr.Dataset | None,
            phase: Callable[[str], None]) -> ObservationResult:
    """One run (any thread): observe the day through its mask, ``condition`` on what is seen, make the
    climatology (from ``pool``, when given) and the inpainting, score all in the hidden cells.
    ``phase`` is told each stage (it may raise to cancel)."""
    t0 = time.perf_counter()
    phase(f"observing {key.day} through {key.mask}")
    state = day_state(record, key.day)
    hidden = box_mask(state, box_of(key.mask)) if key.mask.startswith("box ") else make_mask(key.mask, state, key.recipe.seed)
    if not hidden.values.any():
        raise SeaIceInputError(None, "the mask hides no ocean cell", "Pick another mask or draw a box over the sea")
    obs = observe(state, hidden)
    phase(f"conditioning {key.backend} on the observations ({key.recipe.n} × {key.recipe.steps} steps, {key.method})")
    t1 = time.perf_counter()
    ensemble = condition(obs).load()
    seconds = time.perf_counter() - t1
    phase("climatology, inpainting and scores")
    sources = {f"posterior · {key.backend} ({key.method})": ensemble,
               "inpainting (harmonic)": inpainting_maker()(obs, None, key.recipe.seed)}
    if pool is not None:
        clim = climatology(pool, obs, key.recipe.n, key.recipe.seed)
        sources[f"climatology ({clim.sizes['sample']} days)"] = clim
    scores = {}
    for name, members in sources.items():
        got = score_day(state, hidden, members, variable=VARIABLE, seed=key.recipe.seed)
        scores[name] = {k: float(got[k]) for k in SCORE_COLUMNS}
    return ObservationResult(key, state, hidden, obs.squeeze("time", drop=True), ensemble, scores,
                             geometry, seconds, time.perf_counter() - t0)


# --------------------------------------------------------------------------- map specs (no HoloViews)
def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.transpose("y", "x").values, dtype=np.float32)


def observed_spec(res: ObservationResult) -> MapSpec:
    """What was observed: the hidden cells are NaN, drawn in :data:`~seaice_explorer.plots.style.HIDDEN_COLOUR`."""
    sic = _values(res.observed[VARIABLE])
    spec = field_spec(sic, res.geometry, VARIABLE, f"observed · {res.key.day} · {100 * res.hidden_share:.0f} % hidden",
                      miz=sic)
    return replace(spec, nodata=HIDDEN_COLOUR)


def truth_spec(res: ObservationResult, reveal: bool) -> MapSpec:
    """The held-out truth, or an empty placeholder until revealed."""
    if not reveal:
        return field_spec(np.full(res.geometry.native_shape, np.nan, np.float32), res.geometry, VARIABLE,
                          "truth · held out (press Reveal truth)")
    sic = _values(res.truth[VARIABLE])
    return field_spec(sic, res.geometry, VARIABLE, f"truth · {res.key.day}", miz=sic)


def member_spec(res: ObservationResult, member: int) -> MapSpec:
    member = int(np.clip(member, 0, res.n - 1))
    sic = _values(res.ensemble[VARIABLE].isel(sample=member))
    return field_spec(sic, res.geometry, VARIABLE, f"{res.key.backend} · member {member}", miz=sic)


def mean_spec(res: ObservationResult) -> MapSpec:
    mean = _values(res.mean)
    return field_spec(mean, res.geometry, VARIABLE, f"ensemble mean of {res.n}", miz=mean)


def spread_spec(res: ObservationResult) -> MapSpec:
    return field_spec(_values(res.spread), res.geometry, VARIABLE, f"ensemble spread (std) of {res.n}", kind="spread")


def probability_spec(res: ObservationResult) -> MapSpec:
    """P(sic ≥ 0.15) on the display grid (its edges: :func:`edge_fields`)."""
    g = res.geometry
    return MapSpec(np.asarray(g.display(_values(res.probability)), np.float32), g, "probability of ice",
                   "p_ice", f"P(sic ≥ {EDGE_THRESHOLD:g})", "Blues", (0.0, 1.0))


def edge_fields(res: ObservationResult, reveal: bool) -> dict[str, np.ndarray]:
    """The sic fields whose 15 % contour is an ice edge on the probability map (native grid): the
    ensemble median's, and the truth's once revealed."""
    edges = {"ensemble": _values(res.median)}
    if reveal:
        edges["truth"] = _values(res.truth[VARIABLE])
    return edges
