"""The report folder of ``seaice-explorer assimilation-report`` (issue 22 §3), built from the cached rows.

:func:`summarise_report` turns the rows of every maker (:func:`.assimilation_runs.load_rows`) into
means over days with intervals (:mod:`.assimilation_summary`): the scores table, the targets judged
by their intervals, the calibration of each posterior and the censored-likelihood effect at the ice
edge. :func:`write_report` writes the folder::

    OUT/README.md             the command, knobs, targets, calibration finding, scores, speed, SYNTHETIC section
    OUT/scores.nc             every row: scores on (maker, mask, day), rank counts on (maker, mask, day, rank)
    OUT/fivevar_scores.nc     SYNTHETIC five-variable rows (when there are any)
    OUT/knobs.json            a copy of the knobs the posteriors ran with
    OUT/verdicts.json         the targets, calibration and censored effect as data (:mod:`.assimilation_verdicts`)
    OUT/example.png           one report day on the edge box, one row per backend
    OUT/rank_histograms.png   pooled rank histograms per mask

The folder is marked as this command's (:func:`seaice_explorer.outputs.mark_folder`); a folder this
command did not write is refused before any work (:func:`check_report_folder`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..data.masks import make_mask, observe
from ..errors import SeaIceInputError
from ..outputs import MARKER_FILE, Output, atomic_file, check_outputs, created_by, mark_folder
from ..plots.assimilation_figures import example_png, rank_histograms_png
from ..stats.probabilistic import rank_flatness
from .assimilation_runs import COMMAND, ROW_VARS, MakerSpec, example_path, load_rows, row_folder
from .assimilation_scores import day_state
from .assimilation_verdicts import VERDICTS_FILE
from .assimilation_summary import TARGETS, Estimate, diff_ci, dispersion, effect_word, mean_ci, ratio_ci
from .bootstrap import DEFAULT_REPLICATES, derived_seed

log = logging.getLogger(__name__)

STAGE = "report"
TARGET_MASKS: tuple[str, ...] = ("edge_box", "pole_hole")
TABLE_SCORES: tuple[str, ...] = ("crps", "iiee", "sps", "coverage", "spread_skill")


# --------------------------------------------------------------------------- the folder
def check_report_folder(out: Path, work: Path) -> None:
    """Refuse, before any work, a ``--out`` that holds files this command did not write, or that is,
    holds or lies inside the row cache."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()):
        try:
            mark = json.loads((out / MARKER_FILE).read_text())
        except (OSError, ValueError):
            mark = {}
        if not isinstance(mark, dict) or mark.get("created_by") != f"seaice-explorer {COMMAND}":
            raise SeaIceInputError("--out", f"{out} exists and is not a report folder written by "
                                   f"`seaice-explorer {COMMAND}` (marked by {MARKER_FILE}); it is never replaced",
                                   "Choose another folder, or move it away yourself")
    check_outputs([Output(out, "report")], overwrite=True, inputs=[work], make_folders=True)


# --------------------------------------------------------------------------- summaries
@dataclass
class ReportSummary:
    """Everything the README says, computed from the rows once."""

    rows: dict[str, xr.Dataset]
    specs: dict[str, MakerSpec]
    table: dict[str, dict[str, dict[str, Estimate]]] = field(default_factory=dict)  # mask -> label -> score
    pooled_p: dict[str, dict[str, float]] = field(default_factory=dict)  # mask -> label -> χ² p of pooled ranks
    targets: list[dict] = field(default_factory=list)
    calibration: list[dict] = field(default_factory=list)
    censored: dict | None = None


def collect(work: Path, seed: int, specs: Sequence[MakerSpec], stage: str = STAGE) -> dict[str, xr.Dataset]:
    """The rows of each maker that has any, by label."""
    found = {}
    for spec in specs:
        rows = load_rows(row_folder(work, stage, seed, spec.key))
        if rows is not None:
            found[spec.label] = rows
    return found


def _values(rows: xr.Dataset | None, score: str, mask: str, days: pd.DatetimeIndex) -> np.ndarray:
    if rows is None or mask not in rows.mask.values:
        return np.full(days.size, np.nan)
    return rows[score].sel(mask=mask).reindex(day=days).values


def _first(specs: Mapping[str, MakerSpec], role: str, backend: str | None = None) -> str | None:
    return next((k for k, s in specs.items() if s.role == role and (backend is None or s.backend == backend)), None)


def _boot(seed: int) -> Callable[..., int]:
    return lambda *keys: derived_seed(seed, *keys) % 2**31


