"""Lightning callbacks of nidl: metrics of the step outputs during training,
linear probing of an encoder's embeddings, and checks of the batches' types."""

from .check_typing import BatchTypingCallback
from .metrics import MetricsCallback
from .model_probing import ModelProbingCallback
from .model_probing_cv import ModelProbingCVCallback

__all__ = [
    "BatchTypingCallback",
    "MetricsCallback",
    "ModelProbingCVCallback",
    "ModelProbingCallback",
]
