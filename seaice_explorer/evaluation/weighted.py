"""The scores of :func:`evaluation.compare.score_set` as functions of weights over the states of each set.

A generated set's states carry weights ``wg`` (B, Ng) and the reference's ``wr`` (B, Nr), rows
summing to 1: uniform weights give the point estimate, multinomial counts ÷ n a bootstrap resample
(Efron & Tibshirani 1993). Every score follows for all B rows at once from the per-state
:class:`~.features.StateFeatures`. Names and units are those of ``score_set``: W1 distances of the
extent and MIZ-area distributions (10⁶ km²), the area-weighted MIZ-frequency RMSE, mean/std-map RMSEs
(ddof = 1, as ``stats.ensemble.mean_std_maps``), marginal energy distance (Székely & Rizzo 2013) and W1 from
binned CDFs, the small-scale spectrum ratio and the generated set's bound fractions (%).

Three more groups, computed only when asked for by name (``groups=``), are the findings' own scores
(:mod:`.verdicts`), not columns of ``score_set``: ``matched_spectra`` (per variable, the small-band
power ratio ÷ the large-band power ratio, generated ÷ a reference re-weighted to the generated set's
season mix, :func:`matched_reference_weights`), ``bound_errors`` (|share of sic at 0 or 1, generated −
reference|, %) and ``excess`` (the mean excess beyond the bounds, :func:`.features.mean_excess`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np

from ..variables import VARIABLES
from .compare import M2_TO_1E6KM2, same_grid
from .features import CellValues, StateFeatures

Scores = dict[str, np.ndarray]  # score name -> (B,) replicates
GROUPS: tuple[str, ...] = ("areas", "miz", "maps", "marginals", "spectra", "bounds")
#: Groups computed only when named in ``groups=``: the findings' scores (see the module docstring).
FINDING_GROUPS: tuple[str, ...] = ("matched_spectra", "bound_errors", "excess")
#: Season matching: the reference is re-weighted over this many quantile bins of the pooled extents.
SEASON_BINS = 10
#: Index in ``stats.spectra.default_bands`` of the large-scale band: 16–32 grid spacings (800–1,600 km at 50 km).
LARGE_BAND = 3


def score_group(name: str) -> str:
    """The group of computations a score belongs to (so that one score is computed alone)."""
    if name.startswith(("extent_", "miz_area_")):
        return "areas"
    if name == "miz_freq_rmse":
        return "miz"
    if name.endswith(("_mean_rmse", "_std_rmse", "_rmse_norm")):
        return "maps"
    if name.endswith(("_energy", "_marginal_w1")) or name == "energy_norm":
        return "marginals"
    if name.endswith("_spec_ratio_small"):
        return "spectra"
    if name.endswith("_spec_ratio_small_large"):
        return "matched_spectra"
    if name.endswith("_error_pct"):
        return "bound_errors"
    if name.endswith("_mean_excess") or name == "mean_excess_norm":
        return "excess"
    if name.endswith("_pct"):
        return "bounds"
    raise KeyError(f"unknown score {name!r}")


# --------------------------------------------------------------------------- kernels
def _weighted_cdf(x: np.ndarray, w: np.ndarray, at: np.ndarray) -> np.ndarray:
    """CDF (B, K) at the points ``at`` of the sample x (N,) with weights w (B, N) (right-continuous)."""
    order = np.argsort(x, kind="stable")
    c = np.cumsum(w[:, order], axis=1)  # (B, N)
    c = np.concatenate([np.zeros((w.shape[0], 1)), c / c[:, -1:]], axis=1)
    return c[:, np.searchsorted(x[order], at, side="right")]


def weighted_w1(xa: np.ndarray, wa: np.ndarray, xb: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """W1 = ∫ |F_a − F_b| dt between weighted samples, one per row of wa (B, Na), wb (B, Nb)
    (``scipy.stats.wasserstein_distance(xa, xb, wa[i], wb[i])`` for each row i)."""
    z = np.sort(np.concatenate([xa, xb]))
    fa, fb = _weighted_cdf(xa, wa, z[:-1]), _weighted_cdf(xb, wb, z[:-1])
    return np.abs(fa - fb) @ np.diff(z)


def binned_distances(ha: np.ndarray, hb: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(W1, energy distance) between binned distributions, counts ha, hb (B, K) on equal bins of ``width``.

    Each value sits at its bin centre: W1 = ∫ |F − G|, energy = sqrt(2 ∫ (F − G)²) (Székely & Rizzo 2013),
    the distances scipy gives for the values moved to their bin centres.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.cumsum(ha, axis=1) / ha.sum(1, keepdims=True) - np.cumsum(hb, axis=1) / hb.sum(1, keepdims=True)
    return width * np.abs(d).sum(1), np.sqrt(2.0 * width * np.square(d).sum(1))


def weighted_mean(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ w x / Σ w over the states with finite x: w (B, N), x (N,) -> (B,) (NaN states skipped, as xarray)."""
    ok = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w[:, ok] @ x[ok]) / w[:, ok].sum(1)


