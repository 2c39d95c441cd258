"""Linear models trained by Lightning: classifiers on the outputs of torch models."""

from .logistic_regression import LogisticRegression

__all__ = ["LogisticRegression"]
