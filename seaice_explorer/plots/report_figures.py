"""Static PNG figures of the ``evaluate`` report (matplotlib, Agg; offline, no Panel).

Figures of the Finn et al. 2024 evaluation: sample maps next to reference states, MIZ-frequency
maps and their differences, extent and MIZ-area histograms, and power spectra per variable.
Every function takes plain arrays/xarray objects and a path, writes one small PNG and returns it;
``colours`` maps the keys of the generated sets to their colours (``entry.colour`` from the
registry), the reference is dark grey (:data:`.style.REFERENCE_COLOUR`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from ..outputs import atomic_file
from ..variables import VARIABLES
from .style import DIFF_CMAP, LAND_COLOUR, REFERENCE, source_colours

DPI = 80


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


Colours = Mapping[str, str]


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format=path.suffix.lstrip(".") or "png")
    return path


def _map(ax, values: np.ndarray, land: np.ndarray, cmap: str, clim: tuple[float, float]):
    """One map panel on the grid's own rows/columns (row 0 = north edge), land shaded."""
    from matplotlib.colors import ListedColormap

    ax.imshow(np.ma.masked_where(~land, np.ones(land.shape)), cmap=ListedColormap([LAND_COLOUR]),
              interpolation="nearest")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=clim[0], vmax=clim[1], interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def _land(ds: xr.Dataset | xr.DataArray) -> np.ndarray:
    return np.asarray(ds["mask"].values == 0) if "mask" in ds.coords else np.zeros((ds.sizes["y"], ds.sizes["x"]), bool)


def sample_maps(reference: xr.Dataset, samples: Mapping[str, xr.Dataset], path: str | Path, *,
                members: int = 3, variables: Sequence[str] = ("sic", "sit"), ref_dim: str = "time",
                colours: Colours | None = None) -> Path:
    """Rows: reference states, then each generated set; columns: ``members`` states × ``variables``."""
    rows = [(REFERENCE, reference, ref_dim)] + [(k, v, "sample") for k, v in samples.items()]
    colour = source_colours([label for label, _, _ in rows], colours)
    names = [v for v in variables if v in reference.data_vars]
    ncols = members * len(names)
    fig = _figure(1.55 * ncols + 0.8, 1.6 * len(rows) + 0.6)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    land = _land(reference)
    images = {}
    for i, (label, ds, dim) in enumerate(rows):
        count = ds.sizes[dim]
        picks = np.linspace(0, count - 1, min(members, count)).round().astype(int)
        for j, name in enumerate(names):
            for m in range(members):
                ax = axes[i, j * members + m]
                if m >= len(picks) or name not in ds.data_vars:
                    ax.set_visible(False)
                    continue
                var = VARIABLES[name]
                images[name] = _map(ax, ds[name].isel({dim: int(picks[m])}).values, land, var.cmap, var.clim)
                if i == 0:
                    ax.set_title(f"{name} #{m + 1}", fontsize=8)
            axes[i, 0].set_ylabel(label, fontsize=7, color=colour[label])
    for j, name in enumerate(names):
        bar = fig.colorbar(images[name], ax=axes[:, j * members:(j + 1) * members].ravel().tolist(),
                           orientation="horizontal", fraction=0.03, pad=0.02, aspect=40)
        bar.set_label(VARIABLES[name].label, fontsize=8)
        bar.ax.tick_params(labelsize=7)
    fig.suptitle("Sample states: reference (top) and generated sets", fontsize=10)
    return _save(fig, path)


def miz_frequency_maps(reference: xr.DataArray, generated: Mapping[str, xr.DataArray], path: str | Path, *,
                       colours: Colours | None = None) -> Path:
    """Top row: MIZ frequency of the reference and each set; bottom row: set − reference."""
    colour = source_colours(generated, colours)
    ncols = 1 + len(generated)
    fig = _figure(2.3 * ncols, 4.9)
    axes = fig.subplots(2, ncols, squeeze=False)
    land = _land(reference)
    freq_img = _map(axes[0, 0], reference.values, land, "YlGnBu", (0.0, 1.0))
    axes[0, 0].set_title("reference", fontsize=9)
    axes[1, 0].set_visible(False)
    diff_img = None
    for j, (label, freq) in enumerate(generated.items(), start=1):
        _map(axes[0, j], freq.values, land, "YlGnBu", (0.0, 1.0))
        axes[0, j].set_title(label, fontsize=9, color=colour[label])
        diff_img = _map(axes[1, j], freq.values - reference.values, land, DIFF_CMAP, (-0.5, 0.5))
        axes[1, j].set_title(f"{label} − ref", fontsize=8)
    bar = fig.colorbar(freq_img, ax=axes[0, :].tolist(), fraction=0.03, pad=0.02)
    bar.set_label("MIZ frequency", fontsize=8)
    if diff_img is not None:
        bar = fig.colorbar(diff_img, ax=axes[1, :].tolist(), fraction=0.03, pad=0.02)
        bar.set_label("difference", fontsize=8)
    fig.suptitle("Fraction of states with 0.15 ≤ sic ≤ 0.80", fontsize=10)
    return _save(fig, path)


def distributions(reference: Mapping[str, np.ndarray], generated: Mapping[str, Mapping[str, np.ndarray]],
                  path: str | Path, *, colours: Colours | None = None) -> Path:
    """Density histograms of extent and MIZ area (10⁶ km²): reference filled, sets as steps.

    ``reference`` and each value of ``generated`` map ``"extent"`` and ``"miz_area"`` to arrays.
    """
    keys = [("extent", "sea-ice extent [10⁶ km²]"), ("miz_area", "MIZ area [10⁶ km²]")]
    colour = source_colours([REFERENCE, *generated], colours)
    fig = _figure(8.0, 3.2)
    axes = fig.subplots(1, 2)
    for ax, (key, label) in zip(axes, keys):
        pooled = np.concatenate([reference[key]] + [g[key] for g in generated.values()])
        edges = np.histogram_bin_edges(pooled[np.isfinite(pooled)], bins=30)
        ax.hist(reference[key], bins=edges, density=True, color=colour[REFERENCE], alpha=0.25, label=REFERENCE)
        for name, g in generated.items():
            ax.hist(g[key], bins=edges, density=True, histtype="step", lw=1.5, color=colour[name], label=name)
        ax.set_xlabel(label, fontsize=9)
        ax.set_ylabel("density", fontsize=9)
        ax.tick_params(labelsize=8)
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def spectra(reference: xr.Dataset, generated: Mapping[str, xr.Dataset], path: str | Path,
            small_scale_km: float | None = None, *, colours: Colours | None = None) -> Path:
    """Log-log mean power spectra per variable (power per ring vs wavelength), reference in black."""
    from matplotlib.ticker import LogFormatter, NullFormatter

    colour = source_colours([REFERENCE, *generated], colours)
    names = list(reference.data_vars)
    fig = _figure(2.6 * len(names), 2.9)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        lam = reference[name]["wavelength"].values
        ax.loglog(lam, reference[name].values, color=colour[REFERENCE], lw=2, label=REFERENCE)
        for label, spec in generated.items():
            if name in spec:
                ax.loglog(spec[name]["wavelength"].values, spec[name].values, color=colour[label], lw=1.2, label=label)
        if small_scale_km:
            ax.axvspan(lam.min(), small_scale_km, color="#dddddd", zorder=0)
        ax.invert_xaxis()
        ax.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=True))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("wavelength [km]", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("power per ring [units²]", fontsize=8)
    axes[0].legend(fontsize=6, frameon=False)
    fig.tight_layout()
    return _save(fig, path)
