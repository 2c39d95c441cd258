"""Metrics of fitted VAEs: likelihood bounds and disentanglement scores."""

from .disentanglement import dci_scores, mig_score, sap_score
from .intervention import beta_vae_score, factor_vae_score
from .likelihood import elbo, log_likelihood

__all__ = [
    "beta_vae_score",
    "dci_scores",
    "elbo",
    "factor_vae_score",
    "log_likelihood",
    "mig_score",
    "sap_score",
]
