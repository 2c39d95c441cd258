"""Figures of what a VAE has learned: traversals, reconstructions, latent maps.

The plotting functions need matplotlib (``pip install "nidl[plotting]"``),
imported only when one of them is called. :func:`latent_traversals` computes
the decoded traversals without plotting them, for data that are not 2-D
images (volumes are shown with nilearn's plotting).
"""

import numbers

import numpy as np
from sklearn.utils import check_array, check_scalar

__all__ = [
    "latent_traversals",
    "plot_latent_scatter",
    "plot_latent_traversals",
    "plot_reconstructions",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "nidl.plotting needs matplotlib, which is not installed; install "
            'it with pip install "nidl[plotting]".'
        ) from error
    return plt


def _as_images(samples, image_shape):
    """Samples as 2-D images, or a ValueError saying how to get them."""
    samples = np.asarray(samples)
    n_samples = samples.shape[0]
    if image_shape is not None:
        return samples.reshape(n_samples, *image_shape)
    squeezed = samples.reshape(n_samples, *[s for s in samples.shape[1:] if s != 1])
    if squeezed.ndim != 3:
        raise ValueError(
            f"samples of shape {samples.shape[1:]} are not 2-D images; pass "
            "image_shape=(height, width) for flat samples, or compute the "
            "decoded samples with latent_traversals and show volumes with "
            "nilearn's plotting."
        )
    return squeezed


def _show_image(ax, image, cmap, low, high):
    """Draw ``image`` on ``ax`` without ticks, on the colour range of its figure."""
    ax.imshow(image, cmap=cmap, vmin=low, vmax=high)
    ax.set_xticks([])
    ax.set_yticks([])


def _codes(estimator, X):
    codes = estimator.transform(X)
    codes = codes.detach().cpu().numpy() if hasattr(codes, "detach") else codes
    return check_array(codes, dtype=np.float32, input_name="codes")


