"""The tour's words: per stop two or three sentences a teacher can read aloud (no Panel).

Every number comes from somewhere named: the verdicts and scores from the evaluation reports
(:mod:`seaice_explorer.evaluation.reports`: ``docs/evaluation/`` for the synthetic family,
``docs/evaluation-<dataset>/`` for another, e.g. the OSI SAF observations) and the gap-filling report
(``docs/assimilation/verdicts.json``), the shapes, dates and timings from what the page shows. A report that is missing or does not test a finding is said so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ...data.readers import dataset_label
from ...evaluation.assimilation_summary import TARGETS
from ...evaluation.assimilation_verdicts import AssimilationVerdicts
from ...evaluation.findings import score_ratios
from ...evaluation.rules import EQUIVALENCE_MARGIN
from ...evaluation.reports import Report
from ...registry import Registry
from ...trajectory import Trajectory
from ..model import analysis, texts, timing
from ..model.observation_results import ObservationResult
from .stops import OBSERVED_DATASET, TOUR_RECIPE, Stop


@dataclass(frozen=True)
class Shown:
    """What a stop's pictures show, as its words need it: made once per server (:mod:`.content`)."""

    registry: Registry
    reference_data: analysis.ReferenceData | None = None
    ref_index: int = 0
    trajectory: Trajectory | None = None
    results: Mapping[str, analysis.Result] = field(default_factory=dict)
    observation: ObservationResult | None = None


@dataclass(frozen=True)
class Reports:
    """The evaluation reports the tour quotes: the shown family's and the observed data set's."""

    family: Report | None
    observed: Report | None = None
    assimilation: AssimilationVerdicts | None = None  # the gap-filling report's verdicts.json


def _pct(value: object, digits: int = 0) -> str:
    v = float(value)  # type: ignore[arg-type]
    return "n/a" if not math.isfinite(v) else f"{v:.{digits}f} %"


def _x(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}×"


def _source(report: Report | None) -> str:
    if report is None:
        return "no evaluation report found (run `seaice-explorer evaluate`)"
    n = f"{report.n} samples per model, " if report.n else ""
    return f"`{report.folder.parent.name}/{report.folder.name}/` ({n}{report.date or 'undated'})"


def _observed_line(reports: Reports, number: int) -> str:
    """What the observed data set's report says of finding ``number`` (or that it has none yet)."""
    report = reports.observed
    if report is None:
        return ""
    finding = report.finding(number)
    if finding is None or finding.verdict == "not tested":
        return f" On real {dataset_label(OBSERVED_DATASET).split(' (')[0]}: not judged yet (no intervals in its report)."
    detail = _intervals(report, number, plotted=False) or (
        f" (each part's interval: `{report.folder.parent.name}/{report.folder.name}/findings.json`)")
    return f" On real {dataset_label(OBSERVED_DATASET).split(' (')[0]}: **{finding.verdict}**{detail}."


def _intervals(report: Report, number: int, plotted: bool = True) -> str:
    """Where the verdict's intervals are, from ``findings.json``: one verdict quotes its effects and
    intervals; mixed or unresolved parts (on different scales) point to each part's interval there."""
    finding, parts = report.finding(number), report.parts_of(number)
    if finding is None or not parts:
        return ""
    if finding.verdict in ("reproduced", "refuted"):
        lo, hi = min(p["ci_low"] for p in parts), max(p["ci_high"] for p in parts)
        effects = sorted(p["effect"] for p in parts)
        span = f"{effects[0]:.3g}" + (f"–{effects[-1]:.3g}" if len(effects) > 1 else "")
        return f" (effect {span}, intervals {lo:.3g}–{hi:.3g})"
    plot = "the plot, " if plotted else ""
    return f" (each part's interval: {plot}`{report.folder.parent.name}/{report.folder.name}/findings.json`)"


def _verdict(report: Report | None, number: int) -> str:
    """The finding's verdict in ``report`` (its findings.json), "here", and where its intervals are."""
    finding = report.finding(number) if report is not None else None
    if finding is None:
        return "not judged yet here"
    return f"{finding.verdict} here{_intervals(report, number)}"


