"""The three findings of Finn et al. 2024 (arXiv 2406.18417) as paired effects with intervals, judged by
rules that can fail (issue 21; supersedes the point rules of :mod:`.findings`).

Each *part* of a finding is a paired effect between two backends on one score
(:func:`.bootstrap.paired_effects`: a ratio or a difference whose bootstrap replicates share one
reference resample), judged by :mod:`.rules`. Backends are told apart by their kind (data space or
latent) and decoder, never by name; the data-space baseline is the first data-space backend. Each
backend is judged at its native bounds mode (:func:`seaice_explorer.registry.native_bounds`: the
censored decoder's ``clamp``, else ``raw``) unless a part compares like with like.

1. **Latent ≈ data space.** For each latent backend and headline score (``findings.HEADLINE_SCORES``),
   the ratio latent ÷ data space, judged by :func:`.rules.equivalence` (90 % interval inside
   [1/1.25, 1.25]). Guard: with a baseline period, when the data-space model's MIZ-area W1 exceeds
   ``CONVERGENCE_FACTOR`` × the baseline's median, the data-space model has not converged and every
   part is "not resolved".
2. **Latent diffusion smooths the small scales.** Per variable, S = (small-band power ratio generated ÷
   reference) ÷ (large-band power ratio), the reference re-weighted to the set's season mix
   (:func:`.weighted.matched_reference_weights`); the part is S_latent ÷ S_data, direction "less"
   (:func:`.rules.directional`, 95 % interval).
3. **Censoring improves the bounds and the MIZ** (censored ÷ or − Gaussian decoder, direction "less"):
   (a) after clamping, |error| of the share of sic at 0 and at 1 (difference); (b) MIZ-frequency RMSE and
   MIZ-area W1 at native bounds (ratio); (c) raw against raw, the mean excess beyond the bounds (ratio).

A finding is "reproduced" when every part is, "refuted" when any part is, else "not resolved at n = …".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..registry import native_bounds
from .bootstrap import DEFAULT_REPLICATES, Effect, derived_seed, paired_effects
from .features import StateFeatures
from .findings import HEADLINE_SCORES
from .rules import (
    DIRECTIONAL_LEVEL,
    EQUIVALENCE_LEVEL,
    EQUIVALENCE_MARGIN,
    FindingPart,
    directional,
    equivalence,
    verdict_text,
)
from .weighted import LARGE_BAND, SEASON_BINS, common_variables, matched_reference_weights, point_scores

log = logging.getLogger(__name__)

#: Finding 1's guard: the data-space model has not converged when its MIZ-area W1 exceeds this many
#: times the median W1 of n states of the baseline period (another real period scores about that).
CONVERGENCE_FACTOR = 1.5

CLAIMS: Mapping[int, str] = MappingProxyType({
    1: "Latent diffusion scores about as well as data-space diffusion",
    2: "Latent diffusion smooths the small scales",
    3: "Censoring improves the mass at the bounds, the marginal ice zone and the raw excursions",
})


@dataclass(frozen=True, eq=False)
class Contender:
    """One backend's generated sets for the findings: its features per bounds mode (``raw``, ``clamp``)."""

    backend: str
    kind: str  # data | latent
    decoder: str  # none | gaussian | censored
    sets: Mapping[str, StateFeatures]

    @property
    def native_bounds(self) -> str:
        return native_bounds(self.decoder)

    @property
    def native(self) -> StateFeatures | None:
        return self.sets.get(self.native_bounds)

    def label(self, bounds: str) -> str:
        return f"{self.backend}/{bounds}"


@dataclass(frozen=True)
class Judgement:
    """One finding part and the effect it was judged on (the part is what ``findings.json`` holds)."""

    part: FindingPart
    effect: Effect

    @property
    def text(self) -> str:
        """``<part>: <verdict> at n = …: ratio … (95 % interval …)``."""
        return f"{self.part.part}: {verdict_text(self.effect, self.part.verdict)}"


def finding_verdict(parts: Sequence[FindingPart]) -> str:
    """One finding from its parts: "reproduced" when every part is; "refuted" when some part is and none
    is reproduced; "mixed at n = …" (with the counts) when parts go both ways; else "not resolved at
    n = …" (the smallest n of its parts); "not tested" without parts."""
    if not parts:
        return "not tested"
    n = min(p.n for p in parts)
    r, f = (sum(p.verdict == v for p in parts) for v in ("reproduced", "refuted"))
    if r == len(parts):
        return "reproduced"
    if f and not r:
        return "refuted"
    if f and r:
        return f"mixed at n = {n}: {r} reproduced, {f} refuted, {len(parts) - r - f} not resolved"
    return f"not resolved at n = {n}"


@dataclass(frozen=True)
class Verdicts:
    """Every judged part of the three findings, and why parts are missing or not judged."""

    judgements: tuple[Judgement, ...]
    notes: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    @property
    def parts(self) -> tuple[FindingPart, ...]:
        return tuple(j.part for j in self.judgements)

    def of(self, finding: int) -> list[Judgement]:
        return [j for j in self.judgements if j.part.finding == finding]

    def verdict(self, finding: int) -> str:
        return finding_verdict([j.part for j in self.of(finding)])

    def to_json(self) -> list[dict[str, object]]:
        """The ``findings.json`` content: one object per finding part."""
        return [p.to_dict() for p in self.parts]


