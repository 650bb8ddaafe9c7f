"""Issue 24: every bad input is a clear error before the work starts (inputs, numbers, units, stores, bench).

Each command case checks the exit status, that stderr names the problem and the fix with no
traceback, and that every file the command could have touched is byte-identical afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from seaice_explorer import arguments, bench, bench_flops
from seaice_explorer.cli import main
from seaice_explorer.data import open_reference
from seaice_explorer.data.observations import _nsidc_time
from seaice_explorer.data.store import is_store, open_store
from seaice_explorer.data.validate import check_zarr_metadata, parse_date
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.stats import synthetic as syn

N = 12  # grid cells per side
DX = 10e3  # m


# ----------------------------------------------------------------------------- helpers
def snapshot(*paths: Path) -> dict[str, str | None]:
    """sha256 of every file under each path (None for a path that does not exist)."""
    out: dict[str, str | None] = {}
    for path in map(Path, paths):
        if not path.exists():
            out[str(path)] = None
            continue
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``seaice-explorer ARGV`` run in-process; argparse's exit included."""
    try:
        rc = main(list(argv))
    except SystemExit as exc:
        rc = int(exc.code)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def refused(capsys, touched: list[Path], *argv: str, code: int = 2, says: tuple[str, ...] = ()) -> str:
    """Run a command that must be refused: exit ``code``, every word of ``says`` on stderr, no
    traceback, nothing printed on stdout and ``touched`` byte-identical. Returns stderr."""
    before = snapshot(*touched)
    rc, out, err = run_cli(capsys, *argv)
    assert rc == code, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    for word in says:
        assert word in err, (word, err)
    assert snapshot(*touched) == before
    return err


def canonical_file(path: Path, *, sic: np.ndarray | None = None, units: str | None = None,
                   dim: str = "time", **attrs: object) -> Path:
    """A tiny canonical file: sic (2, N, N), all ocean, 10 km cells; ``units`` on sic when given."""
    grid = syn.projected_grid(N, DX)
    values = np.full((2, N, N), 0.9, np.float32) if sic is None else sic
    ds = syn.state(grid, dim=dim, sic=values)
    if units is not None:
        ds["sic"].attrs["units"] = units
    if dim == "time":
        ds = ds.assign_coords(time=pd.date_range("2019-01-01", periods=2, freq="D"))
    ds.attrs.update(attrs)
    ds.to_netcdf(path)
    return path


def stats_json(capsys, path: Path) -> list[dict]:
    rc, out, err = run_cli(capsys, "stats", str(path), "--json")
    assert rc == 0, err
    return json.loads(out)


# ----------------------------------------------------------------------------- arguments.py
BAD_NUMBERS = ["0", "-1", "nan", "inf", "abc", "1e400", ""]


@pytest.mark.parametrize("text", BAD_NUMBERS)
def test_positive_int_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer ≥ 1, got"):
        arguments.positive_int(text)


@pytest.mark.parametrize("func, text", [(arguments.non_negative_int, t) for t in ("-1", "nan", "inf", "abc", "1e400", "1.5")]
                         + [(arguments.positive_float, t) for t in ("0", "-1", "nan", "inf", "-inf", "abc", "1e400")]
                         + [(arguments.finite_float, t) for t in ("nan", "inf", "-inf", "abc", "1e400")]
                         + [(arguments.probability, t) for t in ("-0.1", "1.01", "nan", "inf", "abc", "1e400")])
def test_numeric_types_refuse_with_what_is_expected(func, text):
    with pytest.raises(argparse.ArgumentTypeError, match=rf"expected .*, got {text!r}"):
        func(text)


def test_numeric_types_accept_good_values():
    assert arguments.positive_int("3") == 3 and arguments.positive_int("1_000") == 1000
    assert arguments.non_negative_int("0") == 0
    assert arguments.positive_float("5e-4") == 5e-4
    assert arguments.finite_float("-2.5") == -2.5
    assert arguments.probability("0") == 0.0 and arguments.probability("1") == 1.0


def test_argparse_names_the_option(capsys):
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--batch-size", type=arguments.positive_int)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--batch-size", "0"])
    assert exc.value.code == 2
    assert "argument --batch-size: expected an integer ≥ 1, got '0'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- dates
