"""One entry point for any sea-ice file: ``open_reference`` dispatches on content, not name."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Literal

import xarray as xr

from ..errors import SeaIceInputError
from .nextsim import GridLike, canonical_to_canonical, nextsim_to_canonical, state_names
from .observations import is_nsidc, is_osisaf, nsidc_to_canonical, open_osisaf, osisaf_paths, osisaf_to_canonical
from .osisaf import OSISAF_DATASET_FILE, open_osisaf_dataset, parse_osisaf_name, select_split
from .validate import GRID_COORDS, Chunks, open_raw

#: Environment variable naming the folder that holds the bundled default reference.
DATA_ENV = "SEAICE_EXPLORER_DATA"
DEFAULT_REFERENCE_FILE = "nextsim_like_default.nc"

Format = Literal["osisaf", "nsidc", "canonical", "nextsim"]
#: The datasets ``open_reference`` knows by name, and how the app and the reports call them.
DATASETS: dict[str, str] = {
    "default": "neXtSIM-like (synthetic, five variables)",
    "osisaf": "OSI SAF observations (real, concentration)",
}


def dataset_name(spec: object) -> str | None:
    """The dataset a reference spec names (``"osisaf:2019"`` -> ``"osisaf"``), or None for a file."""
    name = str(spec).split(":", 1)[0].strip().lower() if isinstance(spec, (str, PathLike)) else ""
    return name if name in DATASETS else None


#: The reference a named dataset's models are judged against (the observed family: 2019, never trained on).
DATASET_REFERENCES: dict[str, str] = {"default": "default", "osisaf": "osisaf:validation"}


def dataset_reference(dataset: str) -> str:
    """What to open as a dataset's reference: its held-out split when it has one, else the dataset itself."""
    return DATASET_REFERENCES.get(dataset, dataset)


def dataset_label(dataset: str) -> str:
    """What a person reads for a dataset: the label of a named one, else the file name."""
    return DATASETS.get(dataset) or Path(dataset).name


def data_dir() -> Path:
    """The project's ``data/`` folder (or ``$SEAICE_EXPLORER_DATA``)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2] / "data"


def default_reference_path() -> Path:
    """Path of the bundled neXtSIM-like default reference."""
    return data_dir() / DEFAULT_REFERENCE_FILE


def osisaf_dataset_path() -> Path:
    """Path of the bundled OSI SAF OSI-450-a 2016–2019 dataset on the 128² model grid (``"osisaf"``)."""
    return data_dir() / OSISAF_DATASET_FILE


def _is_many(name_or_path: object) -> bool:
    return not isinstance(name_or_path, (str, PathLike)) or glob.has_magic(str(name_or_path))


def _is_osisaf_file(path: Path) -> bool:
    """Whether a NetCDF file holds OSI SAF ``ice_conc`` + ``status_flag`` (reads the metadata only)."""
    if not path.is_file():
        return False
    try:
        with xr.open_dataset(path, chunks={}, decode_times=False) as src:
            return is_osisaf(src)
    except Exception:  # a foreign file: open_raw reports it properly
        return False


def is_osisaf_source(name_or_path: str | PathLike | Sequence[str | PathLike]) -> bool:
    """Whether a spec names OSI SAF product files (one, a glob or a list), which ``open_reference``
    reads on their own 25 km grid; False for names (``default``, ``osisaf:…``, whose bundled dataset is
    on the model grid already) and for any other file."""
    if isinstance(name_or_path, (str, PathLike)) and (str(name_or_path) == "default"
                                                      or parse_osisaf_name(name_or_path) is not None):
        return False
    try:
        files = osisaf_paths(name_or_path)
    except SeaIceInputError:
        return False
    return _is_osisaf_file(files[0])


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


def open_reference(name_or_path: str | PathLike | Sequence[str | PathLike] = "default", *, chunks: Chunks = "auto",
                   grid: GridLike = None, ancillary_dir: str | PathLike | None = None,
                   valid_ice_mask: bool | None = None, split: str | None = None) -> xr.Dataset:
    """Open a bundled dataset by name, or any supported file, glob or list of files, as a canonical Dataset.

    Names: ``"default"`` (the synthetic neXtSIM-like reference); ``"osisaf"`` (real OSI SAF
    OSI-450-a sic, every day of 2016–2019 on the 128² model grid, lazily) and ``"osisaf:SPLIT"``
    with SPLIT ``train`` (2016–2018), ``validation`` (2019), a year (``osisaf:2019``) or years
    (``osisaf:2016-2017``). ``split=`` selects the same on any name or file with a time axis.
    A path is read by content: OSI SAF (``ice_conc`` + ``status_flag``; a glob or list of OSI SAF
    files gives one lazy Dataset over time), NSIDC (``conc_raw`` or ``cdr_seaice_conc``),
    canonical (state variables with lat/lon/mask/cell_area, e.g. the reference or ``generate``
    output) or neXtSIM (state variables or aliases such as ``damage``). ``grid`` is used by
    neXtSIM files without a grid; ``ancillary_dir`` and ``valid_ice_mask`` by NSIDC files.

    >>> ref = open_reference("osisaf:validation")  # doctest: +SKIP
    >>> ref.sic.dims, ref.attrs["split_period"]  # doctest: +SKIP
    (('time', 'y', 'x'), '2019-01-01..2019-12-31')
    """
    osisaf_split = parse_osisaf_name(name_or_path)
    if osisaf_split is not None:
        return open_osisaf_dataset(osisaf_dataset_path(), split or osisaf_split, chunks)
    ds = _open_reference(name_or_path, chunks=chunks, grid=grid, ancillary_dir=ancillary_dir,
                         valid_ice_mask=valid_ice_mask)
    return ds if split is None else select_split(ds, split, f"{name_or_path} split={split!r}")


def _open_reference(name_or_path: str | PathLike | Sequence[str | PathLike], *, chunks: Chunks, grid: GridLike,
                    ancillary_dir: str | PathLike | None, valid_ice_mask: bool | None) -> xr.Dataset:
    if _is_many(name_or_path):
        files = osisaf_paths(name_or_path)
        if _is_osisaf_file(files[0]):
            return open_osisaf(name_or_path, chunks)  # one lazy Dataset over time
        if not isinstance(name_or_path, (str, PathLike)):
            raise SeaIceInputError(files[0], "a list of files is read only for OSI SAF",
                                   "Pass other products one file at a time, or as a glob")
    if str(name_or_path) == "default":
        path = default_reference_path()
        if not path.exists():
            raise SeaIceInputError(path, "the bundled default reference is missing",
                                   f"Run `seaice-explorer reference --out {path}` or set {DATA_ENV} to the "
                                   f"folder holding {DEFAULT_REFERENCE_FILE}")
    else:
        path = Path(name_or_path)
    if _is_osisaf_file(path):
        return open_osisaf(path, chunks)  # raw integers, lazily: much faster than xarray's float64 decoding
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
