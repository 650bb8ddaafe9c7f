"""The ``evaluate`` report files: the comparison table (Markdown/CSV), ``maps.nc`` and ``README.md``.

Finn et al. 2024 (arXiv 2406.18417) report their comparison as a table of scores per model; this
module lays out the rows of :mod:`.compare` the same way, each score with its 90 % bootstrap
interval (``{score}_lo``, ``{score}_hi``), and writes the maps and the README with the verdicts of
:mod:`.verdicts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import xarray as xr

from .. import __version__
from ..outputs import atomic_file
from ..recipe import PAPER
from ..variables import VARIABLES
from .compare import ReferenceSummary, SetSummary
from .neighbours import NeighbourReport
from .verdicts import CLAIMS, Verdicts, large_band, rules_text

#: Suffixes of a score's interval columns: the 5 % and 95 % bootstrap percentiles (or, on the noise-floor
#: and baseline rows, of the score over many draws).
INTERVAL = ("_lo", "_hi")


# --------------------------------------------------------------------------- the table
#: main table: CSV key -> (Markdown header, format)
MAIN_COLUMNS: MappingProxyType[str, tuple[str, str]] = MappingProxyType({
    "n": ("states", ".0f"),
    "extent_mean_1e6km2": ("extent mean (10⁶ km²)", ".2f"),
    "extent_p10_1e6km2": ("extent 10–90 % (10⁶ km²)", ".2f"),
    "extent_w1_1e6km2": ("extent W1 (10⁶ km²)", ".3f"),
    "miz_area_mean_1e6km2": ("MIZ area mean (10⁶ km²)", ".3f"),
    "miz_area_w1_1e6km2": ("MIZ area W1 (10⁶ km²)", ".3f"),
    "miz_freq_rmse": ("MIZ freq. RMSE", ".4f"),
    "mean_rmse_norm": ("mean-map RMSE (norm.)", ".3f"),
    "std_rmse_norm": ("std-map RMSE (norm.)", ".3f"),
    "energy_norm": ("energy dist. (norm.)", ".4f"),
    "spec_ratio_small_median": ("spectrum ratio, small scales (median)", ".2f"),
    "violations_pct": ("bound violations (%)", ".3f"),
    "sic_at_bounds_pct": ("sic at 0 or 1 (%)", ".1f"),
    "time_per_sample_s": ("time / sample (s)", ".2f"),
})
#: per-variable tables: column suffix -> (title, format)
PER_VARIABLE: MappingProxyType[str, tuple[str, str]] = MappingProxyType({
    "mean_rmse": ("Mean-map RMSE (variable units)", ".4f"),
    "std_rmse": ("Std-map RMSE (variable units)", ".4f"),
    "energy": ("Energy distance of the marginals (variable units)", ".4f"),
    "spec_ratio_small": ("Spectrum ratio generated ÷ reference, smallest-scale band", ".3f"),
    "violation_pct": ("Bound violations (% of ocean cells below the lower or above the upper bound)", ".3f"),
})


def build_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    """One DataFrame row per setting (+ reference rows) with every score column, each followed by its
    ``_lo``/``_hi`` interval columns when it has them."""
    table = pd.DataFrame(rows)
    spec = [c for c in table.columns if str(c).endswith("_spec_ratio_small")]
    if spec:
        table["spec_ratio_small_median"] = table[spec].median(axis=1, skipna=True)
    main = [c for c in MAIN_COLUMNS if c in table.columns]
    if "extent_p90_1e6km2" in table.columns and "extent_p10_1e6km2" in main:
        main.insert(main.index("extent_p10_1e6km2") + 1, "extent_p90_1e6km2")
    first = [c for c in ("backend", "bounds", "label", "kind", "decoder") if c in table.columns] + main
    scores = first + [c for c in table.columns if c not in first and not str(c).endswith(INTERVAL)]
    order = []
    for c in scores:
        order += [c] + [f"{c}{s}" for s in INTERVAL if f"{c}{s}" in table.columns]
    return table[order + [c for c in table.columns if c not in order]]


def _cell(value: object, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, fmt) if isinstance(value, (int, float, np.number)) else str(value)


def _with_interval(row: pd.Series, key: str, fmt: str) -> str:
    """``value [lo, hi]`` when the row has a finite interval for ``key``, else the value alone."""
    value = _cell(row[key], fmt)
    lo, hi = (row.get(f"{key}{s}") for s in INTERVAL)
    if all(isinstance(b, (float, np.floating)) and np.isfinite(b) for b in (lo, hi)):
        return f"{value} [{_cell(lo, fmt)}, {_cell(hi, fmt)}]"
    return value


def _markdown(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(out + ["| " + " | ".join(line) + " |" for line in lines])


def table_markdown(table: pd.DataFrame, small_band: str) -> str:
    """The main table and one small table per per-variable score, in Markdown: ``value [lo, hi]``."""
    keys = [k for k in MAIN_COLUMNS if k in table.columns]
    header = ["backend/bounds"] + [MAIN_COLUMNS[k][0].replace("small scales", small_band) for k in keys]
    lines = []
    for _, row in table.iterrows():
        cells = [f"{row['backend']}/{row['bounds']}"]
        for k in keys:
            if k == "extent_p10_1e6km2":
                lo, hi = _cell(row[k], ".2f"), _cell(row["extent_p90_1e6km2"], ".2f")
                cells.append("–" if lo == hi == "–" else f"{lo}–{hi}")
            else:
                cells.append(_with_interval(row, k, MAIN_COLUMNS[k][1]))
        lines.append(cells)
    parts = [_markdown(header, lines)]
    for suffix, (title, fmt) in PER_VARIABLE.items():
        names = [v for v in VARIABLES if f"{v}_{suffix}" in table.columns]
        cols = [f"{v}_{suffix}" for v in names]
        if not cols:
            continue
        title = title.replace("smallest-scale band", f"smallest-scale band ({small_band})")
        body = [[f"{r['backend']}/{r['bounds']}"] + [_with_interval(r, c, fmt) for c in cols]
                for _, r in table.iterrows()]
        parts.append(f"**{title}**\n\n" + _markdown(["backend/bounds"] + names, body))
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- maps.nc
def maps_dataset(ref: ReferenceSummary, summaries: dict[str, SetSummary], template: xr.Dataset) -> xr.Dataset:
    """MIZ frequency (+ difference), mean/std maps and mean spectra, per setting and for the reference."""
    labels = list(summaries)
    r = ref.summary
    spatial = {c: template.coords[c] for c in ("lat", "lon", "mask", "cell_area") if c in template.coords}
    out = xr.Dataset(coords={"setting": ("setting", labels, {"long_name": "backend/bounds"})})
    freq = xr.concat([s.miz_frequency for s in summaries.values()], dim="setting").assign_coords(setting=labels)
    out["miz_frequency"] = freq.assign_attrs(units="1", long_name="fraction of generated states in the MIZ (0.15 <= sic <= 0.80)")
    out["miz_frequency_reference"] = r.miz_frequency.assign_attrs(units="1", long_name="fraction of reference states in the MIZ")
    out["miz_frequency_difference"] = (freq - r.miz_frequency).assign_attrs(units="1", long_name="MIZ frequency, generated minus reference")
    for v in ref.variables:
        meta = VARIABLES[v]
        for stat in ("mean", "std"):
            maps = xr.concat([s.maps[v].sel(statistic=stat, drop=True) for s in summaries.values()], dim="setting")
            attrs = {"units": meta.units, "long_name": f"{stat} of {meta.long_name} over the generated states"}
            if meta.standard_name and stat == "mean":
                attrs["cell_methods"] = "sample: mean"
            out[f"{v}_{stat}"] = maps.assign_coords(setting=labels).assign_attrs(attrs)
            out[f"{v}_{stat}_reference"] = r.maps[v].sel(statistic=stat, drop=True).assign_attrs(
                units=meta.units, long_name=f"{stat} of {meta.long_name} over the reference states")
        spec = xr.concat([s.spectrum[v] for s in summaries.values()], dim="setting").assign_coords(setting=labels)
        out[f"{v}_spectrum"] = spec.assign_attrs(units=f"({meta.units})2", long_name=f"mean power spectrum of {v} per wavenumber ring")
        out[f"{v}_spectrum_reference"] = r.spectrum[v].assign_attrs(units=f"({meta.units})2",
                                                                    long_name=f"mean power spectrum of {v}, reference")
    out = out.assign_coords(spatial)
    out.attrs = {"title": "seaice-explorer evaluate: maps and spectra", "Conventions": "CF-1.8",
                 "source": f"seaice-explorer {__version__} evaluate", "grid": template.attrs.get("grid", "")}
    if "proj4" in template.attrs:
        out.attrs["proj4"] = template.attrs["proj4"]
    return out


def write_maps(ds: xr.Dataset, path: Path) -> Path:
    """NetCDF with zlib; maps quantised to 4 decimals (1e-4 in the variable's units) to keep it small."""
    enc = {}
    for name, da in ds.data_vars.items():
        enc[name] = {"zlib": True, "complevel": 6, "dtype": "float32"}
        if "y" in da.dims:
            enc[name]["least_significant_digit"] = 4
    with atomic_file(path) as tmp:
        ds.to_netcdf(tmp, encoding=enc)
    return path


# --------------------------------------------------------------------------- README
@dataclass
class RunInfo:
    """What the README records about one evaluate run: its request, and what happened."""

    command: str
    started: datetime
    device: str
    reference: str  # the --reference as given
    n: int
    steps: int
    seed: int
    replicates: int
    draws: int
    baseline: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    generation: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "backend/bounds: reason"
    checkpoints: dict[str, str] = field(default_factory=dict)
    n_floor: int | None = None  # states per draw of the reference-split noise floor
    n_baseline: int | None = None  # states per draw of the baseline period
    sampler: str = PAPER.sampler

    @property
    def sampler_text(self) -> str:
        """E.g. ``Heun, 20 steps (39 network evaluations)`` (the sampler table's label and cost)."""
        return PAPER.replace(sampler=self.sampler, steps=self.steps).describe()


def verdicts_markdown(verdicts: Verdicts) -> str:
    """Each finding with its overall verdict, then every part with its effect and interval."""
    lines = []
    for number, claim in CLAIMS.items():
        lines.append(f"{number}. **{claim}: {verdicts.verdict(number)}.**")
        lines += [f"   - {j.text}" for j in verdicts.of(number)]
        lines += [f"   - {note}" for note in verdicts.notes.get(number, ())]
    return "\n".join(lines)


def _noise_text(info: RunInfo) -> str:
    text = ""
    if info.n_floor:
        text += (f" The `reference-split-floor` row is the out-of-sample noise floor: {info.n_floor} reference "
                 f"states scored against the other reference states, median over {info.draws} draws, with the "
                 "5–95 % range of the draws in place of an interval; what a perfect generator scores at this n.")
    if info.baseline:
        text += (f" The `baseline {info.baseline}` row scores {info.n_baseline} random states of `{info.baseline}` "
                 f"(real data of another period) against the whole reference: median and 5–95 % range over "
                 f"{info.draws} draws, a row no model can be expected to beat.")
    return text


def _spread_cell(row: pd.Series, name: str) -> str:
    keys = [f"{name}_{k}_1e6km2" for k in ("median", "p5", "p95")]
    if not all(k in row and np.isfinite(row[k]) for k in keys):
        return "–"
    return f"{row[keys[0]]:.3f} [{row[keys[1]]:.3f}, {row[keys[2]]:.3f}]"


def _medians(rows: pd.DataFrame, key: str) -> str:
    return ", ".join(f"{r.backend} {r[key]:.3f}" for _, r in rows.iterrows() if np.isfinite(r[key]))


def _season_sentence(seasons: pd.DataFrame) -> str:
    backends = [c for c in seasons.columns if c not in ("month", "reference")]
    if "reference" not in seasons:
        return "Season mix: not computed (the reference has no dates)."
    if not backends:
        return "Season mix: no generated set with sic."
    gaps = {b: (seasons[b] - seasons["reference"]).abs() for b in backends}
    worst = max(backends, key=lambda b: gaps[b].max())
    month = int(seasons["month"][gaps[worst].idxmax()])
    per = ", ".join(f"{b} {100 * gaps[b].max():.0f}" for b in backends)
    return (f"Season mix: each generated state takes the month of its nearest reference day; the largest difference "
            f"between a backend's share of a month and the reference's share is {100 * gaps[worst].max():.0f} "
            f"percentage points ({worst}, {pd.Timestamp(2000, month, 1):%B}); per backend: {per}.")


def neighbours_markdown(near: NeighbourReport) -> str:
    """The README section of :mod:`.neighbours`: a table, the month shares and one sentence per diagnostic."""
    t = near.table
    gen = t[t.backend != "reference"]
    base = t[t.backend == "reference"]
    mem = bool(t.get("memorised_share", pd.Series(dtype=float)).notna().any())
    header = ["backend/bounds", "states", "realism (10⁶ km²): to nearest reference state",
              "coverage (10⁶ km²): to nearest generated state"]
    lines = [[f"{r.backend}/{r.bounds}", f"{r.n:.0f}", _spread_cell(r, "realism"), _spread_cell(r, "coverage")]
             + ([_cell(100 * r.get("memorised_share", np.nan), ".1f")] if mem else []) for _, r in t.iterrows()]
    parts = [_markdown(header + (["memorised (%)"] if mem else []), lines)]
    months = [c for c in near.seasons.columns if c != "month"]
    if months:
        body = [[f"{pd.Timestamp(2000, int(r.month), 1):%b}"] + [f"{100 * r[c]:.1f}" for c in months]
                for _, r in near.seasons.iterrows()]
        parts.append("Share of states per month (%): a backend's column counts the months of its states' nearest "
                     "reference days.\n\n" + _markdown(["month", *months], body))
    text = [_season_sentence(near.seasons)]
    if not gen.empty:
        floor = (f"; between reference days at least {near.gap_days} days apart it is "
                 f"{base.realism_median_1e6km2.iloc[0]:.3f}" if not base.empty else "")
        text.append(f"Realism: the median IIEE from a generated state to its nearest reference state is "
                    f"{_medians(gen, 'realism_median_1e6km2')} (10⁶ km²){floor}.")
        text.append(f"Coverage: the median IIEE from a reference state to its nearest generated state is "
                    f"{_medians(gen, 'coverage_median_1e6km2')}, the 95th percentile "
                    f"{_medians(gen, 'coverage_p95_1e6km2')} (10⁶ km²).")
    copied = gen[gen.memorised_share.notna()] if mem else gen.iloc[:0]
    for _, r in copied.iterrows():
        text.append(f"Memorisation: {100 * r.memorised_share:.1f} % of {r.backend}'s states lie closer to a training "
                    f"state than {r.memorised_threshold_1e6km2:.3f} × 10⁶ km², the {100 * near.quantile:g}th "
                    f"percentile of the nearest-training IIEE of the {r.held_out_days:.0f} held-out reference days "
                    f"(training: {r.training}); states drawn like the held-out days give about "
                    f"{100 * near.quantile:g} %.")
    skipped: dict[str, list[str]] = {}
    for note in near.notes:
        backend, reason = note.split(": ", 1)
        skipped.setdefault(reason, []).append(backend)
    text += [f"Memorisation of {', '.join(b)}: not computed, {reason}." for reason, b in skipped.items()]
    return "\n\n".join(parts) + "\n\n" + "\n".join(f"- {line}" for line in text) + "\n"


def readme_text(info: RunInfo, ref: xr.Dataset, ref_summary: ReferenceSummary, table: pd.DataFrame,
                verdicts: Verdicts, bands: Sequence[tuple[float, float]],
                neighbours: NeighbourReport | None = None) -> str:
    """The report's README: command, date, version, device, timings, findings, files, definitions, and
    the nearest-neighbour section of :mod:`.neighbours` when given."""
    timing = "\n".join(f"- {k}: {v:.1f} s" for k, v in info.timings.items())
    gen = "\n".join(f"- {line}" for line in info.generation)
    ckpt = "\n".join(f"- {k}: `{v}`" for k, v in info.checkpoints.items())
    skipped = ", ".join(s.split(":", 1)[0] for s in info.skipped) or "none"
    reasons = "".join(f"\n  - `{s.split(':', 1)[0]}`:{s.split(':', 1)[1]}" for s in info.skipped)
    band = ref_summary.small_band_label
    near = files = ""
    if neighbours is not None:
        near = f"""
## Season mix, realism and coverage (IIEE)

Distances between two states are their integrated ice-edge error (IIEE, Goessling et al. 2016): the
area, in 10⁶ km², where one state has ice (sic ≥ 0.15) and the other not. Each backend is shown at its
native bounds; values are the median [5–95 %] over states. Full precision: `neighbours.csv`, `seasons.csv`.

{neighbours_markdown(neighbours)}"""
        files = "\n- `neighbours.csv`, `seasons.csv`: the nearest-neighbour (IIEE) table and month shares above."
    return f"""# seaice-explorer evaluation report

Re-implementation of the evaluation of Finn et al. 2024, *Towards diffusion models for
large-scale sea-ice modelling* (arXiv 2406.18417), on this project's data.

```
{info.command}
```

- date: {info.started.strftime('%Y-%m-%d %H:%M UTC')}
- seaice-explorer {__version__}
- device: {info.device}
- reference: `{info.reference}`, {ref_summary.n} states, {ref.attrs.get('grid', '')}
  ({ref.attrs.get('reference_kind') or ref.attrs.get('title', '')})
- samples: n = {info.n} per setting, {info.sampler_text}, seed {info.seed};
  skipped invalid combinations: {skipped}{reasons}
- intervals: 90 % percentile bootstrap, {info.replicates:,} replicates (generated and reference states resampled)

## Findings of the paper, on these numbers

{verdicts_markdown(verdicts)}

Every part is also in `findings.json` (finding, part, verdict, effect, ci_low, ci_high, null, margin,
n, backends).

Rules (`seaice_explorer/evaluation/verdicts.py`, margins and levels fixed in `rules.py` before the
numbers were seen). {rules_text(bands[0][1], large_band(bands), info.replicates)}

## Table

Each score is given as `value [lo, hi]`: the value of the whole set and its 90 % bootstrap interval
(5th and 95th percentiles of {info.replicates:,} replicates that resample the generated and the reference
states). A distance near its noise floor (the `reference-split-floor` row) is mostly sampling noise, and
resampling adds more: its interval can then lie wholly above the value, a sign that the score is at the
floor, not a bound on it.{_noise_text(info)} Clamping never changes extent, MIZ area or MIZ frequency
(they depend on 0.15 ≤ sic ≤ 0.80 only).

{table_markdown(table, band)}
Full precision and every column: `table.csv` (`{{score}}_lo`, `{{score}}_hi`: the interval). Areas in
10⁶ km²; per-variable RMSEs and energy distances in the variable's units (sit m, sic and sid 1, siu
and siv m s⁻¹); "norm." columns are divided by each variable's normalisation std
(`variables.VARIABLES[v].std`) and averaged over variables. W1: Wasserstein-1 between the
distributions over states. MIZ-frequency RMSE: area-weighted over ocean cells. Spectrum ratio: mean
power generated ÷ reference summed over the band (the median over variables has no interval of its
own; each variable's ratio has one). Bound violations: mean over bounded variables (sit, sic, sid) of
the fraction of ocean cells beyond a bound. The intervals of the marginal distances are computed on
1,000-bin histograms (within one bin width of the exact value). Time per sample: wall time of
`generate` ÷ n (the raw sample of a backend serves raw and clamp).
{near}
## Timings

{timing}

Generation:
{gen}

## Checkpoints

{ckpt}

## Files

- `table.md`, `table.csv`: the table above.
- `findings.json`: every judged finding part, one object each.
- `maps.nc`: MIZ frequency per setting, reference and difference; mean and std maps; mean spectra.
- `sample_maps.png`, `miz_frequency.png`, `distributions.png`, `spectra.png`: figures (native settings).{files}
- `samples/`: the cached samples (git-ignored; reused by the next run unless `--no-cache`).
"""
