"""Losses of the variational autoencoder family."""

from .beta_vae import BetaVAELoss

__all__ = ["BetaVAELoss"]
