"""Training data of any size: a store written by ``seaice-explorer prepare`` is streamed, the rest is
held in memory, and the loop draws batches from either through :func:`batches`.

A :class:`StoreDataset` reads one state per item (one Zarr chunk per variable) and normalises it
like :func:`~seaice_explorer.training.data.load_training_data`; a ``DataLoader`` with a
``DistributedSampler`` feeds it in shuffled epochs (each process its rows of every global batch).
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data.store import is_store, open_store, store_normalisation
from ..errors import SeaIceInputError
from ..variables import STATE_VARIABLES, VARIABLES
from .data import Normalisation, TrainingData, load_training_data, memory_batches, normalise
from .distributed import Shard

log = logging.getLogger(__name__)


class StoreDataset(Dataset):
    """The normalised states (C, H, W) of one split of a store; indexed like a (T, C, H, W) tensor."""

    def __init__(self, path: str | os.PathLike, variables: Sequence[str], mean: Sequence[float],
                 std: Sequence[float], mask: Tensor, positions: np.ndarray) -> None:
        self.path = str(path)
        self.variables, self.mean, self.std = tuple(variables), tuple(mean), tuple(std)
        self.mask = mask  # (H, W) ocean = 1
        self.positions = positions  # time index in the store of each item
        self._ds: xr.Dataset | None = None  # opened on first read, in each process

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), len(self.variables), *self.mask.shape)

    def __getitem__(self, index: Any) -> Tensor:
        """A state (C, H, W) for an int; a stack (N, C, H, W) for a slice, a list or a tensor of ints."""
        if isinstance(index, (int, np.integer)) or (isinstance(index, Tensor) and index.ndim == 0):
            return self._read(int(index))
        items = range(len(self))[index] if isinstance(index, slice) else [int(i) for i in index]
        return torch.stack([self._read(i) for i in items])

    def _read(self, i: int) -> Tensor:
        if self._ds is None:
            self._ds = open_store(self.path, dask_chunks=False)  # lazily indexed, no dask
        pos = int(self.positions[i])
        raw = np.stack([np.asarray(self._ds.variables[v][pos].values, dtype=np.float32) for v in self.variables])
        return normalise(torch.from_numpy(raw), self.variables, self.mean, self.std, self.mask)

    def __getstate__(self) -> dict:  # DataLoader workers open their own handle
        return {**self.__dict__, "_ds": None}


def open_training_data(data: Any, variables: Sequence[str] | None = None,
                       normalisation: Normalisation | tuple = "table") -> TrainingData:
    """:func:`load_training_data`, except that a store from ``prepare`` is streamed: its train split,
    normalised by the table, by the store's train statistics (``"data"``) or by (mean, std)."""
    if not is_store(data):
        return load_training_data(data, variables, normalisation)
    ds = open_store(data, "train")
    present = [v for v in STATE_VARIABLES if v in ds.data_vars]
    variables = tuple(variables) if variables else tuple(present)
    missing = [v for v in variables if v not in present]
    if missing:
        raise SeaIceInputError(data, f"variables {missing} missing (found {present})", "Prepare a store that holds them")
    if normalisation == "table":
        mean, std = tuple(VARIABLES[v].mean for v in variables), tuple(VARIABLES[v].std for v in variables)
    elif normalisation == "data":
        mean, std = store_normalisation(ds, variables)
    else:
        mean, std = (tuple(float(x) for x in v) for v in normalisation)
    h, w = ds.sizes["y"], ds.sizes["x"]
    if h != w:
        raise SeaIceInputError(data, f"grid is {h}×{w}, not square", "Regrid to a square grid (e.g. grid.default_grid)")
    mask = torch.from_numpy((np.asarray(ds["mask"].values) > 0).astype(np.float32))
    fields = StoreDataset(data, variables, mean, std, mask, np.asarray(ds["position"].values))
    source = f"{Path(data).resolve()} (store, train split {ds.attrs['split_period']}, streamed), {len(fields)} states"
    log.info("training data: %d states of %s streamed from %s", len(fields), variables, data)
    return TrainingData(fields, mask, variables, mean, std, source, str(ds.attrs.get("grid", f"{h}x{w}")))


def batches(td: TrainingData, batch_size: int, generator: torch.Generator, *, shard: Shard = Shard(),
            start: int = 0, seed: int = 0, workers: int = 0) -> Iterator[Tensor]:
    """This process's rows of each global batch, forever: random states drawn by ``generator`` from
    memory, or shuffled epochs (``seed``) of a streamed store from global step ``start`` on."""
    if isinstance(td.fields, StoreDataset):
        return stream_batches(td.fields, batch_size, shard=shard, start=start, seed=seed, workers=workers)
    return memory_batches(td.fields, batch_size, generator, shard)


class _Sampler(DistributedSampler):
    """``DistributedSampler`` whose epoch can begin ``start`` items in (a resumed run)."""

    start = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


def stream_batches(dataset: Dataset, batch_size: int, *, shard: Shard = Shard(), start: int = 0, seed: int = 0,
                   workers: int = 0) -> Iterator[Tensor]:
    """Epochs of ``dataset`` shuffled by ``DistributedSampler`` (seed + epoch), every state once per
    epoch, whole batches only; starts at global step ``start`` without reading the steps before."""
    local = shard.local(batch_size)
    sampler = _Sampler(dataset, num_replicas=shard.world, rank=shard.rank, shuffle=True, seed=seed)
    per_epoch = sampler.num_samples // local
    if per_epoch == 0:
        raise SeaIceInputError("--batch-size", f"{batch_size} is more than the {len(dataset)} states",
                               "Use a smaller batch or more data")
    epoch, skip = divmod(start, per_epoch)
    loader = DataLoader(dataset, batch_size=local, sampler=sampler, drop_last=True, num_workers=workers,
                        persistent_workers=workers > 0)
    while True:
        sampler.set_epoch(epoch)
        sampler.start = skip * local
        yield from loader
        epoch, skip = epoch + 1, 0