@pytest.mark.parametrize("text", ["2019-13-01", "2019-02-30", "tomorrow", "2019/01/01", "0000-01-01", "9999-12-31", ""])
def test_parse_date_names_the_argument_and_the_form(text):
    with pytest.raises(SeaIceInputError) as err:
        parse_date(text, "--train")
    assert err.value.source == "--train" and repr(text) in err.value.problem and "YYYY-MM-DD" in err.value.fix


@pytest.mark.parametrize("spec, says", [("osisaf:2019-13", "unknown split"), ("osisaf:2019-2016", "run backwards"),
                                        ("osisaf:0000", "year 0000 is out of range"), ("osisaf:tomorrow", "YYYY")])
def test_stats_refuses_a_bad_osisaf_split_before_reading(tmp_path, capsys, spec, says):
    good = canonical_file(tmp_path / "good.nc")
    refused(capsys, [good], "stats", str(good), spec, says=(spec.split(":")[1], says))


def test_prepare_refuses_bad_split_dates(tmp_path, capsys):
    src = canonical_file(tmp_path / "in.nc")
    out = tmp_path / "out.zarr"
    for flag, period, says in (("--train", "2019-13-01..2019-01-02", "month must be in 1..12"),
                               ("--train", "2019-01-02..2019-01-01", "ends before it starts"),
                               ("--validation", "tomorrow..2019-01-02", "YYYY-MM-DD")):
        extra = [] if flag == "--train" else ["--train", "2019-01-01..2019-01-01"]
        refused(capsys, [src, out], "prepare", str(src), "--out", str(out), flag, period, *extra, says=(flag, says))


def test_declared_split_attribute_with_a_bad_date(tmp_path):
    path = canonical_file(tmp_path / "declared.nc", split_train="2019-01-01..2019-02-30")
    with pytest.raises(SeaIceInputError, match=r"split_train: '2019-02-30' is not a valid date"):
        open_reference(path, split="train")
    with pytest.raises(SeaIceInputError, match=r"split '2019' asks for dates but the data have no time axis"):
        open_reference(canonical_file(tmp_path / "samples.nc", dim="sample"), split="2019")


def test_nsidc_date_in_the_file_name():
    with pytest.raises(SeaIceInputError, match=r"nt_20191301_f13_v1\.1_n\.nc \(date YYYYMMDD in the file name\).*"
                                               r"month must be in 1\.\.12"):
        _nsidc_time(xr.Dataset(), Path("nt_20191301_f13_v1.1_n.nc"))
    assert _nsidc_time(xr.Dataset(), Path("nt_20190131_f13_v1.1_n.nc"))[0] == np.datetime64("2019-01-31")


# ----------------------------------------------------------------------------- values and units
def test_stats_percent_units_divide_whatever_the_values(tmp_path, capsys):
    """1.0 % everywhere is almost no ice: no extent, area = 1 % of the ocean (the old guess read it as full ice)."""
    pct = canonical_file(tmp_path / "pct.nc", sic=np.full((2, N, N), 1.0, np.float32), units="%")
    frac = canonical_file(tmp_path / "frac.nc", sic=np.full((2, N, N), 1.0, np.float32), units="1")
    ocean_1e6km2 = N * N * DX * DX / 1e12
    before = snapshot(pct)
    for rec in stats_json(capsys, pct):
        assert rec["extent"] == 0.0 and rec["area"] == pytest.approx(0.01 * ocean_1e6km2, rel=1e-5)
    assert snapshot(pct) == before
    for rec in stats_json(capsys, frac):
        assert rec["extent"] == pytest.approx(ocean_1e6km2) and rec["area"] == pytest.approx(ocean_1e6km2)
    ds = open_reference(pct)
    assert ds.sic.attrs["units"] == "1" and float(ds.sic.max()) == pytest.approx(0.01)


def test_unknown_units_are_refused(tmp_path, capsys):
    path = canonical_file(tmp_path / "cm.nc", units="cm")
    refused(capsys, [path], "stats", str(path), says=("cm.nc", "sic has units 'cm'", "Convert sic to 1"))


