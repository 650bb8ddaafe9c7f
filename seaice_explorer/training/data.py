"""Training data: canonical Dataset -> normalised tensor (T, C, H, W) with land zeros, batches, crops.

Normalisation z = (x - mean) / std per variable (the variable table's values or statistics of
the training data over ocean cells). Values are clamped to the normalised physical bounds so a
value at a bound is *exactly* at it, as the censored likelihood needs (Finn et al. 2024).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from ..data import open_reference
from ..data.osisaf import training_subset
from ..data.readers import dataset_name as named_dataset
from ..configs import GRID_FILE
from ..errors import SeaIceInputError
from ..outputs import atomic_file
from ..variables import STATE_VARIABLES, VARIABLES
from .distributed import Shard

log = logging.getLogger(__name__)

Normalisation = Literal["table", "data"]


class Fields(Protocol):
    """States to train on, indexed like a (T, C, H, W) tensor: a tensor in memory, or a store read
    lazily (``training.stream.StoreDataset``)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, index: Any) -> Tensor: ...


@dataclass(frozen=True)
class TrainingData:
    """Normalised training states and what is needed to undo the normalisation."""

    fields: Fields  # (T, C, H, W) float32, normalised, 0 on land; in memory or streamed
    mask: Tensor  # (H, W) float32, ocean = 1
    variables: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str  # human-readable description for the model card
    grid: str

    @property
    def grid_size(self) -> int:
        return int(self.fields.shape[-1])

    @property
    def bounds(self) -> tuple[Tensor, Tensor]:
        """Normalised (lower, upper) bounds (C,), ±inf where unbounded."""
        return normalised_bounds(self.variables, self.mean, self.std)


def dataset_name(data: object, models_dir: str | os.PathLike | None = None) -> str:
    """The ``dataset`` a model's config records for its training data: a dataset name (``default``,
    ``osisaf``; a split suffix dropped), a file's path relative to ``models_dir`` when it lies inside
    (the registry reads no other path), else its absolute path, or the data's title."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data).expanduser().resolve()
        root = Path(models_dir).expanduser().resolve() if models_dir is not None else None
        relative = path.relative_to(root).as_posix() if root is not None and path.is_relative_to(root) else None
        return named_dataset(data) or relative or str(path)
    attrs = getattr(getattr(data, "ds", data), "attrs", {}) or {}
    return str(attrs.get("dataset") or attrs.get("title") or "in-memory data")


GRID_COORDS = ("y", "x", "lat", "lon", "mask", "cell_area")


def write_grid(out: str | os.PathLike, data: object) -> Path | None:
    """Keep the data's grid (coordinates, land mask, cell areas) as ``grid.nc`` in the checkpoint folder.

    Only for data that is not a known dataset: the model then samples from its own folder alone,
    wherever its training files were (a models folder reads nothing outside it). None when skipped.
    """
    if isinstance(data, TrainingData) or (isinstance(data, (str, os.PathLike)) and named_dataset(data)):
        return None
    ds = data if isinstance(data, xr.Dataset) else open_reference(data)
    names = [k for k in GRID_COORDS if k in ds.coords or k in ds.variables]
    if "mask" not in names:
        return None
    grid = xr.Dataset(coords={k: ds[k].variable for k in names}).load()
    grid.attrs = {k: ds.attrs[k] for k in ("grid", "proj4", "resolution_m") if k in ds.attrs}
    path = Path(out) / GRID_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        grid.to_netcdf(tmp)
    return path


def normalised_bounds(variables: Sequence[str], mean: Sequence[float], std: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Physical bounds of the variable table mapped through z = (x - mean) / std (float32, (C,))."""
    lo = torch.tensor([VARIABLES[v].lower for v in variables], dtype=torch.float32)
    hi = torch.tensor([VARIABLES[v].upper for v in variables], dtype=torch.float32)
    m = torch.tensor(mean, dtype=torch.float32)
    s = torch.tensor(std, dtype=torch.float32)
    return (lo - m) / s, (hi - m) / s  # ±inf stays ±inf


def open_data(data: str | os.PathLike | xr.Dataset) -> tuple[xr.Dataset, str]:
    """The canonical Dataset behind ``data`` ("default", a path, or a Dataset) and a description."""
    if isinstance(data, xr.Dataset):
        return data, str(data.attrs.get("title") or data.attrs.get("source") or "in-memory Dataset")
    ds = training_subset(open_reference(data))  # a dataset that declares a split trains on "train" only
    if str(data) == "default":
        kind = ds.attrs.get("reference_kind", "default reference")
        return ds, f"default reference data/nextsim_like_default.nc ({kind})"
    period = f", {ds.attrs['split']} split {ds.attrs['split_period']}" if "split_period" in ds.attrs else ""
    return ds, f"{data} ({ds.attrs.get('reference_kind') or ds.attrs.get('title') or 'canonical file'}{period})"


