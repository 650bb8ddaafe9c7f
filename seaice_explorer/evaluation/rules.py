"""Decision rules that can fail: a finding is an effect with an interval, judged against a null.

Issue 21: each finding of Finn et al. 2024 (arXiv 2406.18417, as its abstract states them) is a
paired effect between backends (:class:`~.bootstrap.Effect`, a ratio or a difference with its
percentile interval). A *directional* claim is reproduced only when the 95 % interval excludes the
null on the paper's side and refuted when it excludes it on the other (a two-sided 5 % test: two
sets of one model are resolved either way in about 5 % of draws). An *equivalence* claim (finding
1, "latent ≈ data space") is reproduced only when the whole 90 % interval lies inside a margin stated
in advance (Schuirmann 1987's two one-sided tests at 5 %). Anything else is *not resolved at n = …*:
more samples are needed, not a verdict. Each rule refuses an effect computed at another level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from .bootstrap import Effect

Verdict = Literal["reproduced", "refuted", "not resolved"]
Direction = Literal["less", "greater"]

# The margins are fixed here, before any new numbers are seen; changing one is a change of the claim.
#: Finding 1 comparable band [1/1.25, 1.25]: "about as good" read as within 25 % either way (issue 21),
#: tighter than the point rule's ×1.5 (findings.COMPARABLE_FACTOR) because the interval now carries the noise.
EQUIVALENCE_MARGIN = 1.25
#: Interval level of the directional rule: a two-sided 5 % test, so that two sets of one model stay
#: "not resolved" in about 95 % of draws (a 90 % interval would leave them unresolved in only 90 %).
DIRECTIONAL_LEVEL = 0.95
#: Interval level of the equivalence rule: a 90 % interval inside the margin is TOST at 5 % (Schuirmann 1987).
EQUIVALENCE_LEVEL = 0.90


def _check_level(effect: Effect, level: float, rule: str) -> None:
    if not math.isclose(effect.level, level):
        raise ValueError(f"the {rule} rule judges {100 * level:g} % intervals; this effect has a "
                         f"{100 * effect.level:g} % interval (compute it with level={level})")


def directional(effect: Effect, direction: Direction) -> Verdict:
    """"reproduced" when the interval excludes the null on the paper's side (``less``: the effect is
    below the null), "refuted" when it excludes it on the other side, else "not resolved"."""
    if direction not in ("less", "greater"):
        raise ValueError(f"direction must be 'less' or 'greater', not {direction!r}")
    _check_level(effect, DIRECTIONAL_LEVEL, "directional")
    lo, hi = effect.ci_low, effect.ci_high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "not resolved"
    below, above = hi < effect.null, lo > effect.null
    if below or above:
        return "reproduced" if below == (direction == "less") else "refuted"
    return "not resolved"


def equivalence(effect: Effect, margin: float = EQUIVALENCE_MARGIN) -> Verdict:
    """Ratio effect against [1/margin, margin] (Schuirmann 1987): "reproduced" (comparable) when the whole
    interval lies inside, "refuted" when it lies wholly outside (ci_low > margin or ci_high < 1/margin),
    else "not resolved"."""
    if effect.kind != "ratio" or margin <= 1.0:
        raise ValueError("the equivalence rule needs a ratio effect and a margin above 1")
    _check_level(effect, EQUIVALENCE_LEVEL, "equivalence")
    lo, hi = effect.ci_low, effect.ci_high
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "not resolved"
    if 1.0 / margin <= lo and hi <= margin:
        return "reproduced"
    if lo > margin or hi < 1.0 / margin:
        return "refuted"
    return "not resolved"


def verdict_text(effect: Effect, verdict: Verdict) -> str:
    """Plain words, e.g. ``not resolved at n = 256: ratio 1.08 (90 % interval 0.93–1.27)``."""
    return (f"{verdict} at n = {effect.n}: {effect.kind} {effect.estimate:.3g} "
            f"({100 * effect.level:g} % interval {effect.ci_low:.3g}–{effect.ci_high:.3g})")


@dataclass(frozen=True)
class FindingPart:
    """One judged part of a finding, as written to ``findings.json``."""

    finding: int
    part: str  # e.g. "miz_freq_rmse ratio, ldm-censored ÷ ldm-gaussian"
    verdict: Verdict
    effect: float
    ci_low: float
    ci_high: float
    null: float
    margin: float | None  # the equivalence margin; None for a directional rule
    n: int
    backends: tuple[str, ...]  # (a, b) of the effect a ÷ b or a − b

    @property
    def level(self) -> float:
        """The level of the interval its rule judged: 90 % for an equivalence margin, else 95 %."""
        return EQUIVALENCE_LEVEL if self.margin is not None else DIRECTIONAL_LEVEL

    @classmethod
    def of(cls, finding: int, part: str, effect: Effect, verdict: Verdict, backends: tuple[str, ...],
           margin: float | None = None) -> FindingPart:
        """The record of ``effect`` judged as ``verdict``."""
        return cls(finding, part, verdict, effect.estimate, effect.ci_low, effect.ci_high, effect.null,
                   margin, effect.n, tuple(backends))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready fields (NaN written as None)."""
        out = asdict(self)
        out["backends"] = list(self.backends)
        return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in out.items()}
