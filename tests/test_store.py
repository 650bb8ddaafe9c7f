"""Training stores: ``prepare`` (many files -> one chunked Zarr store, out of core) and the streamed
training data read from it (equal to the in-memory path, DistributedSampler epochs, bounded memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import zarr
from safetensors.torch import load_file

from seaice_explorer.cli import main
from seaice_explorer.data import open_reference
from seaice_explorer.data.store import is_store, open_store, prepare
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.grid import default_grid
from seaice_explorer.training import load_training_data, train_vae
from seaice_explorer.training.distributed import Shard
from seaice_explorer.training.stream import StoreDataset, open_training_data, stream_batches
from seaice_explorer.variables import VARIABLES

TINY_VAE = {"base_channels": 8, "latent_channels": 4, "downsample": 4}
FAST = dict(batch_size=2, progress=False, preview=False, device="cpu", workers=0)


def moorings(folder, months: int = 2, days: int = 5, h: int = 12, w: int = 10, seed: int = 0) -> list:
    """neXtSIM-like monthly ``Moorings_2008mMM.nc``: sit, sic, damage, latitude/longitude, NaN on land, no mask."""
    rng = np.random.default_rng(seed)
    lat = np.linspace(78.0, 84.0, h)[:, None] + np.zeros((1, w))
    lon = np.linspace(-30.0, 30.0, w)[None, :] + np.zeros((h, 1))
    land = np.zeros((h, w), bool)
    land[:3, :4] = True
    paths = []
    for m in range(1, months + 1):
        data = {}
        for var, scale in (("sit", 3.0), ("sic", 1.0), ("damage", 1.0)):
            values = (rng.random((days, h, w)) * scale).astype(np.float32)
            values[:, land] = np.nan
            data[var] = (("time", "y", "x"), values)
        data["latitude"] = (("y", "x"), lat.astype(np.float32))
        data["longitude"] = (("y", "x"), lon.astype(np.float32))
        time = pd.date_range(f"2008-{m:02d}-01", periods=days, freq="D")
        paths.append(folder / f"Moorings_2008m{m:02d}.nc")
        xr.Dataset(data, coords={"time": time}).to_netcdf(paths[-1])
    return paths


def canonical(path, times, size: int = 16, seed: int = 0):
    """A canonical NetCDF file of five random state variables on the default grid."""
    grid = default_grid(size)
    rng = np.random.default_rng(seed)
    ocean = grid.mask.values > 0
    lows = {"sit": 0, "sic": 0, "sid": 0, "siu": -0.2, "siv": -0.2}
    data = {k: (("time", "y", "x"), np.where(ocean, rng.uniform(lows[k], 1.0, (len(times), size, size)), np.nan)
                .astype(np.float32), VARIABLES[k].cf_attrs()) for k in lows}
    xr.Dataset(data, coords={**grid.coords, "time": times}, attrs=grid.attrs).to_netcdf(path)
    return path


def test_prepare_moorings_glob(tmp_path):
    paths = moorings(tmp_path)
    out = prepare(tmp_path / "Moorings_2008m*.nc", tmp_path / "store.zarr")
    assert is_store(out) and not is_store(paths[0])
    ds = open_store(out)
    assert set(ds.data_vars) == {"sit", "sic", "sid", "norm_mean", "norm_std"}
    assert {"lat", "lon", "mask", "cell_area"} <= set(ds.coords) and ds.sizes["time"] == 10
    raw = xr.open_mfdataset(paths, combine="by_coords", data_vars="all").load()
    np.testing.assert_array_equal(ds.sid.values, raw.damage.values)  # neXtSIM names -> canonical
    group = zarr.open_group(str(out), mode="r")
    assert group["sic"].chunks == (1, 12, 10) and group["mask"].chunks == (12, 10)  # a time step per chunk
    # default split of 10 days: 80/10/10 %
    assert [ds.attrs[f"split_{s}"] for s in ("train", "validation", "test")] == [
        "2008-01-01..2008-02-03", "2008-02-04..2008-02-04", "2008-02-05..2008-02-05"]
    assert open_reference(out, split="test").sizes["time"] == 1
    # the statistics: numpy over the ocean cells of the train split
    train = open_store(out, "train").load()
    ocean = train.mask.values == 1
    for v in ("sit", "sic", "sid"):
        vals = train[v].values[:, ocean].astype(np.float64)
        assert float(ds.norm_mean.sel(variable=v)) == pytest.approx(np.nanmean(vals), rel=1e-12)
        assert float(ds.norm_std.sel(variable=v)) == pytest.approx(np.nanstd(vals), rel=1e-12)


def test_prepare_cli_years_split_and_refusals(tmp_path):
    years = pd.date_range("2000-01-01", "2003-12-31", freq="30D")  # 4 calendar years
    a = canonical(tmp_path / "a.nc", years[:25])
    b = canonical(tmp_path / "b.nc", years[25:], seed=1)
    out = tmp_path / "years.zarr"
    prepare([b, a], out)  # a list, out of order: joined in time order
    ds = open_store(out)
    assert ds.indexes["time"].equals(years) and ds.sizes["time"] == len(years)
    assert (ds.attrs["split_train"], ds.attrs["split_validation"], ds.attrs["split_test"]) == (
        "2000-01-01..2001-12-31", "2002-01-01..2002-12-31", f"2003-01-01..{years[-1]:%Y-%m-%d}")
    with pytest.raises(SeaIceInputError, match="already exists"):
        prepare(a, out)
    with pytest.raises(SeaIceInputError, match="train and test overlap"):
        prepare(a, tmp_path / "x.zarr", split={"train": ("2000-01-01", "2000-12-31"), "test": ("2000-06-01", "2000-07-01")})
    with pytest.raises(SeaIceInputError, match="variables"):
        prepare(a, tmp_path / "x.zarr", variables=["sic", "nope"])
    argv = ["prepare", str(tmp_path / "*.nc"), "--out", str(out), "--overwrite", "--variables", "sic", "sit",
            "--train", "2000-01-01..2002-06-30", "--test", "2002-07-01..2003-12-31", "--time-chunk", "2"]
    assert main(argv) == 0
    ds = open_store(out)
    assert list(ds.variable.values) == ["sic", "sit"] and ds.attrs["splits"] == "train test"
    assert zarr.open_group(str(out), mode="r")["sic"].chunks == (2, 16, 16)
    assert main(["prepare", str(a), "--out", str(tmp_path / "y.zarr"), "--train", "2000"]) == 2  # not START..END


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store")
    canonical(folder / "states.nc", pd.date_range("2000-01-01", periods=12, freq="D"))
    return prepare(folder / "states.nc", folder / "states.zarr")  # 9 train days, 1 validation, 2 test


@pytest.mark.parametrize("normalisation", ["table", "data"])
def test_streamed_states_equal_the_in_memory_ones(store, normalisation):
    streamed = open_training_data(store, normalisation=normalisation)
    loaded = load_training_data(store, normalisation=normalisation)  # the train split, in memory
    assert streamed.mean == pytest.approx(loaded.mean, rel=1e-6) and streamed.std == pytest.approx(loaded.std, rel=1e-6)
    held = load_training_data(store, normalisation=(streamed.mean, streamed.std))
    assert isinstance(streamed.fields, StoreDataset) and isinstance(held.fields, torch.Tensor)
    assert streamed.fields.shape == held.fields.shape == (9, 5, 16, 16)
    assert torch.equal(streamed.fields[:], held.fields) and torch.equal(streamed.fields[3], held.fields[3])
    assert torch.equal(streamed.mask, held.mask) and streamed.variables == held.variables
    assert "streamed" in streamed.source and "train split 2000-01-01..2000-01-09" in streamed.source


def test_stream_batches_are_epochs_split_across_ranks_and_resume(store):
    data = open_training_data(store)
    ids = torch.arange(len(data.fields)).float()

    class Ids(torch.utils.data.Dataset):  # item i -> i, to follow the order
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return ids[i]

    one = stream_batches(Ids(), 4, seed=3)
    batches = [next(one) for _ in range(4)]  # 9 states, batch 4: 2 batches per epoch
    assert len(set(torch.cat(batches[:2]).tolist())) == 8  # no state twice within an epoch
    ranks = [stream_batches(Ids(), 4, shard=Shard(r, 2), seed=3) for r in range(2)]
    for b in batches[:2]:  # 2 processes x 2 rows = the same global batches (rank r: rows r, r + 2)
        parts = [next(r) for r in ranks]
        assert torch.equal(b[0::2], parts[0]) and torch.equal(b[1::2], parts[1])
    resumed = stream_batches(Ids(), 4, seed=3, start=3)
    assert torch.equal(next(resumed), batches[3])


def test_training_streams_a_store_and_resumes_exactly(store, tmp_path):
    full = train_vae(TINY_VAE, store, tmp_path / "full", 4, checkpoint_every=2, **FAST)
    cut = train_vae(TINY_VAE, store, tmp_path / "cut", 4, checkpoint_every=2, stop_at=2, **FAST)
    resumed = train_vae(TINY_VAE, store, tmp_path / "cut", 4, checkpoint_every=2, resume=True, **FAST)
    assert cut.step == 2 and resumed.step == 4
    a, b = load_file(str(full.out / "model.safetensors")), load_file(str(resumed.out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    card = (full.out / "README.md").read_text()
    assert "streamed" in card and "sit RMSE [m]" in card


# ----------------------------------------------------------------------------- memory
#: Peak resident-memory growth (MiB) of ``prepare`` and of one streamed epoch, in fresh processes.
PEAK_RSS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from seaice_explorer.data.store import prepare
    from seaice_explorer.training.stream import open_training_data, stream_batches
    def status(key):  # kB -> MiB
        line = next(s for s in Path("/proc/self/status").read_text().splitlines() if s.startswith(key))
        return int(line.split()[1]) / 1024
    what, inputs, out = sys.argv[1:]
    if what == "prepare":  # a small store first: what is loaded once (libraries, codecs) is not counted
        prepare(sorted(Path(inputs).parent.glob(Path(inputs).name))[0], out + ".warm-up")
    data = open_training_data(out, normalisation="data") if what == "stream" else None
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS (VmHWM) := current RSS
    before = status("VmRSS:")
    if what == "prepare":
        prepare(inputs, out)
    else:
        batches = stream_batches(data.fields, 4)
        for _ in range(len(data.fields) // 4):  # one epoch of the train split
            next(batches)
    print(json.dumps({"before_mib": before, "peak_mib": status("VmHWM:")}))
""")