def load_training_data(
    data: str | os.PathLike | xr.Dataset | TrainingData,
    variables: Sequence[str] | None = None,
    normalisation: Normalisation | tuple[Sequence[float], Sequence[float]] = "table",
) -> TrainingData:
    """Normalised states of ``data`` for training; ``normalisation`` is "table", "data" or (mean, std).

    ``variables``: the channels, in order; None = the state variables the data holds (``sic`` alone
    for the observed OSI SAF dataset, all five for neXtSIM-like data).
    """
    if isinstance(data, TrainingData):
        return data
    ds, source = open_data(data)
    variables = tuple(variables) if variables else tuple(v for v in STATE_VARIABLES if v in ds.data_vars)
    if not variables:
        raise SeaIceInputError(source, f"no state variable in the data (found {list(ds.data_vars)})",
                               f"Train on a canonical Dataset with some of {list(STATE_VARIABLES)}")
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise SeaIceInputError(source, f"variables {missing} missing (found {list(ds.data_vars)})",
                               "Train on a canonical Dataset with all state variables")
    tdim = "time" if "time" in ds.dims else ("sample" if "sample" in ds.dims else None)
    arrays = []
    for v in variables:
        da = ds[v]
        da = da.transpose(tdim, "y", "x") if tdim else da.transpose("y", "x").expand_dims("time")
        arrays.append(np.asarray(da.values, dtype=np.float32))
    raw = np.stack(arrays, axis=1)  # (T, C, H, W)
    t, _, h, w = raw.shape
    if h != w:
        raise SeaIceInputError(source, f"grid is {h}×{w}, not square", "Regrid to a square grid (e.g. grid.default_grid)")
    if "mask" in ds.coords or "mask" in ds.data_vars:
        ocean = np.asarray(ds["mask"].values) > 0
    else:
        ocean = np.isfinite(raw).all(axis=(0, 1))
    mean, std = _normalisation(raw, ocean, variables, normalisation, source)
    mask = torch.from_numpy(ocean.astype(np.float32))
    fields = normalise(torch.from_numpy(raw), variables, mean, std, mask)  # (T, C, H, W)
    grid = str(ds.attrs.get("grid", f"{h}x{w}"))
    log.info("training data: %d states of %s on %s, %d ocean cells", t, variables, grid, int(mask.sum()))
    return TrainingData(fields.contiguous(), mask, variables, mean, std, f"{source}, {t} states", grid)


def normalise(raw: Tensor, variables: Sequence[str], mean: Sequence[float], std: Sequence[float],
              mask: Tensor) -> Tensor:
    """z = (x - mean) / std per channel of (..., C, H, W), clamped to the normalised bounds, 0 on land
    (``mask`` (H, W) ocean = 1) and where not finite."""
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    lo, hi = normalised_bounds(variables, mean, std)
    z = torch.maximum(torch.minimum((raw - m) / s, hi[:, None, None]), lo[:, None, None])
    return torch.where((mask > 0) & torch.isfinite(z), z, torch.zeros(()))


def memory_batches(fields: Tensor, batch_size: int, generator: torch.Generator,
                   shard: Shard = Shard()) -> Iterator[Tensor]:
    """Forever: ``batch_size`` states drawn at random (with replacement) by ``generator``; this process's rows."""
    local = shard.local(batch_size)
    while True:
        yield fields[shard.randint(fields.shape[0], local, generator)]


def _normalisation(raw: np.ndarray, ocean: np.ndarray, variables: tuple[str, ...],
                   how: Normalisation | tuple, source: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if how == "table":
        return tuple(VARIABLES[v].mean for v in variables), tuple(VARIABLES[v].std for v in variables)
    if how == "data":
        vals = raw[:, :, ocean]  # (T, C, N)
        mean = np.nanmean(vals, axis=(0, 2))
        std = np.nanstd(vals, axis=(0, 2))
        std = np.where(std > 0, std, 1.0)
        return tuple(float(x) for x in mean), tuple(float(x) for x in std)
    mean, std = (tuple(float(x) for x in v) for v in how)
    if len(mean) != len(variables) or len(std) != len(variables) or not all(x > 0 and math.isfinite(x) for x in std):
        raise SeaIceInputError(source, f"normalisation {how} does not fit {variables}", "Give one mean and std > 0 per variable")
    return mean, std


def random_crop(x: Tensor, mask: Tensor, size: int, generator: torch.Generator | None = None,
                shard: Shard = Shard()) -> tuple[Tensor, Tensor]:
    """One random ``size``² window per sample of ``x`` (B, C, H, W) and the same window of ``mask``.

    ``mask`` is (H, W) or (B|1, Cm, H, W); returns ((B, C, size, size), (B, Cm, size, size)).
    ``x`` holds ``shard``'s rows of a global batch: the windows are drawn for the global batch.
    """
    b, _, h, w = x.shape
    if size > h or size > w:
        raise ValueError(f"crop {size} larger than the field {h}×{w}")
    if mask.ndim == 2:
        mask = mask[None, None]
    mask = mask.expand(b, -1, h, w)
    gen = generator if generator is not None else torch.default_generator
    ys = shard.randint(h - size + 1, b, gen).tolist()
    xs = shard.randint(w - size + 1, b, gen).tolist()
    xc = torch.stack([x[i, :, y0:y0 + size, x0:x0 + size] for i, (y0, x0) in enumerate(zip(ys, xs))])
    mc = torch.stack([mask[i, :, y0:y0 + size, x0:x0 + size] for i, (y0, x0) in enumerate(zip(ys, xs))])
    return xc, mc


def denormalise(z: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """x = z * std + mean per channel of (B, C, H, W)."""
    m = torch.tensor(mean, dtype=z.dtype, device=z.device)[:, None, None]
    s = torch.tensor(std, dtype=z.dtype, device=z.device)[:, None, None]
    return z * s + m