# --------------------------------------------------------------------------- the parts
def _judged(finding: int, text: str, effect: Effect, verdict: str, a: Contender, b: Contender,
            margin: float | None = None) -> Judgement:
    return Judgement(FindingPart.of(finding, text, effect, verdict, (a.backend, b.backend), margin), effect)


def convergence_problem(data: Contender, ref: StateFeatures, baseline_median: float | None) -> str | None:
    """Why finding 1 cannot be judged (the data-space model has not converged), or None."""
    if baseline_median is None or not math.isfinite(baseline_median) or data.native is None:
        return None
    w1 = point_scores(data.native, ref, groups={"areas"}).get("miz_area_w1_1e6km2", math.nan)
    if not w1 > CONVERGENCE_FACTOR * baseline_median:
        return None
    return (f"not judged: the data-space model has not converged (MIZ-area W1 {w1:.3g} vs "
            f"{CONVERGENCE_FACTOR:g} × baseline median {baseline_median:.3g} × 10⁶ km²)")


def latent_vs_data(data: Contender, latents: Sequence[Contender], ref: StateFeatures, *, replicates: int,
                   seed: int, guard: str | None = None) -> list[Judgement]:
    """Finding 1: per latent backend and headline score, latent ÷ data space, judged by equivalence."""
    out = []
    for lat in latents:
        if lat.native is None or data.native is None:
            continue
        effects = paired_effects(lat.native, data.native, ref, list(HEADLINE_SCORES), "ratio", replicates,
                                 derived_seed(seed, "finding 1", lat.backend, data.backend), EQUIVALENCE_LEVEL)
        for score, name in HEADLINE_SCORES.items():
            if score not in effects:
                continue
            effect = effects[score]
            text = f"{name} ratio, {lat.label(lat.native_bounds)} ÷ {data.label(data.native_bounds)}"
            verdict = "not resolved" if guard else equivalence(effect, EQUIVALENCE_MARGIN)
            out.append(_judged(1, f"{text} ({guard})" if guard else text, effect, verdict, lat, data,
                               EQUIVALENCE_MARGIN))
    return out


def smoothing(data: Contender, latents: Sequence[Contender], ref: StateFeatures, *, replicates: int,
              seed: int) -> list[Judgement]:
    """Finding 2: per latent backend and variable, S_latent ÷ S_data (small ÷ large band, season-matched)."""
    out = []
    for lat in latents:
        if lat.native is None or data.native is None:
            continue
        names = [v for v in common_variables(lat.native, ref) if v in data.native.variables]
        effects = paired_effects(lat.native, data.native, ref, [f"{v}_spec_ratio_small_large" for v in names],
                                 "ratio", replicates, derived_seed(seed, "finding 2", lat.backend, data.backend),
                                 DIRECTIONAL_LEVEL)
        for v in names:
            effect = effects.get(f"{v}_spec_ratio_small_large")
            if effect is not None:
                text = (f"{v} small- ÷ large-scale power ratio (season-matched reference), "
                        f"{lat.label(lat.native_bounds)} ÷ {data.label(data.native_bounds)}")
                out.append(_judged(2, text, effect, directional(effect, "less"), lat, data))
    return out


def censoring(gaussian: Contender, censored: Contender, ref: StateFeatures, *, replicates: int,
              seed: int) -> list[Judgement]:
    """Finding 3: censored against Gaussian decoder, (a) mass at the bounds after clamping, (b) the MIZ at
    native bounds, (c) raw excursions beyond the bounds; every part direction "less"."""
    plan = (  # (label, bounds of censored, bounds of Gaussian, kind, {score: text})
        ("after clamping", "clamp", "clamp", "difference",
         {"sic_at_0_error_pct": "|error| of the share of sic at 0", "sic_at_1_error_pct":
          "|error| of the share of sic at 1"}),
        ("native bounds", censored.native_bounds, gaussian.native_bounds, "ratio",
         {"miz_freq_rmse": "MIZ-frequency RMSE ratio", "miz_area_w1_1e6km2": "MIZ-area W1 ratio"}),
        ("raw against raw", "raw", "raw", "ratio",
         {"mean_excess_norm": "mean excess beyond the bounds (normalised) ratio"}),
    )
    out = []
    for label, cb, gb, kind, scores in plan:
        a, b = censored.sets.get(cb), gaussian.sets.get(gb)
        if a is None or b is None:
            continue
        effects = paired_effects(a, b, ref, list(scores), kind, replicates,  # type: ignore[arg-type]
                                 derived_seed(seed, "finding 3", label, censored.backend, gaussian.backend),
                                 DIRECTIONAL_LEVEL)
        sign = "−" if kind == "difference" else "÷"
        for score, name in scores.items():
            if score in effects:
                text = f"{name}, {censored.label(cb)} {sign} {gaussian.label(gb)} ({label})"
                out.append(_judged(3, text, effects[score], directional(effects[score], "less"), censored, gaussian))
    return out