def finding_number(stop: Stop) -> int | None:
    """The finding a stop shows (1–3), None for the other stops."""
    return int(stop.key.removeprefix("finding")) if stop.key in ("finding1", "finding2", "finding3") else None


def forest_parts(stop: Stop, reports: Reports) -> list[dict[str, object]]:
    """The judged parts of the stop's finding in the report its words quote (the family's ``findings.json``),
    for its forest plot; empty for another stop or a finding not judged yet."""
    number = finding_number(stop)
    return reports.family.parts_of(number) if number is not None and reports.family is not None else []


def footer(stop: Stop, reports: Reports) -> str:
    """Where the stop's pictures and numbers come from."""
    if stop.key == "ice":
        shown = "Map: the reference data set"
    elif finding_number(stop) is not None:
        return f"_Pictures and numbers: the evaluation report's own samples, {_source(reports.family)}._"
    else:
        r = TOUR_RECIPE
        shown = (f"Pictures: {r.n if not stop.replay else 1} sample(s) per model, {r.describe()}, seed {r.seed}, "
                 "computed when this server started")
    if stop.observes:
        v = reports.assimilation
        numbers = (f"`{v.folder.parent.name}/{v.folder.name}/verdicts.json` ({v.days_scored} of {v.report_days} "
                   "report days of 2019)" if v is not None else "no gap-filling report found")
        return f"_Pictures: the Observations tab's opening run, computed when this server started · numbers: {numbers}._"
    numbers = f" · numbers: {_source(reports.family)}" if stop.key == "speed" else ""
    return f"_{shown}{numbers}._"


# --------------------------------------------------------------------------- the stops
def _ice(stop: Stop, s: Shown, reports: Reports) -> str:
    ref = s.reference_data
    day = ref.time_label(s.ref_index) if ref is not None else "one day"
    if stop.dataset == OBSERVED_DATASET:
        what = f"This is **real sea ice seen from space**: the OSI SAF satellite record on **{day}**"
    else:
        what = (f"This is the project's **synthetic** reference on {day} (no satellite observations are installed "
                "on this server)")
    return (f"{what}, showing how much of each 50 km cell is covered by ice, from open water (dark blue) to full "
            "cover (white). Between the **yellow** line (15 % ice) and the **red** line (80 %) lies the **marginal "
            "ice zone**: broken floes where waves, ships and animals meet the ice, and where models struggle most.")


def _denoise(stop: Stop, s: Shown, reports: Reports) -> str:
    traj = s.trajectory
    steps = traj.n_steps if traj is not None else TOUR_RECIPE.steps
    return (f"A diffusion model makes a new map by starting from **pure noise** and cleaning it up in {steps} small "
            "steps. Left: the noisy map the network sees at this step; right: its guess of the finished map. "
            "The animation plays every step; **Explore this** opens the player, to stop at any step. The same "
            "seed always gives the same ice.")


def _latent(stop: Stop, s: Shown, reports: Reports) -> str:
    traj = s.trajectory
    if traj is None or not traj.latent:
        return ("The **latent** models first squeeze a map into a small code and clean up the code instead of "
                "the map; a decoder turns it back into a map. Record a latent model's denoising to see it.")
    c, h, w = traj.state.shape[2:]
    v, (y, x) = len(traj.variables), (traj.samples.sizes["y"], traj.samples.sizes["x"])
    ratio = v * y * x / (c * h * w)
    return (f"The **latent** models first squeeze a map into a small code — {c} grids of {h} × {w} numbers instead "
            f"of {v} map{'s' if v > 1 else ''} of {y} × {x} — and clean up the code instead (left); a decoder turns "
            f"it into a map (right). The code is {ratio:.0f}× smaller, which is what makes these models fast.")


