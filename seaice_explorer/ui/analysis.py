"""What the dashboard shows, computed once per result (worker thread) with ``seaice_explorer.stats``.

:class:`ReferenceData` summarises a reference set (dim ``time``), :class:`Result` a generated
ensemble (dim ``sample``) against it: extent and MIZ-area distributions, MIZ-frequency maps
(Finn et al. 2024, Sec. 4.2), mean/spread maps, power spectra (Sec. 4.3), bound violations and
a row of scores. :class:`Trajectory` holds one sample's denoising path for the replay.
No Panel and no HoloViews here: plain xarray/numpy plus map geometry.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .. import stats
from ..grid import EASE2_NORTH
from ..plots.maps import MapGeometry, MapSpec, field_spec, map_geometry
from ..variables import STATE_VARIABLES, VARIABLES

log = logging.getLogger(__name__)

#: All maps share this display CRS: the grid of the shipped models (EASE2-North LAEA).
DISPLAY_PROJ4 = EASE2_NORTH
TOL = 1e-6
M2_PER_MKM2 = 1e12  # 10⁶ km² in m²


def bounded_variables(ds: xr.Dataset) -> list[str]:
    """State variables of ``ds`` that have a finite physical bound."""
    return [v for v in STATE_VARIABLES if v in ds.data_vars and VARIABLES[v].bounded]


def beyond_mask(da: xr.DataArray) -> xr.DataArray:
    """Cells beyond the variable's bounds (by more than 1e-6), False on NaN."""
    var = VARIABLES[str(da.name)]
    out = xr.zeros_like(da, dtype=bool)
    if math.isfinite(var.lower):
        out = out | (da < var.lower - TOL)
    if math.isfinite(var.upper):
        out = out | (da > var.upper + TOL)
    return out


def beyond_fraction(ds: xr.Dataset) -> float:
    """Fraction of the ocean values of bounded variables that lie beyond their bounds."""
    names = bounded_variables(ds)
    if not names:
        return float("nan")
    fr = stats.bound_fractions(ds, names)
    parts = [fr[k] for k in fr.data_vars if k.endswith(("_below_lower", "_above_upper"))]
    per_var: dict[str, xr.DataArray] = {}
    for part in parts:
        name = str(part.name).split("_", 1)[0]
        per_var[name] = per_var.get(name, 0) + part
    return float(np.mean([float(v.mean()) for v in per_var.values()]))


def same_grid(a: xr.Dataset, b: xr.Dataset) -> bool:
    """True when two datasets share one grid (same shape and cell positions)."""
    if (a.sizes.get("y"), a.sizes.get("x")) != (b.sizes.get("y"), b.sizes.get("x")):
        return False
    return bool(np.allclose(a["lat"].values, b["lat"].values, atol=1e-4)
                and np.allclose(a["lon"].values, b["lon"].values, atol=1e-4))


def _mkm2(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.values, dtype=np.float64) / M2_PER_MKM2


def _mean_spectra(ds: xr.Dataset, dim: str) -> xr.Dataset:
    names = [v for v in STATE_VARIABLES if v in ds.data_vars]
    return stats.power_spectrum(ds, names).mean(dim, keep_attrs=True).compute()


@dataclass(frozen=True, eq=False)
class ReferenceData:
    """A reference set and the summaries the dashboard compares against (dim ``time``)."""

    name: str
    ds: xr.Dataset
    geometry: MapGeometry
    extent: np.ndarray  # (T,) 10⁶ km²
    miz_area: np.ndarray  # (T,) 10⁶ km²
    miz_frequency: xr.DataArray | None  # (y, x)
    mean: xr.Dataset
    std: xr.Dataset
    spectra: xr.Dataset
    kind: str
    beyond_fraction: float = float("nan")

    @property
    def n_states(self) -> int:
        return int(self.ds.sizes.get("time", 1))

    @property
    def variables(self) -> list[str]:
        return [v for v in STATE_VARIABLES if v in self.ds.data_vars]

    def time_label(self, index: int) -> str:
        if "time" not in self.ds.coords:
            return f"state {index}"
        return str(np.datetime_as_string(self.ds["time"].values[index], unit="D"))


