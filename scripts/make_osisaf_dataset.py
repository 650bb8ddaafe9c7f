#!/usr/bin/env python
"""Make data/osisaf_sic_2016_2019_128.nc: real OSI SAF OSI-450-a sic, 2016–2019, on the 128² model grid.

    python scripts/make_osisaf_dataset.py            # reads ../shared/data/osisaf_daily/*.nc

Each 50 km cell of grid.default_grid(128) is the area-weighted mean of its four 25 km OSI SAF
cells that are ocean (neither land nor lake flag); the cell is ocean when at least 2 of the 4
are (see seaice_explorer/data/osisaf.py and data/README.md). The same inputs give the same
values. Copyright EUMETSAT.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from seaice_explorer.data.osisaf import OSISAF_DATASET_FILE, build_osisaf_dataset, write_osisaf_dataset

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT.parent / "shared" / "data" / "osisaf_daily" / "osisaf_nh_ice_conc_daily_*.nc"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", default=str(SOURCES), help="glob of the OSI-450-a files packed by year")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / OSISAF_DATASET_FILE)
    parser.add_argument("--size", type=int, default=128, help="128 (50 km, bundled) or 256 (native 25 km)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    ds = build_osisaf_dataset(args.sources, args.size)
    write_osisaf_dataset(ds, args.out)
    ocean = ds["mask"].values == 1
    print(f"{args.out}: {args.out.stat().st_size / 1e6:.1f} MB, {ds.sizes['time']} days "
          f"{ds.attrs['split_train']} train / {ds.attrs['split_validation']} validation, "
          f"{int(ocean.sum())} ocean cells, {time.perf_counter() - start:.0f} s")
    first = ds["sic"].isel(time=0).values[ocean]
    print(f"first day: sic {np.nanmin(first):.3f}..{np.nanmax(first):.3f}, "
          f"extent {float(ds['cell_area'].values[ocean][first >= 0.15].sum()) / 1e12:.3f} million km2")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