def _finding1(stop: Stop, s: Shown, reports: Reports) -> str:
    r = reports.family
    head = f"**Finding 1: latent diffusion scores about as well as data space — {_verdict(r, 1)}.**"
    base = r.native("data") if r is not None else None
    latents = [row for row in (r.native("latent", "gaussian"), r.native("latent", "censored"))
               if row is not None] if r is not None else []
    if base is None or not latents:
        return head + " The report has no data-space and latent rows to compare." + _observed_line(reports, 1)
    ratios = ", ".join(f"{_x(score_ratios(row, base)[1])} (`{row['backend']}`)" for row in latents)
    return (f"{head} Averaged over six scores, the latent models' errors are {ratios} those of the data-space "
            f"model `{base['backend']}` (1× = equally good; point values of one set of samples: a verdict needs "
            f"every ratio's whole interval within ×{EQUIVALENCE_MARGIN:g}). "
            "The maps: each model's mean over the report's samples, next to the reference's mean."
            + _observed_line(reports, 1))


def _finding2(stop: Stop, s: Shown, reports: Reports) -> str:
    r = reports.family
    head = f"**Finding 2: latent diffusion smooths the small scales — {_verdict(r, 2)}.**"
    ref = s.reference_data
    band = ref.reference.small_band_label.replace("λ < ", "below ") if ref is not None else "at the smallest scales"
    rows = [row for row in (r.native("data"), r.native("latent", "gaussian"), r.native("latent", "censored"))
            if row is not None] if r is not None else []
    if not rows or "spec_ratio_small_median" not in rows[0]:
        return head + " A power spectrum shows how much detail a map has at each scale." + _observed_line(reports, 2)
    kept = ", ".join(f"`{row['backend']}` {_pct(100 * float(row['spec_ratio_small_median']))}" for row in rows)
    return (f"{head} A power spectrum shows how much detail a map has at each scale (right: the finest). "
            f"Of the reference's detail {band}, the models keep {kept} (median over variables; 100 % = all of it)."
            + _observed_line(reports, 2))


def _finding3(stop: Stop, s: Shown, reports: Reports) -> str:
    r = reports.family
    head = (f"**Finding 3: censoring improves the marginal ice zone — {_verdict(r, 3)}** "
            "(its parts: the mass at the bounds, the MIZ, the raw excursions).")
    gauss = r.native("latent", "gaussian") if r is not None else None
    cens = r.native("latent", "censored") if r is not None else None
    if gauss is None or cens is None:
        return head + " The report has no Gaussian and censored decoders to compare." + _observed_line(reports, 3)
    clamped = r.row(str(gauss["backend"]), "clamp")
    reference = r.reference_row()
    at = f"{_pct(cens['sic_at_bounds_pct'])} of its concentrations exactly at 0 or 100 %"
    if clamped is not None and reference is not None:
        at += (f" (the Gaussian decoder clamped: {_pct(clamped['sic_at_bounds_pct'])}; the reference: "
               f"{_pct(reference['sic_at_bounds_pct'])})")
    raw = r.row(str(cens["backend"]), "raw")  # like against like: raw output against raw output
    breaks = (f"{_pct(gauss['violations_pct'], 1)} of the Gaussian decoder's raw values break a physical bound"
              + (f", {_pct(raw['violations_pct'], 1)} of the censored decoder's raw mean" if raw is not None else "")
              + " (clamping then puts them on the bound)")
    return (f"{head} A network does not know that ice cover stops at 0 % and 100 %: {breaks}. After clamping, "
            f"the censored decoder puts {at}. Its marginal ice zone: MIZ-frequency error "
            f"{float(cens['miz_freq_rmse']):.3f} against {float(gauss['miz_freq_rmse']):.3f} (the plot: each part's "
            "interval; the maps: how often each cell is in the MIZ, over the report's samples)." + _observed_line(reports, 3))


