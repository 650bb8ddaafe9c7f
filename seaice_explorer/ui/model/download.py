"""The Download button's file: the shown samples of all backends in one canonical NetCDF (no Panel)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import xarray as xr

from .analysis import Result

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
    encoding = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars}
    fd, path = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        ds.to_netcdf(path, engine="netcdf4", encoding=encoding)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)
