"""Normative models: how far, and where, new subjects deviate from controls.

A normative model fits a model of healthy controls (an autoencoder, or a
regression of the features on covariates) on training controls, is
calibrated on held-out controls, and gives each new subject deviation
z-scores per feature and per region with p-values corrected across the
brain, NIfTI maps of them, a subject-level score and, for an autoencoder, a
latent distance, each p-value calibrated on the held-out controls.
"""

from ._p_values import adjust_p_values, conformal_p_values
from .normative_model import NormativeModel
from .regression_normative_model import RegressionNormativeModel

__all__ = [
    "NormativeModel",
    "RegressionNormativeModel",
    "adjust_p_values",
    "conformal_p_values",
]
