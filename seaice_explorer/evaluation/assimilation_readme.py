"""The README of ``assimilation-report``: only what the numbers support, each with its interval, days and n."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from ..data.masks import POLE_HOLE_LATITUDE, SPARSE_OBSERVED
from .assimilation_report import ReportSummary
from .assimilation_summary import TARGETS, Estimate

SCORE_HEAD = ("fair CRPS", "IIEE (10³ km²)", "SPS (10³ km²)", "coverage", "spread–skill")


@dataclass(frozen=True)
class ReadmeInfo:
    """What the README records about the run that wrote it."""

    command: str
    written: datetime
    version: str
    device: str
    work: Path
    seed: int
    n: int
    report_days: int
    tuning_days: int
    replicates: int


def _est(d: Mapping | Estimate) -> Estimate:
    """An :class:`Estimate` from itself or from its dict in knobs.json (null read as NaN)."""
    if isinstance(d, Estimate):
        return d
    return Estimate(**{k: float("nan") if v is None else v for k, v in d.items()})


def _seconds(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
        ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def _word(est: Estimate, null: float, below: str, above: str) -> str:
    if not (math.isfinite(est.ci_low) and math.isfinite(est.ci_high)):
        return "not resolved"
    return below if est.ci_high < null else above if est.ci_low > null else "not resolved"


def header(info: ReadmeInfo) -> list[str]:
    return [
        "# Observation-guided ensembles on held-out 2019 days (issue 22 §3)", "",
        f"Written by `seaice-explorer assimilation-report` (seaice-explorer {info.version}) on "
        f"{info.written:%Y-%m-%d %H:%M} UTC, device {info.device}.", "",
        f"Command: `{info.command}`", "",
        f"Rows are cached in `{info.work}` (seed {info.seed}) and the report is rebuilt from whatever rows exist "
        "(`--report-only`). Every number is a mean over the days given beside it with its 90 % percentile bootstrap "
        f"interval over days ({info.replicates} replicates) in brackets; a ratio or difference of two makers uses only "
        "the days both were scored on, resampled jointly (paired).", "",
        "## Set-up", "",
        "- Truth: OSI SAF OSI-450-a sea-ice concentration of 2019 (`osisaf:validation`, the held-out year; the models trained on 2016–2018), "
        "EASE2-North 128×128, 50 km, sic only.",
        f"- Days: every 4th day of 2019 from 1 January (92); every 3rd of them is a tuning day "
        f"({info.tuning_days}), the others are report days ({info.report_days}). Knobs were fixed on tuning days "
        "only; report days are scored once, with fixed knobs. A shorter run takes the first days of an order that "
        "spreads them over the year.",
        f"- Masks (hidden cells, scored there only, area-weighted): `edge_box` 1,000 km square over the day's "
        f"longest 15 % ice edge; `pole_hole` north of {POLE_HOLE_LATITUDE}°N; `swath_gap` a 500 km strip; `sparse` "
        f"all but {100 * SPARSE_OBSERVED:g} % of the ocean cells.",
        f"- Makers: each backend's posterior (its knobs) and its unconditional samples (`generate`, one draw per "
        f"day scored on every mask), n = {info.n} members each; the climatological ensemble ({info.n} of the 93 "
        "states within ±15 days of the day of year in 2016–2018); harmonic inpainting (1 deterministic member).", "",
    ]


def progress(summary: ReportSummary, total_days: int) -> list[str]:
    rows = [[label, s.role, ", ".join(f"{m} {int(np.isfinite(summary.rows[label]['crps'].sel(mask=m).values).sum())}"
                                      f"/{total_days}" for m in summary.rows[label].mask.values.tolist())]
            for label, s in summary.specs.items()]
    return ["## Days scored so far", "", *_table(("maker", "role", "report days scored per mask"), rows), ""]


def knobs_section(knobs: Mapping | None) -> list[str]:
    if not knobs:
        return ["## Knobs", "", "No knobs.json: run `--stage tune` first; no posterior is reported.", ""]
    grid = knobs.get("grid", {})
    out = ["## Knobs, fixed on tuning days only", "",
           f"Grid: method ∈ {{{', '.join(grid.get('methods', []))}}} (repaint on data-space backends only, without "
           "guidance) × "
           f"guidance ∈ {{{', '.join(f'{g:g}' for g in grid.get('guidance', []))}}} at σ_obs = "
           f"{knobs.get('obs_sigma')}, {knobs.get('steps')} Heun steps, bounds {knobs.get('bounds')}; each knob scored "
           f"on the {knobs.get('mask')} mask of the tuning days with n = {knobs.get('n')} members; the lowest mean "
           "fair CRPS is chosen. A knob whose paired difference to the chosen one has an interval containing 0 is "
           "not resolved from it at these days.", ""]
    for backend, entry in knobs["backends"].items():
        days = entry.get("days", [])
        out += [f"### {backend}: {entry.get('chosen_label', '?')}", "",
                *([f"Tuned by `{entry['command']}`.", ""] if entry.get("command") else []),
                f"n = {entry.get('n', '?')} members, {len(days)} tuning day{'' if len(days) == 1 else 's'}: "
                f"{', '.join(days)}.", ""]
        rows = [[c["label"] + (" **chosen**" if c["label"] == entry.get("chosen_label") else ""),
                 _est(c["crps"]).text(), _est(c["difference_to_chosen"]).text() if "difference_to_chosen" in c else "–",
                 _seconds(c.get("seconds_per_member"))] for c in entry.get("configs", [])]
        out += _table(("knob", "mean fair CRPS", "− chosen's (paired)", "s per member"), rows) + [""]
    return out


def targets_section(summary: ReportSummary, n: int) -> list[str]:
    rows = [[t["maker"], t["mask"], f"{TARGETS[t['target']].name} {TARGETS[t['target']].text}",
             t["estimate"].text(percent=t["target"] == "coverage") if math.isfinite(t["estimate"].estimate)
             else "undefined (no common day, or the baseline's mean is 0)", t["estimate"].days, t["verdict"]]
            for t in summary.targets]
    return ["## Targets", "",
            f"Per posterior (n = {n}) on edge_box and pole_hole. *met*: the whole 90 % interval satisfies the target; "
            "*missed*: the whole interval fails it; *not resolved*: the interval straddles it. A calibrated "
            f"{n}-member ensemble covers {n - 1}/{n + 1} = {100 * (n - 1) / (n + 1):.1f} % (the coverage target "
            "is 80–95 % for 16 members).", "",
            *_table(("posterior", "mask", "target", "value [90 % interval]", "days", "verdict"), rows), ""]


def calibration_section(summary: ReportSummary) -> list[str]:
    rows = [[c["maker"], c["mask"], c["coverage"].text(percent=True), f"{100 * c['expected']:.1f} %",
             c["coverage_word"], c["spread_skill"].text(), c["spread_skill_word"], c["coverage"].days]
            for c in summary.calibration]
    out = ["## Calibration finding", "",
           *_table(("posterior", "mask", "coverage", "calibrated", "coverage says", "spread–skill", "spread–skill says",
                    "days"), rows), ""]
    makers = list(dict.fromkeys(c["maker"] for c in summary.calibration))
    good = [m for m in makers if all(c["coverage_word"] == c["spread_skill_word"] == "consistent with calibration"
                                     for c in summary.calibration if c["maker"] == m)]
    if makers:
        out.append("Posteriors whose coverage interval contains the calibrated value and whose spread–skill interval "
                   f"contains 1 on every scored mask: {', '.join(good) if good else 'none'} (a mean over a single "
                   "day has no interval and stays not resolved).")
        for m in makers:
            mine = [c for c in summary.calibration if c["maker"] == m]
            out.append(f"- {m}: by coverage {_grouped(mine, 'coverage_word')}; by spread–skill "
                       f"{_grouped(mine, 'spread_skill_word')}.")
        out.append("")
    c = summary.censored
    if c is None:
        out += ["The censored-likelihood effect at the ice edge needs posterior rows of both a censored and a "
                "Gaussian latent backend on edge_box; there are not both yet.", ""]
    else:
        e = c["estimate"]
        verdict = {"helps": "the censored likelihood helps at the ice edge (interval below 0)",
                   "hurts": "the censored likelihood does worse at the ice edge (interval above 0)"}.get(
            c["word"], "not resolved (the interval contains 0)")
        out += [f"Censored likelihood at the ice edge: fair CRPS of {c['a']} − {c['b']} on edge_box, each with its "
                f"own knobs, paired over {e.days} days: {e.text()}: {verdict}.", ""]
    return out


def _grouped(rows: Sequence[Mapping], key: str) -> str:
    """``under-dispersed on edge_box, sparse; consistent with calibration on pole_hole``."""
    masks: dict[str, list[str]] = {}
    for r in rows:
        masks.setdefault(r[key], []).append(r["mask"])
    return "; ".join(f"{word} on {', '.join(ms)}" for word, ms in masks.items())


def scores_section(summary: ReportSummary) -> list[str]:
    out = ["## Scores", "", "Hidden cells only. Rank p: χ² p-value of the rank counts pooled over days and cells; "
           "cells of one map are correlated, so it is a flatness index rather than a calibrated test.", ""]
    for mask, per in summary.table.items():
        rows = []
        for label, s in per.items():
            if s["crps"].days == 0:  # not scored on this mask (the data-space model runs two of four)
                continue
            scale = lambda e: Estimate(e.estimate / 1e3, e.ci_low / 1e3, e.ci_high / 1e3, e.days)  # noqa: E731
            p = summary.pooled_p.get(mask, {}).get(label, float("nan"))
            one = s["members"].estimate == 1  # a point forecast: no range, spread or rank to speak of
            rows.append([label, s["crps"].days, f"{s['members'].estimate:.0f}", s["crps"].text(),
                         scale(s["iiee"]).text(), scale(s["sps"]).text(),
                         "–" if one else s["coverage"].text(percent=True), s["spread_skill"].text(),
                         "–" if one or not math.isfinite(p) else f"{p:.2g}"])
        out += [f"### {mask}", "", *_table(("maker", "days", "n", *SCORE_HEAD, "rank p"), rows), ""]
    return out


def speed_section(summary: ReportSummary, knobs: Mapping | None, device: str) -> list[str]:
    rows = []
    for label, r in summary.rows.items():
        spm = r["seconds_per_member"].values
        where = r["device"].values.astype(str)
        for dev in sorted(set(where[np.isfinite(spm)].tolist())):
            v = spm[np.isfinite(spm) & (where == dev)]
            rows.append([label, summary.specs[label].role, dev or "not recorded",
                         f"{v.mean():.2f} [{v.min():.2f}–{v.max():.2f}]", v.size])
    for backend, entry in (knobs or {}).get("backends", {}).items():
        for c in entry.get("configs", []):
            rows.append([f"{backend} {c['label']} (tuning, n = {knobs.get('n')})", "posterior",
                         entry.get("device", "not recorded"), _seconds(c.get("seconds_per_member")),
                         c.get("rows", "–")])
    return ["## Speed", "", "Seconds per member on the device each row ran on (this report was written on "
            f"{device}): the sampler's own time (sampling + decode) ÷ members; climatology and inpainting: the call's "
            "wall time ÷ members. Mean [min–max] over rows.", "",
            *_table(("maker", "role", "device", "s per member", "rows"), rows), ""]


def figures_section(figures: Sequence[Path | None]) -> list[str]:
    out = ["## Figures", ""]
    names = {"example.png": "One report day on the edge box", "rank_histograms.png": "Rank histograms"}
    for f in figures:
        if f is not None:
            out += [f"![{names.get(f.name, f.stem)}]({f.name})", ""]
    return out if len(out) > 2 else []


def fivevar_section(summary: Mapping[str, dict], dates: Sequence[str], seed: int, knob_text: str) -> list[str]:
    if not summary:
        return []
    out = ["## SYNTHETIC: the five-variable family (not observations)", "",
           f"SYNTHETIC held-out days: {len(dates)} days of the synthetic neXtSIM-like generator with seed {seed} (the "
           f"shipped reference and the training data are seed 0): {', '.join(dates)}. sic observed on every ocean cell, "
           f"sit, sid, siu, siv unobserved; posterior knob fixed in advance, not tuned: {knob_text}. Unconditional: "
           "one `generate` draw per day. Scores on every ocean cell; ratio = posterior ÷ unconditional CRPS, paired "
           "over days (below 1: the observed sic informs that variable).", ""]
    for backend, s in summary.items():
        rows = [[v, c["posterior"].text(), c["unconditional"].text(), c["ratio"].text(),
                 _word(c["ratio"], 1.0, "lower", "higher"), c["ratio"].days] for v, c in s["crps"].items()]
        out += [f"### SYNTHETIC {backend} (n = {s['members']}, {s['seconds_per_member']:.2f} s per member)", "",
                *_table(("variable", "posterior CRPS", "unconditional CRPS", "ratio (paired)", "posterior is", "days"),
                        rows), ""]
    rows = [[b, s["share"]["posterior"].text(percent=True), s["share"]["unconditional"].text(percent=True),
             s["share"]["truth"].text(percent=True), s["days"]] for b, s in summary.items()]
    out += ["### SYNTHETIC couplings", "", "Share of (member, cell) pairs with sit > 0.01 m where the truth has sic = 0:",
            "", *_table(("backend", "posterior", "unconditional", "truth itself", "days"), rows), ""]
    first = next(iter(summary.values()))
    head = ["sic bin", "truth sit (m)"] + [f"{b} {w}" for b in summary for w in ("posterior", "unconditional")]
    rows = []
    for i, name in enumerate(first["bins"]):
        t = first["binned"]["truth"][i]
        row = [name, f"{t[0]:.2f} ({t[1]} cells)"]
        for s in summary.values():
            row += [f"{s['binned'][w][i][0]:.2f}" for w in ("posterior", "unconditional")]
        rows.append(row)
    out += ["Mean sit (m) per sic bin, pooled over the days, members and ocean cells (each member binned by its own "
            "sic; no interval):", "", *_table(head, rows), ""]
    return out


def readme_text(info: ReadmeInfo, summary: ReportSummary, knobs: Mapping | None,
                figures: Sequence[Path | None] = (), fivevar: Sequence[str] = ()) -> str:
    lines = [*header(info), *progress(summary, info.report_days), *knobs_section(knobs),
             *targets_section(summary, info.n), *calibration_section(summary), *scores_section(summary),
             *speed_section(summary, knobs, info.device), *figures_section(figures), *fivevar]
    return "\n".join(lines).rstrip() + "\n"