def _speed(stop: Stop, s: Shown, reports: Reports) -> str:
    costs = timing.costs(s.results, s.registry)
    ratio = timing.speedup(costs)
    live = (f"Measured on this server when it started ({costs[0].device.upper()}): **{ratio:.1f}× faster per "
            "sample**." if ratio is not None else "")
    r = reports.family
    base = r.native("data") if r is not None else None
    latent = r.native("latent", "gaussian") if r is not None else None
    report = ""
    if base is not None and latent is not None and "time_per_sample_s" in base:
        t0, t1 = float(base["time_per_sample_s"]), float(latent["time_per_sample_s"])
        if math.isfinite(t0) and math.isfinite(t1) and t1 > 0:
            report = f" The evaluation report measured {t0:.2f} s vs {t1:.2f} s per sample ({t0 / t1:.0f}×)."
    each = "; ".join(f"`{c.backend}` ({c.kind} space, {c.nfe} network evaluations) {c.per_sample_s:.2f} s"
                     for c in costs)
    per_sample = f" Per sample here: {each}." if costs else ""
    return ("**Speed: latent diffusion is faster**, because its network works on the small code, not the full map. "
            f"{live}{per_sample}{report} A third-party summary of the paper gives about 25× at 512².")


def _gap_recipe(s: ObservationResult) -> str:
    k = s.key
    return f"{k.recipe.n} members, {k.method.upper()}, σ_obs = {k.obs_sigma:g}, {k.recipe.steps} Heun steps"


def _judged(v: AssimilationVerdicts, backend: str, mask: str, name: str, what: str) -> str | None:
    t = v.target(backend, mask, name)
    if t is None or t["estimate"] is None:
        return None
    pct = name == "coverage"
    f = (lambda x: f"{100 * x:.0f} %") if pct else (lambda x: f"{x:.2f}")
    ci = f" [{f(t['ci_low'])}–{f(t['ci_high'])}]" if t["ci_low"] is not None and t["ci_high"] is not None else ""
    return f"{what} {f(t['estimate'])}{ci} (target {TARGETS[name].text}: **{t['verdict']}**)"


def _gap_numbers(v: AssimilationVerdicts | None, backend: str) -> str:
    """What the gap-filling report says of ``backend`` in the ice-edge box, with intervals over days."""
    if v is None:
        return " No report of held-out days is installed (run `seaice-explorer assimilation-report`)."
    parts = [p for p in (
        _judged(v, backend, "edge_box", "crps_ratio", "its CRPS ÷ the climatological ensemble's"),
        _judged(v, backend, "edge_box", "iiee_ratio", "its ice-edge error ÷ harmonic inpainting's"),
        _judged(v, backend, "edge_box", "coverage", "the members' range covers the truth in")) if p]
    if not parts:
        return f" The gap-filling report has not scored `{backend}` yet."
    days = v.target(backend, "edge_box", "crps_ratio") or {"days": v.days_scored}
    return (f" On {days['days']} held-out days of 2019, in the ice-edge box ({v.members} members, 90 % intervals over days): "
            + "; ".join(parts) + ".")


def _gaps(stop: Stop, s: Shown, reports: Reports) -> str:
    res = s.observation
    head = "**Filling the gaps: what lies where the satellite cannot see?**"
    if res is None:
        return (f"{head} A model can be conditioned on what is observed and fill in the rest, with no retraining. "
                "This server could not run it (see its log).")
    k = res.key
    hidden = next((f"the {label}" for label, name in texts.MASK_LABELS.items() if name == k.mask), "a box")
    return (f"{head} On **{k.day}** we hide {hidden}, {100 * res.hidden_share:.0f} % of the ocean (grey, left), and let "
            f"`{k.backend}` fill it in, conditioned on everything else ({_gap_recipe(res)}). Next: one member, the "
            f"mean of all {res.n}, and their spread, which is where the model is unsure."
            + _gap_numbers(reports.assimilation, k.backend)
            + " **Explore this** opens the Observations tab on this run: reveal the truth there.")


STORIES = {"ice": _ice, "denoise": _denoise, "latent": _latent, "finding1": _finding1, "finding2": _finding2,
           "finding3": _finding3, "speed": _speed, "gaps": _gaps}


def story(stop: Stop, state: Shown, reports: Reports) -> str:
    """The stop's sentences (Markdown), from what the page shows and the reports."""
    return STORIES[stop.key](stop, state, reports)
