"""Checkpoints that give back a fitted estimator."""

import numbers

import numpy as np
import torch


def _is_plain(value):
    """Whether a parameter value is a number, string, None or a tuple/list of them."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    return value is None or isinstance(value, (bool, numbers.Number, str))



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
            name: value
            for name, value in vars(self).items()
            if name.endswith("_") and not name.startswith("_")
        }
        if "feature_names_in_" in fitted:
            fitted["feature_names_in_"] = list(fitted["feature_names_in_"])
        fitted["n_epochs_"] = self.current_epoch
        fitted["n_steps_"] = self.global_step
        checkpoint["nidl"] = {"fitted": fitted, "rng_state": torch.get_rng_state()}

    def on_load_checkpoint(self, checkpoint):
        """Restore the fitted attributes and build the layers before the weights."""
        if not getattr(self, "_modules_built", False):
            self._build_modules()
            self._modules_built = True
        saved = checkpoint.get("nidl", {})
        for name, value in saved.get("fitted", {}).items():
            if name == "feature_names_in_":
                value = np.asarray(value, dtype=object)
            setattr(self, name, value)
        # Resuming a seeded fit (and only then) continues its random stream;
        # the fit runs inside a forked generator, so the user's is untouched.
        resuming = self._trainer is not None and self.trainer.training
        if resuming and self.random_state is not None and "rng_state" in saved:
            torch.set_rng_state(saved["rng_state"])

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
        """Training counts that travel with the weights, e.g. out of spawned workers."""
        return {"training_counts": getattr(self, "_training_counts", None)}

    def set_extra_state(self, state):
        counts = state.get("training_counts") if isinstance(state, dict) else None
        if counts is not None:
            self._training_counts = tuple(counts)
