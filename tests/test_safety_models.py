"""A hostile or careless models folder (issue 24): nothing read from outside it, nothing unbounded.

Model folders are self-contained: an ldm's ``vae`` and a ``dataset`` path are resolved inside the
models folder, never the current directory; absolute paths, ``..`` and links out are refused, and
the registry lists each refusal as a broken folder while the others keep working. Configs are
bounded before any network is built; the weights' header is checked against the network the
config implies (on the meta device) before a tensor is read. The CLI answers an empty, all-broken
or single-model folder with exit status 2 and a one-line error, and touches no file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
import torch
import xarray as xr

from seaice_explorer import checkpoints as ck
from seaice_explorer.cli import main
from seaice_explorer.configs import (
    DATASET_NAMES,
    MAX_GRID_SIZE,
    DenoiserConfig,
    VAEConfig,
    config_from_dict,
    is_named_dataset,
)
from seaice_explorer.errors import SeaIceInputError
from seaice_explorer.registry import ModelEntry, discover

FAST_S = 5.0  # a refusal takes well under this; building a 100000-block network would hang


@pytest.fixture()
def root(tiny_models: Path, tmp_path: Path) -> Path:
    """A fresh copy of the tiny models folder (dm, vae-*, ldm-*)."""
    return Path(shutil.copytree(tiny_models, tmp_path / "models"))


def _edit(folder: Path, **keys: object) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **keys}))


def _snapshot(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots``: what a command could have touched."""
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for r in roots for p in sorted(r.rglob("*")) if p.is_file()}


def _refused(capsys, argv: list[str], *needles: str, watch: tuple[Path, ...] = ()) -> str:
    """Run the CLI in-process; assert exit 2, a one-line error naming each needle, no traceback,
    no file touched under ``watch`` and no ``--out`` written; returns stderr."""
    before = _snapshot(*watch)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "error: " in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert _snapshot(*watch) == before
    if "--out" in argv:
        assert not Path(argv[argv.index("--out") + 1]).exists()
    return err


def _generate(root: Path | str, backend: str, out: Path) -> list[str]:
    return ["generate", "--models", str(root), "--backend", backend, "--n", "1", "--steps", "1", "--device", "cpu",
            "--no-progress", "--out", str(out)]


# ------------------------------------------------------------------------------------------ vae
def test_vae_absolute_path_is_refused(root: Path, tmp_path: Path, capsys) -> None:
    _edit(root / "ldm-gaussian", vae=str(root / "vae-gaussian"))  # exists, but absolute
    reg = discover(root)
    assert "ldm-gaussian" not in reg.entries and "inside the models folder" in reg.broken["ldm-gaussian"]
    assert reg.names == ["dm", "ldm-censored"]
    _refused(capsys, _generate(root, "ldm-gaussian", tmp_path / "x.nc"), "ldm-gaussian", "broken",
             "inside the models folder", watch=(root,))


@pytest.mark.parametrize("vae", ["../models/vae-gaussian", "vae-gaussian/../vae-gaussian", "~/vae-gaussian"])
def test_vae_with_dotdot_is_refused(root: Path, vae: str) -> None:
    _edit(root / "ldm-gaussian", vae=vae)  # the first two even lead back to the same folder
    reg = discover(root)
    assert "without '..'" in reg.broken["ldm-gaussian"] and "config.json" in reg.broken["ldm-gaussian"]
    assert reg.names == ["dm", "ldm-censored"]


