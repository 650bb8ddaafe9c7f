"""Nothing lost (issue 24): every command's outputs follow one rule, checked before the work.

Each case runs the command in-process and asserts the exit status, that stderr names the problem
and the fix with no traceback, and that every file the command could have touched is
byte-identical afterwards.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
import xarray as xr

from seaice_explorer.cli import main
from seaice_explorer.outputs import MARKER_FILE, Output, atomic_file, atomic_folder, check_outputs, is_ours

BUNDLED = Path(__file__).resolve().parents[1] / "data" / "nextsim_like_default.nc"


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """Exit status and stderr of ``seaice-explorer ARGV`` (argparse's own exits included)."""
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    return rc, capsys.readouterr().err


def digest(*roots: Path) -> dict[str, str]:
    """SHA-256 of every file under ``roots`` (and which paths exist at all)."""
    out: dict[str, str] = {}
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
        out[f"{root} exists"] = str(root.exists())
        for p in paths:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def refused(rc: int, err: str, problem: str, fix: str) -> None:
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and "error" in err, err
    assert problem.lower() in err.lower(), f"problem {problem!r} not named in {err!r}"
    assert fix.lower() in err.lower(), f"fix {fix!r} not named in {err!r}"


@pytest.fixture()
def thesis(tmp_path: Path) -> Path:
    """A folder of someone's work that no command may ever replace."""
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("\\chapter{Sea ice}\n")
    (folder / "notes.md").write_text("do not lose\n")
    return folder


@pytest.fixture()
def small_ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from seaice_explorer.data.reference import make_reference, write_reference

    return write_reference(make_reference(seed=1, size=16, days=6), tmp_path_factory.mktemp("ref") / "ref.nc")


@pytest.fixture()
def own_netcdf(tmp_path: Path) -> Path:
    """A NetCDF file written by seaice-explorer (what --overwrite may replace)."""
    path = tmp_path / "own.nc"
    xr.Dataset({"a": ("x", [1.0, 2.0])}, attrs={"created_by": "seaice-explorer generate"}).to_netcdf(path)
    return path


# -- prepare ----------------------------------------------------------------------------------------
def test_prepare_overwrite_never_wipes_a_folder_that_is_not_a_store(thesis, small_ref, capsys):
    before = digest(thesis)
    rc, err = run(["prepare", str(small_ref), "--out", str(thesis), "--overwrite"], capsys)
    refused(rc, err, "is not a Zarr store written by", "Choose another path")
    assert digest(thesis) == before


def test_prepare_refuses_to_write_over_its_own_input_store(small_ref, tmp_path, capsys):
    store = tmp_path / "in.zarr"
    assert run(["prepare", str(small_ref), "--out", str(store)], capsys)[0] == 0
    before = digest(store)
    rc, err = run(["prepare", str(store), "--out", str(store), "--overwrite"], capsys)
    refused(rc, err, "is the input", "outside the inputs")
    assert digest(store) == before


def test_prepare_refuses_an_output_inside_its_input_store(small_ref, tmp_path, capsys):
    store = tmp_path / "in.zarr"
    assert run(["prepare", str(small_ref), "--out", str(store)], capsys)[0] == 0
    before = digest(store)
    rc, err = run(["prepare", str(store), "--out", str(store / "inner.zarr")], capsys)
    refused(rc, err, "lies inside the input", "outside the inputs")
    assert digest(store) == before


def test_prepare_refuses_a_store_path_that_links_to_its_input(small_ref, tmp_path, capsys):
    store = tmp_path / "in.zarr"
    assert run(["prepare", str(small_ref), "--out", str(store)], capsys)[0] == 0
    link = tmp_path / "link.zarr"
    link.symlink_to(store)
    before = digest(store)
    rc, err = run(["prepare", str(store), "--out", str(link), "--overwrite"], capsys)
    refused(rc, err, "the input", "outside the inputs")
    assert digest(store) == before


def test_prepare_needs_overwrite_for_its_own_store_and_then_replaces_it_whole(small_ref, tmp_path, capsys):
    store = tmp_path / "s.zarr"
    assert run(["prepare", str(small_ref), "--out", str(store)], capsys)[0] == 0
    before = digest(store)
    rc, err = run(["prepare", str(small_ref), "--out", str(store)], capsys)
    refused(rc, err, "already exists", "--overwrite")
    assert digest(store) == before
    assert run(["prepare", str(small_ref), "--out", str(store), "--overwrite", "--time-chunk", "2"], capsys)[0] == 0
    assert is_ours(store, "store") and digest(store) != before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".s.zarr")]  # no temporary left behind


