"""The ``seaice-explorer stats`` command: the stable JSON format, the table, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer import stats
from seaice_explorer.cli import main
from seaice_explorer.data import read_osisaf_index, value_on
from seaice_explorer.stats import synthetic as syn
from seaice_explorer.evaluation.stats_cli import MAIN_KEYS

R1S = (150e3, 200e3, 250e3)


def write_states(path: Path, dim: str, with_sit: bool = True, with_sic: bool = True) -> xr.Dataset:
    grid = syn.projected_grid(80, 10e3)
    sic = np.stack([syn.ramp_disc(grid, r1, 350e3) for r1 in R1S])
    fields = {}
    if with_sic:
        fields["sic"] = sic
        fields["siu"] = 0.1 * sic
    if with_sit:
        fields["sit"] = 2.0 * sic
    ds = syn.state(grid, dim=dim, **fields)
    if dim == "time":
        ds = ds.assign_coords(time=pd.date_range("2020-01-01", periods=len(R1S), freq="D"))
    ds.to_netcdf(path)
    return ds


def run_json(capsys, *args: str) -> list[dict]:
    assert main(["stats", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_records_for_samples(tmp_path, capsys):
    path = tmp_path / "samples.nc"
    ds = write_states(path, "sample")
    records = run_json(capsys, str(path))
    assert len(records) == len(R1S)
    bound_keys = {f"{v}_{k}" for v in ("sic", "sit") for k in ("at_lower", "below_lower")} | {
        "sic_at_upper", "sic_above_upper"}
    for i, rec in enumerate(records):
        assert set(rec) == {"file", "sample", *MAIN_KEYS, *bound_keys}  # no keys for unbounded siu
        assert rec["file"] == str(path) and rec["sample"] == i
        state = ds.isel(sample=[i])
        assert rec["extent"] == pytest.approx(float(stats.extent(state)[0]) / 1e12)
        assert rec["miz_area"] == pytest.approx(float(stats.miz_area(state)[0]) / 1e12)
        assert rec["edge_length"] == pytest.approx(float(stats.ice_edge_length(state)[0]) / 1e3)
        assert rec["miz_width"] == pytest.approx(rec["miz_area"] * 1e6 / rec["edge_length"])
        assert rec["mean_thickness"] == pytest.approx(float(stats.mean_thickness(state)[0]), rel=1e-6)
        assert 0.0 < rec["sic_at_upper"] < 1.0 and rec["sic_above_upper"] == 0.0


def test_json_time_iso_and_nulls(tmp_path, capsys):
    a, b = tmp_path / "states.nc", tmp_path / "thickness_only.nc"
    write_states(a, "time")
    write_states(b, "time", with_sic=False)
    records = run_json(capsys, str(a), str(b))
    assert [r["time"] for r in records[:3]] == ["2020-01-01T00:00:00", "2020-01-02T00:00:00", "2020-01-03T00:00:00"]
    assert [r["file"] for r in records] == [str(a)] * 3 + [str(b)] * 3
    thick = records[3]
    assert thick["extent"] is None and thick["miz_width"] is None and thick["mean_thickness"] > 0
    assert "sic_at_lower" not in thick


def test_table_output(tmp_path, capsys):
    path = tmp_path / "samples.nc"
    write_states(path, "sample")
    assert main(["stats", str(path)]) == 0
    out = capsys.readouterr().out
    assert "extent" in out and "miz_width" in out and "samples.nc" in out and "sic_at_upper=" in out
    assert len([line for line in out.splitlines() if line.startswith("samples.nc") and "=" not in line]) == len(R1S)


def test_bad_inputs_exit_2(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "missing.nc"), "--json"]) == 2
    err = capsys.readouterr().err
    assert "missing.nc" in err and "not found" in err
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file")
    assert main(["stats", str(junk)]) == 2
    assert "junk.nc" in capsys.readouterr().err


def test_osisaf_file_matches_index(shared_data, capsys):
    path = shared_data / "osisaf" / "ice_conc_nh_ease2-250_cdr-v3p0_201803171200.nc"
    (rec,) = run_json(capsys, str(path))
    sie = read_osisaf_index(shared_data / "timeseries" / "osisaf_nh_sie_daily_v2p2.txt")
    assert rec["time"].startswith("2018-03-17")
    assert abs(rec["extent"] - value_on(sie, "2018-03-17") / 1e6) <= 625e-6
    assert rec["mean_thickness"] is None and 0 < rec["miz_area"] < rec["extent"]
