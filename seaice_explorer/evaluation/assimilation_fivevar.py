"""SYNTHETIC five-variable check of ``assimilation-report`` (issue 22 §3.4): sic observed, the rest inferred.

The five-variable family (``dm``, ``ldm-gaussian``, ``ldm-censored``: sit, sic, sid, siu, siv) was
trained on the synthetic neXtSIM-like reference (:mod:`seaice_explorer.data.reference`, seed 0). Its
held-out days here come from the same generator with *another* seed (:data:`FIVEVAR_SEED`), so they
are new weather of the same synthetic climate, never seen in training; they are not observations.

Each day sic is observed on every ocean cell (σ_obs as the knob says) and sit, sid, siu, siv are
NaN; a backend's posterior and its unconditional samples (one `generate` draw per day) are scored on
every ocean cell per variable (:func:`.assimilation_scores.score_day`), and the physical couplings
of the members are measured (:func:`couplings`):

- the share of (member, cell) pairs with sit > :data:`SIT_ICE` m where the truth has sic = 0;
- the mean sit per sic bin (:data:`SIC_BINS`) of the members (each member's own sic) and of the truth.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..data import open_reference
from ..data.reference import make_reference
from ..errors import SeaIceInputError
from .assimilation_runs import MakerSpec, open_rows, row_folder, row_path, seconds_per_member, write_netcdf
from .assimilation_scores import score_day
from .assimilation_summary import mean_ci, ratio_ci
from .bootstrap import DEFAULT_REPLICATES, derived_seed

log = logging.getLogger(__name__)

STAGE = "fivevar"
#: The generator seed of the held-out synthetic days (the shipped reference is seed 0).
FIVEVAR_SEED = 1
FIVEVAR_DAYS = 10
OBSERVED = "sic"
HIDDEN: tuple[str, ...] = ("sit", "sid", "siu", "siv")
SCORED: tuple[str, ...] = (*HIDDEN, OBSERVED)
#: Ice thicker than this (m) counts as ice where the truth has none.
SIT_ICE = 0.01
#: sic bins of the thickness–concentration relation (the last bin includes 1).
SIC_BINS: tuple[float, ...] = (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0)
_ZERO = 1e-6
_SEED_MOD = 2**31
ROW_MASK = "sic_everywhere"


def synthetic_days(count: int = FIVEVAR_DAYS, seed: int = FIVEVAR_SEED, size: int = 128) -> xr.Dataset:
    """``count`` days spread over one year of the synthetic generator with ``seed`` (not the shipped
    reference's seed: an error if it is)."""
    shipped = open_reference("default").attrs.get("seed")
    if shipped is not None and int(shipped) == seed:
        raise SeaIceInputError("--fivevar-seed", f"seed {seed} is the shipped reference's: its days were trained on",
                               f"Use another generator seed, e.g. {seed + 1}")
    idx = sorted({int(i) for i in np.round(np.linspace(0, 364, count))})
    return make_reference(seed=seed, size=size, days=365, day_indices=idx)


def observed_sic(day: xr.Dataset) -> xr.Dataset:
    """The day with sic kept and every other variable NaN (time kept, length 1)."""
    obs = day.copy()
    for name in HIDDEN:
        if name in obs:
            obs[name] = xr.full_like(obs[name], np.nan)
    return obs


def _binned(sic: np.ndarray, sit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of sit and count per sic bin over the finite cells (any leading dims pooled)."""
    ok = np.isfinite(sic) & np.isfinite(sit)
    edges = np.asarray(SIC_BINS)
    which = np.clip(np.digitize(sic[ok], edges[1:-1], right=False), 0, len(edges) - 2)
    sums = np.bincount(which, weights=sit[ok], minlength=len(edges) - 1)
    return sums, np.bincount(which, minlength=len(edges) - 1).astype(np.float64)


def couplings(truth: xr.Dataset, ens: xr.Dataset) -> dict[str, np.ndarray | float]:
    """Open-water thickness share (members' sit > :data:`SIT_ICE` where the truth's sic is 0, over members
    × ocean cells) and the sit sums and counts per sic bin of the members and of the truth."""
    ocean = truth["mask"].values > 0 if "mask" in truth.coords else np.ones(truth["sic"].shape[-2:], bool)
    t_sic = np.squeeze(truth["sic"].values)
    t_sit = np.squeeze(truth["sit"].values)
    m_sic = ens["sic"].transpose("sample", "y", "x").values
    m_sit = ens["sit"].transpose("sample", "y", "x").values
    water = ocean & np.isfinite(t_sic) & (t_sic <= _ZERO)
    share = float((m_sit[:, water] > SIT_ICE).mean()) if water.any() else float("nan")
    truth_share = float((t_sit[water] > SIT_ICE).mean()) if water.any() else float("nan")
    sums, counts = _binned(np.where(ocean, m_sic, np.nan), m_sit)
    t_sums, t_counts = _binned(np.where(ocean, t_sic, np.nan), t_sit)
    return {"open_water_sit_share": share, "truth_open_water_sit_share": truth_share,
            "open_water_cells": float(water.sum()), "sit_sum": sums, "sit_count": counts,
            "truth_sit_sum": t_sums, "truth_sit_count": t_counts}


def fivevar_row(truth: xr.Dataset, ens: xr.Dataset, day: pd.Timestamp, seed: int, spm: float) -> xr.Dataset:
    """One row: CRPS, spread–skill and coverage per variable on every ocean cell, and the couplings."""
    hidden = truth["mask"] > 0
    got = [score_day(truth, hidden, ens, variable=v, seed=seed) for v in SCORED]
    cpl = couplings(truth, ens)
    per_var = {k: (("day", "variable"), [[g[k] for g in got]]) for k in ("crps", "spread_skill", "coverage",
                                                                            "members")}
    per_bin = {k: (("day", "bin"), [cpl[k]]) for k in ("sit_sum", "sit_count", "truth_sit_sum", "truth_sit_count")}
    scalars = {k: (("day",), [cpl[k]]) for k in ("open_water_sit_share", "truth_open_water_sit_share",
                                                 "open_water_cells")}
    return xr.Dataset({**per_var, **per_bin, **scalars, "seconds_per_member": (("day",), [spm], {"units": "s"})},
                      coords={"day": [pd.Timestamp(day)], "variable": list(SCORED),
                              "bin": [f"{a:g}–{b:g}" for a, b in zip(SIC_BINS[:-1], SIC_BINS[1:])]})


def run_fivevar(work: Path, truth: xr.Dataset, specs: Sequence[MakerSpec], *, seed: int) -> int:
    """Every (maker, day) without a row yet: observe sic, make the ensemble, score it; returns rows computed."""
    done = 0
    for i in range(truth.sizes["time"]):
        day_ds = truth.isel(time=[i]).load()
        day = pd.Timestamp(day_ds["time"].values[0])
        member_seed = derived_seed(seed, STAGE, day.date()) % _SEED_MOD
        for spec in specs:
            path = row_path(work, STAGE, seed, spec.key, ROW_MASK, day)
            if path.is_file():
                continue
            t0 = time.perf_counter()
            ens = spec.make(observed_sic(day_ds), spec.n, member_seed)
            spm = seconds_per_member(ens, time.perf_counter() - t0)
            row = fivevar_row(day_ds.isel(time=0), ens, day, member_seed, spm)
            write_netcdf(row.assign_attrs(maker=spec.label, key=spec.key, role=spec.role, backend=spec.backend or "",
                                          synthetic="SYNTHETIC: generator seed "
                                                    f"{truth.attrs.get('seed', '?')}, not observations"), path)
            done += 1
            log.info("SYNTHETIC %s %s: crps sit %.4f, %.2f s per member", spec.label, f"{day:%Y-%m-%d}",
                     float(row["crps"].sel(variable="sit")[0]), spm)
    return done


def load_fivevar(work: Path, seed: int, key: str) -> xr.Dataset | None:
    """The rows of one maker on dim ``day`` (None when there is none)."""
    rows = open_rows(sorted((row_folder(work, STAGE, seed, key) / ROW_MASK).glob("*.nc")))
    if not rows:
        return None
    return xr.concat(rows, "day", combine_attrs="drop_conflicts")


# --------------------------------------------------------------------------- summary
def summarise_fivevar(pairs: dict[str, tuple[xr.Dataset | None, xr.Dataset | None]],
                      replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> dict[str, dict]:
    """Per backend (``{backend: (posterior rows, unconditional rows)}``): per variable the posterior's and
    the unconditional CRPS and their paired ratio over days; the open-water sit share of both and of the
    truth; mean sit per sic bin of the posterior's and unconditional members and of the truth (pooled)."""
    out: dict[str, dict] = {}
    for backend, (post, unc) in pairs.items():
        if post is None:
            continue
        days = post.indexes["day"] if unc is None else post.indexes["day"].union(unc.indexes["day"])
        get = (lambda ds, k, v=None: np.full(days.size, np.nan) if ds is None else
               (ds[k] if v is None else ds[k].sel(variable=v)).reindex(day=days).values)
        s = lambda *keys: derived_seed(seed, "fivevar", backend, *keys) % 2**31  # noqa: E731
        crps = {v: {"posterior": mean_ci(get(post, "crps", v), replicates, s(v, "p")),
                    "unconditional": mean_ci(get(unc, "crps", v), replicates, s(v, "u")),
                    "ratio": ratio_ci(get(post, "crps", v), get(unc, "crps", v), replicates, s(v, "r"))}
                for v in SCORED}
        share = {"posterior": mean_ci(get(post, "open_water_sit_share"), replicates, s("share", "p")),
                 "unconditional": mean_ci(get(unc, "open_water_sit_share"), replicates, s("share", "u")),
                 "truth": mean_ci(get(post, "truth_open_water_sit_share"), replicates, s("share", "t"))}
        binned = {"truth": _bin_means(post, "truth_sit"), "posterior": _bin_means(post, "sit"),
                  "unconditional": _bin_means(unc, "sit")}
        out[backend] = {"crps": crps, "share": share, "binned": binned, "days": int(post.sizes["day"]),
                        "members": int(np.nanmax(post["members"].values)),
                        "seconds_per_member": float(np.nanmean(post["seconds_per_member"].values)),
                        "bins": [str(b) for b in post["bin"].values]}
    return out


def _bin_means(rows: xr.Dataset | None, prefix: str) -> list[tuple[float, int]]:
    """Mean sit per sic bin pooled over the rows' days (and members), with the cell count."""
    if rows is None:
        return [(float("nan"), 0)] * (len(SIC_BINS) - 1)
    sums, counts = rows[f"{prefix}_sum"].sum("day").values, rows[f"{prefix}_count"].sum("day").values
    with np.errstate(invalid="ignore", divide="ignore"):
        return [(float(a / c) if c else float("nan"), int(c)) for a, c in zip(sums, counts)]


def fivevar_dataset(rows: dict[str, xr.Dataset]) -> xr.Dataset:
    """Every SYNTHETIC row on (maker, day, ...), labelled as synthetic."""
    if not rows:
        return xr.Dataset()
    ds = xr.concat(list(rows.values()), pd.Index(list(rows), name="maker"), join="outer",
                   combine_attrs="drop_conflicts")
    return ds.assign_attrs(title="SYNTHETIC five-variable rows of assimilation-report (sic observed everywhere)",
                           synthetic="SYNTHETIC: held-out days of the synthetic generator, not observations")

