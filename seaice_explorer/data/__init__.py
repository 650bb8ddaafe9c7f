"""Readers: xarray in, canonical CF Dataset out (neXtSIM, OSI SAF, NSIDC, the bundled datasets).

Names are imported on first use (PEP 562), so ``import seaice_explorer.data`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "open_reference": "readers",
    "make_mask": "masks",
    "observe": "masks",
    "MASKS": "masks",
    "detect_format": "readers",
    "default_reference_path": "readers",
    "data_dir": "readers",
    "osisaf_dataset_path": "readers",
    "DATASETS": "readers",
    "dataset_name": "readers",
    "dataset_label": "readers",
    "dataset_reference": "readers",
    "open_nextsim": "nextsim",
    "open_canonical": "nextsim",
    "open_osisaf": "observations",
    "open_nsidc": "observations",
    "to_model_grid": "osisaf",
    "select_split": "osisaf",
    "training_subset": "osisaf",
    "build_osisaf_dataset": "osisaf",
    "prepare": "store",
    "open_store": "store",
    "is_store": "store",
    "validate_dataset": "validate",
    "open_raw": "validate",
    "read_osisaf_index": "indices",
    "read_nsidc_daily": "indices",
    "read_nsidc_monthly": "indices",
    "value_on": "indices",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
