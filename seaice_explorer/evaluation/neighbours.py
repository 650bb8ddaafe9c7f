"""Nearest neighbours by IIEE: the season mix, realism, coverage and memorisation of a generated set.

The distance between two states is their integrated ice-edge error (Goessling et al. 2016, GRL
43:1642; :func:`seaice_explorer.stats.distances.iiee`): the area, in 10⁶ km², where one has ice
(sic ≥ 0.15) and the other not, on ocean cells where both are finite. Each state is binarised once
(:class:`IceCover`); the IIEE of every pair is then two float32 matrix products (:func:`pairwise_iiee`).
From the generated × reference matrix:

- *season mix*: the month of each generated state's nearest reference day, beside the reference's own;
- *realism*: each generated state's IIEE to its nearest reference state;
- *coverage*: each reference state's IIEE to its nearest generated state;
- *memorisation*: generated states closer to a training state than the ``quantile`` of the held-out
  days' nearest-training IIEE; a set drawn like the held-out days has about ``quantile`` of them.

Two discs of ice with edges (sic = 0.15) at 285 and 385 km differ by π(385² − 285²) km² ≈ 0.21 × 10⁶ km²:

>>> from seaice_explorer.stats import synthetic
>>> grid = synthetic.projected_grid(40, 25_000.0)
>>> ds = synthetic.state(grid, sic=[synthetic.ramp_disc(grid, r, r + 1e5) for r in (2e5, 3e5)])
>>> d = iiee_matrix(ds, ds, dims=("time", "time"))
>>> float(d[0, 0]), round(float(d[0, 1]), 2)
(0.0, 0.21)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from ..data import default_reference_path, open_reference, osisaf_dataset_path, training_subset
from ..data.osisaf import parse_osisaf_name
from ..errors import SeaIceInputError
from ..registry import ModelEntry, Registry
from ..stats.state import EXTENT_THRESHOLD, SPATIAL, TOL, get_var, ocean
from .compare import M2_TO_1E6KM2, same_grid

log = logging.getLogger(__name__)

#: States per block of the float32 matrix products (256 × 16,384 cells: 16 MB a block).
CHUNK = 256
#: Memorisation threshold: this quantile of the held-out days' nearest-training IIEE.
QUANTILE = 0.05
#: The reference baseline compares each reference day with days at least this far apart.
GAP_DAYS = 15
MONTHS = pd.Index(range(1, 13), name="month")
#: The memorisation columns of ``neighbours.csv`` (NaN where it is not computed).
MEMORISATION_COLUMNS = ("nearest_train_median_1e6km2", "nearest_held_out_median_1e6km2", "memorised_share",
                        "memorised_threshold_1e6km2", "held_out_days")


# --------------------------------------------------------------------------- the IIEE matrix
@dataclass(frozen=True, eq=False)
class IceCover:
    """A set of states as binary ice cover over the grid's cells (flattened y, x)."""

    ice: np.ndarray  # (N, M) bool: sic ≥ 0.15 on valid cells
    valid: np.ndarray  # (N, M) bool: ocean cells with finite sic
    area: np.ndarray | None  # (M,) cell area in 10⁶ km² (0 where unknown), None without ``cell_area``

    @property
    def n(self) -> int:
        return len(self.ice)

    @classmethod
    def of(cls, obj: xr.Dataset | xr.DataArray, dim: str, threshold: float = EXTENT_THRESHOLD,
           chunk: int = CHUNK) -> IceCover:
        """Binarise the sic of ``obj`` along ``dim``, ``chunk`` states at a time (lazy data loads in blocks)."""
        sic = get_var(obj, "sic").transpose(dim, *SPATIAL)
        n, cells = sic.sizes[dim], sic.sizes["y"] * sic.sizes["x"]
        sea = np.broadcast_to(np.asarray(ocean(sic)), (sic.sizes["y"], sic.sizes["x"])).ravel()
        area = None
        if "cell_area" in sic.coords:
            area = np.nan_to_num(np.asarray(sic.coords["cell_area"].values, np.float64).ravel() * M2_TO_1E6KM2)
        ice, valid = np.empty((n, cells), bool), np.empty((n, cells), bool)
        for i in range(0, n, chunk):
            x = np.asarray(sic.isel({dim: slice(i, i + chunk)}).values).reshape(-1, cells)  # (c, M)
            valid[i:i + len(x)] = np.isfinite(x) & sea
            ice[i:i + len(x)] = valid[i:i + len(x)] & (x >= threshold - TOL)  # as stats.distances.iiee
        return cls(ice, valid, area)

    def subset(self, keep: np.ndarray) -> IceCover:
        """The states where ``keep`` (N,) is True."""
        return IceCover(self.ice[keep], self.valid[keep], self.area)


