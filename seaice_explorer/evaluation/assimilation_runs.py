"""The computing half of ``seaice-explorer assimilation-report`` (issue 22 §3): knobs, makers and a row cache.

Compute is the bottleneck (a guided latent ensemble member takes seconds on a CPU, a data-space one
ten times more), so every scored (maker, mask, day) is one *row*, written as a small NetCDF file as
soon as it is done and never computed again:

    WORK/<stage>/seed<S>/<maker key>/<mask>/<YYYY-MM-DD>.nc      one row of score_days (day, mask)

A maker key names everything its rows depend on (backend, method, guidance, σ_obs, steps, bounds,
n), so rows of other settings are never mixed in. Days are taken in :func:`spread_order`: any
prefix (``--max-days``, ``--tune-days``) spreads over the seasons, and a longer run extends a shorter
one. The knobs themselves live in :mod:`.assimilation_knobs`.

>>> spread_order(8)
[0, 4, 2, 6, 1, 3, 5, 7]
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..assimilation import assimilate
from ..diffusion.generate import generate
from ..outputs import atomic_file, created_by
from ..recipe import PAPER
from .assimilation_knobs import COMMAND, Knob
from .assimilation_scores import SCORES, score_days
from .baselines import EnsembleMaker, observation_day
from .bootstrap import derived_seed

log = logging.getLogger(__name__)

TUNE_MASK = "edge_box"
TUNE_N, REPORT_N = 8, 16
ROW_VARS: tuple[str, ...] = (*SCORES, "seconds_per_member")
_SEED_MOD = 2**31


# --------------------------------------------------------------------------- days
def spread_order(count: int) -> list[int]:
    """0..count−1 so that every prefix spreads over the cycle: 0 first, then each time the index farthest
    (cyclically) from those already taken, ties to the lowest."""
    if count <= 0:
        return []
    idx = np.arange(count)
    order = [0]
    dist = np.minimum(idx, count - idx)
    while len(order) < count:
        nxt = int(np.argmax(dist))
        order.append(nxt)
        dist = np.minimum(dist, np.minimum(np.abs(idx - nxt), count - np.abs(idx - nxt)))
        dist[order] = -1
    return order


def take_days(days: pd.DatetimeIndex, limit: int | None) -> list[pd.Timestamp]:
    """The first ``limit`` of ``days`` in :func:`spread_order` (all when None), in calendar order."""
    order = spread_order(len(days))[:limit]
    return [days[i] for i in sorted(order)]


# --------------------------------------------------------------------------- makers
@dataclass(frozen=True)
class MakerSpec:
    """One ensemble maker of a run: its row folder ``key``, the report's ``label``, its role and members."""

    key: str
    label: str
    role: str  # posterior, unconditional, climatology, inpainting
    make: EnsembleMaker
    n: int | None
    backend: str | None = None
    knob: Knob | None = None
    kind: str = ""  # the backend's kind and decoder, e.g. "latent-censored"


def posterior_maker(backend: str, knob: Knob, *, device: str = "auto", models_dir: str | Path | None = None,
                    variables: Sequence[str] | None = None) -> EnsembleMaker:
    """:func:`~seaice_explorer.assimilation.assimilate` with ``knob``, as an ensemble maker (only
    ``variables`` of the observed state are passed on, default all)."""

    def make(obs: xr.Dataset, n: int | None, seed: int) -> xr.Dataset:
        seen = obs if variables is None else obs[list(variables)]
        return assimilate(backend, seen, PAPER, obs_sigma=knob.obs_sigma, method=knob.method, guidance=knob.guidance,
                          n=n, steps=knob.steps, seed=seed, bounds=knob.bounds, device=device,
                          models_dir=models_dir, source=f"{backend} observations")

    return make


def unconditional_maker(backend: str, *, steps: int, bounds: str, seed: int, device: str = "auto",
                        models_dir: str | Path | None = None) -> EnsembleMaker:
    """``generate``'s states of ``backend``: one draw per observed day (seed derived from ``seed`` and the
    day), reused for every mask of that day (the draw does not depend on the mask)."""
    last: dict[tuple[pd.Timestamp, int | None], xr.Dataset] = {}

    def make(obs: xr.Dataset, n: int | None, _seed: int) -> xr.Dataset:
        day = observation_day(obs).normalize()
        if (day, n) not in last:
            last.clear()
            day_seed = derived_seed(seed, "unconditional", day.date()) % _SEED_MOD
            last[(day, n)] = generate(backend, PAPER, n=n, steps=steps, seed=day_seed, bounds=bounds, device=device,
                                      models_dir=models_dir)
        return last[(day, n)]

    return make


# --------------------------------------------------------------------------- rows
def row_folder(work: Path, stage: str, seed: int, key: str) -> Path:
    return Path(work) / stage / f"seed{seed}" / key


def row_path(work: Path, stage: str, seed: int, key: str, mask: str, day: pd.Timestamp) -> Path:
    return row_folder(work, stage, seed, key) / mask / f"{pd.Timestamp(day):%Y-%m-%d}.nc"


def example_path(work: Path, stage: str, seed: int, key: str, mask: str, day: pd.Timestamp) -> Path:
    """Where the members of the example day are kept (posteriors only, for the report's figure)."""
    return row_folder(work, stage, seed, key) / f"example-{mask}-{pd.Timestamp(day):%Y-%m-%d}.nc"