def test_relative_vae_is_resolved_in_the_models_folder_not_the_cwd(root: Path, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(root / "vae-censored", elsewhere / "vae-gaussian")  # a decoy of the same name
    monkeypatch.chdir(elsewhere)
    entry = discover(root).get("ldm-gaussian")
    assert entry.vae_path == root.resolve() / "vae-gaussian"
    watch = (root, elsewhere)
    before = _snapshot(*watch)
    assert main(_generate(root, "ldm-gaussian", tmp_path / "a.nc")) == 0
    monkeypatch.chdir(tmp_path)  # the same run from another directory, --models relative to it
    assert main(_generate("models", "ldm-gaussian", tmp_path / "b.nc")) == 0
    assert _snapshot(*watch) == before
    with xr.open_dataset(tmp_path / "a.nc") as a, xr.open_dataset(tmp_path / "b.nc") as b:
        assert ck.checkpoint_hash(root / "vae-gaussian") in a.attrs["checkpoint_sha256"]
        assert ck.checkpoint_hash(elsewhere / "vae-gaussian") not in a.attrs["checkpoint_sha256"]
        assert a.attrs["checkpoint_sha256"] == b.attrs["checkpoint_sha256"]
        xr.testing.assert_identical(a["sic"], b["sic"])


def test_missing_vae_never_falls_back_to_the_cwd(root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(root / "vae-gaussian", elsewhere / "vae-gaussian")  # the very VAE, now only in the cwd
    monkeypatch.chdir(elsewhere)
    reg = discover(root)
    assert "'vae-gaussian' is not a model folder in" in reg.broken["ldm-gaussian"]
    assert reg.names == ["dm", "ldm-censored"]
    _refused(capsys, _generate(root, "ldm-gaussian", tmp_path / "x.nc"), "ldm-gaussian", "not a model folder",
             watch=(root, elsewhere))


def test_vae_link_out_of_the_models_folder_is_refused(root: Path, tmp_path: Path) -> None:
    shutil.move(root / "vae-gaussian", tmp_path / "outside-vae")
    (root / "vae-link").symlink_to(tmp_path / "outside-vae", target_is_directory=True)
    _edit(root / "ldm-gaussian", vae="vae-link")
    assert "leads outside the models folder" in discover(root).broken["ldm-gaussian"]


# -------------------------------------------------------------------------------------- dataset
def test_dataset_etc_hostname_is_refused_and_never_opened(root: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from seaice_explorer.diffusion import pipeline

    _edit(root / "dm", dataset="/etc/hostname")
    reg = discover(root)
    assert "dataset '/etc/hostname' is neither a known name (default, osisaf, osisaf:SPLIT)" in reg.broken["dm"]
    assert reg.names == ["ldm-gaussian", "ldm-censored"]
    _refused(capsys, _generate(root, "dm", tmp_path / "x.nc"), "/etc/hostname", "Set dataset to a known name",
             watch=(root,))
    # an entry built by hand never reaches open_reference either: the default grid instead
    opened: list[str] = []
    monkeypatch.setattr(pipeline, "open_reference", lambda spec, **kw: opened.append(spec))
    hostile = ModelEntry("dm", root / "dm", DenoiserConfig(kind="dm", grid_size=16, dataset="/etc/hostname"))
    assert pipeline.grid_of(hostile).sizes["y"] == 16 and opened == []


def test_dataset_with_dotdot_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.nc").write_bytes(b"secret")
    _edit(root / "dm", dataset="../outside.nc")
    assert "nor a relative path inside the models folder (no absolute path, no '..')" in discover(root).broken["dm"]


def test_dataset_unknown_name_is_refused(root: Path) -> None:
    _edit(root / "vae-gaussian", dataset="nextsim-2030")  # the VAE's dataset counts too
    reg = discover(root)
    assert "'nextsim-2030' is not a known name" in reg.broken["ldm-gaussian"]
    assert reg.names == ["dm", "ldm-censored"]


def test_dataset_path_is_resolved_in_the_models_folder(root: Path, tmp_path: Path, monkeypatch) -> None:
    from seaice_explorer.diffusion import pipeline

    (root / "data").mkdir()
    (root / "data" / "states.nc").write_bytes(b"x")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "states.nc").write_bytes(b"decoy")
    _edit(root / "dm", dataset="data/states.nc")
    monkeypatch.chdir(tmp_path)
    reg = discover(root)
    entry = reg.get("dm")
    assert reg.dataset_source(entry.dataset) == str(root.resolve() / "data" / "states.nc")
    opened: list[str] = []

    def fake_open(spec: str, **kw: object) -> None:
        opened.append(spec)
        raise SeaIceInputError(spec, "not a data set", "test")

    monkeypatch.setattr(pipeline, "open_reference", fake_open)
    pipeline.grid_of(entry)
    assert opened == [str(root.resolve() / "data" / "states.nc")]


def test_known_dataset_names() -> None:
    from seaice_explorer.data.readers import DATASETS

    assert set(DATASET_NAMES) == set(DATASETS)  # the names open_reference knows
    assert all(is_named_dataset(n) for n in ("default", "osisaf", "osisaf:2019", "OSISAF:train"))
    assert not any(is_named_dataset(n) for n in ("default:2019", "/etc/hostname", "osisafx", "", None))


# --------------------------------------------------------------------------------------- bounds
ABSURD = [
    ("dm", {"num_res_blocks": 100000}, "num_res_blocks must be a whole number in 1..4"),
    ("dm", {"base_channels": 100000}, "base_channels must be a whole number in 1..256"),
    ("dm", {"grid_size": 2048}, f"grid_size must be a whole number in 4..{MAX_GRID_SIZE}"),
    ("dm", {"channel_mults": [1] * 50}, "channel_mults must be a list of 1..8"),
    ("dm", {"channel_mults": [1, 100000]}, "each of channel_mults must be a whole number in 1..8"),
    ("dm", {"base_channels": 0}, "base_channels must be a whole number"),
    ("dm", {"grid_size": -16}, "grid_size must be a whole number"),
    ("dm", {"num_res_blocks": 0}, "num_res_blocks must be a whole number"),
    ("dm", {"attn_heads": 0, "attn_levels": [1]}, "attn_heads must be a whole number"),
    ("dm", {"grid_size": 512, "attn_levels": [0]}, "self-attention at level 0 would run on 512² cells"),
    ("dm", {"base_channels": 256, "channel_mults": [1, 4]}, "above 512 channels"),
    ("dm", {"sigma_max": float("inf")}, "sigma_max must be a finite number"),
    ("vae-gaussian", {"latent_channels": 100000}, "latent_channels must be a whole number in 1..64"),
    ("vae-gaussian", {"downsample": 2**20}, "downsample must be a whole number in 1..32"),
    ("vae-gaussian", {"channel_mults": [1, 2]}, "downsample 4 needs 3 channel_mults"),
]


ABSURD_IDS = [f"{f}-" + "-".join(f"{k}={v}" for k, v in keys.items())[:30] for f, keys, _ in ABSURD]


@pytest.mark.parametrize("folder, keys, message", ABSURD, ids=ABSURD_IDS)
def test_absurd_config_is_refused_before_anything_is_built(root: Path, tmp_path: Path, monkeypatch, capsys,
                                                           folder: str, keys: dict, message: str) -> None:
    def never(*args: object, **kw: object) -> None:
        raise AssertionError("a network was built")

    monkeypatch.setattr(ck, "build_module", never)
    _edit(root / folder, **keys)
    start = time.perf_counter()
    reg = discover(root)
    backend = folder if folder == "dm" else "ldm-gaussian"
    assert message in reg.broken[backend] and backend not in reg.entries
    with pytest.raises(SeaIceInputError, match="config.json"):
        ck.load_checkpoint(root / folder)
    _refused(capsys, _generate(root, backend, tmp_path / "x.nc"), message, watch=(root,))
    assert time.perf_counter() - start < FAST_S


def test_the_limits_fit_the_paper_preset_and_the_shipped_models() -> None:
    from seaice_explorer.configs import MODELS_DIR
    from seaice_explorer.training.presets import PRESETS

    paper = PRESETS["paper-512"]
    VAEConfig(**paper["vae"], grid_size=512)
    DenoiserConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in paper["dm"].items()}, grid_size=512)
    DenoiserConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in paper["ldm"].items()}, grid_size=512,
                   vae="vae", latent_channels=16, latent_size=64)
    for path in sorted(MODELS_DIR.glob("*/config.json")):
        config_from_dict(json.loads(path.read_text()), path)


