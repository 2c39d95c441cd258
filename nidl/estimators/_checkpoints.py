"""Checkpoints that give back a fitted estimator."""

import numbers

import numpy as np
import torch


def _is_plain(value):
    """Whether a parameter value is a number, string, None or a tuple/list of them."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    return value is None or isinstance(value, (bool, numbers.Number, str))


#: Fitted attributes that are objects of the calling process, not results
#: to store with the weights: the callbacks a fit trained with.
PROCESS_ATTRIBUTES = ("callbacks_",)


def fitted_attributes(estimator, portable=False):
    """The attributes ``fit`` learned (public names ending in ``_``), as plain values.

    Feature names become a list, which checkpoints store without pickling
    NumPy objects. With ``portable=True``, only what travels with the
    weights (to a checkpoint, back from a spawned process): the
    ``PROCESS_ATTRIBUTES`` are left out.
    """
    fitted = {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
        and not (portable and name in PROCESS_ATTRIBUTES)
    }
    if "feature_names_in_" in fitted:
        fitted["feature_names_in_"] = list(fitted["feature_names_in_"])
    return fitted


def set_fitted_attributes(estimator, fitted):
    """Set the attributes that :func:`fitted_attributes` returned."""
    for name, value in fitted.items():
        if name == "feature_names_in_":
            value = np.asarray(value, dtype=object)
        setattr(estimator, name, value)


class CheckpointMixin:
    """Checkpoint hooks of :class:`~nidl.estimators.base.BaseEstimator`.

    A checkpoint carries, besides the weights, the simple parameters (so
    that ``load_from_checkpoint`` needs only the modules), the fitted
    attributes and, for a seeded fit, the state of torch's generator.
    """

    # ------------------------------------------------------------------
    # Checkpoints
    # ------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint):
        """Store what a checkpoint needs to give back a fitted estimator.

        The simple parameters (numbers, strings, tuples) go under
        ``"hyper_parameters"``, so that ``load_from_checkpoint`` needs only
        the modules; the fitted attributes and, for a seeded fit, the state of
        torch's generator (so that a resumed fit draws what the uninterrupted
        one would have) go under ``"nidl"``.
        """
        checkpoint["hyper_parameters"] = {
            name: value
            for name, value in self.get_params(deep=False).items()
            if _is_plain(value)
        }
        fitted = {
            **fitted_attributes(self, portable=True),
            "n_epochs_": self.current_epoch,
            "n_steps_": self.global_step,
        }
        checkpoint["nidl"] = {"fitted": fitted, "rng_state": torch.get_rng_state()}

    def on_load_checkpoint(self, checkpoint):
        """Restore the fitted attributes, and layers shaped for the saved weights."""
        saved = checkpoint.get("nidl", {})
        set_fitted_attributes(self, saved.get("fitted", {}))
        self._shape_for_weights(checkpoint.get("state_dict", {}))
        # Resuming a seeded fit (and only then) continues its random stream;
        # the fit runs inside a forked generator, so the user's is untouched.
        trainer = self._attached_trainer()
        resuming = trainer is not None and trainer.training
        if resuming and self.random_state is not None and "rng_state" in saved:
            torch.set_rng_state(saved["rng_state"])

    def _shape_for_weights(self, state_dict):
        """Give layers whose shape the data sets the shape of saved weights."""

    def _attached_trainer(self):
        """The Trainer running the estimator, or None outside one."""
        try:
            return self.trainer
        except RuntimeError:  # Lightning's way to say there is none
            return None

    def load_checkpoint(self, path):
        """Load the weights and fitted state of a checkpoint into this estimator.

        The estimator must have the parameters of the one that wrote the
        checkpoint (for instance, the same constructor call). Useful after
        early stopping, to go back to the best epoch's weights.

        Parameters
        ----------
        path : str or path-like
            A checkpoint written during ``fit`` (``ModelCheckpoint``).

        Returns
        -------
        self : BaseEstimator
            The fitted estimator.
        """
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        self.on_load_checkpoint(checkpoint)
        self.load_state_dict(checkpoint["state_dict"])
        return self

    def get_extra_state(self):
        """The fitted attributes of the last complete fit, carried with the weights.

        A spawning strategy trains in other processes and sends the weights
        back; the attributes travel with them. Checkpoints written during
        training carry none (see ``on_save_checkpoint`` for theirs).
        """
        return {"training_record": self._training_record}

    def set_extra_state(self, state):
        record = state.get("training_record") if isinstance(state, dict) else None
        if record is not None:
            self._training_record = record
            set_fitted_attributes(self, record)
