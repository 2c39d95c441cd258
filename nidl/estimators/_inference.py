"""Inference: the estimator applied to every batch of the data, in order."""

import numpy as np
import torch
from lightning_fabric.utilities.apply_func import move_data_to_device
from sklearn.utils.validation import check_is_fitted

from ..utils import check_input, returns_numpy
from ..utils._data import iterate_batches, plain_mappings
from ..utils._distributed import gather_shares, process_share
from ._training import seeded

#: Number of input values (sample size times batch size) an inference batch
#: holds at least, 256 KiB of float32: fewer, larger batches than training
#: ones cost less per sample, while batches that outgrow the processor's
#: caches cost more.
INFERENCE_BATCH_VALUES = 2**16


class InferenceMixin:
    """Inference of :class:`~nidl.estimators.base.BaseEstimator`.

    Applies a step (``transform_step``, ``predict_step``, a score) to every
    batch of checked data in evaluation mode and returns one output row per
    sample, in input order.
    """

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def _inference_batch_size(self):
        """Batch size of inference on arrays, tensors and Datasets.

        At least ``batch_size``, and large enough to hold
        ``INFERENCE_BATCH_VALUES`` values of training-sized samples. A
        DataLoader given by the user keeps its own batches.
        """
        sample_size = max(int(np.prod(getattr(self, "sample_shape_", ()))), 1)
        return max(self.batch_size, INFERENCE_BATCH_VALUES // sample_size)

    def _predict(self, X, step, y=None):
        """Apply ``step(batch, batch_idx)`` to every batch of checked data ``X``.

        Runs in evaluation mode under ``torch.inference_mode`` on the
        model's device, seeded with ``random_state``, and returns the outputs
        concatenated on the CPU, one row per sample, in the loader's order: a
        tensor, or a dictionary of tensors when the step returns dictionaries.
        With ``y`` (targets of a tensor ``X``), batches are ``(x, y)`` pairs.

        Under a distributed strategy (a process group of several processes,
        as after a fit with ``strategy="ddp"``), every process calls this:
        each computes a contiguous share of the samples and all receive all
        rows, in input order (see :mod:`nidl.utils._distributed`).
        """
        share = process_share(X, y)
        if share is not None:
            X, y, sizes = share
        # The model stays where it is (where fit left it: the training
        # device); the batches go to it.
        device = self.device
        memory_format = self._memory_format(device, training=False)
        was_training = self.training
        self.eval()
        outputs = []
        try:
            with seeded(self.random_state), torch.inference_mode():
                batches = iterate_batches(X, y, batch_size=self._inference_batch_size())
                for batch_idx, batch in enumerate(batches):
                    if device.type != "cpu":
                        batch = move_data_to_device(plain_mappings(batch), device)
                    batch = self._format_batch(batch, memory_format)
                    outputs.append(move_data_to_device(step(batch, batch_idx), "cpu"))
        finally:
            self.train(was_training)
        # Concatenating outside inference mode gives ordinary tensors.
        if isinstance(outputs[0], dict):
            rows = {key: torch.cat([out[key] for out in outputs]) for key in outputs[0]}
            if share is not None:
                rows = {key: gather_shares(value, sizes) for key, value in rows.items()}
            return rows
        rows = torch.cat(outputs)
        return rows if share is None else gather_shares(rows, sizes)

    def _checked_predict(self, X, step):
        """``_predict`` on validated input, in the output type of the input."""
        check_is_fitted(self)
        outputs = self._predict(check_input(self, X, reset=False), step)
        return outputs.numpy() if returns_numpy(X) else outputs