def pairwise_iiee(a: IceCover, b: IceCover, chunk: int = CHUNK) -> np.ndarray:
    """IIEE (10⁶ km²) of every state of ``a`` against every state of ``b``, (Na, Nb) float32.

    IIEE = Σ A·V_a·V_b·(I_a ⊕ I_b) = (A·I_a)·(V_b − I_b)ᵀ + (A·(V_a − I_a))·I_bᵀ (I ⊆ V): one float32
    product per block of both sets, of non-negative terms (no cancellation: equal states give 0). Areas
    are in units of the mean cell, so on an equal-area grid every term is a whole number, exact.
    """
    area = a.area if a.area is not None else b.area
    if area is None:
        raise SeaIceInputError(None, "no 'cell_area' coordinate", "Attach cell_area (m²) on (y, x)")
    if a.ice.shape[1] != b.ice.shape[1]:
        raise SeaIceInputError(None, f"grids of {a.ice.shape[1]} and {b.ice.shape[1]} cells differ",
                               "Compare states on one grid")
    cells = a.valid.any(0) & b.valid.any(0) & (area > 0)  # the cells that can count
    unit = float(area[cells].mean()) if cells.any() else 1.0
    w = (area[cells] / unit).astype(np.float32)  # (M,)
    ia, va, ib, vb = a.ice[:, cells], a.valid[:, cells], b.ice[:, cells], b.valid[:, cells]
    out = np.empty((a.n, b.n), np.float32)
    for i in range(0, a.n, chunk):
        left = np.concatenate([ia[i:i + chunk] * w, (va[i:i + chunk] & ~ia[i:i + chunk]) * w], axis=1)  # (c, 2M)
        for j in range(0, b.n, chunk):
            right = np.concatenate([vb[j:j + chunk] & ~ib[j:j + chunk], ib[j:j + chunk]], axis=1)  # (d, 2M)
            out[i:i + chunk, j:j + chunk] = left @ right.T.astype(np.float32)
    return out * np.float32(unit)


def iiee_matrix(a: xr.Dataset | xr.DataArray, b: xr.Dataset | xr.DataArray,
                dims: tuple[str, str] = ("sample", "time")) -> xr.DataArray:
    """IIEE (10⁶ km²) of each state of ``a`` (along ``dims[0]``) against each of ``b`` (``dims[1]``);
    a second dim of the same name is called ``{dim}_b``."""
    d = pairwise_iiee(IceCover.of(a, dims[0]), IceCover.of(b, dims[1]))
    names = (dims[0], dims[1] if dims[1] != dims[0] else f"{dims[1]}_b")
    coords = {n: s[dim].values for n, s, dim in zip(names, (a, b), dims) if dim in s.coords}
    return xr.DataArray(d, dims=names, coords=coords, name="iiee",
                        attrs={"units": "1e6 km2", "long_name": "integrated ice-edge error"})


# --------------------------------------------------------------------------- the diagnostics
class Percentiles(NamedTuple):
    """Median and 5–95 % of a set of distances."""

    median: float
    p5: float
    p95: float

    @classmethod
    def of(cls, x: np.ndarray | xr.DataArray) -> Percentiles:
        values = np.asarray(x, np.float64)
        if values.size == 0:
            return cls(np.nan, np.nan, np.nan)
        return cls(*(float(v) for v in np.percentile(values, [50, 5, 95])))

    def columns(self, name: str) -> dict[str, float]:
        return {f"{name}_{k}_1e6km2": v for k, v in self._asdict().items()}


