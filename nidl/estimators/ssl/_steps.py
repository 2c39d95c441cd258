"""What the steps of the self-supervised estimators share: the loss they log and
their optimiser."""

from .utils.optimizer import configure_ssl_optimizers


def estimator_optimizers(estimator, param_groups):
    """What ``configure_optimizers`` returns for ``param_groups`` of ``estimator``.

    The optimisation parameters the self-supervised estimators share
    (``optimizer``, ``learning_rate``, ``weight_decay``,
    ``exclude_bias_and_norm_wd``, ``optimizer_kwargs``, ``lr_scheduler``,
    ``lr_scheduler_kwargs``) are read from the estimator, the training
    length from its Trainer.

    Parameters
    ----------
    estimator : nidl.estimators.BaseEstimator
        The estimator being fitted.
    param_groups : dict of str to torch.nn.Module
        The modules trained, by group name.
    """
    trainer = estimator.trainer
    needs_steps = estimator.lr_scheduler == "warmup_cosine"
    return configure_ssl_optimizers(
        param_groups,
        estimator.optimizer,
        estimator.learning_rate,
        estimator.weight_decay,
        estimator.exclude_bias_and_norm_wd,
        estimator.optimizer_kwargs,
        estimator.lr_scheduler,
        estimator.lr_scheduler_kwargs,
        max_epochs=trainer.max_epochs,
        estimated_stepping_batches=(
            trainer.estimated_stepping_batches if needs_steps else None
        ),
    )


def log_loss(estimator, loss, stage, batch_size):
    """Log a step's loss as upstream nidl names it, ``loss/<stage>``.

    A validation loss is logged as ``val/loss`` too, the name nidl's
    ``history_`` records. Nothing is logged outside a Trainer (a step
    called by hand).

    Parameters
    ----------
    estimator : nidl.estimators.BaseEstimator
        The estimator whose step this is.
    loss : torch.Tensor
        The step's loss.
    stage : {"train", "val"}
        The stage.
    batch_size : int
        Number of samples of the batch, which weighs the epoch mean.
    """
    if estimator._attached_trainer() is None:
        return
    names = [f"loss/{stage}"] + ([] if stage == "train" else [f"{stage}/loss"])
    for name in names:
        estimator.log(
            name, loss, prog_bar=True, on_step=False, on_epoch=True,
            sync_dist=True, batch_size=batch_size,
        )