def write_netcdf(ds: xr.Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        ds.assign_attrs(created_by(COMMAND)).to_netcdf(tmp)
    return path


def seconds_per_member(ens: xr.Dataset, wall: float) -> float:
    """The sampler's own cost (``sampling_seconds`` + ``decode_seconds``) per member, else the wall time."""
    m = ens.sizes.get("sample", 1)
    cost = ens.attrs.get("sampling_seconds")
    total = float(cost) + float(ens.attrs.get("decode_seconds", 0.0)) if cost is not None else wall
    return total / max(m, 1)


def score_row(truth: xr.Dataset, day: pd.Timestamp, mask: str | Mapping[str, Callable], spec: MakerSpec, *,
              seed: int, keep: Callable[[xr.Dataset], None] | None = None, device: str = "") -> xr.Dataset:
    """One row: :func:`.assimilation_scores.score_days` of one day and one mask, plus seconds per member
    (on ``device``, recorded with the row: rows of one report may come from several machines)."""
    seen: dict[str, float] = {}

    def timed(obs: xr.Dataset, n: int | None, s: int) -> xr.Dataset:
        t0 = time.perf_counter()
        ens = spec.make(obs, n, s)
        seen["spm"] = seconds_per_member(ens, time.perf_counter() - t0)
        if keep is not None:
            keep(ens)
        return ens

    masks = [mask] if isinstance(mask, str) else mask
    row = score_days([day], masks, timed, truth=truth, n=spec.n, seed=seed, label=spec.label)
    row["seconds_per_member"] = (("day", "mask"), np.full((1, 1), seen["spm"]), {"units": "s"})
    return row.assign_attrs(maker=spec.label, key=spec.key, role=spec.role, backend=spec.backend or "",
                            knob=json.dumps(spec.knob.to_dict()) if spec.knob else "", device=device)


def run_rows(work: Path, stage: str, truth: xr.Dataset, days: Sequence[pd.Timestamp], masks: Sequence[str],
             specs: Sequence[MakerSpec], *, seed: int, example: tuple[pd.Timestamp, str] | None = None,
             device: str = "") -> int:
    """Score every (day, mask, maker) without a row yet, day by day; each row is written once done, with the
    ``device`` it ran on. The posteriors' members on the ``example`` (day, mask) are kept too. Returns the rows
    computed."""
    done = 0
    total = len(days) * len(masks) * len(specs)
    for day in days:
        for mask in masks:
            for spec in specs:
                path = row_path(work, stage, seed, spec.key, mask, day)
                if path.is_file():
                    continue
                keep = None
                if example is not None and spec.role == "posterior" and (pd.Timestamp(day), mask) == example:
                    target = example_path(work, stage, seed, spec.key, mask, day)
                    keep = lambda ens, _t=target: write_netcdf(ens, _t)  # noqa: E731
                t0 = time.perf_counter()
                row = score_row(truth, day, mask, spec, seed=seed, keep=keep, device=device)
                write_netcdf(row, path)
                done += 1
                log.info("%s %s %s: crps %.4f, %d members, %.2f s per member (row %.1f s; %d new of %d)",
                         spec.label, mask, f"{pd.Timestamp(day):%Y-%m-%d}", float(row["crps"][0, 0]),
                         int(row["members"][0, 0]), float(row["seconds_per_member"][0, 0]),
                         time.perf_counter() - t0, done, total)
    return done


def open_rows(files: list[Path]) -> list[xr.Dataset]:
    """The cached row files, loaded (and closed)."""
    rows = []
    for f in files:
        with xr.open_dataset(f) as ds:
            rows.append(ds.load())
    return rows


def load_rows(folder: Path) -> xr.Dataset | None:
    """Every row under ``folder`` (``<mask>/<day>.nc``) as one Dataset on (day, mask), NaN where a row is
    missing; ``rank_counts`` on (day, mask, rank). None when there is no row."""
    rows = open_rows(sorted(Path(folder).glob("*/*.nc")))
    if not rows:
        return None
    days = sorted({pd.Timestamp(r["day"].values[0]) for r in rows})
    masks = list(dict.fromkeys(str(r["mask"].values[0]) for r in rows))
    ranks = max(r.sizes.get("rank", 0) for r in rows)
    out = {k: np.full((len(days), len(masks)), np.nan) for k in ROW_VARS}
    counts = np.full((len(days), len(masks), ranks), np.nan)
    devices = np.full((len(days), len(masks)), "", dtype=object)
    for r in rows:
        i, j = days.index(pd.Timestamp(r["day"].values[0])), masks.index(str(r["mask"].values[0]))
        devices[i, j] = str(r.attrs.get("device", ""))
        for k in ROW_VARS:
            if k in r:
                out[k][i, j] = float(r[k].values.ravel()[0])
        if "rank_counts" in r:
            c = r["rank_counts"].values.ravel()
            counts[i, j, :c.size] = c
    ds = xr.Dataset({k: (("day", "mask"), v, rows[0][k].attrs if k in rows[0] else {}) for k, v in out.items()},
                    coords={"day": pd.DatetimeIndex(days), "mask": masks})
    if ranks:
        ds["rank_counts"] = (("day", "mask", "rank"), counts, {"units": "1"})
    ds["device"] = (("day", "mask"), devices, {"long_name": "device the row ran on ('' where not recorded)"})
    ds.attrs = {k: rows[0].attrs[k] for k in ("maker", "key", "role", "backend", "knob", "variable", "seed")
                if k in rows[0].attrs}
    ds.attrs["ensemble"] = ds.attrs.get("maker", "")
    return ds
