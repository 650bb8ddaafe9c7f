"""U-Net and VAE: shapes, the mask channel and its crops, the VAE likelihood against scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from seaice_explorer.networks import VAE, UNet
from seaice_explorer.networks.layers import num_groups
from seaice_explorer.training.data import random_crop


def _randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give zero-initialised layers random weights so outputs depend on every input."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return module.eval()


@pytest.mark.parametrize("size", [32, 64])
def test_unet_shapes(size):
    torch.manual_seed(0)
    net = UNet(5, 5, base_channels=8, channel_mults=(1, 2, 2), attn_levels=(2,))
    x = torch.randn(2, 5, size, size)
    out = net(x, torch.zeros(2))
    assert out.shape == (2, 5, size, size)
    assert torch.isfinite(out).all()


def test_unet_scalar_noise_and_bad_size():
    net = _randomise(UNet(8, 8, base_channels=8))
    x = torch.randn(3, 8, 16, 16)
    a = net(x, torch.tensor(0.3))
    b = net(x, torch.full((3,), 0.3))
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 8, 18, 18), torch.zeros(1))


def test_unet_is_fully_convolutional():
    """One set of weights runs on any size divisible by 4, and is translation-equivariant inside."""
    net = _randomise(UNet(5, 5, base_channels=8, channel_mults=(1, 2)))  # one level down: factor 2
    x = torch.randn(1, 5, 64, 64)
    for size in (32, 64, 96):
        assert net(torch.randn(1, 5, size, size), torch.zeros(1)).shape[-1] == size
    full = net(x, torch.zeros(1))
    shifted = net(torch.roll(x, shifts=(2, 2), dims=(-2, -1)), torch.zeros(1))
    # far from the borders (and the wrapped edge) the output moves with the input; GroupNorm's
    # per-field statistics see the zero-padded borders, hence a small tolerance
    diff = (torch.roll(full, (2, 2), (-2, -1)) - shifted)[..., 24:40, 24:40].abs().max()
    assert diff < 1e-2 * full.std()


def test_conditioning_is_an_argument_not_a_buffer():
    """D(x, σ, **cond): the land mask goes in as ``cond=``, never stored on the U-Net."""
    torch.manual_seed(0)
    mask = (torch.rand(32, 32) > 0.3).float()
    net = _randomise(UNet(5, 5, base_channels=8, cond_channels=1))
    assert "cond" not in net.state_dict()
    x = torch.randn(2, 5, 32, 32)
    with_mask = net(x, torch.zeros(2), cond=mask[None, None])
    # the mask matters: another mask gives another output
    assert not torch.allclose(with_mask, net(x, torch.zeros(2), cond=torch.ones(1, 1, 32, 32)))
    with pytest.raises(ValueError, match="pass cond="):
        net(x, torch.zeros(2))
    # a crop needs the matching crop of the mask
    with pytest.raises(ValueError, match="matching crop"):
        net(x[..., :16, :16], torch.zeros(2), cond=mask[None, None])
    out = net(x[..., :16, :16], torch.zeros(2), cond=mask[None, None, :16, :16])
    assert out.shape == (2, 5, 16, 16)


def test_random_crop_takes_the_same_window_of_mask_and_state():
    h = w = 32
    coded = torch.arange(h * w, dtype=torch.float32).reshape(h, w)  # each cell its own value
    x = torch.stack([coded, -coded])[None].repeat(4, 1, 1, 1)  # (4, 2, H, W)
    gen = torch.Generator().manual_seed(3)
    xc, mc = random_crop(x, coded, 8, gen)
    assert xc.shape == (4, 2, 8, 8) and mc.shape == (4, 1, 8, 8)
    torch.testing.assert_close(xc[:, :1], mc)
    torch.testing.assert_close(xc[:, 1:], -mc)
    for i in range(4):  # a contiguous window: row steps of w, column steps of 1
        v = mc[i, 0]
        assert torch.equal(v[1:] - v[:-1], torch.full((7, 8), float(w)))
        assert torch.equal(v[:, 1:] - v[:, :-1], torch.ones(8, 7))
    assert len({float(mc[i, 0, 0, 0]) for i in range(4)}) > 1  # per-sample offsets
    # several conditioning channels (mask, x, y) are cut with the same window
    xc2, cc = random_crop(x, torch.stack([coded, 2 * coded])[None], 8, torch.Generator().manual_seed(3))
    torch.testing.assert_close(cc[:, :1], xc2[:, :1])
    torch.testing.assert_close(cc[:, 1:], 2 * xc2[:, :1])


@pytest.mark.parametrize("f, latent, size", [(4, 8, 32), (8, 16, 64)])
def test_vae_shapes(f, latent, size):
    torch.manual_seed(0)
    vae = VAE(5, latent, base_channels=8, downsample=f)
    x = torch.randn(2, 5, size, size)
    mean, logvar = vae.encode(x)
    assert mean.shape == logvar.shape == (2, latent, size // f, size // f)
    mu, sigma = vae.decode(mean)
    assert mu.shape == x.shape
    assert sigma.shape == (5,) and (sigma > 0).all()
    assert vae.log_scale.shape == (5,)


def test_vae_rejects_bad_factor():
    with pytest.raises(ValueError):
        VAE(downsample=6)
    with pytest.raises(ValueError):
        VAE(decoder="laplace")  # type: ignore[arg-type]


def _patched_vae(decoder: str, mu: torch.Tensor, sigma: torch.Tensor, mean: float, logvar: float, beta: float) -> VAE:
    vae = VAE(mu.shape[1], 2, base_channels=8, downsample=2, decoder=decoder, beta=beta)  # type: ignore[arg-type]
    b, _, h, w = mu.shape
    vae.encode = lambda x: (torch.full((b, 2, h // 2, w // 2), mean), torch.full((b, 2, h // 2, w // 2), logvar))
    vae.decode = lambda z: (mu, sigma)
    return vae


def _scipy_censored_nll(y, mu, sigma, lower, upper, ocean):
    total, count = 0.0, 0
    for idx in np.ndindex(y.shape):
        if not ocean[idx[0], idx[2], idx[3]]:
            continue
        c = idx[1]
        s = sigma[c]
        if y[idx] <= lower[c]:
            nll = -stats.norm.logcdf((lower[c] - mu[idx]) / s)
        elif y[idx] >= upper[c]:
            nll = -stats.norm.logcdf((mu[idx] - upper[c]) / s)
        else:
            nll = -stats.norm.logpdf(y[idx], mu[idx], s)
        total += nll
        count += 1
    return total / count


@pytest.mark.parametrize("decoder", ["censored", "gaussian"])
def test_vae_loss_matches_scipy(decoder):
    """Censored NLL averaged over ALL ocean cells together, plus beta * analytic KL."""
    rng = np.random.default_rng(0)
    b, c, h, w = 2, 3, 4, 4
    lower = np.array([0.0, 0.0, -np.inf])
    upper = np.array([np.inf, 1.0, np.inf])
    y = rng.uniform(-0.5, 1.5, (b, c, h, w))
    y[:, 0] = np.maximum(y[:, 0], 0.0)  # many cells exactly at the bounds
    y[:, 1] = np.clip(y[:, 1], 0.0, 1.0)
    mu = rng.normal(0.4, 0.6, (b, c, h, w))
    sigma = np.array([0.3, 0.2, 0.5])
    ocean = rng.uniform(size=(b, h, w)) > 0.3
    mean, logvar, beta = 0.5, math.log(0.25), 0.01
    vae = _patched_vae(decoder, torch.tensor(mu), torch.tensor(sigma), mean, logvar, beta)
    out = vae.loss(torch.tensor(y), torch.tensor(ocean[:, None], dtype=torch.float64),
                   torch.tensor(lower), torch.tensor(upper))
    lo, hi = (lower, upper) if decoder == "censored" else (np.full(c, -np.inf), np.full(c, np.inf))
    expected_nll = _scipy_censored_nll(y, mu, sigma, lo, hi, ocean)
    expected_kl = 0.5 * (mean**2 + math.exp(logvar) - 1 - logvar)
    assert out.nll.item() == pytest.approx(expected_nll, rel=1e-5)
    assert out.kl.item() == pytest.approx(expected_kl, rel=1e-5)
    assert out.total.item() == pytest.approx(expected_nll + beta * expected_kl, rel=1e-5)


def test_vae_loss_ignores_land():
    torch.manual_seed(0)
    vae = VAE(5, 4, base_channels=8, downsample=4, decoder="censored")
    x = torch.randn(2, 5, 16, 16)
    mask = torch.ones(1, 1, 16, 16)
    mask[..., :4, :] = 0
    lower, upper = torch.full((5,), -1.0), torch.full((5,), 1.0)
    x2 = x.clone()
    x2[..., :4, :] = 123.0  # garbage on land reaches the encoder, but not the likelihood term
    a = vae.loss(x, mask, lower, upper, generator=torch.Generator().manual_seed(0))
    vae.encode = lambda inp, _e=vae.encode: _e(x)  # same latent for both
    b = vae.loss(x2, mask, lower, upper, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a.nll, b.nll)


def test_vae_loss_decreases_on_a_toy_batch():
    torch.manual_seed(0)
    vae = VAE(5, 4, base_channels=8, downsample=4, decoder="censored")
    x = torch.randn(4, 5, 16, 16).clamp(-1, 1)
    mask = torch.ones(1, 1, 16, 16)
    lower, upper = torch.tensor([-1.0, -1.0, -1.0, -math.inf, -math.inf]), torch.tensor([math.inf, 1.0, 1.0, math.inf, math.inf])
    opt = torch.optim.Adam(vae.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(20):
        loss = vae.loss(x, mask, lower, upper, generator=gen).total
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.1


def test_group_counts_divide():
    for ch in (8, 12, 16, 24, 32, 48, 64, 96, 128):
        g = num_groups(ch)
        assert ch % g == 0 and ch // g >= 4 and g <= 32
