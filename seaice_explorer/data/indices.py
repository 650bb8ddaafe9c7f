"""Parsers for the published sea-ice index series (ground truth for extent and area).

- OSI SAF Sea Ice Index (OSI-420) ``osisaf_nh_sie_daily*.txt`` / ``*_sia_*.txt``: km².
- NSIDC Sea Ice Index (G02135) ``N_seaice_extent_daily_v3.0.csv``: 10⁶ km².
- NSIDC monthly ``N_MM_extent_v3.0.csv`` / ``v4.0``: extent and area, 10⁶ km².
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import SeaIceInputError

OSISAF_MISSING = -999


def _require(path: str | PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise SeaIceInputError(path, "index file not found", "Check the path of the index series")
    return path


def read_osisaf_index(path: str | PathLike) -> pd.Series:
    """OSI SAF daily index (extent or area) in km², indexed by date; -999 (missing) -> NaN.

    >>> sie = read_osisaf_index("osisaf_nh_sie_daily_v2p2.txt")  # doctest: +SKIP
    >>> sie["2016-09-10"]  # doctest: +SKIP
    4675625.0
    """
    path = _require(path)
    rows = pd.read_csv(path, sep=r"\s+", comment="#", header=None, usecols=[1, 2, 3, 4],
                       names=["year", "month", "day", "value"], engine="python")
    if rows.empty:
        raise SeaIceInputError(path, "no data rows", "Pass an OSI SAF sea-ice index .txt file")
    dates = pd.to_datetime(rows[["year", "month", "day"]])
    values = rows["value"].astype(np.float64).where(rows["value"] != OSISAF_MISSING)
    quantity = next((line.split(":", 1)[1].strip() for line in path.read_text().splitlines()[:20]
                     if line.startswith("# Quantity")), path.stem)
    return pd.Series(values.to_numpy(), index=pd.DatetimeIndex(dates, name="time"), name=quantity)


def read_nsidc_daily(path: str | PathLike) -> pd.DataFrame:
    """NSIDC Sea Ice Index daily CSV: columns ``extent``, ``missing`` (10⁶ km²) and ``source``.

    >>> sii = read_nsidc_daily("N_seaice_extent_daily_v3.0.csv")  # doctest: +SKIP
    >>> sii.loc["2001-01-06", "extent"]  # doctest: +SKIP
    13.722
    """
    path = _require(path)
    table = pd.read_csv(path, skiprows=[1], skipinitialspace=True)
    table.columns = [c.strip().lower() for c in table.columns]
    needed = {"year", "month", "day", "extent"}
    if not needed <= set(table.columns):
        raise SeaIceInputError(path, f"columns {list(table.columns)} lack {sorted(needed - set(table.columns))}",
                               "Pass an NSIDC N_seaice_extent_daily_v*.csv file")
    dates = pd.to_datetime(table[["year", "month", "day"]])
    out = pd.DataFrame({
        "extent": table["extent"].astype(np.float64).to_numpy(),
        "missing": table["missing"].astype(np.float64).to_numpy() if "missing" in table else np.nan,
        "source": table["source data"].astype(str).to_numpy() if "source data" in table else "",
    }, index=pd.DatetimeIndex(dates, name="time"))
    return out


def read_nsidc_monthly(path: str | PathLike) -> pd.DataFrame:
    """NSIDC Sea Ice Index monthly CSV (one month, all years): ``extent`` and ``area`` (10⁶ km²)."""
    path = _require(path)
    table = pd.read_csv(path, skipinitialspace=True)
    table.columns = [c.strip().lower() for c in table.columns]
    dates = pd.to_datetime(dict(year=table["year"], month=table["mo"], day=1))
    out = table[["extent", "area"]].astype(np.float64)
    out = out.where(out > -9000)  # -9999 marks missing months
    out.index = pd.DatetimeIndex(dates, name="time")
    return out


def value_on(series: pd.Series, date: object) -> float:
    """The index value on one day (raises a clear error when the date is not in the series)."""
    day = pd.Timestamp(date).normalize()
    if day not in series.index:
        raise SeaIceInputError(str(series.name), f"no index value on {day.date()}",
                               "Pick a date inside the series")
    return float(series.loc[day])
