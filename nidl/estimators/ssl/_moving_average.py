"""What the estimators with a moving-average network share (DINO, I-JEPA)."""

import copy
import math

from torch.nn.parameter import is_lazy


def frozen_copy(module):
    """A copy of ``module`` whose parameters do not require gradients.

    A deep copy, so that lazy layers not initialised yet are copied too (as
    :func:`~nidl.estimators.ssl.utils.momentum.initialize_momentum_params`
    cannot); their parameters are frozen once the copy is made again from
    the initialised online network (see ``DINO._step``).
    """
    copied = copy.deepcopy(module)
    for parameter in copied.parameters():
        if not is_lazy(parameter):
            parameter.requires_grad_(False)
    return copied


class MovingAverageMixin:
    """Lightning hooks that move the moving-average networks after each step.

    A subclass builds ``self._momentum_updater`` (a
    :class:`~nidl.estimators.ssl.utils.momentum.MomentumUpdater`)
    with its modules and gives ``_moving_average_pairs()``, the pairs
    ``(online, moving_average)`` of networks the updater moves. The momentum
    follows the updater's cosine schedule over the training steps, and is
    logged as ``"lambda"``.
    """

    def _moving_average_pairs(self):
        """Pairs ``(online, moving_average)`` of networks (subclasses give them)."""
        raise NotImplementedError

    @property
    def momentum_updater(self):
        """The moving average and its momentum schedule."""
        return self._momentum_updater

    def on_train_start(self):
        """Read the number of steps of the momentum schedule from the Trainer."""
        self._momentum_steps = self.trainer.estimated_stepping_batches

    def on_train_batch_end(self, outputs, batch, batch_idx):
        """Move the moving averages towards the online networks; log ``lambda``.

        The momentum is the cosine schedule's at the step just taken, from
        its base value at the first step to its final value at the last.

        Parameters
        ----------
        outputs : dict
            What ``training_step`` returned.
        batch : torch.Tensor, list or tuple
            The batch.
        batch_idx : int
            Index of the batch.
        """
        updater, total = self._momentum_updater, self._momentum_steps
        if math.isfinite(total) and total > 0:
            step = max(self.trainer.global_step - 1, 0)
            updater.update_lambda(step, total)
        for online, moving_average in self._moving_average_pairs():
            updater.update(online, moving_average)
        self.log("lambda", updater.cur_lambda, on_step=True, on_epoch=False)