@pytest.mark.parametrize("value, count", [(np.inf, 2), (-np.inf, 3)])
def test_stats_refuses_infinite_concentrations_with_the_count(tmp_path, capsys, value, count):
    sic = np.full((2, N, N), 0.5, np.float32)
    sic.reshape(-1)[:count] = value
    path = canonical_file(tmp_path / "inf.nc", sic=sic)
    refused(capsys, [path], "stats", str(path), says=("inf.nc", f"sic has {count} infinite value(s)", "NaN"))


def test_nan_over_the_ocean_is_still_allowed(tmp_path, capsys):
    sic = np.full((2, N, N), 0.5, np.float32)
    sic[:, :3, :3] = np.nan  # missing data, not land
    path = canonical_file(tmp_path / "nan.nc", sic=sic)
    records = stats_json(capsys, path)
    assert len(records) == 2 and records[0]["area"] == pytest.approx(0.5 * (N * N - 9) * DX * DX / 1e12, rel=1e-5)


def test_stats_refuses_a_missing_file_before_any_work(tmp_path, capsys, monkeypatch):
    good = canonical_file(tmp_path / "good.nc")
    calls = []
    monkeypatch.setattr("seaice_explorer.evaluation.stats_cli.file_records", lambda p: calls.append(p) or [])
    refused(capsys, [good], "stats", str(good), str(tmp_path / "missing.nc"), says=("missing.nc", "file not found"))
    assert calls == []  # the good file was not read either


# ----------------------------------------------------------------------------- Zarr stores that would unpickle
@pytest.fixture
def no_unpickling(monkeypatch):
    """Simulate a numcodecs that unpickles (before 0.16.6) and record every Pickle.decode call."""
    import numcodecs.pickles

    calls: list[int] = []
    decode = numcodecs.pickles.Pickle.decode
    monkeypatch.setattr(numcodecs.pickles, "ALLOW_UNSAFE_PICKLE_DECODE", True)
    monkeypatch.setattr(numcodecs.pickles.Pickle, "decode", lambda self, *a, **k: calls.append(1) or decode(self, *a, **k))
    yield calls
    assert calls == [], "a pickled chunk was decoded"


