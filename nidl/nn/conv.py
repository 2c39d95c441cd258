"""Convolutional encoder and decoder for 2-D images and 3-D volumes."""

import numbers

import torch
from sklearn.utils import check_scalar
from torch import nn
from torch.distributions import Bernoulli

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_CONV_TRANSPOSE = {2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def _check_architecture(spatial_shape, in_channels, widths, depth, name):
    spatial_shape = tuple(int(s) for s in spatial_shape)
    if len(spatial_shape) not in (2, 3):
        raise ValueError(
            f"spatial_shape={spatial_shape} has {len(spatial_shape)} axes but "
            f"{name} handles 2-D images and 3-D volumes; pass 2 or 3 sizes, "
            "without the channel axis."
        )
    if in_channels is not None:
        check_scalar(in_channels, "in_channels", numbers.Integral, min_val=1)
    if isinstance(widths, numbers.Integral):
        depth = 4 if depth is None else depth
        check_scalar(depth, "depth", numbers.Integral, min_val=1)
        widths = (int(widths),) * depth
    else:
        widths = tuple(int(w) for w in widths)
        if depth is not None and depth != len(widths):
            raise ValueError(
                f"depth={depth} but widths={widths} has {len(widths)} layers; "
                "leave depth=None when widths is a sequence."
            )
    if not widths or min(widths) < 1:
        raise ValueError(f"widths={widths} must hold at least one positive width.")
    shapes = [spatial_shape]
    for _ in widths:
        shapes.append(tuple(s // 2 for s in shapes[-1]))
    if min(shapes[-1]) < 1:
        raise ValueError(
            f"spatial_shape={spatial_shape} is too small for {len(widths)} "
            f"layers that each halve it; use depth <= "
            f"{int(min(spatial_shape)).bit_length() - 1}."
        )
    return spatial_shape, widths, shapes


class ConvEncoder(nn.Module):
    """Convolutional encoder for 2-D images or 3-D volumes.

    A stack of convolutions with kernel 4, stride 2 and padding 1 (each
    halves the spatial size) and ReLU activations, followed by a linear layer
    to ``out_features`` features and a ReLU: the design of the encoders of
    Burgess et al. (2018) for 64x64 images, for any 2-D or 3-D shape. It is
    the backbone of a :class:`~nidl.estimators.autoencoders.VAE`, which adds
    the heads of the posterior:
    ``VAE(encoder, decoder, encoder_out_dim=encoder.out_features, ...)``.

    Parameters
    ----------
    spatial_shape : tuple of int
        Spatial size of the input, 2 values (height, width) or 3 (a volume),
        without the channel axis.
    in_channels : int, default=None
        Number of input channels; the input has shape
        ``(batch, in_channels, *spatial_shape)``. None means that the input
        has no channel axis, ``(batch, *spatial_shape)``, as images and
        volumes stacked in an array are.
    widths : int or sequence of int, default=32
        Output channels of each convolution; an int gives ``depth``
        convolutions of that width.
    depth : int, default=None
        Number of convolutions when ``widths`` is an int (4 if None).
    out_features : int, default=256
        Number of output features.

    Attributes
    ----------
    out_features : int
        Number of output features, the ``encoder_out_dim`` of a VAE.
    feature_shape : tuple of int
        Shape ``(channels, *spatial)`` of the last convolution's output.

    References
    ----------
    .. [1] C. P. Burgess et al., "Understanding disentangling in beta-VAE",
       2018, arXiv:1804.03599.

    Examples
    --------
    >>> import torch
    >>> from nidl.nn import ConvEncoder
    >>> encoder = ConvEncoder((64, 64), widths=8, depth=3, out_features=32)
    >>> encoder(torch.zeros(5, 64, 64)).shape
    torch.Size([5, 32])
    >>> ConvEncoder((20, 24, 18), in_channels=2, widths=(4, 8))(
    ...     torch.zeros(3, 2, 20, 24, 18)).shape
    torch.Size([3, 256])
    """

    def __init__(
        self, spatial_shape, in_channels=None, widths=32, depth=None, out_features=256
    ):
        super().__init__()
        self.spatial_shape, self.widths, shapes = _check_architecture(
            spatial_shape, in_channels, widths, depth, "ConvEncoder"
        )
        check_scalar(out_features, "out_features", numbers.Integral, min_val=1)
        self.in_channels = in_channels
        self.out_features = int(out_features)
        conv = _CONV[len(self.spatial_shape)]
        layers, channels = [], in_channels or 1
        for width in self.widths:
            layers += [conv(channels, width, 4, stride=2, padding=1), nn.ReLU()]
            channels = width
        self.convolutions = nn.Sequential(*layers)
        self.feature_shape = (channels, *shapes[-1])
        n_features = channels * int(torch.tensor(shapes[-1]).prod())
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(n_features, self.out_features), nn.ReLU()
        )

    def forward(self, x):
        """Encode a batch.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(batch, *spatial_shape)`` or
            ``(batch, in_channels, *spatial_shape)``.

        Returns
        -------
        features : torch.Tensor, shape (batch, out_features)
        """
        if self.in_channels is None:
            x = x.unsqueeze(1)
        return self.head(self.convolutions(x))


class ConvDecoder(nn.Module):
    """Convolutional decoder for 2-D images or 3-D volumes.

    The mirror of :class:`ConvEncoder`: a linear layer from the latent space
    to a small feature map, then transposed convolutions with kernel 4 and
    stride 2 that double its size up to exactly ``spatial_shape`` (odd sizes
    included), with ReLU activations between them and none at the end.

    Parameters
    ----------
    latent_dim : int
        Number of latent dimensions.
    spatial_shape : tuple of int
        Spatial size of the output, 2 or 3 values.
    out_channels : int, default=None
        Number of output channels; None gives outputs without a channel
        axis, ``(batch, *spatial_shape)``.
    widths : int or sequence of int, default=32
        Channels of the feature maps, in the order of the encoder (the
        decoder runs through them backwards); an int gives ``depth`` layers.
    depth : int, default=None
        Number of transposed convolutions when ``widths`` is an int (4 if
        None).
    distribution : {None, "bernoulli"}, default=None
        None returns a tensor, read by the VAE as the mean of its
        ``default_dist``. ``"bernoulli"`` returns a
        ``torch.distributions.Bernoulli`` with the outputs as logits, whose
        cross-entropy is computed stably: use it for binary data.

    Examples
    --------
    >>> import torch
    >>> from nidl.nn import ConvDecoder
    >>> decoder = ConvDecoder(4, (64, 64), widths=8, depth=3)
    >>> decoder(torch.zeros(5, 4)).shape
    torch.Size([5, 64, 64])
    >>> decoder = ConvDecoder(4, (25, 30, 17), widths=(4, 8), distribution="bernoulli")
    >>> decoder(torch.zeros(2, 4)).mean.shape
    torch.Size([2, 25, 30, 17])
    """

    def __init__(
        self,
        latent_dim,
        spatial_shape,
        out_channels=None,
        widths=32,
        depth=None,
        distribution=None,
    ):
        super().__init__()
        check_scalar(latent_dim, "latent_dim", numbers.Integral, min_val=1)
        self.spatial_shape, self.widths, shapes = _check_architecture(
            spatial_shape, out_channels, widths, depth, "ConvDecoder"
        )
        if distribution not in (None, "bernoulli"):
            raise ValueError(
                f"distribution={distribution!r} is not supported; use None (a "
                "tensor, the mean of the VAE's default_dist) or 'bernoulli'."
            )
        self.latent_dim = latent_dim
        self.out_channels = out_channels
        self.distribution = distribution
        self._feature_shape = (self.widths[-1], *shapes[-1])
        self.head = nn.Sequential(
            nn.Linear(latent_dim, int(torch.tensor(self._feature_shape).prod())),
            nn.ReLU(),
        )
        transpose = _CONV_TRANSPOSE[len(self.spatial_shape)]
        layers = []
        out_widths = [out_channels or 1, *self.widths[:-1]]
        for index in reversed(range(len(self.widths))):
            # The output padding restores the sizes that halving rounded down.
            padding = tuple(
                big - 2 * small for big, small in zip(shapes[index], shapes[index + 1])
            )
            layers.append(
                transpose(
                    self.widths[index],
                    out_widths[index],
                    4,
                    stride=2,
                    padding=1,
                    output_padding=padding,
                )
            )
            if index:
                layers.append(nn.ReLU())
        self.convolutions = nn.Sequential(*layers)

    def forward(self, z):
        """Decode a batch of latent vectors.

        Parameters
        ----------
        z : torch.Tensor, shape (batch, latent_dim)

        Returns
        -------
        x : torch.Tensor or torch.distributions.Bernoulli
            Shape ``(batch, *spatial_shape)`` or
            ``(batch, out_channels, *spatial_shape)``.
        """
        x = self.head(z).view(-1, *self._feature_shape)
        x = self.convolutions(x)
        if self.out_channels is None:
            x = x.squeeze(1)
        if self.distribution == "bernoulli":
            return Bernoulli(logits=x, validate_args=False)
        return x
