"""``seaice-explorer stats FILE... [--json]``: per-state statistics of any readable file.

Each FILE is opened with :func:`seaice_explorer.data.open_reference`, which reads by content:
the bundled reference (pass ``default``), ``generate`` output, neXtSIM, OSI SAF or NSIDC.

JSON output format (stable: scripts read it)
--------------------------------------------
A JSON list with one flat object per file and state, in file order then time/sample order::

    [{"file": "ice_conc_nh_ease2-250_cdr-v3p0_201803171200.nc", "time": "2018-03-17T12:00:00",
      "extent": 14.406875, "area": 13.13483, "miz_area": 2.019375, "miz_width": 122.6,
      "edge_length": 16475.6, "mean_thickness": null, "volume": null,
      "sic_at_lower": 0.41, "sic_below_lower": 0.0, "sic_at_upper": 0.0, "sic_above_upper": 0.0}]

Keys, always present (``null`` when the variable it needs is missing or the value undefined):

- ``file``: the path as given on the command line;
- ``time``: ISO 8601 string for files with a time dim, or ``sample``: int for generated samples;
- ``extent``, ``area``, ``miz_area``: 10⁶ km² (extent: sic ≥ 0.15; area: Σ sic·cell_area;
  MIZ: 0.15 ≤ sic ≤ 0.80; NSIDC pole hole counted as ice in extent);
- ``edge_length``: km, length of the sic = 0.15 contour (marching squares, land masked);
- ``miz_width``: km, miz_area / edge_length;
- ``mean_thickness``: m, area-weighted mean of sit over ice-covered cells (sic ≥ 0.15, or
  sit > 0 without sic); ``volume``: 10³ km³, Σ sit·cell_area (sit = grid-cell mean thickness).

Keys present per variable in the file with a finite bound (``variables.VARIABLES``):
``{v}_at_lower``, ``{v}_below_lower``, ``{v}_at_upper``, ``{v}_above_upper`` — fractions (0..1)
of finite ocean cells on (|x − bound| ≤ 1e-6) and beyond each bound, in the order of the
variable table (sit, sic, sid, snt); velocities have no bounds and no keys.

Definitions: :mod:`seaice_explorer.stats.state`. Units: each file's ``units`` attributes decide
(``units="%"`` is percent whatever the values; see :func:`seaice_explorer.data.validate_dataset`).
Exit code 2 with a message on stderr, and nothing on stdout, for a missing, unreadable or invalid
file (±inf values, unknown units, a Zarr store with pickled chunks, a bad ``osisaf:SPLIT``): the
paths and dataset names are all checked before any statistic is computed.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..data import open_reference
from ..data.osisaf import parse_osisaf_name, split_period
from ..data.readers import dataset_name
from ..data.validate import require_file
from ..stats.state import state_stats

#: key -> (state_stats variable, factor from SI); always present in every record
MAIN_KEYS: dict[str, tuple[str, float]] = {
    "extent": ("extent", 1e-12),  # m² -> 10⁶ km²
    "area": ("area", 1e-12),
    "miz_area": ("miz_area", 1e-12),
    "miz_width": ("miz_width", 1e-3),  # m -> km
    "edge_length": ("edge_length", 1e-3),
    "mean_thickness": ("mean_thickness", 1.0),
    "volume": ("volume", 1e-12),  # m³ -> 10³ km³
}
BOUND_SUFFIXES = ("_at_lower", "_below_lower", "_at_upper", "_above_upper")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="NetCDF/Zarr files (neXtSIM, OSI SAF, NSIDC, generated samples) or 'default'")
    parser.add_argument("--json", action="store_true", help="print the stable JSON format (see module docs)")


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _state_label(table: xr.Dataset, dim: str | None, i: int) -> dict[str, object]:
    if dim is None:
        return {}
    value = table[dim].values[i] if dim in table.coords else i
    if dim == "time" and np.issubdtype(np.asarray(value).dtype, np.datetime64):
        return {"time": pd.Timestamp(value).isoformat()}
    if dim == "time":
        return {"time": str(value)}
    return {dim: int(value) if np.issubdtype(np.asarray(value).dtype, np.integer) else i}


def file_records(path: str) -> list[dict[str, object]]:
    """One flat record per state of one file (the JSON format above)."""
    ds = open_reference(path)
    table = state_stats(ds).compute()  # (time|sample,)
    dims = [d for d in ds["sic" if "sic" in ds else next(iter(ds.data_vars))].dims if d not in ("y", "x")]
    dim = dims[0] if dims else None
    n = table.sizes.get(dim, 1) if dim else 1
    bound_keys = [k for k in table.data_vars if str(k).endswith(BOUND_SUFFIXES)]
    records = []
    for i in range(n):
        row = table.isel({dim: i}) if dim in table.dims else table
        record: dict[str, object] = {"file": path, **_state_label(table, dim, i)}
        for key, (name, factor) in MAIN_KEYS.items():
            record[key] = _number(float(row[name]) * factor) if name in row else None
        for key in bound_keys:
            record[str(key)] = _number(float(row[key]))
        records.append(record)
    return records


def _fmt(value: object, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(records: list[dict[str, object]]) -> str:
    """A readable fixed-width table of the records (main statistics, then bound fractions in %)."""
    cols = [("extent", ".3f"), ("area", ".3f"), ("miz_area", ".3f"), ("miz_width", ".0f"),
            ("edge_length", ".0f"), ("mean_thickness", ".2f"), ("volume", ".2f")]
    head = f"{'file':<28} {'state':<19} " + " ".join(f"{c:>14}" for c, _ in cols)
    units = f"{'':<28} {'':<19} " + " ".join(f"{u:>14}" for u in
                                              ("1e6 km2", "1e6 km2", "1e6 km2", "km", "km", "m", "1e3 km3"))
    lines = [head, units]
    bounds: list[str] = []
    for r in records:
        state = str(r.get("time", r.get("sample", "")))[:19]
        name = Path(str(r["file"])).name
        name = name if len(name) <= 28 else "…" + name[-27:]
        lines.append(f"{name:<28} {state:<19} " + " ".join(f"{_fmt(r[c], s):>14}" for c, s in cols))
        fracs = [f"{k}={100 * v:.2f}%" for k, v in r.items() if k.endswith(BOUND_SUFFIXES) and v is not None]
        if fracs:
            bounds.append(f"{name} {state}: " + ", ".join(fracs))
    if bounds:
        lines += ["", "bound fractions of ocean cells (at / beyond each bound):", *bounds]
    return "\n".join(lines)


def check_files(files: list[str]) -> None:
    """Refuse a missing file or a bad ``osisaf:SPLIT`` before any file is read (SeaIceInputError)."""
    for spec in files:
        split = parse_osisaf_name(spec)
        if split is not None:
            split_period(xr.Dataset(), split, spec)  # the split's form and dates (the bundled SPLITS)
        elif dataset_name(spec) is None and not glob.has_magic(spec):
            require_file(spec)


def run(args: argparse.Namespace) -> int:
    check_files(args.files)
    records = [rec for path in args.files for rec in file_records(path)]
    if args.json:
        print(json.dumps(records, indent=1, allow_nan=False))
    else:
        print(format_table(records))
    return 0
