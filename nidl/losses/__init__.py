"""Losses: the variational autoencoder family and its schedules, and the
self-supervised losses (contrastive, redundancy reduction, self-distillation).
"""

from .barlowtwins import BarlowTwinsLoss
from .beta_tcvae import BetaTCVAELoss
from .beta_vae import BetaVAELoss
from .capacity_beta_vae import CapacityBetaVAELoss
from .dcl import DCLLoss, DCLWLoss
from .dino import DINOLoss
from .infonce import InfoNCE
from .joint_vae import JointPosterior, JointVAELoss
from .schedules import CyclicalSchedule, LinearWarmup
from .yaware_infonce import KernelMetric, YAwareInfoNCE

__all__ = [
    "BarlowTwinsLoss",
    "BetaTCVAELoss",
    "BetaVAELoss",
    "CapacityBetaVAELoss",
    "CyclicalSchedule",
    "DCLLoss",
    "DCLWLoss",
    "DINOLoss",
    "InfoNCE",
    "JointPosterior",
    "JointVAELoss",
    "KernelMetric",
    "LinearWarmup",
    "YAwareInfoNCE",
]
