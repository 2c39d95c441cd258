"""Normative models: how far, and where, new subjects deviate from controls.

A normative model wraps a model already fitted on healthy controls (an
autoencoder, or a regression of the features on covariates), is calibrated
on held-out controls, and gives each new subject deviation z-scores per
feature and per region, NIfTI maps of them, a subject-level score and, for
an autoencoder, a latent deviation with its p-value.
"""

from .normative_model import NormativeModel
from .regression_normative_model import RegressionNormativeModel

__all__ = ["NormativeModel", "RegressionNormativeModel"]
