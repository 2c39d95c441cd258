"""Descriptions that several backbones share, filled into their docstrings."""

from ..._docstrings import docstring_filler

fill_doc = docstring_filler({
    "resnet_references": """
        References
        ----------
        .. [1] K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for
           Image Recognition", CVPR 2016.
    """,
    "densenet_references": """
        References
        ----------
        .. [1] G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger,
           "Densely Connected Convolutional Networks", CVPR 2017.
    """,
    "alexnet_references": """
        References
        ----------
        .. [1] A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet
           Classification with Deep Convolutional Neural Networks", NeurIPS 2012.
    """,
    "resnet_kwargs": """
        **kwargs
            Arguments of :class:`ResNet` after ``layers``.
    """,
    "encoder_attributes": """
        n_embedding : int
            Number of output features, the ``encoder_out_dim`` of a VAE.
        in_channels : int
            Number of channels of the input.
    """,
    "decoder_attributes": """
        spatial_shape : tuple of int
            Shape of the output volumes.
        encoder_shapes : list of tuple of int
            Spatial shapes of the mirrored encoder's feature maps, from its
            input (``spatial_shape``) to its deepest map.
    """,
    "decoder_parameters": """
        spatial_shape : tuple of 3 int
            Shape of the output volumes, without the channel axis.
        in_features : int
            Number of input features (a VAE's ``latent_dim``).
        out_channels : int, default=1
            Number of channels of the output.
    """,
})
