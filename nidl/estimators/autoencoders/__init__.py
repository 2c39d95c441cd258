"""Autoencoder estimators."""

from .beta_tcvae import BetaTCVAE
from .capacity_beta_vae import CapacityBetaVAE
from .conditional_vae import ConditionalVAE
from .joint_vae import JointVAE
from .vae import VAE

__all__ = ["VAE", "BetaTCVAE", "CapacityBetaVAE", "ConditionalVAE", "JointVAE"]