def _table(out: ReportSummary, masks: Sequence[str], days: pd.DatetimeIndex, replicates: int, seed: int) -> None:
    """Every score's mean over days per mask and maker, and the pooled rank counts' χ² p-value."""
    boot = _boot(seed)
    for mask in masks:
        out.table[mask], out.pooled_p[mask] = {}, {}
        for label, r in out.rows.items():
            out.table[mask][label] = {k: mean_ci(_values(r, k, mask, days), replicates, boot(label, mask, k))
                                      for k in (*TABLE_SCORES, "coverage_expected", "members")}
            if "rank_counts" in r and mask in r.mask.values:
                pooled = np.nansum(r["rank_counts"].sel(mask=mask).values, axis=0)
                out.pooled_p[mask][label] = rank_flatness(pooled[np.isfinite(pooled)]).pvalue


def _targets(out: ReportSummary, label: str, days: pd.DatetimeIndex, replicates: int, seed: int) -> None:
    """The three targets of one posterior on each target mask, judged by their intervals."""
    boot, post, spec = _boot(seed), out.rows[label], out.specs[label]
    clim = out.rows.get(_first(out.specs, "climatology") or "")
    inpaint = out.rows.get(_first(out.specs, "inpainting") or "")
    for mask in TARGET_MASKS:
        if mask not in post.mask.values:
            continue
        ests = {"crps_ratio": ratio_ci(_values(post, "crps", mask, days), _values(clim, "crps", mask, days),
                                       replicates, boot(label, mask, "crps_ratio")),
                "iiee_ratio": ratio_ci(_values(post, "iiee", mask, days), _values(inpaint, "iiee", mask, days),
                                       replicates, boot(label, mask, "iiee_ratio")),
                "coverage": out.table[mask][label]["coverage"]}
        for key, est in ests.items():
            out.targets.append({"maker": label, "backend": spec.backend, "mask": mask, "target": key,
                                "estimate": est, "verdict": TARGETS[key].judge(est.ci_low, est.ci_high)})


def _calibration(out: ReportSummary, label: str) -> None:
    """Coverage against (m − 1)/(m + 1) and spread–skill against 1, per mask it was scored on, by their intervals."""
    for mask, per in out.table.items():
        if mask not in out.rows[label].mask.values:
            continue
        t = per[label]
        expected = t["coverage_expected"].estimate
        out.calibration.append({"maker": label, "backend": out.specs[label].backend, "mask": mask,
                                "coverage": t["coverage"], "expected": expected,
                                "coverage_word": dispersion(t["coverage"], expected),
                                "spread_skill": t["spread_skill"],
                                "spread_skill_word": dispersion(t["spread_skill"], 1.0)})


def summarise_report(rows: Mapping[str, xr.Dataset], specs: Sequence[MakerSpec],
                     replicates: int = DEFAULT_REPLICATES, seed: int = 0) -> ReportSummary:
    """Scores table, targets, calibration and the censored effect from the rows (module docstring)."""
    out = ReportSummary(dict(rows), {s.label: s for s in specs if s.label in rows})
    masks = list(dict.fromkeys(m for r in rows.values() for m in r.mask.values.tolist()))
    days = pd.DatetimeIndex(sorted({d for r in rows.values() for d in r.indexes["day"]}))
    _table(out, masks, days, replicates, seed)
    posteriors = [k for k, s in out.specs.items() if s.role == "posterior"]
    for label in posteriors:
        _targets(out, label, days, replicates, seed)
        _calibration(out, label)
    cens = next((k for k in posteriors if out.specs[k].kind == "latent-censored"), None)
    gaus = next((k for k in posteriors if out.specs[k].kind == "latent-gaussian"), None)
    if cens and gaus and "edge_box" in masks:
        est = diff_ci(_values(rows[cens], "crps", "edge_box", days), _values(rows[gaus], "crps", "edge_box", days),
                      replicates, _boot(seed)("censored", "edge_box"))
        out.censored = {"a": cens, "b": gaus, "estimate": est, "word": effect_word(est)}
    return out


