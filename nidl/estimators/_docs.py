"""Documentation shared by the methods of the estimators, written once."""

from .._docstrings import docstring_filler

#: Parameter descriptions that several methods of the estimators share.
METHOD_DOCS = {
    # The whole Parameters section of every Lightning step: their signatures
    # are all (batch, batch_idx, dataloader_idx=0).
    "step_parameters": """Parameters
----------
batch : torch.Tensor, tuple or dict
    Input batch: ``x`` itself, ``(x, y, ...)`` of which ``x`` is used, or
    a dictionary holding ``x`` at the estimator's ``input_key``.
batch_idx : int
    Index of the batch; ignored.
dataloader_idx : int, default=0
    Index of the loader; ignored.""",
    "X": """X : DataLoader, Dataset, torch.Tensor or array-like
    Data shaped like the training data.""",
    "batch_input": """x : torch.Tensor
    Input batch.""",
    "ckpt_path": """ckpt_path : str, default=None
    Checkpoint of an interrupted fit to resume from.""",
    "sample_weight": """sample_weight : array-like of shape (n_samples,), default=None
    Weights of the samples in the mean.""",
}

#: Decorator filling the ``%(name)s`` lines of a method's docstring from
#: ``METHOD_DOCS``.
fill_method_docs = docstring_filler(METHOD_DOCS)
