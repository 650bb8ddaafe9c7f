"""Training of the VAE and of the data-space / latent denoisers, with checkpoints and resume."""

from .data import TrainingData, load_training_data, normalised_bounds, random_crop
from .diffusion import train_diffusion
from .ema import EMA
from .loops import TrainOptions, TrainResult, lr_at
from .stream import StoreDataset, open_training_data
from .vae import train_vae

__all__ = [
    "EMA",
    "StoreDataset",
    "TrainOptions",
    "TrainResult",
    "TrainingData",
    "load_training_data",
    "lr_at",
    "normalised_bounds",
    "open_training_data",
    "random_crop",
    "train_diffusion",
    "train_vae",
]