def months_of(ds: xr.Dataset | xr.DataArray, dim: str = "time") -> np.ndarray | None:
    """The month (1–12) of each state along ``dim``, None when ``dim`` holds no dates."""
    index = ds.indexes.get(dim)
    month = getattr(index, "month", None)
    return None if month is None else np.asarray(month)


def month_shares(months: np.ndarray) -> pd.Series:
    """Share of ``months`` in each month 1–12."""
    counts = pd.Series(np.asarray(months)).value_counts().reindex(MONTHS, fill_value=0)
    return counts / max(len(months), 1)


def _distance(values: np.ndarray, dim: str, obj: xr.Dataset | xr.DataArray, name: str, text: str) -> xr.DataArray:
    coords = {dim: obj[dim].values} if dim in obj.coords else {}
    return xr.DataArray(values, dims=[dim], coords=coords, name=name, attrs={"units": "1e6 km2", "long_name": text})


def season_mix(samples: xr.Dataset | xr.DataArray, reference: xr.Dataset | xr.DataArray,
               dims: tuple[str, str] = ("sample", "time")) -> pd.DataFrame:
    """Share per month (1–12) of the generated states' nearest reference days (``samples``) and of the
    reference days themselves (``reference``)."""
    months = months_of(reference, dims[1])
    if months is None:
        raise SeaIceInputError(None, f"the reference's {dims[1]!r} holds no dates", "Pass a reference with dates")
    nearest = iiee_matrix(samples, reference, dims).values.argmin(1)
    return pd.DataFrame({"samples": month_shares(months[nearest]), "reference": month_shares(months)})


def realism(samples: xr.Dataset | xr.DataArray, reference: xr.Dataset | xr.DataArray,
            dims: tuple[str, str] = ("sample", "time")) -> xr.DataArray:
    """Each generated state's IIEE to its nearest reference state (``Percentiles.of`` summarises it)."""
    d = iiee_matrix(samples, reference, dims).values.min(1)
    return _distance(d, dims[0], samples, "realism", "IIEE to the nearest reference state")


def coverage(samples: xr.Dataset | xr.DataArray, reference: xr.Dataset | xr.DataArray,
             dims: tuple[str, str] = ("sample", "time")) -> xr.DataArray:
    """Each reference state's IIEE to its nearest generated state."""
    d = iiee_matrix(samples, reference, dims).values.min(0)
    return _distance(d, dims[1], reference, "coverage", "IIEE to the nearest generated state")


@dataclass(frozen=True, eq=False)
class Memorisation:
    """Nearest-training IIEE of generated states against that of held-out days (10⁶ km²)."""

    to_train: np.ndarray  # (n,) each generated state to its nearest training state
    to_held_out: np.ndarray  # (n,) each generated state to its nearest held-out state
    held_out_to_train: np.ndarray  # (m,) each held-out state to its nearest training state
    quantile: float = QUANTILE

    @property
    def threshold(self) -> float:
        """The ``quantile`` of the held-out days' nearest-training IIEE (0: their minimum)."""
        return float(np.quantile(self.held_out_to_train, self.quantile))

    @property
    def flags(self) -> np.ndarray:
        """Generated states closer to a training state than the threshold."""
        return self.to_train < self.threshold

    @property
    def share(self) -> float:
        return float(self.flags.mean())

    @classmethod
    def of(cls, samples: IceCover, train: IceCover, held_out: IceCover, quantile: float = QUANTILE) -> Memorisation:
        return cls(pairwise_iiee(samples, train).min(1), pairwise_iiee(samples, held_out).min(1),
                   pairwise_iiee(held_out, train).min(1), quantile)


