"""Self-supervised estimators: encoders trained without labels.

Each estimator trains an encoder on several views of every sample (the
contrastive SimCLR and y-Aware methods, Barlow Twins, DINO); its
``transform`` returns the encoder's features. The pieces they share
(projection heads, optimiser and schedule set-up, moving-average teachers)
live in :mod:`nidl.estimators.ssl.utils`.
"""

__all__ = []
