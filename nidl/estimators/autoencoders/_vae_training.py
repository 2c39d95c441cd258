"""Training of the VAE family: the loss of a batch, the steps, the optimiser."""

import torch
from torch.distributions import Normal

from ..._docstrings import fill_doc
from ...losses.schedules import value_at

#: Devices on which torch's AdamW has a fused implementation.
_FUSED_DEVICES = ("cpu", "cuda")


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
        self.log_dict(
            {f"{stage}/{name}": value for name, value in losses.items()},
            on_step=False,
            on_epoch=True,
            batch_size=x.shape[0],
            sync_dist=True,
        )
        if stage == "train":
            # The weights in force are logged at every step where they can
            # change; the value at the last step of an epoch stays in the
            # metrics. A constant one is logged as its epoch mean.
            in_force = self._values_in_force(values, step)
            scheduled = callable(getattr(self.criterion, "beta", None))
            changing = scheduled or bool(set(in_force) - {"beta"})
            self.log_dict(
                {f"train/{name}": value for name, value in in_force.items()},
                on_step=changing,
                on_epoch=not changing,
                batch_size=x.shape[0],
                # The same value in every process; an epoch mean is still
                # reduced across them, as Lightning asks.
                sync_dist=not changing,
            )
        return losses

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
        return self._losses(batch, "train")

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
