"""``seaice-explorer prepare``: many input files -> one chunked Zarr training store (out of core).

Examples
--------
seaice-explorer prepare "run/Moorings_*.nc" --out nextsim.zarr
seaice-explorer prepare default --out default.zarr --train 2000-01-01..2001-06-30 --validation 2001-07-01..2001-12-31
seaice-explorer train dm --data nextsim.zarr --out models/dm-nextsim   # streams the train split
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..arguments import positive_int
from ..errors import SeaIceInputError
from .store import SPLIT_NAMES, Period, prepare


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+",
                        help="files, a quoted glob (\"run/Moorings_*.nc\") or a dataset name (default, osisaf)")
    parser.add_argument("--out", required=True, type=Path, help="the Zarr store to write, e.g. nextsim.zarr")
    parser.add_argument("--variables", nargs="+", default=None, help="state variables to keep (default: all present)")
    parser.add_argument("--grid", default=None, help="grid file for neXtSIM files without latitude/longitude")
    for name in SPLIT_NAMES:
        parser.add_argument(f"--{name}", default=None, metavar="START..END",
                            help=f"inclusive dates of the {name} split (default: the last years or 10 %% held out)")
    parser.add_argument("--time-chunk", type=positive_int, default=1, help="time steps per Zarr chunk (default 1)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing store written by `prepare` (nothing else is ever replaced)")


def parse_period(text: str, name: str) -> Period:
    """``"2000-01-01..2016-12-31"`` -> ``("2000-01-01", "2016-12-31")``."""
    start, sep, end = text.partition("..")
    if not sep or not start.strip() or not end.strip():
        raise SeaIceInputError(f"--{name}", f"{text!r} is not START..END", "Write e.g. 2000-01-01..2016-12-31")
    return start.strip(), end.strip()


def run(args: argparse.Namespace) -> int:
    split = {name: parse_period(getattr(args, name), name) for name in SPLIT_NAMES if getattr(args, name)}
    inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    out = prepare(inputs, args.out, variables=args.variables, grid=args.grid, split=split or None,
                  time_chunk=args.time_chunk, overwrite=args.overwrite)
    print(f"wrote {out}")
    return 0
