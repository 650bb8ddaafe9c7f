"""Neural networks: the U-Net behind every denoiser and the VAE of the latent backends."""

from .unet import UNet
from .vae import VAE, VAELoss

__all__ = ["UNet", "VAE", "VAELoss"]