@pytest.mark.slow
def test_prepare_and_streaming_stay_out_of_core(tmp_path):
    """A 320 MB store (uncompressed float32 state; random, so about as big on disk) is written and read
    back with far less memory than its size: the peak growth of each process stays under 64 MiB."""
    t, size, files = 256, 256, 8
    grid = default_grid(size)
    ocean = grid.mask.values > 0
    rng = np.random.default_rng(0)
    days = pd.date_range("2000-01-01", periods=t, freq="D")
    for i, chunk in enumerate(np.array_split(np.arange(t), files)):  # written file by file: the test stays small too
        data = {v: (("time", "y", "x"), np.where(ocean, rng.random((len(chunk), size, size)), np.nan).astype(np.float32))
                for v in ("sit", "sic", "sid", "siu", "siv")}
        xr.Dataset(data, coords={**grid.coords, "time": days[chunk]}).to_netcdf(tmp_path / f"part{i}.nc")
    store_mib = t * 5 * size * size * 4 / 2**20
    out = tmp_path / "big.zarr"
    figures = {}
    for what in ("prepare", "stream"):
        run = subprocess.run([sys.executable, "-c", PEAK_RSS, what, str(tmp_path / "part*.nc"), str(out)],
                             capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False)
        assert run.returncode == 0, run.stderr[-3000:]
        rss = json.loads(run.stdout.strip().splitlines()[-1])
        figures[what] = rss["peak_mib"] - rss["before_mib"]
    print(f"store {store_mib:.0f} MiB; peak RSS growth: prepare {figures['prepare']:.1f} MiB, "
          f"one streamed epoch {figures['stream']:.1f} MiB")
    assert figures["prepare"] < 64 and figures["stream"] < 64 < store_mib / 4


def test_default_split_for_few_days_never_leaves_an_empty_period() -> None:
    import pandas as pd

    from seaice_explorer.data.store import default_split

    for n in range(1, 12):
        split = default_split(pd.date_range("2000-01-01", periods=n))
        assert split["train"][0] == "2000-01-01"
        assert all(a <= b for a, b in split.values()), (n, split)
        assert set(split) == ({"train"} if n < 3 else {"train", "validation"} if n < 6 else {"train", "validation", "test"})
