"""Training of the VAE family: the loss of a batch, the steps, the optimiser."""

import torch
from pytorch_lightning.callbacks import (
    BaseFinetuning,
    GradientAccumulationScheduler,
    LearningRateFinder,
    ModelCheckpoint,
    StochasticWeightAveraging,
)
from torch.distributions import Normal

from ..._docstrings import fill_doc
from ...losses.schedules import value_at

#: Devices on which torch's AdamW has a fused implementation.
_FUSED_DEVICES = ("cpu", "cuda")

#: Lightning callbacks that act through its automatic optimisation loop (the
#: learning rates and accumulation they schedule, the parameters they
#: unfreeze) or whose checkpoints resume it (a checkpoint's loop state).
_AUTOMATIC_LOOP_CALLBACKS = (
    BaseFinetuning,
    GradientAccumulationScheduler,
    LearningRateFinder,
    ModelCheckpoint,
    StochasticWeightAveraging,
)


class VAETrainingMixin:
    """Training and validation steps of :class:`VAEBase`, and its optimiser.

    The forward pass of a batch goes to the estimator's loss
    (``criterion``); the loss terms are logged as epoch means, the weights
    in force (beta, capacities, temperature) at every step where they
    change.
    """

    def _forward_for_loss(self, x, context, stage):
        """Posterior ``q(z|x)`` and decoder output of a batch."""
        mu, logvar = self._posterior_parameters(x, context)
        std = torch.exp(0.5 * logvar)
        p = self._likelihood(self._decode(mu + std * torch.randn_like(mu), context))
        return Normal(mu, std, validate_args=False), p

    def _loss_values(self, x, context, stage, step):
        """Loss terms (and weights in force) of a batch: forward pass and criterion.

        With ``compile=True``, training runs this whole function as one
        compiled graph, so that the elementwise work of the sampling, the
        likelihood and the KL term is fused, rather than the networks
        compiled apart.
        """
        q, p = self._forward_for_loss(x, context, stage)
        if isinstance(p, torch.Tensor) and p.dtype != x.dtype:
            # Under mixed precision the likelihood is computed in the data's
            # precision (binary cross-entropy is not safe in half precision).
            p = p.to(x.dtype)
        return self.criterion(x, p, q, step=step)

    def _training_loss_values(self):
        """``_loss_values``, compiled with ``compile=True`` on first use.

        Random draws inside the graph use torch's generator as eager code
        does ("fallback_random"), so compiled and eager training draw the
        same samples. The compiled function is dropped at the end of
        training: it does not pickle.
        """
        if not self._engine_option("compile"):
            return self._loss_values
        if self._compiled_loss_values is None:
            self._compiled_loss_values = torch.compile(
                self._loss_values, options={"fallback_random": True}
            )
        return self._compiled_loss_values

    def _values_in_force(self, values, step):
        """Weights and targets of the loss at ``step`` (beta, capacities, ...)."""
        in_force = {
            name: value
            for name, value in values.items()
            if name != "loss" and not name.endswith("_loss")
        }
        beta = getattr(self.criterion, "beta", None)
        if beta is not None and "beta" not in in_force:
            in_force["beta"] = float(value_at(beta, step, "beta"))
        return in_force

    def _losses(self, batch, stage):
        x, context = self._split_batch(batch)
        # The optimiser-step counter: it advances with training steps only, so
        # validation sees the step of the last update and changes nothing.
        step = self.global_step
        if stage == "train":
            loss_values = self._training_loss_values()
        else:
            loss_values = self._loss_values
        values = loss_values(x, context, stage, step)
        # Entries named "loss" or "*_loss" are loss terms; the others are the
        # weights and targets in force (beta, capacities).
        losses = {
            name: value
            for name, value in values.items()
            if name == "loss" or name.endswith("_loss")
        }
        if self._attached_trainer() is None:
            # A step called outside a Trainer has nowhere to log to.
            return losses
        if stage != "train":
            self.log_dict(
                {f"{stage}/{name}": value for name, value in losses.items()},
                on_step=False,
                on_epoch=True,
                batch_size=x.shape[0],
                sync_dist=True,
            )
        elif self._weights_change():
            # The training losses are logged as epoch means by the fit's
            # monitor (see _logs_epoch_means); weights that change during
            # training are logged at every step, and the value at the last
            # step of an epoch stays in the metrics.
            self.log_dict(
                {
                    f"train/{name}": value
                    for name, value in self._values_in_force(values, step).items()
                },
                on_step=True,
                on_epoch=False,
                batch_size=x.shape[0],
            )
        return losses

    def _weights_change(self):
        """Whether the loss has weights in force that change with the step.

        Here, a ``beta`` schedule; estimators whose loss has rising
        capacities or a falling temperature say True.
        """
        return callable(getattr(self.criterion, "beta", None))

    def _epoch_values(self):
        # A constant weight is logged once per epoch, with the losses.
        if self._weights_change():
            return {}
        return self._values_in_force({}, self.global_step)

    @fill_doc
    def training_step(self, batch, batch_idx, dataloader_idx=0):
        """Compute and log the training losses of one batch.

        The three terms are logged once per epoch as ``train/loss``,
        ``train/rec_loss`` and ``train/kl_loss``.

        %(step_parameters)s

        Returns
        -------
        losses : dict
            ``"loss"``, ``"rec_loss"`` and ``"kl_loss"``.
        """
        losses = self._losses(batch, "train")
        if not self.automatic_optimization:
            # Lightning's manual optimisation, in the order its automatic
            # loop takes (see _steps_its_optimizer).
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(losses["loss"])
            optimizer.step()
        return losses

    def _steps_its_optimizer(self, resuming):
        """Whether a fit steps the optimiser in ``training_step``.

        Lightning's automatic optimisation wraps every step in a closure and
        more hooks, a cost that shows on a small model's step; its manual
        optimisation leaves the step to ``training_step``. A fit uses it
        where Lightning's loop would do nothing more: no gradient clipping
        or accumulation, no callback that acts through the automatic loop
        (``_AUTOMATIC_LOOP_CALLBACKS``), and the optimiser of
        ``configure_optimizers`` here (a subclass's own optimisers and
        schedulers run in Lightning's loop).
        """
        if resuming:
            # Checkpoints come from Lightning's automatic loop (a fit with a
            # ModelCheckpoint, or a Trainer of the user's), whose step
            # counters they carry on.
            return False
        options = self._trainer_kwargs
        return bool(
            type(self).configure_optimizers is VAETrainingMixin.configure_optimizers
            and not options.get("gradient_clip_val")
            and options.get("accumulate_grad_batches", 1) == 1
            and not any(
                isinstance(c, _AUTOMATIC_LOOP_CALLBACKS) for c in self._callbacks()
            )
        )

    @fill_doc
    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        """Compute and log the validation losses of one batch.

        The loss terms of :meth:`training_step`, logged per epoch as
        ``val/<name>`` (``val/loss``, ``val/rec_loss``, ``val/kl_loss``,
        ...), at the weights in force at the last training step.

        %(step_parameters)s

        Returns
        -------
        losses : dict of str to torch.Tensor
            The loss terms, as :meth:`training_step` returns them.
        """
        return self._losses(batch, "val")

    def configure_optimizers(self):
        """A list holding one AdamW over all parameters (``lr``, ``weight_decay``).

        A learned observation scale has no weight decay. Where torch has a
        fused AdamW for the parameters' device (CPU, CUDA), it is used: the
        same update rule in one kernel for all parameters, rather than about
        a dozen operations per parameter tensor, a cost that dominates the
        step of a small model.
        """
        parameters = list(self.parameters())
        scale = self.observation_log_scale
        groups = [{"params": [p for p in parameters if p is not scale]}]
        if scale is not None:
            # Weight decay would pull the learned scale towards 1, whatever
            # the noise of the data.
            groups.append({"params": [scale], "weight_decay": 0.0})
        fused = bool(parameters) and all(
            p.is_floating_point() and p.device.type in _FUSED_DEVICES
            for p in parameters
        )
        return [
            torch.optim.AdamW(
                groups, lr=self.lr, weight_decay=self.weight_decay, fused=fused
            )
        ]
