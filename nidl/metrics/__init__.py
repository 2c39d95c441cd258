"""Metrics: likelihood bounds and disentanglement scores of fitted VAEs, quality
of self-supervised embeddings and agreement between representations, and
regression scores for probing them."""

from .disentanglement import dci_scores, mig_score, sap_score
from .intervention import beta_vae_score, factor_vae_score
from .likelihood import elbo, log_likelihood
from .regression import pearson_r, regression_report
from .ssl import (
    alignment_score,
    contrastive_accuracy_score,
    kruskal_similarity,
    procrustes_r2,
    procrustes_similarity,
    uniformity_score,
)

__all__ = [
    "alignment_score",
    "beta_vae_score",
    "contrastive_accuracy_score",
    "dci_scores",
    "elbo",
    "factor_vae_score",
    "kruskal_similarity",
    "log_likelihood",
    "mig_score",
    "pearson_r",
    "procrustes_r2",
    "procrustes_similarity",
    "regression_report",
    "sap_score",
    "uniformity_score",
]