def pickle_store(root: Path, *, how: str = "zarray") -> Path:
    """A hand-written Zarr store whose ``time`` coordinate is pickled (xarray reads index coordinates
    on open, so opening alone would unpickle). ``how``: the pickle codec in
    ``.zarray`` (v2, behind a benign first object codec, which zarr 3 accepts), only in the
    consolidated ``.zmetadata``, or in a v3 ``zarr.json``."""
    import numcodecs

    (root / "time").mkdir(parents=True)
    array = {"zarr_format": 2, "shape": [2], "chunks": [2], "dtype": "|O", "compressor": None, "fill_value": None,
             "filters": [{"id": "vlen-utf8"}, {"id": "pickle"}], "order": "C"}
    attrs = {"_ARRAY_DIMENSIONS": ["time"]}
    payload = pickle.dumps(numcodecs.VLenUTF8().encode(np.array(["a", "b"], dtype=object)))
    if how == "v3":
        (root / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
        (root / "time" / "zarr.json").write_text(json.dumps({
            "zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "string",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
            "chunk_key_encoding": {"name": "default"}, "fill_value": "", "dimension_names": ["time"],
            "codecs": [{"name": "vlen-utf8"}, {"name": "numcodecs.pickle"}], "attributes": {}}))
        (root / "time" / "c").mkdir()
        (root / "time" / "c" / "0").write_bytes(payload)
        return root
    (root / ".zgroup").write_text(json.dumps({"zarr_format": 2}))
    (root / ".zattrs").write_text("{}")
    (root / "time" / ".zattrs").write_text(json.dumps(attrs))
    (root / "time" / "0").write_bytes(payload)
    benign = {**array, "dtype": "|O", "filters": [{"id": "vlen-utf8"}]}
    (root / "time" / ".zarray").write_text(json.dumps(array if how == "zarray" else benign))
    if how == "zmetadata":
        (root / ".zmetadata").write_text(json.dumps({"zarr_consolidated_format": 1, "metadata": {
            ".zgroup": {"zarr_format": 2}, ".zattrs": {}, "time/.zarray": array, "time/.zattrs": attrs}}))
    return root


@pytest.mark.parametrize("how", ["zarray", "zmetadata", "v3"])
def test_stats_refuses_a_pickle_store_before_decoding(tmp_path, capsys, no_unpickling, how):
    store = pickle_store(tmp_path / "evil.zarr", how=how)
    refused(capsys, [store], "stats", str(store), says=("evil.zarr", "pickle", "nothing was read", "Write the store again"))


def test_prepare_and_train_stores_refuse_a_pickle_store(tmp_path, capsys, no_unpickling):
    store = pickle_store(tmp_path / "evil.zarr")
    out = tmp_path / "out.zarr"
    refused(capsys, [store, out], "prepare", str(store), "--out", str(out), says=("evil.zarr", "pickle"))
    for opener in (is_store, open_store):  # the training store path (train --data, stream)
        with pytest.raises(SeaIceInputError, match=r"evil\.zarr: the store's metadata asks for a codec"):
            opener(store)


def test_a_store_of_numbers_and_strings_is_not_refused(tmp_path):
    ds = xr.Dataset({"norm_mean": ("variable", [0.5, 1.0])}, coords={"variable": np.array(["sic", "sit"], dtype=object)})
    ds.to_zarr(tmp_path / "ok.zarr", zarr_format=2, consolidated=True)
    check_zarr_metadata(tmp_path / "ok.zarr")  # vlen-utf8 strings: safe


# ----------------------------------------------------------------------------- bench
@pytest.mark.parametrize("argv, says", [
    (["--steps", "0"], "argument --steps: expected an integer ≥ 1, got '0'"),
    (["--steps", "-3"], "argument --steps: expected an integer ≥ 1, got '-3'"),
    (["--flops", "--steps", "0"], "argument --steps: expected an integer ≥ 1, got '0'"),
    (["--flops", "--steps", "-1"], "argument --steps: expected an integer ≥ 1, got '-1'"),
    (["--n", "0"], "argument --n: expected an integer ≥ 1"),
    (["--train-steps", "nan"], "argument --train-steps: expected an integer ≥ 1"),
    (["--process-repeat", "-1"], "argument --process-repeat: expected an integer ≥ 0"),
])
def test_bench_refuses_counts_below_one(capsys, argv, says):
    refused(capsys, [], "bench", *argv, says=(says,))


def test_bench_flops_api_refuses_zero_steps():
    for call in (lambda: bench_flops.nfe("heun", 0), lambda: bench_flops.flop_report(steps=0),
                 lambda: bench_flops.flop_report(steps=-2, sampler="euler")):
        with pytest.raises(SeaIceInputError, match=r"steps: .* sampler steps\. Use an integer >= 1"):
            call()
    assert bench_flops.nfe("heun", 1) == 1 and bench_flops.nfe("euler", 3) == 3


def test_bench_refuses_an_unknown_backend_before_running(tiny_models, capsys):
    refused(capsys, [tiny_models], "bench", "--backends", "nope", "--no-train", "--models", str(tiny_models),
            says=("unknown backend 'nope'", "known: dm"))


def test_bench_exits_nonzero_when_nothing_was_measured(tiny_models, tmp_path, capsys, monkeypatch):
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    (models / "dm" / "model.safetensors").write_bytes(b"not a safetensors file")

    def in_process(fn, *args):  # the child's error handling, without spawning a process (fast)
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001
            return {"error": f"{type(err).__name__}: {err}"}

    monkeypatch.setattr(bench, "_in_child", in_process)
    before = snapshot(models)
    rc, out, err = run_cli(capsys, "bench", "--backends", "dm", "--precision", "float32", "--no-train", "--n", "1",
                           "--steps", "1", "--models", str(models))
    assert rc == bench.NOTHING_MEASURED == 1
    assert "error=" in out and "Traceback" not in err
    assert "nothing was measured: 1 failed, the first: sampling dm/float32" in err and "Check --models" in err
    assert snapshot(models) == before


def test_bench_help_documents_the_exit_status(capsys):
    rc, out, _ = run_cli(capsys, "bench", "--help")
    assert rc == 0 and "1 when nothing was measured" in " ".join(out.split())