def summarise_reference(ds: xr.Dataset, name: str) -> ReferenceData:
    """Summaries of a canonical reference Dataset (loaded into memory)."""
    if "time" not in ds.dims:
        ds = ds.expand_dims("time")
    ds = ds.load()
    has_sic = "sic" in ds.data_vars
    names = [v for v in STATE_VARIABLES if v in ds.data_vars]
    return ReferenceData(
        name=name,
        ds=ds,
        geometry=map_geometry(ds, DISPLAY_PROJ4),
        extent=_mkm2(stats.extent(ds)) if has_sic else np.array([]),
        miz_area=_mkm2(stats.miz_area(ds)) if has_sic else np.array([]),
        miz_frequency=stats.miz_frequency(ds, "time").compute() if has_sic else None,
        mean=ds[names].mean("time"),
        std=ds[names].std("time", ddof=1) if ds.sizes["time"] > 1 else ds[names].isel(time=0) * np.nan,
        spectra=_mean_spectra(ds, "time"),
        kind=str(ds.attrs.get("reference_kind") or ds.attrs.get("title") or ds.attrs.get("source") or "unknown"),
        beyond_fraction=beyond_fraction(ds),
    )


def load_reference(spec: str, grid: str | None = None) -> ReferenceData:
    """Open a reference (``"default"`` or a server-configured path) and summarise it.

    ``grid`` is a neXtSIM grid file for neXtSIM output without latitude/longitude.
    """
    from ..data import open_reference

    ds = open_reference(spec, grid=grid) if grid else open_reference(spec)
    label = "default" if spec == "default" else str(spec).rsplit("/", 1)[-1]
    return summarise_reference(ds, label)


@dataclass(frozen=True, eq=False)
class Result:
    """A generated ensemble (dim ``sample``) and its comparison with a reference."""

    key: Any  # state.GenerationKey
    samples: xr.Dataset
    geometry: MapGeometry
    extent: np.ndarray  # (n,) 10⁶ km²
    miz_area: np.ndarray  # (n,) 10⁶ km²
    miz_frequency: xr.DataArray | None  # (y, x)
    miz_frequency_diff: xr.DataArray | None  # (y, x), None when the grids differ
    mean: xr.Dataset
    std: xr.Dataset
    spectra: xr.Dataset
    beyond_maps: xr.Dataset  # per bounded variable and "any": share of members beyond bounds, (y, x)
    beyond_fraction: float
    scores: dict[str, float]
    seconds: float

    @property
    def n(self) -> int:
        return int(self.samples.sizes["sample"])


def _small_scale_ratio(gen: Result, ref: ReferenceData, variable: str = "sic") -> float:
    """Power at wavelengths below 4 grid cells, generated ÷ reference (< 1: smoothing)."""
    if variable not in gen.spectra.data_vars or variable not in ref.spectra.data_vars:
        return float("nan")
    g, r = gen.spectra[variable], ref.spectra[variable]
    dx = float(g.attrs.get("dx_km", 0) or 0) or 50.0
    pg = float(g.where(g["wavelength"] < 4 * dx, 0).sum())
    pr = float(r.where(r["wavelength"] < 4 * dx, 0).sum())
    return pg / pr if pr > 0 else float("nan")


def analyse(samples: xr.Dataset, reference: ReferenceData, *, key: Any, seconds: float) -> Result:
    """Everything the dashboard shows about one generated ensemble, against ``reference``."""
    samples = samples.load()
    names = [v for v in STATE_VARIABLES if v in samples.data_vars]
    has_sic = "sic" in samples.data_vars
    n = samples.sizes["sample"]
    extent = _mkm2(stats.extent(samples)) if has_sic else np.array([])
    miz = _mkm2(stats.miz_area(samples)) if has_sic else np.array([])
    freq = stats.miz_frequency(samples, "sample").compute() if has_sic else None
    diff = None
    if freq is not None and reference.miz_frequency is not None and same_grid(samples, reference.ds):
        diff = freq - reference.miz_frequency
    bounded = bounded_variables(samples)
    ocean = samples["mask"] > 0
    masks = {v: beyond_mask(samples[v]) for v in bounded}
    beyond_maps = xr.Dataset({v: m.mean("sample").where(ocean) for v, m in masks.items()})
    if masks:  # share of members in which any bounded variable is beyond its bounds, per cell
        beyond_maps["any"] = xr.concat(list(masks.values()), "variable").any("variable").mean("sample").where(ocean)
    spectra = _mean_spectra(samples, "sample")
    result = Result(
        key=key, samples=samples, geometry=map_geometry(samples, DISPLAY_PROJ4), extent=extent, miz_area=miz,
        miz_frequency=freq, miz_frequency_diff=diff, mean=samples[names].mean("sample"),
        std=samples[names].std("sample", ddof=1) if n > 1 else samples[names].isel(sample=0) * 0.0,
        spectra=spectra, beyond_maps=beyond_maps, beyond_fraction=beyond_fraction(samples),
        scores={}, seconds=float(seconds),
    )
    result.scores.update(score_row(result, reference))
    return result


