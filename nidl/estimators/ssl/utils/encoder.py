"""Build the encoder of a self-supervised estimator from an instance or a class."""

import copy
import warnings

from torch import nn

__all__ = ["build_encoder"]


def build_encoder(encoder, encoder_kwargs=None, deepcopy=False):
    """Return an encoder module from an instance or a class.

    Estimators accept their encoder as a module instance, which they share
    with the user (training updates it in place), or as a module class and
    its keyword arguments, which they instantiate.

    Parameters
    ----------
    encoder : torch.nn.Module or subclass of torch.nn.Module
        The encoder, or its class.
    encoder_kwargs : dict, default=None
        Keyword arguments of the class; ignored, with a warning, for an
        instance.
    deepcopy : bool, default=False
        Whether an instance is deep-copied rather than returned as is (a
        class is always instantiated anew).

    Returns
    -------
    encoder : torch.nn.Module

    Raises
    ------
    TypeError
        If ``encoder`` is neither a module nor a module class.

    Examples
    --------
    >>> from torch import nn
    >>> from nidl.estimators.ssl.utils.encoder import build_encoder
    >>> build_encoder(nn.Linear, {"in_features": 10, "out_features": 4})
    Linear(in_features=10, out_features=4, bias=True)
    >>> encoder = nn.Linear(10, 4)
    >>> build_encoder(encoder) is encoder
    True
    >>> build_encoder(encoder, deepcopy=True) is encoder
    False
    """
    if isinstance(encoder, nn.Module):
        if encoder_kwargs:
            warnings.warn(
                f"encoder_kwargs={encoder_kwargs!r} are ignored because encoder is "
                f"already a {type(encoder).__name__} instance; pass its class to "
                "build it from encoder_kwargs.",
                UserWarning,
                stacklevel=2,
            )
        return copy.deepcopy(encoder) if deepcopy else encoder
    if isinstance(encoder, type) and issubclass(encoder, nn.Module):
        return encoder(**(encoder_kwargs or {}))
    raise TypeError(
        f"encoder must be a torch.nn.Module instance or subclass, got "
        f"{encoder!r} of type {type(encoder).__name__}."
    )
