"""The three findings of Finn et al. 2024 (arXiv 2406.18417), judged from an ``evaluate`` table by point rules.

**Superseded** by :mod:`.verdicts` (issue 21): these rules compare point estimates (a geometric mean
within ×1.5, "below the baseline") and cannot fail for want of samples; ``evaluate`` now judges each
finding as paired effects with intervals and rules that can fail (``findings.json``). This module is
kept for the names the tour reads from a report's table (:func:`assess`, :data:`COMPARABLE_FACTOR`,
:func:`score_ratios`, :func:`native_rows`) and :data:`HEADLINE_SCORES`, which both modules share.

Each verdict follows mechanically from numbers in the table, by the rules below; nothing is tuned
to favour an answer. Rows are told apart by their ``kind`` (``data``: data-space diffusion,
``latent``: latent diffusion) and ``decoder`` (``gaussian``, ``censored``) columns, never by
backend name. Every backend is judged at its *native* bounds mode, the one the paper uses: the
raw output, or for the censored decoder its point estimate ``clamp`` (:func:`native_bounds`;
``raw`` when that row is missing). The data-space baseline is the first data-space backend.

1. **Latent ≈ data space in scores.** For each latent backend, the ratio latent ÷ data space of
   each headline score (``HEADLINE_SCORES``, all "lower is better"); the backend is *comparable*
   when the geometric mean of the ratios lies within [1/``COMPARABLE_FACTOR``, ``COMPARABLE_FACTOR``].
   Reproduced when every latent backend is comparable, refuted when none is.
2. **Latent models smooth.** Per variable, the spectrum ratio generated ÷ reference in the
   smallest-scale band (``{v}_spec_ratio_small``). A latent backend *smooths more than data space*
   when its ratio is below the baseline's for more than half the variables. Reproduced when every
   latent backend does, refuted when none does.
3. **Censoring improves the MIZ and removes bound violations.** The censored-decoder latent
   backend against the Gaussian-decoder one: (a) lower MIZ-frequency RMSE, (b) lower W1 of the
   MIZ-area distribution, (c) no bound violations while the Gaussian one has some. Reproduced when
   all three hold, refuted when neither MIZ score improves, partly reproduced otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np
import pandas as pd

from ..registry import native_bounds

Verdict = Literal["reproduced", "partly reproduced", "refuted", "not tested"]

#: Table columns of finding 1 (all: lower is better), with readable names.
HEADLINE_SCORES: Mapping[str, str] = MappingProxyType({
    "extent_w1_1e6km2": "extent W1",
    "miz_area_w1_1e6km2": "MIZ-area W1",
    "miz_freq_rmse": "MIZ-frequency RMSE",
    "mean_rmse_norm": "mean-map RMSE",
    "std_rmse_norm": "std-map RMSE",
    "energy_norm": "marginal energy distance",
})
#: Finding 1: a latent backend is comparable to data space when its scores are within this factor (geometric mean).
COMPARABLE_FACTOR = 1.5
#: Finding 3: a violation fraction (%) at or below this counts as none.
NO_VIOLATIONS_PCT = 1e-9


@dataclass(frozen=True)
class Finding:
    """One finding of the paper and the verdict of the table on it."""

    number: int
    claim: str
    verdict: Verdict
    evidence: str

    def markdown(self) -> str:
        return f"{self.number}. **{self.claim}: {self.verdict}.** {self.evidence}"


def native_rows(table: pd.DataFrame, kind: str, decoder: str | None = None) -> list[pd.Series]:
    """Per backend of ``kind`` (and ``decoder``), in table order, its row at the native bounds (``raw`` as fallback)."""
    rows = table[table["kind"] == kind] if "kind" in table.columns else table.iloc[:0]
    if decoder is not None:
        rows = rows[rows["decoder"] == decoder]
    out = []
    for backend in dict.fromkeys(rows["backend"]):
        mine = rows[rows["backend"] == backend]
        for bounds in (native_bounds(str(mine["decoder"].iloc[0])), "raw"):
            hit = mine[mine["bounds"] == bounds]
            if len(hit):
                out.append(hit.iloc[0])
                break
    return out


def _first(rows: list[pd.Series]) -> pd.Series | None:
    return rows[0] if rows else None


def _label(row: pd.Series) -> str:
    return f"{row['backend']}/{row['bounds']}"


def _ratio(a: float, b: float) -> float:
    return a / b if np.isfinite(a) and np.isfinite(b) and a > 0 and b > 0 else math.nan


def _verdict(flags: Sequence[bool], refuted: bool | None = None) -> Verdict:
    """All true -> reproduced; ``refuted`` (default: none true) -> refuted; else partly."""
    if flags and all(flags):
        return "reproduced"
    if (not any(flags)) if refuted is None else refuted:
        return "refuted"
    return "partly reproduced"


def _missing(number: int, claim: str, needed: str) -> Finding:
    return Finding(number, claim, "not tested", f"Needs {needed} in the table.")


_DATA_AND_LATENT = "a data-space backend and a latent backend"


def score_ratios(row: pd.Series, base: pd.Series) -> tuple[dict[str, float], float]:
    """Finding 1's ratios ``row`` ÷ ``base`` of each headline score, and their geometric mean (NaN if none)."""
    ratios = {name: _ratio(float(row[key]), float(base[key])) for key, name in HEADLINE_SCORES.items()
              if key in row and key in base}
    finite = [r for r in ratios.values() if np.isfinite(r)]
    return ratios, float(np.exp(np.mean(np.log(finite)))) if finite else math.nan


