"""Shared fixtures: paths to the real data in ../shared/data and tiny synthetic states."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch

from seaice_explorer.checkpoints import DenoiserConfig, VAEConfig, build_module, checkpoint_hash, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import serving  # noqa: E402  (benchmarks/serving.py: one way to serve the app for tests and benchmarks)

SHARED = ROOT.parent / "shared" / "data"
SIZE, LATENT = 16, 4


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real files beside the project; tests using them skip when the folder is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real data folder {SHARED} not found (it sits beside the project in CI)")
    return SHARED


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Give the zero-initialised output convolution random weights so the net does something."""
    torch.manual_seed(seed)
    for name, p in module.named_parameters():
        if "conv_out" in name:
            torch.nn.init.normal_(p, std=0.2)
    return module


def save_tiny_models(root: Path) -> None:
    """Tiny randomly initialised checkpoints of all five models on a 16² grid (plumbing tests)."""
    torch.manual_seed(0)
    dm_cfg = DenoiserConfig(kind="dm", grid_size=SIZE, base_channels=8, channel_mults=(1, 2), sigma_data=0.5,
                            label="dm · tiny data-space test model", order=0)
    dm = _randomise(build_module(dm_cfg), 1)
    save_checkpoint(root / "dm", dm, dm_cfg, {"training_data": "none (test)"})
    for i, decoder in enumerate(("gaussian", "censored")):
        vae_cfg = VAEConfig(decoder=decoder, grid_size=SIZE, latent_channels=LATENT, base_channels=8, downsample=4,
                            latent_mean=(0.1,) * LATENT, latent_std=(2.0,) * LATENT)
        torch.manual_seed(10 + i)
        vae = build_module(vae_cfg)
        with torch.no_grad():
            vae.log_scale.fill_(math.log(0.3))
        save_checkpoint(root / f"vae-{decoder}", vae, vae_cfg)
        ldm_cfg = DenoiserConfig(kind="ldm", grid_size=SIZE, base_channels=8, channel_mults=(1, 2),
                                 vae=f"vae-{decoder}", vae_hash=checkpoint_hash(root / f"vae-{decoder}"),
                                 latent_channels=LATENT, latent_size=SIZE // 4, order=1 + i, selected=True)
        save_checkpoint(root / f"ldm-{decoder}", _randomise(build_module(ldm_cfg), 20 + i), ldm_cfg)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder with tiny random checkpoints of dm, vae-*, ldm-* (16² grid)."""
    root = tmp_path_factory.mktemp("tiny_models")
    save_tiny_models(root)
    return root


@contextlib.contextmanager
def _panel_serve(app: Path, flags: Sequence[str] = (), app_args: Sequence[str] = (),
                 startup_s: float = 90) -> Iterator[str]:
    """``panel serve app`` on a free local port (``benchmarks/serving.py``, shared with the benchmarks);
    yields the app's URL once the server answers HTTP and stops it afterwards. The end of the server's
    log is printed at teardown (pytest shows it with a failure)."""
    try:
        with serving.serve(app, flags, app_args, startup_s=startup_s) as server:
            try:
                yield server.url
            finally:
                stopped = server.stop()
                print(f"panel serve stopped {stopped.exit_s:.1f} s after SIGTERM (status {stopped.returncode}), "
                      f"its log's end:\n{server.log_text()[-3000:]}")
    except serving.ServeError as err:
        pytest.fail(str(err))


@pytest.fixture(scope="session")
def panel_serve():
    """Serve a Panel app for a browser test: ``with panel_serve(app, flags, app_args, startup_s) as url``."""
    return _panel_serve


LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")


def _watch_offline(page) -> tuple[list[str], list[str]]:
    """Abort and record every request that leaves localhost, and record console and page errors.

    Returns the two lists ``(external, errors)``; the test asserts both are empty at its end."""
    external: list[str] = []
    errors: list[str] = []

    def route(r) -> None:
        if r.request.url.startswith(LOCAL):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return external, errors


@pytest.fixture(scope="session")
def watch_offline():
    """For a browser test: ``external, errors = watch_offline(page)`` (outside requests, console errors)."""
    return _watch_offline