def memorisation(samples: xr.Dataset | xr.DataArray, train: xr.Dataset | xr.DataArray,
                 held_out: xr.Dataset | xr.DataArray, dims: Sequence[str] = ("sample", "time", "time"),
                 quantile: float = QUANTILE) -> Memorisation:
    """Each generated state's IIEE to its nearest training and held-out state; ``share``: those closer
    to a training state than the ``quantile`` of the held-out days' nearest-training IIEE."""
    a, t, h = (IceCover.of(ds, dim) for ds, dim in zip((samples, train, held_out), dims))
    return Memorisation.of(a, t, h, quantile)


# --------------------------------------------------------------------------- the evaluate report
@dataclass(frozen=True, eq=False)
class Training:
    """The states a backend trained on, and the reference days held out from them."""

    label: str  # what was opened, e.g. "osisaf: 1096 days 2016-01-01..2018-12-31"
    train: IceCover
    held_out: np.ndarray  # (N_ref,) bool
    held_out_to_train: np.ndarray  # (n_held,) nearest-training IIEE of each held-out day


def _grid_shape(source: str) -> tuple[int | None, int | None]:
    """(y, x) sizes of the file behind ``source``, read from its metadata ((None, None) when unknown)."""
    path = default_reference_path() if source == "default" else (
        osisaf_dataset_path() if parse_osisaf_name(source) is not None else Path(source))
    try:
        with xr.open_dataset(path, decode_times=False) as src:
            return src.sizes.get("y"), src.sizes.get("x")
    except Exception:  # a store, a glob or a foreign file: open_reference tells
        return None, None


def open_training(source: str, reference: xr.Dataset, reference_spec: str) -> Training | str:
    """The training states of dataset ``source`` (its ``train`` split, :func:`training_subset`) and the
    reference days not among them; or why there is nothing to compare (grid, dates, no held-out day)."""
    shape = (reference.sizes["y"], reference.sizes["x"])
    if source == reference_spec:
        ds = reference
    elif None not in (found := _grid_shape(source)) and found != shape:
        return f"its data {source} is on a {found[0]}×{found[1]} grid, the reference on {shape[0]}×{shape[1]}"
    else:
        try:
            ds = open_reference(source)
        except (SeaIceInputError, OSError, ValueError) as err:
            return f"its data {source} could not be opened ({err})"
    ds = training_subset(ds)
    if not same_grid(ds, reference):
        return f"its data {source} is not on the reference's grid"
    times, ref_times = ds.indexes.get("time"), reference.indexes.get("time")
    if not (isinstance(times, pd.DatetimeIndex) and isinstance(ref_times, pd.DatetimeIndex)):
        return "no dates to tell the held-out reference days from the training days"
    held = _held_out(reference, ds, ref_times, times)
    if not held.any():
        return f"every reference day is a training day of {source}"
    train = IceCover.of(ds, "time")
    to_train = pairwise_iiee(IceCover.of(reference, "time").subset(held), train).min(1)
    label = f"{source}: {train.n} days {times.min():%Y-%m-%d}..{times.max():%Y-%m-%d}"
    return Training(label, train, held, to_train)


def _held_out(reference: xr.Dataset, train: xr.Dataset, ref_times: pd.DatetimeIndex,
              times: pd.DatetimeIndex) -> np.ndarray:
    """Reference days that are not training states: another date, or the same date with another field
    (e.g. the synthetic generator's unseen days, drawn with a new seed on the training calendar)."""
    ref_days, train_days = ref_times.normalize(), times.normalize()
    held = ~np.asarray(ref_days.isin(train_days))
    position = {day: k for k, day in enumerate(train_days)}
    ref_sic, train_sic = reference["sic"], train["sic"]
    for i in np.flatnonzero(~held):
        a = ref_sic.isel(time=i).values
        b = train_sic.isel(time=position[ref_days[i]]).values
        held[i] = not np.array_equal(a, b, equal_nan=True)
    return held


