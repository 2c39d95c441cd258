"""Descriptions that several backbones share, filled into their docstrings.

The encoders, the decoders that mirror them and the factories of their usual
depths document the same attributes, cross-references and arguments; the
sections are written here once, by family, and each docstring names the
snippet it takes with a ``%(name)s`` line.
"""

import textwrap

from ..._docstrings import docstring_filler


def _lines(*pieces):
    """The pieces of text, each without its indentation, one after the other."""
    return "\n".join(textwrap.dedent(piece).strip("\n") for piece in pieces)


def _section(title, body):
    """A numpydoc section: its title, underlined, then ``body``."""
    return _lines(title, "-" * len(title), body)


def _sections(*sections):
    """The ``(title, body)`` sections whose body is not empty, in order."""
    return "\n\n".join(_section(title, body) for title, body in sections if body)


_REFERENCES = {
    "resnet": """
        .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
           Image Recognition", CVPR 2016.
    """,
    "densenet": """
        .. [1] G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger,
           "Densely Connected Convolutional Networks", CVPR 2017.
    """,
    "alexnet": """
        .. [1] A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet
           Classification with Deep Convolutional Neural Networks", NeurIPS 2012.
    """,
}

_ENCODER_ATTRIBUTES = """
    n_embedding : int
        Number of output features, the ``encoder_out_dim`` of a VAE.
    in_channels : int
        Number of channels of the input.
"""

_DECODER_ATTRIBUTES = """
    spatial_shape : tuple of int
        Shape of the output volumes.
    encoder_shapes : list of tuple of int
        Spatial shapes of the mirrored encoder's feature maps, from its
        input (``spatial_shape``) to its deepest map.
"""

_IN_CHANNELS = """
    in_channels : int, default=1
        Number of channels of the input.
"""

_DECODER_PARAMETERS = """
    spatial_shape : tuple of 3 int
        Shape of the output volumes, without the channel axis.
    in_features : int
        Number of input features (a VAE's ``latent_dim``).
    out_channels : int, default=1
        Number of channels of the output.
"""

_RESNET_NORM_LAYER = """
    norm_layer : callable, default=None
        Normalisation, called with a number of channels;
        ``torch.nn.BatchNorm3d`` if None.
"""

_RESNET_KWARGS = """
    **kwargs
        Arguments of :class:`ResNet` after ``layers``.
"""

# Per family: the usual depths and the decoder, cross-referenced from the
# encoder's class; the usual depths of the decoder, from the decoder's class;
# and the ``**kwargs`` that the decoder factories pass on.
_FAMILIES = {
    "alexnet": ("", "AlexNetDecoder", "", None),
    "densenet": (
        "densenet121 : DenseNet-121.",
        "DenseNetDecoder",
        "densenet121_decoder : The decoder of DenseNet-121.",
        "``bn_size`` and ``memory_efficient``, as given to the encoder.",
    ),
    "resnet": (
        "resnet18, resnet50 : The usual depths.",
        "ResNetDecoder",
        "resnet18_decoder, resnet50_decoder : The decoders of the usual depths.",
        "Other arguments of :class:`ResNetDecoder`, as given to the encoder.",
    ),
}


def _family_snippets(family, depths, decoder, decoder_depths, decoder_kwargs):
    """The snippets of one family of backbones, named after it."""
    references = _REFERENCES[family]
    snippets = {
        f"{family}_references": _section("References", references),
        f"{family}_encoder_sections": _sections(
            ("Attributes", _ENCODER_ATTRIBUTES),
            ("See Also", _lines(
                depths, f"{decoder} : The decoder that mirrors this network."
            )),
            ("References", references),
        ),
        f"{family}_decoder_sections": _sections(
            ("Attributes", _DECODER_ATTRIBUTES),
            ("See Also", decoder_depths),
            ("References", references),
        ),
    }
    if decoder_kwargs is not None:
        snippets[f"{family}_decoder_factory"] = _sections(
            ("Parameters", _lines(_DECODER_PARAMETERS,
                                  f"**kwargs\n    {decoder_kwargs}")),
            ("Returns", f"decoder : {decoder}"),
        )
    return snippets


fill_doc = docstring_filler({
    **{
        name: text
        for family, details in _FAMILIES.items()
        for name, text in _family_snippets(family, *details).items()
    },
    "decoder_parameters": _DECODER_PARAMETERS,
    "in_channels": _IN_CHANNELS,
    "resnet_norm_layer": _RESNET_NORM_LAYER,
    "resnet_factory": _sections(
        ("Parameters", _RESNET_KWARGS),
        ("Returns", "encoder : ResNet"),
        ("References", _REFERENCES["resnet"]),
    ),
    "resnet_trunc_factory": _sections(
        ("Parameters", _lines("depth : int\n    Number of stages kept, from 0 to 4.",
                              _RESNET_KWARGS)),
        ("Returns", "encoder : ResNetTruncated"),
    ),
})
