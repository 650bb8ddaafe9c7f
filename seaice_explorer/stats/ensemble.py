"""Per-cell statistics of a set of states (Finn et al. 2024): MIZ frequency, mean and spread maps.

A set is a Dataset with one state per step of ``dim`` (``sample`` for a generated ensemble,
``time`` for a reference set); each function reduces over ``dim`` and keeps the map (y, x).
Setting one set's maps against another's is :mod:`seaice_explorer.evaluation.compare`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..variables import STATE_VARIABLES
from . import state
from .state import get_var, ocean


def miz_frequency(obj: xr.Dataset | xr.DataArray, dim: str = "sample") -> xr.DataArray:
    """Fraction of states along ``dim`` in which each cell is in the MIZ (0.15 ≤ sic ≤ 0.80).

    States where the cell is NaN do not count; land is NaN.
    """
    sic = get_var(obj, "sic")
    miz = state.miz_mask(sic).astype(np.float64).where(sic.notnull())
    out = miz.mean(dim).where(ocean(sic))
    out.name = "miz_frequency"
    out.attrs = {"units": "1", "long_name": f"MIZ frequency over {dim}"}
    return out


def mean_std_maps(ds: xr.Dataset, dim: str = "sample", variables: Sequence[str] | None = None) -> xr.Dataset:
    """Per-cell mean and standard deviation (ddof = 1) along ``dim``, stacked on dim ``statistic``.

    ``variables`` default to every state variable of ``ds``.
    """
    names = variables if variables is not None else [v for v in STATE_VARIABLES if v in ds.data_vars]
    sub = ds[[v for v in names if v in ds.data_vars]]
    out = xr.concat([sub.mean(dim), sub.std(dim, ddof=1)], dim="statistic")
    return out.assign_coords(statistic=["mean", "std"])