def unmatched_seasons(contenders: Sequence[Contender], ref: StateFeatures) -> list[str]:
    """Finding 2's notes: the backends whose extents share no bin with the reference's (S undefined)."""
    out = []
    for c in contenders:
        if c.native is not None and c.native.extent.size and ref.extent.size:
            if not np.isfinite(matched_reference_weights(c.native, ref)).any():
                out.append(f"{c.label(c.native_bounds)}: its extents share no bin with the reference's, so the "
                           "reference cannot be matched to its season mix (S undefined, not resolved)")
    return out


def judge(contenders: Sequence[Contender], ref: StateFeatures, *, replicates: int = DEFAULT_REPLICATES,
          seed: int = 0, baseline_miz_area_w1: float | None = None) -> Verdicts:
    """Every part of the three findings from the backends' generated sets and the reference's features.

    ``baseline_miz_area_w1``: the median MIZ-area W1 (10⁶ km²) of n states of a baseline period, for
    finding 1's convergence guard (None: no guard).
    """
    data = next((c for c in contenders if c.kind == "data"), None)
    latents = [c for c in contenders if c.kind == "latent"]
    gaussian = next((c for c in latents if c.decoder == "gaussian"), None)
    censored = next((c for c in latents if c.decoder == "censored"), None)
    judgements: list[Judgement] = []
    notes: dict[int, list[str]] = {1: [], 2: [], 3: []}
    if data is None or not latents:
        need = "needs a data-space and a latent backend, each with a raw sample (bounds raw or clamp)"
        notes[1].append(need)
        notes[2].append(need)
    else:
        guard = convergence_problem(data, ref, baseline_miz_area_w1)
        if guard:
            log.warning("finding 1 %s", guard)
            notes[1].append(guard)
        judgements += latent_vs_data(data, latents, ref, replicates=replicates, seed=seed, guard=guard)
        judgements += smoothing(data, latents, ref, replicates=replicates, seed=seed)
        notes[2] += unmatched_seasons([data, *latents], ref)
    if gaussian is None or censored is None:
        notes[3].append("needs a latent backend with the Gaussian decoder and one with the censored decoder, "
                        "each with a raw sample (bounds raw or clamp)")
    else:
        judgements += censoring(gaussian, censored, ref, replicates=replicates, seed=seed)
    for finding in (1, 2, 3):
        if not notes[finding] and not any(j.part.finding == finding for j in judgements):
            notes[finding].append("no score of this finding is defined for these sets")
    return Verdicts(tuple(judgements), {k: tuple(v) for k, v in notes.items() if v})


# --------------------------------------------------------------------------- words
def rules_text(small_band_km: float, large_band_km: tuple[float, float],
               replicates: int = DEFAULT_REPLICATES) -> str:
    """The README's "Rules" paragraph: levels, margins, guard and definitions, from the constants."""
    return (
        f"Each part is a paired bootstrap effect between two backends ({replicates:,} replicates, each "
        "resampling both backends' states and one reference resample shared by the two). "
        f"Finding 1 is an equivalence claim: a part is reproduced when the whole {100 * EQUIVALENCE_LEVEL:g} % "
        f"interval of the ratio latent ÷ data space lies inside [1/{EQUIVALENCE_MARGIN:g}, {EQUIVALENCE_MARGIN:g}], "
        "refuted when it lies wholly outside (two one-sided tests at 5 %, Schuirmann 1987). Findings 2 and 3 are "
        f"directional: a part is reproduced when the {100 * DIRECTIONAL_LEVEL:g} % interval lies below the null "
        "(ratio 1, difference 0), refuted when it lies above. Anything else is not resolved at that n. A finding "
        "is reproduced when every part is, refuted when any part is. Guard of finding 1: with `--baseline`, when "
        f"the data-space model's MIZ-area W1 exceeds {CONVERGENCE_FACTOR:g} × the baseline's median, the "
        "data-space model has not converged and finding 1 is not judged. Finding 2: S = (power ratio generated ÷ "
        f"reference at λ < {small_band_km:g} km) ÷ (power ratio at {large_band_km[0]:g}–{large_band_km[1]:g} km), "
        "the reference re-weighted to the generated set's season mix (importance weights over "
        f"{SEASON_BINS} quantile bins of the pooled extents; generated states in a bin without reference states "
        "are dropped); the part is S_latent ÷ S_data. Finding 3: censored against Gaussian decoder, (a) after "
        "clamping, |share of sic cells at 0 (at 1) − the reference's share| (difference), (b) MIZ-frequency RMSE "
        "and MIZ-area W1 at native bounds (ratio), (c) raw against raw, the mean excess beyond the bounds, "
        "averaged over the bounded variables in units of their normalisation std (ratio). Backends are judged at "
        "their native bounds mode (`clamp` for the censored decoder, else `raw`) and told apart by their `kind` "
        "and `decoder` columns; the data-space baseline is the first data-space backend."
    )


def large_band(bands: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The large-scale band of finding 2 (16–32 grid spacings) among the reference's bands."""
    return bands[LARGE_BAND]
