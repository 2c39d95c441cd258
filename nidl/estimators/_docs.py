"""Documentation shared by the steps of the estimators, written once."""

from .._docstrings import docstring_filler

#: The parameters of every Lightning step of the estimators.
STEP_DOCS = {
    "step_parameters": """batch : torch.Tensor, tuple or dict
    Input batch: ``x`` itself, ``(x, y, ...)`` of which ``x`` is used, or
    a dictionary holding ``x`` at the estimator's ``input_key``.
batch_idx : int
    Index of the batch; ignored.
dataloader_idx : int, default=0
    Index of the loader; ignored.""",
}

#: Decorator filling ``%(step_parameters)s`` into a step's docstring.
fill_step_docs = docstring_filler(STEP_DOCS)