def test_prepare_time_chunk_must_be_a_count(small_ref, tmp_path, capsys):
    rc, err = run(["prepare", str(small_ref), "--out", str(tmp_path / "s.zarr"), "--time-chunk", "0"], capsys)
    refused(rc, err, "--time-chunk", "integer ≥ 1")
    assert not (tmp_path / "s.zarr").exists()


# -- generate and animate ---------------------------------------------------------------------------
def test_generate_refuses_an_existing_file_without_overwrite(tiny_models, own_netcdf, capsys):
    before = digest(own_netcdf)
    rc, err = run(["generate", "--models", str(tiny_models), "--backend", "dm", "--n", "1", "--steps", "1",
                   "--out", str(own_netcdf), "--no-progress"], capsys)
    refused(rc, err, "already exists", "--overwrite")
    assert digest(own_netcdf) == before


def test_generate_overwrite_never_replaces_a_file_it_did_not_write(tiny_models, tmp_path, capsys):
    other = tmp_path / "observations.nc"
    xr.Dataset({"sic": ("x", [0.5])}).to_netcdf(other)  # someone's NetCDF, no created_by
    text = tmp_path / "thesis.nc"
    text.write_text("not even NetCDF")
    for path in (other, text):
        before = digest(path)
        rc, err = run(["generate", "--models", str(tiny_models), "--backend", "dm", "--n", "1", "--steps", "1",
                       "--out", str(path), "--overwrite", "--no-progress"], capsys)
        refused(rc, err, "not a NetCDF file written by seaice-explorer", "move it away yourself")
        assert digest(path) == before