def score_row(result: Result, reference: ReferenceData) -> dict[str, float]:
    """Scores of one ensemble against the reference (Finn et al. 2024, Tab. 2 style)."""
    row: dict[str, float] = {}
    if result.extent.size and reference.extent.size:
        row["mean extent [10⁶ km²]"] = float(np.mean(result.extent))
        row["W1 extent [10⁶ km²]"] = stats.wasserstein1(result.extent, reference.extent)
        row["W1 MIZ area [10⁶ km²]"] = stats.wasserstein1(result.miz_area, reference.miz_area)
    if result.miz_frequency_diff is not None:
        freq = result.miz_frequency
        row["MIZ-frequency RMSE"] = float(stats.area_weighted_rmse(freq, freq - result.miz_frequency_diff))
    row["beyond bounds [%]"] = 100.0 * result.beyond_fraction
    row["small-scale power ratio (sic)"] = _small_scale_ratio(result, reference)
    row["generation time [s]"] = result.seconds
    return row


def reference_row(reference: ReferenceData) -> dict[str, float]:
    """The reference's own line in the scores table."""
    row: dict[str, float] = {}
    if reference.extent.size:
        row["mean extent [10⁶ km²]"] = float(np.mean(reference.extent))
    row["beyond bounds [%]"] = 100.0 * reference.beyond_fraction
    return row


# --------------------------------------------------------------------------- map specs
def _values(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.transpose("y", "x").values, dtype=np.float32)


def reference_spec(ref: ReferenceData, variable: str, summary: str, index: int, show_miz: bool) -> MapSpec:
    """The reference panel: one state (``index``), or the time mean / spread."""
    g = ref.geometry
    title = f"reference · {ref.name}"
    if variable not in ref.ds.data_vars:
        return field_spec(np.full(g.native_shape, np.nan), g, variable, f"{title} (no {variable})")
    index = int(np.clip(index, 0, ref.n_states - 1))
    miz = _values(ref.ds["sic"].isel(time=index)) if (show_miz and "sic" in ref.ds and summary == "member") else None
    if summary == "mean":
        miz = _values(ref.mean["sic"]) if show_miz and "sic" in ref.mean else None
        return field_spec(_values(ref.mean[variable]), g, variable, f"{title} · time mean", miz=miz)
    if summary == "spread":
        return field_spec(_values(ref.std[variable]), g, variable, f"{title} · time std", kind="spread")
    return field_spec(_values(ref.ds[variable].isel(time=index)), g, variable, f"{title} · {ref.time_label(index)}",
                      miz=miz)


def result_spec(res: Result, variable: str, summary: str, member: int, show_miz: bool) -> MapSpec:
    """A generated panel: one member, or the ensemble mean / spread."""
    g = res.geometry
    name = res.key.backend
    if variable not in res.samples.data_vars:
        return field_spec(np.full(g.native_shape, np.nan), g, variable, f"{name} (no {variable})")
    has_sic = "sic" in res.samples.data_vars
    if summary == "mean":
        miz = _values(res.mean["sic"]) if show_miz and has_sic else None
        return field_spec(_values(res.mean[variable]), g, variable, f"{name} · mean of {res.n}", miz=miz)
    if summary == "spread":
        return field_spec(_values(res.std[variable]), g, variable, f"{name} · std of {res.n}", kind="spread")
    member = int(np.clip(member, 0, res.n - 1))
    miz = _values(res.samples["sic"].isel(sample=member)) if show_miz and has_sic else None
    return field_spec(_values(res.samples[variable].isel(sample=member)), g, variable,
                      f"{name} · member {member}", miz=miz)