def latent_traversals(estimator, X=None, dims=None, n_steps=7, limit=2.5):
    """Decode codes in which one latent dimension at a time takes a range of values.

    Starting from the code of the first sample of ``X`` (or from the
    mean of the prior), each continuous dimension in ``dims`` is set in
    turn to ``n_steps`` values evenly spaced in ``[-limit, limit]``, the
    others kept, and the codes are decoded with ``inverse_transform``. In a
    disentangled model each row changes one factor of the data.

    Parameters
    ----------
    estimator : estimator of the VAE family
        A fitted ``VAE``, ``CapacityBetaVAE``, ``BetaTCVAE`` or ``JointVAE``
        (whose categorical codes stay those of the starting code).
    X : array-like, default=None
        Data whose first sample gives the starting code (the posterior
        mean with ``stochastic_transform=False``). None starts from the
        mean of the prior: 0, and uniform class probabilities.
    dims : sequence of int, default=None
        Latent dimensions to traverse; None traverses all.
    n_steps : int, default=7
        Values per dimension.
    limit : float, default=2.5
        The values span ``[-limit, limit]``, in prior standard deviations.

    Returns
    -------
    decoded : numpy.ndarray, shape (len(dims), n_steps) + sample_shape
        Decoded samples, one row per dimension.

    Examples
    --------
    Two dimensions of a VAE on 6 features, traversed from the prior mean:
    one row per dimension, one column per value, each a decoded sample.

    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> from nidl.plotting import latent_traversals
    >>> X = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    >>> vae = VAE(nn.Linear(6, 8), nn.Linear(3, 6), encoder_out_dim=8,
    ...           latent_dim=3, random_state=0, max_epochs=1,
    ...           enable_progress_bar=False).fit(X)
    >>> latent_traversals(vae, dims=[0, 2], n_steps=5).shape
    (2, 5, 6)
    """
    check_scalar(n_steps, "n_steps", numbers.Integral, min_val=1)
    check_scalar(limit, "limit", numbers.Real, min_val=0)
    latent_dim = estimator.latent_dim
    if X is None:
        start = estimator._prior_mean_code()
    else:
        start = _codes(estimator, X[:1])[0]
    dims = list(range(latent_dim)) if dims is None else [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad:
        raise ValueError(
            f"dims holds {bad[0]}, but the model has latent_dim={latent_dim}; "
            f"pass dimensions from 0 to {latent_dim - 1}."
        )
    values = np.linspace(-limit, limit, n_steps, dtype=np.float32)
    codes = np.tile(start, (len(dims), n_steps, 1))
    for row, dim in enumerate(dims):
        codes[row, :, dim] = values
    decoded = np.asarray(estimator.inverse_transform(codes.reshape(-1, len(start))))
    return decoded.reshape(len(dims), n_steps, *decoded.shape[1:])


def plot_latent_traversals(
    estimator, X=None, dims=None, n_steps=7, limit=2.5, image_shape=None, cmap="gray"
):
    """Show latent traversals of a VAE on 2-D images, one row per dimension.

    Parameters
    ----------
    estimator : nidl.estimators.autoencoders.VAE
        A fitted VAE on images.
    X : array-like, default=None
        Data whose first sample gives the starting code (the posterior
        mean with ``stochastic_transform=False``). None starts from the
        mean of the prior: 0, and uniform class probabilities.
    dims : sequence of int, default=None
        Latent dimensions to traverse; None traverses all.
    n_steps : int, default=7
        Values per dimension.
    limit : float, default=2.5
        The values span ``[-limit, limit]``, in prior standard deviations.
    image_shape : tuple of int, default=None
        Shape ``(height, width)`` of an image when the samples are flat.
    cmap : str, default="gray"
        Colour map of the images.

    Returns
    -------
    fig : matplotlib.figure.Figure

    See Also
    --------
    latent_traversals : The decoded samples, without a figure.

    Examples
    --------
    Images with a channel axis, here a tensor of shape (32, 1, 4, 4), need
    no ``image_shape``; the traversals start from the code of the first:

    >>> import torch
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> from nidl.plotting import plot_latent_traversals
    >>> images = torch.rand(32, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    >>> decoder = nn.Sequential(nn.Linear(2, 16), nn.Unflatten(1, (1, 4, 4)))
    >>> vae = VAE(nn.Flatten(), decoder, encoder_out_dim=16, latent_dim=2,
    ...           random_state=0, max_epochs=1, enable_progress_bar=False)
    >>> fig = plot_latent_traversals(vae.fit(images), images, n_steps=5)
    >>> len(fig.axes)
    10
    """
    plt = _pyplot()
    decoded = latent_traversals(estimator, X, dims=dims, n_steps=n_steps, limit=limit)
    n_rows = decoded.shape[0]
    images = _as_images(
        decoded.reshape(n_rows * n_steps, *decoded.shape[2:]), image_shape
    )
    dims = list(range(estimator.latent_dim)) if dims is None else list(dims)
    fig, axes = plt.subplots(
        n_rows, n_steps, figsize=(n_steps * 1.1, n_rows * 1.1), squeeze=False
    )
    low, high = float(images.min()), float(images.max())
    for image, ax in zip(images, axes.ravel()):
        _show_image(ax, image, cmap, low, high)
    for row, dim in enumerate(dims):
        axes[row, 0].set_ylabel(f"z{dim}", rotation=0, ha="right", va="center")
    for col, value in enumerate(np.linspace(-limit, limit, n_steps)):
        axes[-1, col].set_xlabel(f"{value:.2g}")
    return fig


def plot_reconstructions(estimator, X, n_images=8, image_shape=None, cmap="gray"):
    """Show images (top row) next to their reconstructions (bottom row).

    A reconstruction is the decoder mean of the code ``transform`` returns
    (the posterior mean with ``stochastic_transform=False``).

    Parameters
    ----------
    estimator : nidl.estimators.autoencoders.VAE
        A fitted VAE on images.
    X : array-like of shape (n_samples, ...)
        Images; the first ``n_images`` are shown.
    n_images : int, default=8
        Number of images shown.
    image_shape : tuple of int, default=None
        Shape ``(height, width)`` of an image when the samples are flat.
    cmap : str, default="gray"
        Colour map of the images.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from torch import nn
    >>> from nidl.estimators.autoencoders import VAE
    >>> from nidl.plotting import plot_reconstructions
    >>> X = np.random.default_rng(0).random((32, 4, 4)).astype("float32")
    >>> decoder = nn.Sequential(nn.Linear(2, 16), nn.Unflatten(1, (4, 4)))
    >>> vae = VAE(nn.Flatten(), decoder,
    ...           encoder_out_dim=16, latent_dim=2, random_state=0, max_epochs=1,
    ...           enable_progress_bar=False).fit(X)
    >>> fig = plot_reconstructions(vae, X, n_images=3)
    >>> len(fig.axes)
    6
    """
    plt = _pyplot()
    check_scalar(n_images, "n_images", numbers.Integral, min_val=1)
    X = X[:n_images]
    reconstructions = np.asarray(estimator.inverse_transform(_codes(estimator, X)))
    X = X.detach().cpu().numpy() if hasattr(X, "detach") else np.asarray(X)
    rows = [_as_images(X, image_shape), _as_images(reconstructions, image_shape)]
    n_images = len(rows[0])
    fig, axes = plt.subplots(2, n_images, figsize=(n_images * 1.1, 2.4), squeeze=False)
    low, high = float(rows[0].min()), float(rows[0].max())
    for row, (images, title) in enumerate(zip(rows, ("input", "reconstruction"))):
        for col in range(n_images):
            _show_image(axes[row, col], images[col], cmap, low, high)
        axes[row, 0].set_ylabel(title, rotation=0, ha="right", va="center")
    return fig


def plot_latent_scatter(
    codes, factor, dims=(0, 1), factor_name=None, ax=None, cmap="viridis"
):
    """Scatter two latent dimensions, each sample coloured by a factor.

    Parameters
    ----------
    codes : array-like of shape (n_samples, n_latents)
        Latent codes, e.g. from ``transform``.
    factor : array-like of shape (n_samples,)
        Value of a factor for each sample (numbers).
    dims : tuple of two int, default=(0, 1)
        The latent dimensions on the horizontal and vertical axes.
    factor_name : str, default=None
        Label of the colour bar.
    ax : matplotlib.axes.Axes, default=None
        Where to draw; None makes a new figure.
    cmap : str, default="viridis"
        Colour map of the factor.

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from nidl.plotting import plot_latent_scatter
    >>> codes = np.random.default_rng(0).normal(size=(50, 3))
    >>> ax = plot_latent_scatter(codes, codes[:, 0], dims=(0, 2), factor_name="age")
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('z0', 'z2')
    """
    plt = _pyplot()
    codes = check_array(codes, input_name="codes")
    factor = check_array(factor, ensure_2d=False, input_name="factor")
    if factor.shape != (codes.shape[0],):
        raise ValueError(
            f"factor has shape {factor.shape} but codes has {codes.shape[0]} "
            "samples; pass one factor value per sample."
        )
    if len(dims) != 2 or not all(0 <= d < codes.shape[1] for d in dims):
        raise ValueError(
            f"dims={tuple(dims)} must be two dimensions among the "
            f"{codes.shape[1]} of codes."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    points = ax.scatter(codes[:, dims[0]], codes[:, dims[1]], c=factor, s=8, cmap=cmap)
    colorbar = ax.figure.colorbar(points, ax=ax)
    if factor_name is not None:
        colorbar.set_label(factor_name)
    ax.set_xlabel(f"z{dims[0]}")
    ax.set_ylabel(f"z{dims[1]}")
    return ax