def cell_moments(cells: CellValues, w: np.ndarray, draws: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell mean and std (ddof = 1 over the ``draws`` states of a resample), each (B, C)."""
    w32 = w.astype(np.float32)
    s1 = (w32 @ cells.centred).astype(np.float64)  # (B, C)
    s2 = (w32 @ np.square(cells.centred)).astype(np.float64)
    wv = w.sum(1, keepdims=True) if cells.valid is None else (w32 @ cells.valid).astype(np.float64)
    count = draws * wv
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s1 / wv
        var = np.maximum(s2 / wv - m * m, 0.0) * count / (count - 1)
    return cells.shift + m, np.sqrt(np.where(count > 1, var, np.nan))


def area_weighted_rmse(a: np.ndarray, b: np.ndarray, area: np.ndarray) -> np.ndarray:
    """sqrt(Σ A (a − b)² / Σ A) over cells where both are finite; a, b (B, C), area (C,) -> (B,)."""
    d2 = np.square(a - b)
    ok = np.isfinite(d2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt((np.where(ok, d2, 0.0) @ area) / (ok @ area))


# --------------------------------------------------------------------------- score groups
def _areas(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
           draws: tuple[int, int]) -> Scores:
    """W1 of the extent and MIZ-area distributions, and the generated means (10⁶ km²)."""
    if not (gen.extent.size and ref.extent.size):
        return {}
    return {"extent_w1_1e6km2": weighted_w1(gen.extent, wg, ref.extent, wr) * M2_TO_1E6KM2,
            "miz_area_w1_1e6km2": weighted_w1(gen.miz_area, wg, ref.miz_area, wr) * M2_TO_1E6KM2,
            "extent_mean_1e6km2": weighted_mean(wg, gen.extent) * M2_TO_1E6KM2,
            "miz_area_mean_1e6km2": weighted_mean(wg, gen.miz_area) * M2_TO_1E6KM2}


def _frequency(f: StateFeatures, w: np.ndarray) -> np.ndarray:
    """MIZ frequency (B, C): the weighted share of states (with finite sic) in which a cell is MIZ."""
    w32 = w.astype(np.float32)
    valid = f.cells["sic"].valid if "sic" in f.cells else None
    wv = w.sum(1, keepdims=True) if valid is None else (w32 @ valid).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w32 @ f.miz).astype(np.float64) / wv


def _miz(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
         draws: tuple[int, int]) -> Scores:
    """Area-weighted RMSE of the MIZ-frequency maps (same grid only)."""
    if gen.miz is None or ref.miz is None or not on_one_grid(gen, ref):
        return {}
    return {"miz_freq_rmse": area_weighted_rmse(_frequency(gen, wg), _frequency(ref, wr), gen.cell_area)}


def _maps(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
          draws: tuple[int, int]) -> Scores:
    """Area-weighted RMSE of the mean and std maps per variable, and their means over variables ÷ std."""
    if not on_one_grid(gen, ref):
        return {}
    out: Scores = {}
    norm: dict[str, list[np.ndarray]] = {"mean": [], "std": []}
    for v in common_variables(gen, ref):
        own, other = cell_moments(gen.cells[v], wg, draws[0]), cell_moments(ref.cells[v], wr, draws[1])
        for stat, a, b in zip(("mean", "std"), own, other):
            out[f"{v}_{stat}_rmse"] = rmse = area_weighted_rmse(a, b, gen.cell_area)
            norm[stat].append(rmse / VARIABLES[v].std)
    return out | {f"{stat}_rmse_norm": np.mean(vals, axis=0) for stat, vals in norm.items() if vals}


def _marginals(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
               draws: tuple[int, int]) -> Scores:
    """Energy distance and W1 of the pooled ocean values per variable (binned), and the mean energy ÷ std."""
    out: Scores = {}
    norm = []
    for v in common_variables(gen, ref):
        if not np.array_equal(gen.edges[v], ref.edges[v]):
            raise ValueError(f"{v}: the two sets are binned differently; build both features with the same bins")
        pooled_g = (wg.astype(np.float32) @ gen.histograms[v]).astype(np.float64)  # (B, bins)
        pooled_r = (wr.astype(np.float32) @ ref.histograms[v]).astype(np.float64)
        width = gen.edges[v][1] - gen.edges[v][0]
        out[f"{v}_marginal_w1"], out[f"{v}_energy"] = binned_distances(pooled_g, pooled_r, width)
        norm.append(out[f"{v}_energy"] / VARIABLES[v].std)
    return out | ({"energy_norm": np.mean(norm, axis=0)} if norm else {})


def _spectra(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
             draws: tuple[int, int]) -> Scores:
    """Power in the smallest-scale band, generated ÷ reference, per variable (ratio of mean spectra)."""
    if gen.bands != ref.bands:
        raise ValueError("the generated features use other wavelength bands; build them with bands=ref.bands")
    small = {v: (weighted_mean(wg, gen.band_power[v][:, 0]), weighted_mean(wr, ref.band_power[v][:, 0]))
             for v in common_variables(gen, ref)}  # mean power in the smallest-scale band, each (B,)
    return {f"{v}_spec_ratio_small": own / other for v, (own, other) in small.items()}


def _bounds(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
            draws: tuple[int, int]) -> Scores:
    """The generated set's bound fractions (%), as the per-set columns of ``score_set``."""
    fr = {k: weighted_mean(wg, f) for k, f in gen.bound_fractions.items()}
    vio = {v: sum(fr[k] for k in (f"{v}_below_lower", f"{v}_above_upper") if k in fr)
           for v in VARIABLES if VARIABLES[v].bounded and any(k.startswith(f"{v}_") for k in fr)}
    out = {f"{v}_violation_pct": 100.0 * f for v, f in vio.items()}
    if vio:
        out["violations_pct"] = 100.0 * np.mean(list(vio.values()), axis=0)
    if "sic_at_lower" in fr:
        out |= {"sic_at_bounds_pct": 100.0 * (fr["sic_at_lower"] + fr["sic_at_upper"]),
                "sic_at_0_pct": 100.0 * fr["sic_at_lower"], "sic_at_1_pct": 100.0 * fr["sic_at_upper"]}
    return out


# --------------------------------------------------------------------------- the findings' groups
def season_bins(gen_extent: np.ndarray, ref_extent: np.ndarray,
                bins: int = SEASON_BINS) -> tuple[np.ndarray, np.ndarray, int]:
    """(bin of each generated state, bin of each reference state, number of bins): ``bins`` quantile
    bins of the pooled extents of both sets (fewer when quantiles tie)."""
    pooled = np.concatenate([gen_extent, ref_extent])
    inner = np.unique(np.quantile(pooled, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    return (np.searchsorted(inner, gen_extent, side="right"), np.searchsorted(inner, ref_extent, side="right"),
            inner.size + 1)


def matched_reference_weights(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray | None = None,
                              wr: np.ndarray | None = None, bins: int = SEASON_BINS) -> np.ndarray:
    """Reference weights (B, Nr) matched to the generated set's season mix (importance weights).

    The states of both sets fall in ``bins`` quantile bins of their pooled extents (:func:`season_bins`);
    a reference state j in bin b gets wr_j · G_b / R_b, with G_b and R_b the generated and the reference
    weight in b, so that the reference's weight per bin is the generated set's. Generated weight in a bin
    without reference states cannot be matched and is dropped; rows are renormalised to 1 (NaN when no
    bin is shared). ``wg`` (B, Ng), ``wr`` (B, Nr): default uniform.
    """
    wg = np.full((1, gen.n), 1.0 / gen.n) if wg is None else np.atleast_2d(wg)
    wr = np.full((1, ref.n), 1.0 / ref.n) if wr is None else np.atleast_2d(wr)
    ig, ir, k = season_bins(gen.extent, ref.extent, bins)
    g = wg @ np.eye(k)[ig]  # (B, K) generated weight per bin
    r = wr @ np.eye(k)[ir]  # (B, K) reference weight per bin
    with np.errstate(invalid="ignore", divide="ignore"):
        matched = wr * np.where(r > 0, g / r, 0.0)[:, ir]  # (B, Nr)
        return matched / matched.sum(1, keepdims=True)


def _matched_spectra(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
                     draws: tuple[int, int]) -> Scores:
    """Per variable, (small-band power ratio) ÷ (large-band power ratio), generated ÷ season-matched reference."""
    if gen.bands != ref.bands:
        raise ValueError("the generated features use other wavelength bands; build them with bands=ref.bands")
    if not (gen.extent.size and ref.extent.size) or len(ref.bands) <= LARGE_BAND:
        return {}
    wm = matched_reference_weights(gen, ref, wg, wr)
    out: Scores = {}
    for v in common_variables(gen, ref):
        small, large = ((weighted_mean(wg, gen.band_power[v][:, b]) / weighted_mean(wm, ref.band_power[v][:, b]))
                        for b in (0, LARGE_BAND))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{v}_spec_ratio_small_large"] = small / large
    return out


def _bound_errors(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
                  draws: tuple[int, int]) -> Scores:
    """|share of ocean sic cells at 0 (at 1), generated − reference|, in %."""
    pairs = (("sic_at_lower", "sic_at_0_error_pct"), ("sic_at_upper", "sic_at_1_error_pct"))
    return {name: 100.0 * np.abs(weighted_mean(wg, gen.bound_fractions[key])
                                 - weighted_mean(wr, ref.bound_fractions[key]))
            for key, name in pairs if key in gen.bound_fractions and key in ref.bound_fractions}


def _excess(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray,
            draws: tuple[int, int]) -> Scores:
    """The generated set's mean excess beyond the bounds per bounded variable (its units) and their mean ÷ std."""
    names = [v for v in VARIABLES if v in gen.excess]
    out: Scores = {f"{v}_mean_excess": weighted_mean(wg, gen.excess[v]) for v in names}
    if names:
        out["mean_excess_norm"] = np.mean([out[f"{v}_mean_excess"] / VARIABLES[v].std for v in names], axis=0)
    return out


_GROUP_FUNCTIONS: dict[str, Callable[..., Scores]] = {
    "areas": _areas, "miz": _miz, "maps": _maps, "marginals": _marginals, "spectra": _spectra, "bounds": _bounds,
    "matched_spectra": _matched_spectra, "bound_errors": _bound_errors, "excess": _excess}


def common_variables(gen: StateFeatures, ref: StateFeatures) -> list[str]:
    """Variables of both sets, in the reference's order (as ``score_set``)."""
    return [v for v in ref.variables if v in gen.variables]


def on_one_grid(gen: StateFeatures, ref: StateFeatures) -> bool:
    """True when the map scores apply: one grid (``compare.same_grid``) and the same ocean cells."""
    return same_grid(gen.grid, ref.grid) and np.array_equal(gen.ocean, ref.ocean)


# --------------------------------------------------------------------------- all at once
def replicate_scores(gen: StateFeatures, ref: StateFeatures, wg: np.ndarray, wr: np.ndarray, *,
                     draws: tuple[int, int] | None = None, groups: Collection[str] | None = None,
                     chunk: int = 250) -> Scores:
    """Every score of ``GROUPS`` (or those of ``groups``, which may name ``FINDING_GROUPS``) for each row
    of wg (B, Ng) and wr (B, Nr): name -> (B,).

    ``draws`` are the numbers of states a row stands for (default: Ng, Nr), used by the ddof = 1
    std maps; rows are done ``chunk`` at a time to bound the memory of the (rows, cells) maps.
    """
    wg, wr = np.atleast_2d(np.asarray(wg, np.float64)), np.atleast_2d(np.asarray(wr, np.float64))
    if wg.shape != (wr.shape[0], gen.n) or wr.shape[1] != ref.n:
        raise ValueError(f"weights {wg.shape} and {wr.shape} do not fit {gen.n} generated "
                         f"and {ref.n} reference states")
    draws = draws or (gen.n, ref.n)
    chosen = list(GROUPS) if groups is None else [g for g in GROUPS + FINDING_GROUPS if g in groups]
    parts: list[Scores] = []
    for start in range(0, wg.shape[0], chunk):
        rows = slice(start, start + chunk)
        part: Scores = {}
        for g in chosen:
            part |= _GROUP_FUNCTIONS[g](gen, ref, wg[rows], wr[rows], draws)
        parts.append(part)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}


def point_scores(gen: StateFeatures, ref: StateFeatures,
                 groups: Collection[str] | None = None) -> dict[str, float]:
    """The scores with every state weighted equally: ``score_set``'s values (marginals to within the bins)."""
    wg, wr = np.full((1, gen.n), 1.0 / gen.n), np.full((1, ref.n), 1.0 / ref.n)
    return {k: float(v[0]) for k, v in replicate_scores(gen, ref, wg, wr, groups=groups).items()}