# -------------------------------------------------------------------------------------- weights
def test_weights_header_mismatch_is_caught_before_allocation(root: Path, monkeypatch) -> None:
    import safetensors

    real_build = ck.build_module
    devices: list[str] = []

    def meta_only(config):  # the real network must not be built before the weights are checked
        module = real_build(config)
        devices.append(next(module.parameters()).device.type)
        assert devices[-1] == "meta", "a network was allocated before the weights were checked"
        return module

    def no_read(*args: object, **kw: object) -> None:
        raise AssertionError("a tensor was read before the header was checked")

    monkeypatch.setattr(ck, "build_module", meta_only)
    monkeypatch.setattr(safetensors, "safe_open", no_read)
    _edit(root / "dm", base_channels=64)  # the weights are of base_channels=8
    with pytest.raises(SeaIceInputError, match=r"model.safetensors: tensor .* has shape .*config.json implies"):
        ck.load_checkpoint(root / "dm")
    assert devices == ["meta"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "huge-header", "not-an-object", "empty", "offsets"])
def test_garbage_weights_are_a_clear_error(root: Path, tmp_path: Path, capsys, damage: str) -> None:
    path = root / "dm" / "model.safetensors"
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["data_offsets"] = [0, 10**12]
    shifted = json.dumps(header).encode()
    path.write_bytes({
        "garbage": b"not a safetensors file" * 10, "truncated": raw[: len(raw) // 2],
        "huge-header": (2**62).to_bytes(8, "little") + b"{}", "not-an-object": (5).to_bytes(8, "little") + b"[1,2]",
        "empty": b"", "offsets": len(shifted).to_bytes(8, "little") + shifted + raw[8 + n:],
    }[damage])
    with pytest.raises(SeaIceInputError, match="model.safetensors: corrupt or truncated safetensors file"):
        ck.load_checkpoint(root / "dm")
    _refused(capsys, _generate(root, "dm", tmp_path / "x.nc"), "corrupt or truncated", "Re-save or re-train",
             watch=(root,))


def test_non_float_or_non_finite_weights_are_refused(root: Path) -> None:
    from safetensors.torch import load_file, save_file

    path = root / "dm" / "model.safetensors"
    tensors = load_file(str(path))
    key = next(iter(tensors))
    save_file({**tensors, key: tensors[key].to(torch.int32)}, str(path))
    with pytest.raises(SeaIceInputError, match=r"not finite floating point \(dtype I32\)"):
        ck.load_checkpoint(root / "dm")
    save_file({**tensors, key: torch.full_like(tensors[key], float("nan"))}, str(path))
    with pytest.raises(SeaIceInputError, match="not finite floating point"):
        ck.load_checkpoint(root / "dm")


# ------------------------------------------------------------------------- no usable model folder
def test_empty_models_folder_is_a_clear_cli_error(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    need = ("no backend here", "--models")
    _refused(capsys, ["generate", "--models", str(empty), "--out", str(tmp_path / "x.nc")], str(empty), *need)
    _refused(capsys, _generate(empty, "dm", tmp_path / "x.nc"), *need)
    _refused(capsys, ["evaluate", "--models", str(empty), "--out", str(tmp_path / "report")], *need)
    _refused(capsys, ["bench", "--models", str(empty), "--no-train"], *need)
    _refused(capsys, ["animate", "--models", str(empty), "--out", str(tmp_path / "x.gif")], *need)


def test_all_broken_models_folder_is_a_clear_cli_error(root: Path, tmp_path: Path, capsys) -> None:
    _edit(root / "dm", num_res_blocks=100000)
    _edit(root / "vae-gaussian", dataset="/etc/hostname")
    _edit(root / "vae-censored", base_channels=100000)
    err = _refused(capsys, ["generate", "--models", str(root), "--out", str(tmp_path / "x.nc")],
                   "every model folder is broken", "num_res_blocks", "/etc/hostname", "Fix or re-train",
                   watch=(root,))
    assert all(name in err for name in ("dm:", "ldm-gaussian:", "ldm-censored:"))


def test_models_pointing_at_one_model_folder_is_a_clear_cli_error(root: Path, tmp_path: Path, capsys) -> None:
    folder = root / "dm"
    _refused(capsys, ["generate", "--models", str(folder), "--out", str(tmp_path / "x.nc")],
             "this is one model folder", f"--models {root.resolve()}", watch=(root,))
    _refused(capsys, _generate(folder, "dm", tmp_path / "x.nc"), "this is one model folder", watch=(root,))


def test_registry_keeps_the_good_folders_working(root: Path, tmp_path: Path, capsys) -> None:
    from seaice_explorer.ui.model import texts

    _edit(root / "ldm-gaussian", vae="/etc")
    (root / "huge").mkdir()
    (root / "huge" / "config.json").write_text(json.dumps({"kind": "dm", "grid_size": 2048}))
    reg = discover(root)
    assert reg.names == ["dm", "ldm-censored"] and set(reg.broken) == {"ldm-gaussian", "huge"}
    assert reg.unusable() is None and reg.require() is reg
    notice = texts.registry_notice(reg)
    assert "2 model folders refused" in notice and "`huge`: grid_size" in notice and "'/etc'" in notice
    out = tmp_path / "ok.nc"
    assert main(_generate(root, "ldm-censored", out)) == 0
    with xr.open_dataset(out) as ds:
        assert ds.attrs["backend"] == "ldm-censored" and ds.sic.shape == (1, 16, 16)


def test_the_app_state_and_sidebar_show_the_refusals(root: Path, tmp_path: Path) -> None:
    from seaice_explorer.ui.views.sidebar import Sidebar
    from seaice_explorer.ui.model.state import ExplorerState

    _edit(root / "dm", dataset="/etc/hostname")
    state = ExplorerState(discover(root), auto_regenerate=False)
    assert "/etc/hostname" not in state.sources.values() and state.param.backends.objects == ["ldm-gaussian",
                                                                                           "ldm-censored"]
    sidebar = Sidebar(state=state)
    assert sidebar.models_notice.visible and "`dm`" in sidebar.models_notice.object
    single = Sidebar(state=ExplorerState(discover(root / "ldm-censored"), auto_regenerate=False))
    assert single.models_notice.visible and "this is one model folder" in single.models_notice.object
