"""seaice-explorer: diffusion models for Arctic sea-ice states (Finn et al. 2024, arXiv 2406.18417)."""

__version__ = "0.1.0"
