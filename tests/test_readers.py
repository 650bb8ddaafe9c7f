"""Readers: real neXtSIM, OSI SAF and NSIDC files against the published indices, and bad input.

The index checks are the oracle: OSI SAF extent/area and the NSIDC Sea Ice Index extent are
recomputed from the very files the indices were built from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer.data import (default_reference_path, open_nextsim, open_nsidc, open_osisaf, open_reference,
                                  read_nsidc_daily, read_nsidc_monthly, read_osisaf_index, value_on)
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.grid import curvilinear_grid, nextsim_grid

OSISAF_DATES = ["201609101200", "201803171200", "202007151200", "202009151200"]
#: NASA Team files that the Sea Ice Index v3 used for their dates ("Source Data" column).
NT_INDEX_FILES = ["nt_20010106_f13_v1.1_n.nc", "nt_20150204_f17_v1.1_n.nc"]
KM2 = 1e6  # m² per km²


def extent(ds: xr.Dataset) -> float:
    """Extent in m²: cell area where sic >= 15 % (or pole hole), ocean only."""
    ice = ds.sic >= 0.15
    if "pole_hole" in ds.coords:
        ice = ice | ds.pole_hole
    return float(ds.cell_area.where(ice & (ds.mask == 1)).sum())


# ----------------------------------------------------------------- synthetic files
def _small_grid(h: int = 12, w: int = 10) -> tuple[np.ndarray, np.ndarray]:
    lat = np.linspace(78.0, 84.0, h)[:, None] + np.zeros((1, w))
    lon = np.linspace(-30.0, 30.0, w)[None, :] + np.zeros((h, 1))
    return lat, lon


def _moorings(tmp_path, name="Moorings_2008m01.nc", *, with_grid=True, h=12, w=10) -> tuple:
    """A neXtSIM-like mooring file: sit, sic, damage (no siu/siv), land = NaN, no mask variable."""
    rng = np.random.default_rng(0)
    lat, lon = _small_grid(h, w)
    land = np.zeros((h, w), bool)
    land[:3, :4] = True
    data = {}
    for var, scale in (("sit", 3.0), ("sic", 1.0), ("damage", 1.0)):
        values = (rng.random((3, h, w)) * scale).astype(np.float32)
        values[:, land] = np.nan
        data[var] = (("time", "y", "x"), values)
    if with_grid:
        data["latitude"] = (("y", "x"), lat.astype(np.float32))
        data["longitude"] = (("y", "x"), lon.astype(np.float32))
    ds = xr.Dataset(data, coords={"time": pd.date_range("2008-01-01", periods=3)})
    path = tmp_path / name
    ds.to_netcdf(path)
    return path, ds, land


def _canonical(tmp_path, name="canonical.nc", *, sic=None, dims=("time", "y", "x"), **extra) -> str:
    lat, lon = _small_grid()
    mask = np.ones(lat.shape)
    mask[:2, :2] = 0
    grid = curvilinear_grid(lat, lon, mask, "synthetic")
    values = np.random.default_rng(1).random((2, 12, 10)).astype(np.float32) if sic is None else sic
    if len(dims) == 4:
        values = values[:, None]
    ds = xr.Dataset({"sic": (dims, values), **extra}, coords=dict(grid.coords))
    ds.to_netcdf(tmp_path / name)
    return tmp_path / name


# ----------------------------------------------------------------- neXtSIM
def test_open_nextsim_auxiliary(shared_data, caplog):
    path = shared_data / "nextsim" / "ds_auxiliary.nc"
    with caplog.at_level("WARNING"):
        ds = open_nextsim(path)
    assert "sic, sid, siu, siv" in caplog.text
    assert ds.attrs["missing_variables"] == ["sic", "sid", "siu", "siv"]
    assert list(ds.data_vars) == ["sit"] and ds.sit.dims == ("time", "y", "x") and ds.sit.dtype == np.float32
    assert ds.time.values[0] == np.datetime64("2015-01-01T03:00")
    ocean = ds.mask.values == 1
    assert ocean.sum() == 127_152
    sit = ds.sit.values[0]
    assert np.isfinite(sit[ocean]).all() and np.isnan(sit[~ocean]).all()
    with xr.open_dataset(path) as raw:
        np.testing.assert_array_equal(sit[ocean], raw.sit.values[ocean])
    xr.testing.assert_equal(ds.cell_area, nextsim_grid(path).cell_area)
    assert ds.sit.attrs["units"] == "m"


def test_open_nextsim_maps_aliases_and_derives_mask(tmp_path):
    path, raw, land = _moorings(tmp_path)
    ds = open_nextsim(path)
    assert set(ds.data_vars) == {"sit", "sic", "sid"}
    assert ds.sid.attrs["source_name"] == "damage" and ds.sid.attrs["long_name"] == "sea-ice damage"
    assert ds.attrs["missing_variables"] == ["siu", "siv"]
    np.testing.assert_array_equal(ds.mask.values, (~land).astype(np.int8))
    np.testing.assert_array_equal(ds.sid.values, raw.damage.values)
    assert ds.sizes["time"] == 3 and (ds.cell_area.values[~land] > 0).all()


def test_open_nextsim_zarr_is_lazy(tmp_path):
    path, raw, _ = _moorings(tmp_path)
    raw.to_zarr(tmp_path / "moorings.zarr", zarr_format=2)  # consolidated metadata, no v3 warning
    lazy = open_nextsim(tmp_path / "moorings.zarr")
    assert lazy.sit.chunks is not None
    xr.testing.assert_allclose(lazy.load(), open_nextsim(path))


def test_open_nextsim_big_netcdf_is_lazy(tmp_path, monkeypatch):
    import seaice_explorer.data.validate as validate

    path, _, _ = _moorings(tmp_path)
    assert open_nextsim(path).sit.chunks is None  # small file: in memory
    assert open_nextsim(path, chunks={"time": 1}).sit.chunks is not None
    monkeypatch.setattr(validate, "LAZY_BYTES", 0)  # every file now counts as big
    assert open_nextsim(path).sit.chunks is not None
    assert open_nextsim(path, chunks=None).sit.chunks is None


def test_open_nextsim_glob_of_monthly_files(tmp_path):
    _, jan, _ = _moorings(tmp_path, "Moorings_2008m01.nc")
    feb = jan.assign_coords(time=jan.time + np.timedelta64(31, "D"))
    feb.to_netcdf(tmp_path / "Moorings_2008m02.nc")
    ds = open_nextsim(tmp_path / "Moorings_2008m*.nc")
    assert ds.sizes["time"] == 6 and ds.sit.chunks is not None
    np.testing.assert_array_equal(ds.time.values[3:], feb.time.values)
    with pytest.raises(SeaIceInputError, match=r"Moorings_1999m\*\.nc: no file matches"):
        open_nextsim(tmp_path / "Moorings_1999m*.nc")


def test_open_nextsim_grid_argument(tmp_path, shared_data):
    path, raw, _ = _moorings(tmp_path, with_grid=False, h=64, w=64)
    regional = shared_data / "nextsim" / "ds_auxiliary_regional.nc"
    ds = open_nextsim(path, grid=regional)
    xr.testing.assert_equal(ds.cell_area, nextsim_grid(regional).cell_area)
    ds2 = open_nextsim(path, grid=nextsim_grid(regional))
    xr.testing.assert_equal(ds.sit, ds2.sit)
    with pytest.raises(SeaIceInputError, match=r"Moorings_2008m01\.nc.*mismatched grid shapes"):
        open_nextsim(path, grid=shared_data / "nextsim" / "ds_auxiliary.nc")
    with pytest.raises(SeaIceInputError, match=r"Moorings_2008m01\.nc.*no grid"):
        open_nextsim(path)


def test_open_nextsim_grid_from_canonical_grid_file(tmp_path):
    from seaice_explorer.grid import default_grid

    grid = default_grid(16)
    grid.to_netcdf(tmp_path / "grid16.nc")
    path, raw, _ = _moorings(tmp_path, with_grid=False, h=16, w=16)
    ds = open_nextsim(path, grid=tmp_path / "grid16.nc")
    np.testing.assert_array_equal(ds.x.values, grid.x.values)  # projected metres kept
    assert ds.attrs["proj4"] == grid.attrs["proj4"]
    land = grid.mask.values == 0
    assert np.isnan(ds.sit.values[:, land]).all()
    with pytest.raises(SeaIceInputError, match=r"nogrid\.nc: file not found"):
        open_nextsim(path, grid=tmp_path / "nogrid.nc")


# ----------------------------------------------------------------- OSI SAF
@pytest.fixture(scope="module")
def osisaf_index(shared_data):
    ts = shared_data / "timeseries"
    return (read_osisaf_index(ts / "osisaf_nh_sie_daily_v2p2.txt"),
            read_osisaf_index(ts / "osisaf_nh_sia_daily_v2p2.txt"))


@pytest.mark.parametrize("stamp", OSISAF_DATES)
def test_osisaf_matches_index(shared_data, osisaf_index, stamp):
    """Extent (sic >= 0.15, land and lake excluded) and area (sum sic * 625 km²) = OSI SAF index."""
    ds = open_osisaf(shared_data / "osisaf" / f"ice_conc_nh_ease2-250_cdr-v3p0_{stamp}.nc")
    sie, sia = osisaf_index
    day = ds.time.values[0]
    assert abs(extent(ds) / KM2 - value_on(sie, day)) < 625
    area = float((ds.sic.astype(np.float64) * ds.cell_area).sum()) / KM2
    assert abs(area - value_on(sia, day)) <= 1.0


def test_osisaf_canonical_form_and_lake_exclusion(shared_data, osisaf_index):
    path = shared_data / "osisaf" / "ice_conc_nh_ease2-250_cdr-v3p0_201803171200.nc"
    ds = open_osisaf(path)
    assert ds.sic.dims == ("time", "y", "x") and ds.sic.dtype == np.float32
    assert 0.0 <= float(ds.sic.min()) and float(ds.sic.max()) <= 1.0
    assert float(ds.x[1] - ds.x[0]) == 25_000.0 and float(ds.x[-1]) == 5_387_500.0
    assert np.all(ds.cell_area.values == 625e6) and "+proj=laea" in ds.attrs["proj4"]
    with xr.open_dataset(path) as raw:
        flag = raw.status_flag.values[0].astype(int)
        conc = raw.ice_conc.values[0]
    lake = (flag & 2) > 0
    assert lake.any() and (ds.mask.values[lake] == 0).all()
    # counting the frozen lakes breaks the match: the lake flag must be excluded
    with_lakes = float(((conc >= 15) & ((flag & 1) == 0)).sum()) * 625
    assert with_lakes - value_on(osisaf_index[0], ds.time.values[0]) > 100 * 625


# ----------------------------------------------------------------- NSIDC
@pytest.fixture(scope="module")
def sea_ice_index(shared_data):
    return read_nsidc_daily(shared_data / "timeseries" / "N_seaice_extent_daily_v3.0.csv")


@pytest.mark.parametrize("name", NT_INDEX_FILES)
def test_nasateam_matches_sea_ice_index(shared_data, sea_ice_index, name):
    """Valid-ice mask applied, pole hole counted as ice, sic >= 0.15 -> Sea Ice Index extent."""
    ds = open_nsidc(shared_data / "nsidc_nasateam" / name)
    row = sea_ice_index.loc[pd.Timestamp(ds.time.values[0])]
    assert name.replace(".nc", ".bin") in row["source"]
    ours = extent(ds) / 1e12  # 10⁶ km²
    assert round(ours, 3) == pytest.approx(row["extent"], abs=1e-9)
    assert abs(ours - row["extent"]) < 0.001
    # each convention matters: no pole hole or no valid-ice mask misses the index
    assert abs(float(ds.cell_area.where(ds.sic >= 0.15).sum()) / 1e12 - row["extent"]) > 0.01
    raw = open_nsidc(shared_data / "nsidc_nasateam" / name, valid_ice_mask=False)
    assert abs(extent(raw) / 1e12 - row["extent"]) > 0.01


def test_nasateam_canonical_form(shared_data):
    path = shared_data / "nsidc_nasateam" / "nt_20010106_f13_v1.1_n.nc"
    ds = open_nsidc(path)
    with xr.open_dataset(path) as src:
        raw = src.conc_raw.values
    pole = raw == 251
    assert (ds.pole_hole.values[0] == pole).all() and pole.sum() > 0
    assert np.isnan(ds.sic.values[0][pole]).all() and (ds.mask.values[pole] == 1).all()
    assert (ds.mask.values[np.isin(raw, (253, 254))] == 0).all()
    assert float(ds.sic.max()) == 1.0 and float(ds.sic.min()) == 0.0
    assert "+proj=stere" in ds.attrs["proj4"] and ds.attrs["valid_ice_mask_applied"] == 1
    psn = xr.open_dataset(shared_data / "nsidc_nasateam" / "psn25_grid_v3.nc")
    np.testing.assert_allclose(ds.cell_area.values, psn.cell_area.values * 1e6)


def test_nasateam_ancillaries_and_name_date(tmp_path, shared_data):
    src = shared_data / "nsidc_nasateam"
    name = "nt_20150204_f17_v1.1_n.nc"
    alone = tmp_path / "alone"
    alone.mkdir()
    with xr.open_dataset(src / name) as raw:
        raw.drop_vars("time").to_netcdf(alone / name)  # no time: the date comes from the name
    with pytest.raises(SeaIceInputError, match=r"nt_20150204_f17_v1\.1_n\.nc.*psn25_grid_v3\.nc"):
        open_nsidc(alone / name)
    ds = open_nsidc(alone / name, ancillary_dir=src)
    assert ds.time.values[0] == np.datetime64("2015-02-04")
    sibling = tmp_path / "nsidc_nasateam"
    sibling.mkdir()
    for anc in ("psn25_grid_v3.nc", "nsidc0622_valid_ice_flag_N25km_monthly.nc"):
        (sibling / anc).symlink_to(src / anc)
    xr.testing.assert_identical(open_nsidc(alone / name), ds)


def test_nsidc_cdr_daily_is_sane(shared_data, sea_ice_index):
    ds = open_nsidc(shared_data / "nsidc_cdr" / "seaice_conc_daily_nh_20211231_f17_v04r00.nc")
    assert ds.sic.shape == (1, 448, 304) and ds.time.values[0] == np.datetime64("2021-12-31")
    assert 0.0 <= float(ds.sic.min()) and float(ds.sic.max()) <= 1.0
    assert not ds.pole_hole.any() and ds.attrs["valid_ice_mask_applied"] == 0
    assert 60_000 < int(ds.mask.sum()) < 75_000
    # the CDR (NASA Team + Bootstrap) extent is within 2 % of the NASA Team index that day
    assert extent(ds) / 1e12 == pytest.approx(sea_ice_index.loc["2021-12-31", "extent"], rel=0.02)


def test_nsidc_cdr_monthly_is_sane(shared_data):
    ds = open_reference(shared_data / "nsidc_cdr" / "seaice_conc_monthly_nh_202112_f17_v04r00.nc")
    assert ds.time.values[0] == np.datetime64("2021-12-01") and ds.sic.attrs["source_name"].endswith("_monthly")
    assert 0.0 <= float(ds.sic.min()) and float(ds.sic.max()) <= 1.0
    assert 10e12 < extent(ds) < 16e12


# ----------------------------------------------------------------- dispatch and round trip
@pytest.mark.parametrize("rel,reader", [
    ("osisaf/ice_conc_nh_ease2-250_cdr-v3p0_201609101200.nc", open_osisaf),
    ("nsidc_nasateam/nt_20150204_f17_v1.1_n.nc", open_nsidc),
    ("nsidc_cdr/seaice_conc_daily_nh_20211231_f17_v04r00.nc", open_nsidc),
    ("nextsim/ds_auxiliary.nc", open_nextsim),
])
def test_open_reference_dispatches_on_content(shared_data, tmp_path, rel, reader):
    target = tmp_path / "renamed_without_hints.nc"
    target.symlink_to(shared_data / rel)  # the name says nothing; the content decides
    kwargs = {"ancillary_dir": shared_data / "nsidc_nasateam"} if reader is open_nsidc else {}
    got = open_reference(target, **kwargs)
    want = reader(shared_data / rel)
    xr.testing.assert_identical(got.drop_attrs(), want.drop_attrs())


def test_canonical_files_round_trip(tmp_path, shared_data):
    osi = open_osisaf(shared_data / "osisaf" / "ice_conc_nh_ease2-250_cdr-v3p0_202009151200.nc")
    osi.to_netcdf(tmp_path / "osi.nc")
    xr.testing.assert_identical(open_reference(tmp_path / "osi.nc"), osi)
    moor, _, _ = _moorings(tmp_path)
    ns = open_nextsim(moor)
    ns.to_netcdf(tmp_path / "ns.nc")
    back = open_reference(tmp_path / "ns.nc")
    xr.testing.assert_identical(back, ns)
    nt = open_nsidc(shared_data / "nsidc_nasateam" / "nt_20010106_f13_v1.1_n.nc")
    nt.to_netcdf(tmp_path / "nt.nc")
    xr.testing.assert_identical(open_reference(tmp_path / "nt.nc"), nt)  # pole_hole survives
    packed = {"sit": {"dtype": "int16", "scale_factor": 1e-3, "_FillValue": -32767}}  # like the reference
    ns.to_netcdf(tmp_path / "packed.nc", encoding=packed)
    unpacked = open_reference(tmp_path / "packed.nc")
    assert unpacked.sit.dtype == np.float32
    xr.testing.assert_allclose(unpacked.sit, ns.sit, atol=5e-4)
    samples = ns.rename(time="sample").drop_vars("sample")  # like `generate` output
    samples.to_netcdf(tmp_path / "samples.nc")
    assert open_reference(tmp_path / "samples.nc").sit.dims == ("sample", "y", "x")


def test_open_reference_default(tmp_path, monkeypatch):
    monkeypatch.delenv("SEAICE_EXPLORER_DATA", raising=False)
    from pathlib import Path

    assert default_reference_path() == Path(__file__).resolve().parents[1] / "data" / "nextsim_like_default.nc"
    monkeypatch.setenv("SEAICE_EXPLORER_DATA", str(tmp_path))
    with pytest.raises(SeaIceInputError, match="seaice-explorer reference"):
        open_reference("default")
    _canonical(tmp_path, "nextsim_like_default.nc")
    assert open_reference("default").sic.shape == (2, 12, 10)


# ----------------------------------------------------------------- bad input
def test_missing_file(tmp_path):
    with pytest.raises(SeaIceInputError, match=r"nope\.nc: file not found"):
        open_reference(tmp_path / "nope.nc")


def test_text_file_is_unknown_format(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("sic,sit\n0.5,1.2\n")
    with pytest.raises(SeaIceInputError, match=r"notes\.txt: unknown format"):
        open_reference(path)


def test_directory_that_is_not_zarr(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(SeaIceInputError, match=r"folder: unknown format"):
        open_reference(tmp_path / "folder")


def test_netcdf_without_sea_ice_variables(tmp_path):
    path = tmp_path / "other.nc"
    xr.Dataset({"temperature": (("y", "x"), np.zeros((4, 4)))}).to_netcdf(path)
    with pytest.raises(SeaIceInputError, match=r"other\.nc: unknown format: found temperature\('y', 'x'\)"):
        open_reference(path)
    with pytest.raises(SeaIceInputError, match=r"other\.nc: missing variable"):
        open_nextsim(path)
    with pytest.raises(SeaIceInputError, match=r"other\.nc: missing variable"):
        open_osisaf(path)
    with pytest.raises(SeaIceInputError, match=r"other\.nc: missing variable"):
        open_nsidc(path)


def test_wrong_dims(tmp_path):
    path = _canonical(tmp_path, "fourd.nc", dims=("time", "band", "y", "x"))
    with pytest.raises(SeaIceInputError, match=r"fourd\.nc: wrong dimensions for sic"):
        open_reference(path)


def test_all_nan(tmp_path):
    path = _canonical(tmp_path, "empty.nc", sic=np.full((2, 12, 10), np.nan, np.float32))
    with pytest.raises(SeaIceInputError, match=r"empty\.nc: sic is all NaN"):
        open_reference(path)


def test_sic_in_percent_is_converted_with_warning(tmp_path):
    pct = np.random.default_rng(2).random((2, 12, 10)).astype(np.float32) * 100
    path = _canonical(tmp_path, "percent.nc", sic=pct)
    with pytest.warns(UserWarning, match=r"percent\.nc: sic looks like percent"):
        ds = open_reference(path)
    ocean = ds.mask.values == 1
    np.testing.assert_allclose(ds.sic.values[:, ocean], pct[:, ocean] / 100, rtol=1e-6)


def test_absurd_values_raise(tmp_path):
    sit = np.full((2, 12, 10), 1.0e4, np.float32)  # thickness in mm, say
    path = _canonical(tmp_path, "absurd.nc", sit=(("time", "y", "x"), sit))
    with pytest.raises(SeaIceInputError, match=r"absurd\.nc: sit values .* far outside"):
        open_reference(path)
    path = _canonical(tmp_path, "sic300.nc", sic=np.full((2, 12, 10), 300.0, np.float32))
    with pytest.raises(SeaIceInputError, match=r"sic300\.nc: sic values .* far outside"):
        open_reference(path)


def test_mismatched_grid_in_canonical_file(tmp_path):
    path = _canonical(tmp_path, "badgrid.nc")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds = ds.drop_vars("cell_area").assign_coords(cell_area=(("yy", "xx"), np.ones((5, 5))))
    ds.to_netcdf(tmp_path / "badgrid2.nc")
    with pytest.raises(SeaIceInputError, match=r"badgrid2\.nc: mismatched grid shapes"):
        open_reference(tmp_path / "badgrid2.nc")


# ----------------------------------------------------------------- index parsers
def test_osisaf_index_parser(shared_data):
    path = shared_data / "timeseries" / "osisaf_nh_sie_daily_v2p2.txt"
    sie = read_osisaf_index(path)
    lines = [ln.split() for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(sie) == len(lines) and sie.index.is_monotonic_increasing
    assert int(sie.isna().sum()) == sum(ln[4] == "-999" for ln in lines) > 0
    assert sie.name == "Sea Ice Extent" and value_on(sie, "2016-09-10T12:00") == 4_675_625
    with pytest.raises(SeaIceInputError, match="no index value"):
        value_on(sie, "1950-01-01")


def test_nsidc_index_parsers(shared_data):
    path = shared_data / "timeseries" / "N_seaice_extent_daily_v3.0.csv"
    sii = read_nsidc_daily(path)
    assert len(sii) == len(path.read_text().splitlines()) - 2  # two header lines
    assert sii.loc["2015-02-04", "extent"] == 14.269
    assert sii["source"].iloc[-1].count(".nc") == 2  # a quoted list of two files
    assert 2 < sii["extent"].min() and sii["extent"].max() < 17
    sep = read_nsidc_monthly(shared_data / "timeseries" / "N_09_extent_v4.0.csv")
    assert (sep.index.month == 9).all() and (sep["area"] < sep["extent"]).all()


def test_input_error_survives_pickling() -> None:
    import pickle

    from seaice_explorer.errors import SeaIceInputError

    err = pickle.loads(pickle.dumps(SeaIceInputError("f.nc", "no sic", "Pass a file with sic")))
    assert isinstance(err, SeaIceInputError) and str(err) == "f.nc: no sic. Pass a file with sic"
