"""Losses of the variational autoencoder family, and their schedules."""

from .beta_tcvae import BetaTCVAELoss
from .beta_vae import BetaVAELoss
from .capacity_beta_vae import CapacityBetaVAELoss
from .joint_vae import JointPosterior, JointVAELoss
from .schedules import CyclicalSchedule, LinearWarmup

__all__ = [
    "BetaTCVAELoss",
    "BetaVAELoss",
    "CapacityBetaVAELoss",
    "CyclicalSchedule",
    "JointPosterior",
    "JointVAELoss",
    "LinearWarmup",
]