# --------------------------------------------------------------------------- files
def scores_dataset(rows: Mapping[str, xr.Dataset], specs: Mapping[str, MakerSpec]) -> xr.Dataset:
    """Every row of every maker on (maker, mask, day); rank counts padded with NaN to the longest."""
    if not rows:
        return xr.Dataset(attrs=created_by(COMMAND))
    days = pd.DatetimeIndex(sorted({d for r in rows.values() for d in r.indexes["day"]}))
    masks = list(dict.fromkeys(m for r in rows.values() for m in r.mask.values.tolist()))
    ranks = max(r.sizes.get("rank", 0) for r in rows.values())
    labels = list(rows)
    data = {k: np.stack([rows[lb][k].reindex(day=days, mask=masks).values for lb in labels]) for k in ROW_VARS}
    ds = xr.Dataset({k: (("maker", "day", "mask"), v, rows[labels[0]][k].attrs) for k, v in data.items()},
                    coords={"maker": labels, "day": days, "mask": masks,
                            "role": ("maker", [specs[lb].role for lb in labels]),
                            "backend": ("maker", [specs[lb].backend or "" for lb in labels]),
                            "knob": ("maker", [specs[lb].knob.label if specs[lb].knob else "" for lb in labels])})
    ds["device"] = (("maker", "day", "mask"),
                    np.stack([rows[lb]["device"].reindex(day=days, mask=masks, fill_value="").values.astype(str)
                              for lb in labels]), {"long_name": "device the row ran on ('' where not recorded)"})
    if ranks:
        counts = np.full((len(labels), days.size, len(masks), ranks), np.nan)
        for i, lb in enumerate(labels):
            if "rank_counts" in rows[lb]:
                c = rows[lb]["rank_counts"].reindex(day=days, mask=masks).values
                counts[i, ..., :c.shape[-1]] = c
        ds["rank_counts"] = (("maker", "day", "mask", "rank"), counts,
                             {"units": "1", "comment": "m + 1 ranks per maker; NaN beyond a maker's m + 1"})
    return ds.transpose("maker", "mask", "day", ...).assign_attrs(
        created_by(COMMAND) | {"title": "assimilation-report rows: scores on the hidden cells of held-out 2019 days",
                               "truth": "OSI SAF OSI-450-a 2019 (osisaf:validation)"})


def write_dataset(ds: xr.Dataset, path: Path) -> Path:
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp)
    return path


def write_text(path: Path, text: str) -> Path:
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return path


def example_figure(out: Path, work: Path, seed: int, truth: xr.Dataset, specs: Sequence[MakerSpec],
                   day: pd.Timestamp, mask: str = "edge_box") -> Path | None:
    """``example.png`` from the posteriors' kept members on (day, mask); None when none was kept."""
    ensembles = {}
    for spec in specs:
        path = example_path(work, STAGE, seed, spec.key, mask, day)
        if spec.role == "posterior" and path.is_file():
            with xr.open_dataset(path) as ds:
                ensembles[f"{spec.backend} ({spec.knob.method if spec.knob else ''})"] = (
                    ds["sic"].transpose("sample", "y", "x").values)
    if not ensembles:
        return None
    state = day_state(truth, day)
    hidden = make_mask(mask, state, seed)
    seen = observe(state, hidden)["sic"].squeeze().values
    m = next(iter(ensembles.values())).shape[0]
    return example_png(out / "example.png", truth=state["sic"].values, observed=seen,
                       land=state["mask"].values == 0, hidden=hidden.values, ensembles=ensembles,
                       title=f"{day:%Y-%m-%d} (a report day), {mask} hidden (dashed), n = {m} members per posterior; "
                             "right: truth's 15 % edge (dark), ensemble median's (yellow)")


def rank_figure(out: Path, rows: Mapping[str, xr.Dataset], specs: Mapping[str, MakerSpec]) -> Path | None:
    """``rank_histograms.png``: pooled counts per mask of the makers with more than one member."""
    counts: dict[str, dict[str, np.ndarray]] = {}
    for label, r in rows.items():
        if "rank_counts" not in r or specs[label].role == "inpainting":
            continue
        for mask in r.mask.values.tolist():
            c = np.nansum(r["rank_counts"].sel(mask=mask).values, axis=0)
            counts.setdefault(mask, {})[label] = c[np.isfinite(c)][: int(np.nanmax(r["members"].values)) + 1]
    if not counts:
        return None
    return rank_histograms_png(out / "rank_histograms.png", counts,
                               "Rank of the truth among the members, hidden cells pooled over the scored days")


def write_report(out: Path, readme: str, rows: Mapping[str, xr.Dataset], specs: Mapping[str, MakerSpec], *,
                 knobs: Mapping | None = None, fivevar: xr.Dataset | None = None,
                 figures: Sequence[Path | None] = (), verdicts: Mapping | None = None) -> list[Path]:
    """The folder's files (figures already drawn into ``out`` are listed from ``figures``)."""
    out.mkdir(parents=True, exist_ok=True)
    mark_folder(out, "report", COMMAND)
    files = [write_dataset(scores_dataset(rows, specs), out / "scores.nc")]
    if fivevar is not None:
        files.append(write_dataset(fivevar.assign_attrs(created_by(COMMAND)), out / "fivevar_scores.nc"))
    if knobs is not None:
        files.append(write_text(out / "knobs.json", json.dumps(knobs, indent=2, ensure_ascii=False) + "\n"))
    if verdicts is not None:
        files.append(write_text(out / VERDICTS_FILE, json.dumps(verdicts, indent=1, ensure_ascii=False,
                                                                allow_nan=False) + "\n"))
    files += [f for f in figures if f is not None]
    files.append(write_text(out / "README.md", readme))
    log.info("wrote %s/ (%s)", out, ", ".join(f.name for f in files))
    return files
