"""The one registry of docstring text that many objects of nidl share.

As nilearn's ``docdict``: a flat table of whole entries (a parameter with its
description, or a whole section), each written once. A docstring holds a
placeholder ``%(name)s`` on a line of its own, and :func:`fill_doc` replaces
it with the entry, indented as the placeholder is. An entry never holds a
placeholder itself. A ``%`` that is not part of such a placeholder is left
alone, so docstrings need no escaping.

Only text that many docstrings repeat word for word belongs here; a class
writes its own parameters in its own docstring.
"""

import re
import textwrap

__all__ = ["docdict", "fill_doc"]

#: The shared entries, written without indentation.
docdict = {
    # Methods of the estimators.
    "X": """X : DataLoader, Dataset, torch.Tensor or array-like
    Data shaped like the training data.""",
    "step_parameters": """Parameters
----------
batch : torch.Tensor, tuple or dict
    Input batch: ``x`` itself, ``(x, y, ...)`` of which ``x`` is used, or
    a dictionary holding ``x`` at the estimator's ``input_key``.
batch_idx : int
    Index of the batch; ignored.
dataloader_idx : int, default=0
    Index of the loader; ignored.""",
    # Constructor parameters of the estimators.
    "random_state": """random_state : int, default=None
    Seed of everything a fit draws (weight initialisation, shuffling,
    dropout, posterior samples) and of the samples ``transform`` and
    ``score`` draw. The same seed, data and initial modules give identical
    results on the CPU. None draws from torch's global generator.""",
    "batch_size": """batch_size : int, default=128
    Batch size for Dataset, array and tensor input (a DataLoader keeps its
    own).""",
    "trainer_kwargs": """**kwargs
    Options of ``pytorch_lightning.Trainer`` (``max_epochs``,
    ``accelerator``, ``devices``, ``strategy``, ``precision``,
    ``callbacks``, ``enable_progress_bar``, ...), and nidl's own options:
    ``compile`` (default False) compiles the training forward pass and the
    loss with ``torch.compile``; ``channels_last`` (default "auto") trains
    on volumes (inputs of shape (n, channels, depth, height, width)) in the
    ``channels_last_3d`` memory format on CPU and CUDA devices and infers in
    the default format, True uses it for inference too, False never;
    ``input_key`` (default None) is the key at which dictionary batches
    hold the input: ``"image"`` for MONAI's ``{"image": ..., "label":
    ...}``, ``"t1"`` for TorchIO's ``{"t1": {"data": ...}}`` (a tuple is a
    path of keys). A name that is neither is refused by ``fit``.""",
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.MULTILINE)


def _check_flat(entries):
    nested = sorted(name for name, text in entries.items() if _PLACEHOLDER.search(text))
    if nested:
        raise ValueError(f"docdict entries {nested} hold a placeholder; write them out")


_check_flat(docdict)


def fill_doc(obj):
    """Fill the ``%(name)s`` lines of a function's or class's docstring.

    Parameters
    ----------
    obj : function or class
        What to document; its docstring is changed in place.

    Returns
    -------
    obj : function or class
        The same object.

    Raises
    ------
    KeyError
        At import time, for a placeholder that :data:`docdict` lacks.

    Examples
    --------
    >>> from nidl._docstrings import fill_doc
    >>> @fill_doc
    ... def f(X):
    ...     '''Do something.
    ...
    ...     Parameters
    ...     ----------
    ...     %(X)s
    ...     '''
    >>> print(f.__doc__.splitlines()[-2])
        Data shaped like the training data.
    """

    def substitute(match):
        indent, name = match.groups()
        if name not in docdict:
            raise KeyError(
                f"docstring placeholder %({name})s of {obj.__qualname__} has no "
                f"entry; add it to nidl._docstrings.docdict or write the text out"
            )
        return textwrap.indent(docdict[name], indent)

    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(substitute, obj.__doc__)
    return obj

