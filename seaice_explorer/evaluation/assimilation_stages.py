"""The three stages of ``assimilation-report`` (issue 22 §3), with the ensemble makers passed in.

- :func:`tune`: on the tuning days only, every knob of :func:`.assimilation_runs.knob_grid` per backend on
  the edge box; :func:`choose_knobs` keeps the lowest mean fair CRPS; ``knobs.json`` is updated per backend.
- :func:`report`: the report days × masks for each backend's posterior (its knobs), its unconditional
  samples, the climatological ensemble and harmonic inpainting.
- :func:`fivevar`: the SYNTHETIC five-variable family, sic observed everywhere
  (:mod:`.assimilation_fivevar`).

The makers come from a :class:`Factories` (:func:`default_factories`: the real ones), so the stages
run as well on toy makers. Every stage only adds rows that are missing (:func:`.assimilation_runs.run_rows`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..assimilation import METHODS
from ..errors import SeaIceInputError
from ..registry import ModelEntry
from .assimilation_fivevar import run_fivevar
from .assimilation_knobs import BOUNDS, GUIDANCES, Knob, knob_grid, knob_of, write_knobs
from .assimilation_runs import (
    TUNE_MASK,
    MakerSpec,
    load_rows,
    posterior_maker,
    row_folder,
    run_rows,
    take_days,
    unconditional_maker,
)
from .assimilation_scores import assimilation_days
from .assimilation_summary import diff_ci, mean_ci
from .baselines import EnsembleMaker, climatology_maker, inpainting_maker
from .bootstrap import DEFAULT_REPLICATES, derived_seed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Factories:
    """How the makers are built: (backend, knob) -> posterior or unconditional maker; () -> a baseline."""

    posterior: Callable[[str, Knob], EnsembleMaker]
    unconditional: Callable[[str, Knob], EnsembleMaker]
    climatology: Callable[[], EnsembleMaker]
    inpainting: Callable[[], EnsembleMaker]


def default_factories(*, seed: int, device: str = "auto", models_dir: str | Path | None = None) -> Factories:
    """The real makers: ``assimilate``, ``generate``, the OSI SAF climatology (opened on first use), inpainting."""
    held: dict[str, EnsembleMaker] = {}

    def climatology() -> EnsembleMaker:
        def make(obs: xr.Dataset, n: int | None, s: int) -> xr.Dataset:
            if "maker" not in held:
                held["maker"] = climatology_maker()
            return held["maker"](obs, n, s)
        return make

    return Factories(
        posterior=lambda b, k: posterior_maker(b, k, device=device, models_dir=models_dir),
        unconditional=lambda b, k: unconditional_maker(b, steps=k.steps, bounds=k.bounds, seed=seed, device=device,
                                                       models_dir=models_dir),
        climatology=climatology, inpainting=inpainting_maker)


def _kind(entry: ModelEntry) -> str:
    return f"{entry.kind}-{entry.decoder}"


# --------------------------------------------------------------------------- tune
def tune_specs(entry: ModelEntry, knobs: Sequence[Knob], n: int, factories: Factories) -> list[MakerSpec]:
    return [MakerSpec(f"{entry.name}/tune-{k.label}-n{n}", f"{entry.name} {k.label}", "posterior",
                      factories.posterior(entry.name, k), n, entry.name, k, _kind(entry)) for k in knobs]


def choose_knobs(specs: Sequence[MakerSpec], rows: Mapping[str, xr.Dataset | None], days: Sequence[pd.Timestamp], *,
                 replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> dict[str, Any]:
    """The knob with the lowest mean fair CRPS over the ``days`` every knob was scored on (ties: grid order),
    each knob's mean with its interval and its paired difference to the chosen one."""
    index = pd.DatetimeIndex([pd.Timestamp(d) for d in days])
    crps = {}
    for s in specs:
        r = rows.get(s.key)
        crps[s.key] = (np.full(index.size, np.nan) if r is None or TUNE_MASK not in r.mask.values
                       else r["crps"].sel(mask=TUNE_MASK).reindex(day=index).values)
    common = np.logical_and.reduce([np.isfinite(v) for v in crps.values()])
    if not common.any():
        raise SeaIceInputError("--stage tune", "no tuning day was scored with every knob",
                               "Rerun --stage tune (rows already scored are kept)")
    means = [float(crps[s.key][common].mean()) for s in specs]
    best = specs[int(np.argmin(means))]
    boot = lambda *k: derived_seed(seed, "tune", *k) % 2**31  # noqa: E731
    configs = []
    for s in specs:
        r = rows.get(s.key)
        spm = float(np.nanmean(r["seconds_per_member"].values)) if r is not None else float("nan")
        configs.append({"label": s.knob.label, "knob": s.knob.to_dict(),
                        "crps": mean_ci(crps[s.key][common], replicates, boot(s.key)).to_dict(),
                        "difference_to_chosen": diff_ci(crps[s.key][common], crps[best.key][common], replicates,
                                                        boot(s.key, "diff")).to_dict(),
                        "crps_by_day": {f"{d:%Y-%m-%d}": float(v) for d, v in zip(index[common], crps[s.key][common])},
                        "seconds_per_member": spm, "rows": int(np.isfinite(crps[s.key]).sum())})
    return {"chosen": best.knob.to_dict(), "chosen_label": best.knob.label, "n": best.n, "mask": TUNE_MASK,
            "days": [f"{d:%Y-%m-%d}" for d in index[common]], "configs": configs}


