"""Building blocks shared by the self-supervised estimators.

The projection heads are exported here. The helpers of the estimators live
in their own modules: :func:`~nidl.estimators.ssl.utils.encoder.build_encoder`,
:func:`~nidl.estimators.ssl.utils.optimizer.configure_ssl_optimizers`,
:class:`~nidl.estimators.ssl.utils.momentum.MomentumUpdater` and
:func:`~nidl.estimators.ssl.utils.momentum.initialize_momentum_params`.
"""

from .projection_heads import (
    BarlowTwinsProjectionHead,
    DINOProjectionHead,
    ProjectionHead,
    SimCLRProjectionHead,
    YAwareProjectionHead,
)

__all__ = [
    "BarlowTwinsProjectionHead",
    "DINOProjectionHead",
    "ProjectionHead",
    "SimCLRProjectionHead",
    "YAwareProjectionHead",
]
