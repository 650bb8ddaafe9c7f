"""One entry point for any sea-ice file: ``open_reference`` dispatches on content, not name."""

from __future__ import annotations

import os
from os import PathLike
from pathlib import Path
from typing import Literal

import xarray as xr

from ..errors import SeaIceInputError
from .nextsim import GridLike, canonical_to_canonical, nextsim_to_canonical, state_names
from .observations import is_nsidc, is_osisaf, nsidc_to_canonical, osisaf_to_canonical
from .validate import GRID_COORDS, Chunks, open_raw

#: Environment variable naming the folder that holds the bundled default reference.
DATA_ENV = "SEAICE_EXPLORER_DATA"
DEFAULT_REFERENCE_FILE = "nextsim_like_default.nc"

Format = Literal["osisaf", "nsidc", "canonical", "nextsim"]


def data_dir() -> Path:
    """The project's ``data/`` folder (or ``$SEAICE_EXPLORER_DATA``)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "data"


def default_reference_path() -> Path:
    """Path of the bundled neXtSIM-like default reference."""
    return data_dir() / DEFAULT_REFERENCE_FILE


def detect_format(src: xr.Dataset) -> Format | None:
    """Which reader fits an opened Dataset, from its variables (None when none does)."""
    if is_osisaf(src):
        return "osisaf"
    if is_nsidc(src):
        return "nsidc"
    if state_names(src):
        has_grid = all(c in src.variables for c in GRID_COORDS)
        return "canonical" if has_grid else "nextsim"
    return None


def open_reference(name_or_path: str | PathLike = "default", *, chunks: Chunks = "auto", grid: GridLike = None,
                   ancillary_dir: str | PathLike | None = None, valid_ice_mask: bool | None = None) -> xr.Dataset:
    """Open the bundled reference (``"default"``) or any supported file as a canonical Dataset.

    A path is read by content: OSI SAF (``ice_conc`` + ``status_flag``), NSIDC (``conc_raw`` or
    ``cdr_seaice_conc``), canonical (state variables with lat/lon/mask/cell_area, e.g. the
    reference or ``generate`` output) or neXtSIM (state variables or aliases such as ``damage``).
    ``grid`` is used by neXtSIM files without a grid; ``ancillary_dir`` and ``valid_ice_mask``
    by NSIDC files.

    >>> ref = open_reference("default")  # doctest: +SKIP
    >>> ref.sic.dims  # doctest: +SKIP
    ('time', 'y', 'x')
    """
    if str(name_or_path) == "default":
        path = default_reference_path()
        if not path.exists():
            raise SeaIceInputError(path, "the bundled default reference is missing",
                                   f"Run `seaice-explorer reference --out {path}` or set {DATA_ENV} to the "
                                   f"folder holding {DEFAULT_REFERENCE_FILE}")
    else:
        path = Path(name_or_path)
    src = open_raw(path, chunks)
    kind = detect_format(src)
    if kind == "osisaf":
        return osisaf_to_canonical(src, path)
    if kind == "nsidc":
        return nsidc_to_canonical(src, path, ancillary_dir=ancillary_dir, valid_ice_mask=valid_ice_mask)
    if kind == "canonical":
        return canonical_to_canonical(src, path)
    if kind == "nextsim":
        return nextsim_to_canonical(src, path, grid=grid)
    found = ", ".join(f"{k}{tuple(v.dims)}" for k, v in src.data_vars.items()) or "no data variables"
    raise SeaIceInputError(path, f"unknown format: found {found}",
                           "Pass neXtSIM output (sit, sic, damage, siu, siv), an OSI SAF ice_conc file, "
                           "an NSIDC CDR/NASA Team file or a canonical file written by this package")