def training_sets(entries: Mapping[str, ModelEntry], registry: Registry, reference: xr.Dataset,
                  reference_spec: str) -> dict[str, Training | str]:
    """Each backend's :class:`Training` (opened once per dataset), or why it has none."""
    opened: dict[str, Training | str] = {}
    out: dict[str, Training | str] = {}
    for backend, entry in entries.items():
        try:
            source = registry.dataset_source(entry.dataset)
        except SeaIceInputError as err:
            out[backend] = err.problem
            continue
        if source is None:
            out[backend] = f"its dataset {entry.dataset!r} names data this models folder does not hold"
            continue
        if source not in opened:
            opened[source] = open_training(source, reference, reference_spec)
        out[backend] = opened[source]
    return out


@dataclass(frozen=True, eq=False)
class NeighbourReport:
    """``neighbours.csv`` (a row per backend, then the reference baseline), ``seasons.csv`` and
    ``notes``: "backend: why memorisation was not computed"."""

    table: pd.DataFrame
    seasons: pd.DataFrame
    notes: tuple[str, ...] = ()
    quantile: float = QUANTILE
    gap_days: int = GAP_DAYS


def reference_baseline(ref: IceCover, times: pd.DatetimeIndex | None, gap_days: int = GAP_DAYS) -> np.ndarray:
    """Each reference day's IIEE to its nearest reference day at least ``gap_days`` away (empty without dates)."""
    if times is None or not isinstance(times, pd.DatetimeIndex):
        return np.empty(0)
    d = pairwise_iiee(ref, ref)
    days = times.values.astype("datetime64[D]").astype(np.int64)
    d[np.abs(days[:, None] - days[None, :]) < gap_days] = np.inf
    near = d.min(1)
    return near[np.isfinite(near)]


def neighbour_report(sets: Mapping[str, tuple[str, xr.Dataset | xr.DataArray]], reference: xr.Dataset,
                     training: Mapping[str, Training | str], quantile: float = QUANTILE,
                     gap_days: int = GAP_DAYS) -> NeighbourReport:
    """The diagnostics of each backend's set (``sets``: backend -> (bounds, samples)) against the
    reference (dim ``time``); ``training``: each backend's :class:`Training`, or why it has none."""
    ref = IceCover.of(reference, "time")
    months = months_of(reference)
    rows: list[dict[str, object]] = []
    seasons: dict[str, pd.Series] = {}
    notes: list[str] = []
    for backend, (bounds, ds) in sets.items():
        cover = IceCover.of(ds, "sample")
        d = pairwise_iiee(cover, ref)  # (n, N_ref)
        row: dict[str, object] = {"backend": backend, "bounds": bounds, "n": cover.n,
                                  **Percentiles.of(d.min(1)).columns("realism"),
                                  **Percentiles.of(d.min(0)).columns("coverage")}
        if months is not None:
            seasons[backend] = month_shares(months[d.argmin(1)])
        t = training.get(backend, "no training set given")
        row.update(dict.fromkeys(MEMORISATION_COLUMNS, np.nan), training="", memorisation_skipped="")
        if isinstance(t, Training):
            mem = Memorisation(pairwise_iiee(cover, t.train).min(1), d[:, t.held_out].min(1),  # held out ⊆ reference
                               t.held_out_to_train, quantile)
            row.update(nearest_train_median_1e6km2=float(np.median(mem.to_train)),
                       nearest_held_out_median_1e6km2=float(np.median(mem.to_held_out)),
                       memorised_share=mem.share, memorised_threshold_1e6km2=mem.threshold,
                       held_out_days=int(t.held_out.sum()), training=t.label)
        else:
            row["memorisation_skipped"] = t
            notes.append(f"{backend}: {t}")
            log.info("memorisation of %s not computed: %s", backend, t)
        rows.append(row)
    base = reference_baseline(ref, reference.indexes.get("time"), gap_days)
    if base.size:
        rows.append({"backend": "reference", "bounds": f"days ≥ {gap_days} d apart", "n": base.size,
                     **Percentiles.of(base).columns("realism")})
    if months is not None:
        seasons["reference"] = month_shares(months)
    return NeighbourReport(pd.DataFrame(rows), pd.DataFrame(seasons, index=MONTHS).reset_index(), tuple(notes),
                           quantile, gap_days)