# --------------------------------------------------------------------------- denoising replay
@dataclass(frozen=True, eq=False)
class Trajectory:
    """One sample's path from noise to ice: the sampler state and the decoded x0_hat per step."""

    backend: str
    decoded: xr.Dataset  # per variable (step, y, x): the model's current guess of the final state
    state: np.ndarray  # (step, C, h, w): the noisy sampler state (normalised; latent for ldm)
    sigma: np.ndarray  # (step,)
    channels: list[Any]
    geometry: MapGeometry

    @property
    def n_steps(self) -> int:
        return int(self.sigma.size)

    @property
    def latent(self) -> bool:
        return self.backend != "dm"

    @classmethod
    def from_generated(cls, backend: str, samples: xr.Dataset, traj: xr.Dataset) -> Trajectory:
        decoded = traj[[v for v in STATE_VARIABLES if v in traj.data_vars]].isel(sample=0, drop=True)
        decoded = decoded.drop_vars([c for c in ("sigma",) if c in decoded.coords]).load()
        final = samples[[v for v in STATE_VARIABLES if v in samples.data_vars]].isel(sample=0, drop=True)
        # the last frame is the finished sample (decoded with the chosen bounds)
        decoded = xr.concat([decoded, final.expand_dims(step=[decoded.sizes["step"]])], dim="step")
        state = np.asarray(traj["state"].isel(sample=0).values, dtype=np.float32)
        state = np.concatenate([state, state[-1:]], axis=0)
        sigma = np.append(np.asarray(traj["sigma"].values, dtype=np.float64), 0.0)
        return cls(backend=backend, decoded=decoded, state=state, sigma=sigma,
                   channels=list(traj["channel"].values), geometry=map_geometry(samples, DISPLAY_PROJ4))

    def decoded_spec(self, variable: str, step: int, show_miz: bool = True) -> MapSpec:
        step = int(np.clip(step, 0, self.n_steps - 1))
        frame = self.decoded.isel(step=step)
        miz = _values(frame["sic"]) if show_miz and "sic" in frame else None
        what = "finished sample" if step == self.n_steps - 1 else f"step {step}: model's guess of the final state"
        return field_spec(_values(frame[variable]), self.geometry, variable, f"{self.backend} · {what}", miz=miz)

    def noisy_state(self, step: int, channel: int = 0) -> np.ndarray:
        """(h, w) sampler state of one channel at ``step`` as the network sees it, scaled to unit
        variance by the EDM input scaling c_in = 1 / sqrt(1 + σ²) (Karras et al. 2022, Tab. 1, with
        σ_data = 1 for normalised data); land NaN for data-space states."""
        step = int(np.clip(step, 0, self.n_steps - 1))
        z = self.state[step, channel] / np.sqrt(1.0 + self.sigma[step] ** 2)
        if not self.latent and z.shape == self.geometry.shape and not self.geometry.resampled:
            z = np.where(self.geometry.land, np.nan, z)
        return z


# --------------------------------------------------------------------------- export
_COMMON_ATTRS = ("sampler", "steps", "seed", "seaice_explorer_version", "device", "grid", "proj4", "resolution_m")


def export_dataset(results: dict[str, Result], reference: str) -> xr.Dataset:
    """The shown samples of all backends in one canonical Dataset, dims ``(backend, sample, y, x)``.

    Global attrs keep the provenance: common settings once, and per backend its bounds and
    checkpoint hashes (``bounds_<backend>``, ``checkpoint_sha256_<backend>``, ...).
    """
    if not results:
        raise ValueError("nothing generated yet")
    parts = [r.samples.expand_dims(backend=[b]) for b, r in results.items()]
    ds = xr.concat(parts, dim="backend", combine_attrs="drop", coords="minimal", compat="override")
    for name in ds.data_vars:
        ds[name].attrs = dict(next(iter(results.values())).samples[name].attrs)
    first = next(iter(results.values())).samples.attrs
    attrs: dict[str, Any] = {k: first[k] for k in _COMMON_ATTRS if k in first}
    attrs.update(title="seaice-explorer generated sea-ice states", Conventions="CF-1.8",
                 source="seaice-explorer dashboard (Finn et al. 2024 re-implementation)",
                 reference=reference, backends=" ".join(results))
    for b, r in results.items():
        for k, v in r.samples.attrs.items():
            if k not in _COMMON_ATTRS and k not in ("title", "source") and isinstance(v, (str, int, float)):
                attrs[f"{k}_{b}"] = v
    ds.attrs = attrs
    return ds


def netcdf_bytes(ds: xr.Dataset) -> bytes:
    """``ds`` as NetCDF-4 bytes (compressed), via a temporary file."""
    import os
    import tempfile

    encoding = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars}
    fd, path = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        ds.to_netcdf(path, engine="netcdf4", encoding=encoding)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