def tune(entries: Sequence[ModelEntry], *, work: Path, truth: xr.Dataset, knobs_path: Path, factories: Factories,
         n: int, tune_days: int | None, seed: int, steps: int, obs_sigma: float, bounds: str = BOUNDS,
         guidances: Sequence[float] = GUIDANCES, replicates: int = DEFAULT_REPLICATES,
         existing: Mapping[str, Any] | None = None, command: str = "", device: str = "") -> dict[str, Any]:
    """Score every knob of each backend on the tuning days (edge box), choose, and write ``knobs.json``
    (backends tuned before and not named now are kept)."""
    days = take_days(assimilation_days()["tuning"], tune_days)
    knobs: dict[str, Any] = {"written_by": "seaice-explorer assimilation-report --stage tune",
                             "rule": "lowest mean fair CRPS over the tuning days every knob was scored on",
                             "mask": TUNE_MASK, "n": n, "seed": seed, "obs_sigma": obs_sigma, "steps": steps,
                             "bounds": bounds, "grid": {"methods": list(METHODS),
                                                        "guidance": [float(g) for g in guidances]},
                             "backends": dict((existing or {}).get("backends", {}))}
    for entry in entries:
        grid = knob_grid(entry, guidances, obs_sigma=obs_sigma, steps=steps, bounds=bounds)
        specs = tune_specs(entry, grid, n, factories)
        log.info("tuning %s: %d knobs × %d tuning days, n = %d", entry.name, len(specs), len(days), n)
        run_rows(work, "tune", truth, days, [TUNE_MASK], specs, seed=seed, device=device)
        rows = {s.key: load_rows(row_folder(work, "tune", seed, s.key)) for s in specs}
        knobs["backends"][entry.name] = choose_knobs(specs, rows, days, replicates=replicates, seed=seed) | {
            "command": command, "seed": seed, "device": device}
        log.info("%s: chose %s", entry.name, knobs["backends"][entry.name]["chosen_label"])
        write_knobs(knobs_path, knobs)
    return knobs


# --------------------------------------------------------------------------- report
def report_specs(entries: Sequence[ModelEntry], knobs: Mapping[str, Any] | None, n: int, factories: Factories,
                 knobs_path: Path | str = "knobs.json") -> list[MakerSpec]:
    """Each backend's posterior (its knobs) and unconditional samples, then climatology and inpainting."""
    specs: list[MakerSpec] = []
    for entry in entries:
        knob = knob_of(knobs or {"backends": {}}, entry.name, knobs_path)
        specs.append(MakerSpec(f"{entry.name}/posterior-{knob.label}-n{n}", f"{entry.name} posterior ({knob.label})",
                               "posterior", factories.posterior(entry.name, knob), n, entry.name, knob, _kind(entry)))
        specs.append(MakerSpec(f"{entry.name}/unconditional-steps{knob.steps}-{knob.bounds}-n{n}",
                               f"{entry.name} unconditional", "unconditional", factories.unconditional(entry.name, knob),
                               n, entry.name, knob, _kind(entry)))
    specs.append(MakerSpec(f"climatology/n{n}", "climatology", "climatology", factories.climatology(), n))
    specs.append(MakerSpec("inpainting/n1", "harmonic inpainting", "inpainting", factories.inpainting(), None))
    return specs


def tuned(entries: Sequence[ModelEntry], knobs: Mapping[str, Any] | None, named: bool) -> list[ModelEntry]:
    """The backends with knobs; a named backend without knobs is an error, an unnamed one is skipped."""
    have = (knobs or {}).get("backends", {})
    if named:
        return list(entries)
    kept = [e for e in entries if e.name in have and "chosen" in have[e.name]]
    for e in entries:
        if e not in kept:
            log.warning("%s has no tuned knobs yet: left out (run --stage tune --backends %s)", e.name, e.name)
    return kept


def report(specs: Sequence[MakerSpec], *, work: Path, truth: xr.Dataset, masks: Sequence[str],
           max_days: int | None, seed: int, device: str = "") -> int:
    """Score the first ``max_days`` report days (spread over the year) on ``masks``; returns new rows."""
    order = take_days(assimilation_days()["report"], None)
    days = take_days(assimilation_days()["report"], max_days)
    example = (example_day(), "edge_box") if "edge_box" in masks else None
    log.info("report: %d makers × %d masks × %d of %d report days", len(specs), len(masks), len(days), len(order))
    return run_rows(work, "report", truth, days, masks, specs, seed=seed, example=example, device=device)


def example_day() -> pd.Timestamp:
    """The report day of the example figure: the first of the spread order (always among the days run)."""
    return take_days(assimilation_days()["report"], 1)[0]


# --------------------------------------------------------------------------- fivevar
def fivevar_specs(entries: Sequence[ModelEntry], knob: Knob, n: int, factories: Factories) -> list[MakerSpec]:
    specs = []
    for e in entries:
        specs.append(MakerSpec(f"{e.name}/posterior-{knob.label}-n{n}", f"{e.name} posterior", "posterior",
                               factories.posterior(e.name, knob), n, e.name, knob, _kind(e)))
        specs.append(MakerSpec(f"{e.name}/unconditional-steps{knob.steps}-{knob.bounds}-n{n}",
                               f"{e.name} unconditional", "unconditional", factories.unconditional(e.name, knob), n,
                               e.name, knob, _kind(e)))
    return specs


def fivevar(specs: Sequence[MakerSpec], *, work: Path, truth: xr.Dataset, seed: int) -> int:
    log.info("SYNTHETIC five-variable stage: %d makers × %d days", len(specs), truth.sizes["time"])
    return run_fivevar(work, truth, specs, seed=seed)