def latent_vs_data(table: pd.DataFrame) -> Finding:
    """Finding 1: latent diffusion scores ≈ data-space diffusion scores."""
    claim = "Latent diffusion scores about as well as data-space diffusion"
    base = _first(native_rows(table, "data"))
    latents = native_rows(table, "latent")
    if base is None or not latents:
        return _missing(1, claim, _DATA_AND_LATENT)
    flags, parts = [], []
    for row in latents:
        ratios, gmean = score_ratios(row, base)
        ok = bool(np.isfinite(gmean) and 1 / COMPARABLE_FACTOR <= gmean <= COMPARABLE_FACTOR)
        flags.append(ok)
        word = "comparable" if ok else ("better" if gmean < 1 else "worse") if np.isfinite(gmean) else "undefined"
        detail = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items() if np.isfinite(v))
        parts.append(f"{_label(row)} ÷ {_label(base)}: geometric mean {gmean:.2f} ({word}; {detail})")
    evidence = (f"Score ratios (lower is better, comparable within ×{COMPARABLE_FACTOR:g}): "
                + "; ".join(parts) + ".")
    return Finding(1, claim, _verdict(flags), evidence)


def smoothing(table: pd.DataFrame) -> Finding:
    """Finding 2: latent models lose small-scale power relative to data-space diffusion."""
    claim = "Latent diffusion smooths the small scales"
    base = _first(native_rows(table, "data"))
    latents = native_rows(table, "latent")
    cols = [c for c in table.columns if str(c).endswith("_spec_ratio_small")]
    if base is None or not latents or not cols:
        return _missing(2, claim, _DATA_AND_LATENT)
    flags, parts = [], []
    for row in latents:
        pairs = [(c.split("_")[0], float(row[c]), float(base[c])) for c in cols
                 if np.isfinite(row[c]) and np.isfinite(base[c])]
        lower = [v for v, a, b in pairs if a < b]
        ok = len(lower) > len(pairs) / 2
        flags.append(ok)
        med = float(np.median([a for _, a, _ in pairs])) if pairs else math.nan
        parts.append(f"{_label(row)} below {base['backend']} in {len(lower)}/{len(pairs)} variables "
                     f"({', '.join(lower) or 'none'}; median ratio {med:.2f})")
    base_med = float(np.nanmedian([float(base[c]) for c in cols]))
    evidence = ("Small-scale spectrum ratio generated ÷ reference (1 = right power, < 1 = smoother): "
                f"{_label(base)} median {base_med:.2f}; " + "; ".join(parts) + ".")
    return Finding(2, claim, _verdict(flags), evidence)


def censoring(table: pd.DataFrame) -> Finding:
    """Finding 3: the censored decoder improves the MIZ and removes bound violations."""
    claim = "Censoring improves the marginal ice zone and removes bound violations"
    gauss = _first(native_rows(table, "latent", "gaussian"))
    cens = _first(native_rows(table, "latent", "censored"))
    if gauss is None or cens is None:
        return _missing(3, claim, "a latent backend with the Gaussian decoder and one with the censored decoder")
    g_rmse, c_rmse = float(gauss["miz_freq_rmse"]), float(cens["miz_freq_rmse"])
    g_w1, c_w1 = float(gauss["miz_area_w1_1e6km2"]), float(cens["miz_area_w1_1e6km2"])
    g_vio, c_vio = float(gauss["violations_pct"]), float(cens["violations_pct"])
    rmse_ok, w1_ok = c_rmse < g_rmse, c_w1 < g_w1
    vio_ok = c_vio <= NO_VIOLATIONS_PCT < g_vio
    evidence = (f"{_label(cens)} vs {_label(gauss)}: MIZ-frequency RMSE {c_rmse:.4f} vs {g_rmse:.4f} "
                f"({'better' if rmse_ok else 'not better'}), MIZ-area W1 {c_w1:.3f} vs {g_w1:.3f} × 10⁶ km² "
                f"({'better' if w1_ok else 'not better'}), bound violations {c_vio:.3g} % vs {g_vio:.3g} % "
                f"({'removed' if vio_ok else 'not removed by censoring'}).")
    return Finding(3, claim, _verdict([rmse_ok, w1_ok, vio_ok], refuted=not (rmse_ok or w1_ok)), evidence)


def assess(table: pd.DataFrame) -> list[Finding]:
    """The verdicts on the paper's three findings from an ``evaluate`` table (one row per setting)."""
    return [latent_vs_data(table), smoothing(table), censoring(table)]


def findings_markdown(findings: Sequence[Finding]) -> str:
    """A numbered Markdown list of the findings with their verdicts and numbers."""
    return "\n".join(f.markdown() for f in findings)
