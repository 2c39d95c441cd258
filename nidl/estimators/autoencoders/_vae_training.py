"""Training of the VAE family: the loss of a batch, the steps, the optimiser."""

import torch
from pytorch_lightning.callbacks import (
    GradientAccumulationScheduler,
    LearningRateFinder,
    ModelCheckpoint,
    StochasticWeightAveraging,
)
from torch.distributions import Normal

from ...losses.schedules import value_at
from .._docs import fill_method_docs

#: Lightning callbacks that act through its automatic optimisation loop:
#: the learning-rate schedulers they add, or the accumulation they set.
_AUTOMATIC_OPTIMIZATION_CALLBACKS = (
    GradientAccumulationScheduler,
    LearningRateFinder,
    StochasticWeightAveraging,
)


def _fused_optimizer_supported(parameters):
    """Whether torch has fused optimiser kernels for all these parameters."""
    # torch's own list of devices with fused kernels (the CPU since 2.4);
    # a version without the list is assumed to have them on CUDA only.
    supported_devices = getattr(
        torch.utils._foreach_utils, "_get_fused_kernels_supported_devices", lambda: ["cuda"]
    )
    devices = supported_devices()
    return bool(parameters) and all(
        p.is_floating_point() and p.device.type in devices for p in parameters
    )


class VAETrainingMixin:
    """Training and validation steps of :class:`VAEBase`, and its optimiser.

    The forward pass of a batch goes to the estimator's loss
    (``criterion``); the loss terms are logged as epoch means, the weights
    in force (beta, capacities, temperature) at every step where they
    change.
    """

    def _forward_for_loss(self, x, stage):
        """Posterior ``q(z|x)`` and decoder output for a training or validation batch."""
        mu, logvar = self._posterior_parameters(x)
        std = torch.exp(0.5 * logvar)
        p = self._likelihood(self._decode(mu + std * torch.randn_like(mu)))
        return Normal(mu, std, validate_args=False), p

    def _loss_values(self, x, stage, step):
        """Loss terms (and weights in force) of a batch: forward pass and criterion.

        With ``compile=True``, training runs this whole function as one
        compiled graph, so that the elementwise work of the sampling, the
        likelihood and the KL term is fused, rather than the networks
        compiled apart (``benchmarks/bench_step_overhead.py`` compares the
        variants).
        """
        q, p = self._forward_for_loss(x, stage)
        if isinstance(p, torch.Tensor) and p.dtype != x.dtype:
            # Under mixed precision the likelihood is computed in the data's
            # precision (binary cross-entropy is not safe in half precision).
            p = p.to(x.dtype)
        return self.criterion(x, p, q, step=step)

    def _compiled_loss_values(self):
        """``_loss_values`` compiled, on first use in the process that trains.

        Random draws inside the graph use torch's generator as eager code
        does ("fallback_random"), so compiled and eager training draw the
        same samples. The compiled function is dropped at the end of
        training (see ``on_train_end``): it does not pickle.
        """
        if self.__dict__.get("_compiled_forward") is None:
            self.__dict__["_compiled_forward"] = torch.compile(
                self._loss_values, options={"fallback_random": True}
            )
        return self.__dict__["_compiled_forward"]

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

    def _losses(self, batch, batch_idx, stage):
        x = self._batch_input(batch)
        # The optimiser-step counter: it advances with training steps only, so
        # validation sees the step of the last update and changes nothing.
        step = self.global_step
        loss_values = self._loss_values
        if self._engine_option("compile") and stage == "train":
            loss_values = self._compiled_loss_values()
        with self._conditioned(batch):
            values = loss_values(x, stage, step)
        # Entries named "loss" or "*_loss" are loss terms; the others are the
        # weights and targets in force (beta, capacities).
        losses = {
            name: value
            for name, value in values.items()
            if name == "loss" or name.endswith("_loss")
        }
        if self._trainer is None:
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
            return losses
        in_force = self._values_in_force(values, step)
        if callable(getattr(self.criterion, "beta", None)) or set(in_force) - {"beta"}:
            # Values that change during training are logged at every step;
            # the value at the last step of an epoch stays in the metrics.
            self.log_dict(
                {f"train/{name}": value for name, value in in_force.items()},
                on_step=True,
                on_epoch=False,
                batch_size=x.shape[0],
            )
            self.log_epoch_means(losses, x.shape[0], batch_idx)
        else:
            # A constant weight costs nothing to log once per epoch.
            self.log_epoch_means({**losses, **in_force}, x.shape[0], batch_idx)
        return losses

    @fill_method_docs
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
        losses = self._losses(batch, batch_idx, "train")
        if not self.automatic_optimization:
            optimizer = self.optimizers()
            optimizer.zero_grad()
            self.manual_backward(losses["loss"])
            optimizer.step()
        return losses

    @property
    def automatic_optimization(self):
        """Whether Lightning runs the optimiser step, or ``training_step`` does.

        The VAE steps its optimiser itself, in the order Lightning would
        (loss, ``zero_grad``, backward, step): Lightning's automatic loop
        wraps every step in a closure and several more hooks, a cost that
        shows on a small model's step (``benchmarks/bench_step_overhead.py``
        measures it). Lightning's loop runs instead where
        it does more: when the Trainer clips or accumulates gradients, with
        callbacks that schedule the learning rate or the accumulation
        (weight averaging, learning-rate finder) or that save a checkpoint
        every few steps, and for subclasses that configure their own
        optimisers (and learning-rate schedulers).
        """
        trainer = self._trainer
        if trainer is None or type(self).configure_optimizers is not VAETrainingMixin.configure_optimizers:
            return True
        return bool(
            (trainer.gradient_clip_val or 0) > 0
            or trainer.accumulate_grad_batches != 1
            or any(
                isinstance(callback, _AUTOMATIC_OPTIMIZATION_CALLBACKS)
                or (
                    isinstance(callback, ModelCheckpoint)
                    and getattr(callback, "_every_n_train_steps", 0)
                )
                for callback in trainer.callbacks
            )
        )

    @automatic_optimization.setter
    def automatic_optimization(self, value):
        # LightningModule's constructor sets it; the getter above decides.
        self._automatic_optimization = value

    @fill_method_docs
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
        return self._losses(batch, batch_idx, "val")

    def configure_optimizers(self):
        """A list holding one AdamW over all parameters, with ``lr`` and ``weight_decay``.

        A learned observation scale has no weight decay.

        The fused implementation updates all parameters in one kernel where
        their device has it (CPU and CUDA among others): the same update
        rule as the default loop over parameters, which launches about a
        dozen operations per parameter tensor, a cost that dominates the
        step of a small model.
        """
        parameters = list(self.parameters())
        scale = getattr(self, "observation_log_scale", None)
        groups = [{"params": [p for p in parameters if p is not scale]}]
        if scale is not None:
            # Weight decay would pull the learned scale towards 1, whatever
            # the noise of the data.
            groups.append({"params": [scale], "weight_decay": 0.0})
        return [
            torch.optim.AdamW(
                groups,
                lr=self.lr,
                weight_decay=self.weight_decay,
                fused=_fused_optimizer_supported(parameters),
            )
        ]

