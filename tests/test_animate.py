"""The take-away animation: one labelled frame per sampler step, as a GIF (and MP4 with PyAV), from
the API and from ``seaice-explorer animate``, on the tiny models."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from seaice_explorer.cli import main
from seaice_explorer.diffusion.generate import generate
from seaice_explorer.plots import animate

STEPS = 5


@pytest.fixture(scope="module", params=["dm", "ldm-censored"])
def generated(request, tiny_models):
    return generate(request.param, n=1, steps=STEPS, seed=0, bounds="clamp", models_dir=tiny_models,
                    return_trajectory=True)


def test_one_labelled_frame_per_sampler_step(generated):
    samples, traj = generated
    frames = animate.frames(traj, "sic")
    assert len(frames) == STEPS
    assert [f.step for f in frames] == list(range(STEPS))
    sigmas = traj.sigma
    for frame, sigma in zip(frames, sigmas):
        assert frame.sigma == pytest.approx(float(sigma))
        assert f"step {frame.step + 1} of {STEPS}" in frame.headline and f"σ = {sigma:.3g}" in frame.headline
        assert frame.guess.values.shape == frame.guess.geometry.shape
    # the last guess is the finished sample (Heun's last step is an Euler step to σ = 0)
    np.testing.assert_allclose(np.nan_to_num(frames[-1].guess.values),
                               np.nan_to_num(samples["sic"].isel(sample=0).values), atol=1e-5)
    assert np.std(frames[0].noisy[np.isfinite(frames[0].noisy)]) == pytest.approx(1.0, abs=0.5)  # c_in scaling


def test_gif_has_a_frame_per_step_and_the_asked_size(generated):
    samples, traj = generated
    frames = animate.frames(traj, "sic")
    gif = Image.open(io.BytesIO(animate.gif_bytes(frames, width_px=480)))
    assert gif.format == "GIF" and gif.n_frames == STEPS
    assert gif.size[0] == 480 and 200 < gif.size[1] < 300
    durations = []
    for i in range(gif.n_frames):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert durations[-1] == animate.HOLD_MS and set(durations[:-1]) == {animate.FRAME_MS}
    png = Image.open(io.BytesIO(animate.png_bytes(frames[-1])))
    assert png.size[0] == animate.PRESENTATION_WIDTH  # the presentation-resolution still


def test_frames_differ_step_to_step(generated):
    samples, traj = generated
    pixels = animate.render(animate.frames(traj, "sic")[:2], width_px=320)
    assert pixels[0].shape == pixels[1].shape and pixels[0].dtype == np.uint8
    assert (pixels[0] != pixels[1]).any()


@pytest.mark.skipif(not animate.mp4_available(), reason="PyAV (av) is not installed: MP4 is optional")
def test_mp4_is_written_with_pyav(generated):
    import av

    samples, traj = generated
    data = animate.mp4_bytes(animate.frames(traj, "sic"), width_px=320)
    with av.open(io.BytesIO(data)) as video:
        stream = video.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.width == 320
        assert sum(1 for _ in video.decode(stream)) >= STEPS


def test_cli_writes_the_gif(tiny_models, tmp_path):
    out = tmp_path / "denoise.gif"
    assert main(["animate", "--backend", "ldm-gaussian", "--steps", "3", "--width", "400",
                 "--models", str(tiny_models), "--out", str(out)]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 3 and gif.size[0] == 400
    assert main(["animate", "--backend", "ldm-gaussian", "--models", str(tiny_models),
                 "--out", str(tmp_path / "x.avi")]) == 2  # a clear error, no traceback
    assert main(["animate", "--backend", "ldm-gaussian", "--variable", "snt", "--steps", "2",
                 "--models", str(tiny_models), "--out", str(tmp_path / "y.gif")]) == 2
