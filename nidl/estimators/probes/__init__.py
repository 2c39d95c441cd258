"""Probes: scikit-learn models fitted on the embeddings of nidl estimators."""

from .model_probing import ModelProbing

__all__ = ["ModelProbing"]