def test_generate_overwrites_its_own_file_and_marks_it(tiny_models, tmp_path, capsys):
    out = tmp_path / "s.nc"
    args = ["generate", "--models", str(tiny_models), "--backend", "dm", "--n", "1", "--steps", "1",
            "--out", str(out), "--no-progress"]
    assert run(args, capsys)[0] == 0
    with xr.open_dataset(out) as ds:
        assert ds.attrs["created_by"] == "seaice-explorer generate"
    assert run(args + ["--seed", "3", "--overwrite"], capsys)[0] == 0
    with xr.open_dataset(out) as ds:
        assert int(ds.attrs["seed"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.nc"]  # no temporary left behind


def test_generate_refuses_the_same_path_for_samples_and_trajectory(tiny_models, tmp_path, capsys):
    out = tmp_path / "s.nc"
    rc, err = run(["generate", "--models", str(tiny_models), "--backend", "dm", "--n", "1", "--steps", "1",
                   "--out", str(out), "--trajectory", str(out)], capsys)
    refused(rc, err, "is also the output of --out", "its own path")
    assert not out.exists()


@pytest.mark.parametrize("case", ["folder", "missing parent", "file as parent"])
def test_generate_checks_the_output_path_before_sampling(case, tiny_models, tmp_path, capsys, monkeypatch):
    import seaice_explorer.diffusion.cli as gen_cli

    monkeypatch.setattr(gen_cli, "generate", lambda *a, **k: pytest.fail("sampled before checking the output"))
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out, problem, fix = {
        "folder": (tmp_path, "is a folder, not a file", "Name a file inside it"),
        "missing parent": (tmp_path / "nope" / "s.nc", "does not exist", "Create the folder first"),
        "file as parent": (blocker / "s.nc", "is a file", "Create the folder first"),
    }[case]
    before = digest(tmp_path)
    rc, err = run(["generate", "--models", str(tiny_models), "--backend", "dm", "--n", "1", "--steps", "1",
                   "--out", str(out)], capsys)
    refused(rc, err, problem, fix)
    assert digest(tmp_path) == before


@pytest.mark.parametrize("argv, option", [(["--n", "0"], "--n"), (["--steps", "-1"], "--steps"),
                                          (["--seed", "-2"], "--seed"), (["--n", "many"], "--n")])
def test_generate_counts_are_checked_by_the_parser(argv, option, tiny_models, tmp_path, capsys):
    rc, err = run(["generate", "--models", str(tiny_models), "--backend", "dm", "--out", str(tmp_path / "s.nc"),
                   *argv], capsys)
    refused(rc, err, option, "expected an integer")
    assert not (tmp_path / "s.nc").exists()


def test_animate_refuses_existing_and_foreign_images(tiny_models, tmp_path, capsys):
    gif = tmp_path / "d.gif"
    gif.write_bytes(b"GIF89a" + b"\0" * 20)  # an image of that format: needs --overwrite
    fake = tmp_path / "talk.gif"
    fake.write_text("my slides, not a GIF")
    before = digest(tmp_path)
    rc, err = run(["animate", "--models", str(tiny_models), "--backend", "dm", "--steps", "2", "--out", str(gif)], capsys)
    refused(rc, err, "already exists", "--overwrite")
    rc, err = run(["animate", "--models", str(tiny_models), "--backend", "dm", "--steps", "2", "--out", str(fake),
                   "--overwrite"], capsys)
    refused(rc, err, "is not a GIF image", "move it away yourself")
    rc, err = run(["animate", "--models", str(tiny_models), "--backend", "dm", "--steps", "2",
                   "--out", str(tmp_path / "f.png")], capsys)
    assert rc == 0 and (tmp_path / "f_step02.png").is_file()
    png = digest(tmp_path / "f_step01.png")
    rc, err = run(["animate", "--models", str(tiny_models), "--backend", "dm", "--steps", "2",
                   "--out", str(tmp_path / "f.png")], capsys)  # the frames of a .png output are checked one by one
    refused(rc, err, "f_step01.png already exists", "--overwrite")
    assert digest(tmp_path / "f_step01.png") == png
    assert {k: v for k, v in digest(tmp_path).items() if "f_step" not in k} == before


def test_animate_frame_time_must_be_positive(tiny_models, tmp_path, capsys):
    rc, err = run(["animate", "--models", str(tiny_models), "--backend", "dm", "--frame-ms", "0",
                   "--out", str(tmp_path / "d.gif")], capsys)
    refused(rc, err, "--frame-ms", "integer ≥ 1")


# -- evaluate ---------------------------------------------------------------------------------------
def test_evaluate_never_writes_into_a_folder_it_did_not_make(thesis, small_ref, tiny_models, capsys):
    before = digest(thesis)
    for extra in ([], ["--overwrite"]):
        rc, err = run(["evaluate", "--models", str(tiny_models), "--reference", str(small_ref), "--n", "2",
                       "--steps", "1", "--out", str(thesis), *extra], capsys)
        refused(rc, err, "not a report folder written by", "Choose another path")
    assert digest(thesis) == before


def test_evaluate_needs_overwrite_for_its_own_report(small_ref, tiny_models, tmp_path, capsys):
    report = tmp_path / "report"
    report.mkdir()
    (report / MARKER_FILE).write_text('{"kind": "report"}')
    (report / "README.md").write_text("an earlier report\n")
    before = digest(report)
    rc, err = run(["evaluate", "--models", str(tiny_models), "--reference", str(small_ref), "--n", "2",
                   "--steps", "1", "--out", str(report)], capsys)
    refused(rc, err, "already exists", "--overwrite")
    assert digest(report) == before


def test_evaluate_refuses_its_reference_as_the_report_folder(small_ref, tiny_models, capsys):
    before = digest(small_ref)
    rc, err = run(["evaluate", "--models", str(tiny_models), "--reference", str(small_ref), "--n", "2",
                   "--out", str(small_ref), "--overwrite"], capsys)
    refused(rc, err, "is the input", "outside the inputs")
    assert digest(small_ref) == before


def test_evaluate_refuses_a_report_folder_that_contains_its_reference(small_ref, tiny_models, capsys):
    folder = small_ref.parent
    before = digest(folder)
    rc, err = run(["evaluate", "--models", str(tiny_models), "--reference", str(small_ref), "--n", "2",
                   "--out", str(folder)], capsys)
    refused(rc, err, "contains the input", "outside the inputs")
    assert digest(folder) == before


# -- moorings and reference -------------------------------------------------------------------------
def test_moorings_never_replaces_real_model_output(tmp_path, capsys, shared_data):
    grid = shared_data / "nextsim" / "ds_auxiliary.nc"
    real = tmp_path / "Moorings_2000m01.nc"
    xr.Dataset({"sic": ("x", [0.9])}, attrs={"source": "neXtSIM"}).to_netcdf(real)
    before = digest(tmp_path)
    for extra in ([], ["--overwrite"]):
        rc, err = run(["moorings", "--grid", str(grid), "--out", str(tmp_path), "--start", "2000-01", "--months", "1",
                       *extra], capsys)
        refused(rc, err, "Moorings_2000m01.nc exists and is not a NetCDF file written by", "move it away yourself")
    assert digest(tmp_path) == before


@pytest.mark.parametrize("argv, problem, fix", [
    (["--resolution-km", "0"], "--resolution-km", "expected"),
    (["--months", "0"], "--months", "integer ≥ 1"),
    (["--start", "2000-13"], "is not a month", "YYYY-MM"),
    (["--months", "5000"], "5000 months", "at most"),
])
def test_moorings_numbers_and_dates_are_checked_first(argv, problem, fix, tmp_path, capsys):
    rc, err = run(["moorings", "--grid", str(tmp_path / "grid.nc"), "--out", str(tmp_path / "run"), *argv], capsys)
    refused(rc, err, problem, fix)
    assert not (tmp_path / "run").exists()


def test_reference_needs_out_and_never_replaces_the_bundled_file(capsys):
    before = digest(BUNDLED)
    rc, err = run(["reference"], capsys)
    refused(rc, err, "required", "--out")
    rc, err = run(["reference", "--out", str(BUNDLED), "--overwrite"], capsys)
    refused(rc, err, "is not a NetCDF file written by seaice-explorer", "move it away yourself")
    assert digest(BUNDLED) == before


@pytest.mark.parametrize("argv, problem, fix", [
    (["--start", "yesterday-ish"], "is not a date", "YYYY-MM-DD"),
    (["--size", "0"], "--size", "integer ≥ 1"),
    (["--size", "100000"], "size 100000", "smaller"),
    (["--days", "-3"], "--days", "integer ≥ 1"),
])
def test_reference_arguments_are_checked(argv, problem, fix, tmp_path, capsys):
    rc, err = run(["reference", "--out", str(tmp_path / "r.nc"), *argv], capsys)
    refused(rc, err, problem, fix)
    assert not (tmp_path / "r.nc").exists()


# -- train ------------------------------------------------------------------------------------------
def test_train_refuses_a_trained_model_without_resume_or_overwrite(tiny_models, tmp_path, capsys):
    folder = tiny_models / "dm"
    before = digest(folder)
    rc, err = run(["train", "dm", "--data", "default", "--out", str(folder), "--steps", "1"], capsys)
    refused(rc, err, "already exists", "--resume")
    assert digest(folder) == before


def test_train_never_trains_into_a_folder_that_is_not_a_checkpoint(thesis, capsys):
    before = digest(thesis)
    for flag in ("--resume", "--overwrite"):
        rc, err = run(["train", "dm", "--data", "default", "--out", str(thesis), "--steps", "1", flag], capsys)
        refused(rc, err, "not a checkpoint folder", "Choose another path")
    assert digest(thesis) == before


def test_train_refuses_its_vae_as_the_output(tiny_models, capsys):
    vae = tiny_models / "vae-gaussian"
    before = digest(vae)
    rc, err = run(["train", "ldm", "--vae", str(vae), "--data", "default", "--out", str(vae), "--steps", "1",
                   "--overwrite"], capsys)
    refused(rc, err, "is the input", "outside the inputs")
    assert digest(vae) == before


@pytest.mark.parametrize("argv, option", [(["--steps", "0"], "--steps"), (["--batch-size", "0"], "--batch-size"),
                                          (["--lr", "nan"], "--lr"), (["--lr", "-1"], "--lr"),
                                          (["--ema-decay", "1.5"], "--ema-decay"),
                                          (["--checkpoint-every", "0"], "--checkpoint-every")])
def test_train_numbers_are_checked_by_the_parser(argv, option, tmp_path, capsys):
    rc, err = run(["train", "dm", "--out", str(tmp_path / "m"), *argv], capsys)
    refused(rc, err, option, "expected")
    assert not (tmp_path / "m").exists()


def test_train_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    rc, err = run(["train", "dm", "--out", str(tmp_path / "m"), "--resume", "--overwrite"], capsys)
    refused(rc, err, "both given", "--resume to continue")


# -- the building blocks ----------------------------------------------------------------------------
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.nc"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.nc"]


def test_a_failed_store_write_leaves_the_old_store(tmp_path):
    store = tmp_path / "s.zarr"
    store.mkdir()
    (store / ".zattrs").write_text('{"store_format": "seaice-explorer training store 1"}')
    before = digest(store)
    with pytest.raises(RuntimeError), atomic_folder(store) as tmp:
        (tmp / "chunk").write_text("half")
        raise RuntimeError("killed")
    assert digest(store) == before and sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_an_empty_folder_is_free_to_use_and_two_outputs_may_not_coincide(tmp_path):
    (tmp_path / "empty").mkdir()
    check_outputs([Output(tmp_path / "empty", "report")], overwrite=False)
    with pytest.raises(ValueError, match="also the output of --a"):
        check_outputs([Output(tmp_path / "x.nc", "netcdf", "--a"), Output(tmp_path / "." / "x.nc", "netcdf", "--b")],
                      overwrite=True)


def test_a_relative_output_is_compared_with_inputs_by_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "in.nc").write_text("data")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is the input"):
        check_outputs([Output(Path("in.nc"), "netcdf")], overwrite=True, inputs=[os.fspath(tmp_path / "in.nc")])
    with pytest.raises(ValueError, match="is the input"):
        check_outputs([Output(tmp_path / "in.nc", "netcdf")], overwrite=True, inputs=["*.nc"])


# -- other bad inputs found by trying the commands as a careless user would --------------------------
def test_moorings_with_a_grid_file_that_is_not_netcdf(tmp_path, capsys):
    grid = tmp_path / "grid.nc"
    grid.write_text("not a grid")
    rc, err = run(["moorings", "--grid", str(grid), "--out", str(tmp_path / "run")], capsys)
    refused(rc, err, "not a readable NetCDF grid file", "Pass the neXtSIM grid file")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("device, problem", [("tpu", "unknown device"), ("cuda", "CUDA was asked for")])
def test_train_refuses_a_device_it_cannot_use_before_building_anything(device, problem, tmp_path, capsys):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    rc, err = run(["train", "dm", "--device", device, "--out", str(tmp_path / "m"), "--steps", "1"], capsys)
    refused(rc, err, problem, "Use device='auto' or 'cpu'" if device == "cuda" else "Use 'auto', 'cpu' or 'cuda'")
    assert not (tmp_path / "m").exists()
