"""dSprites-style images of 2-D shapes drawn from known generative factors."""

import numbers

import numpy as np
from sklearn.utils import check_array, check_random_state, check_scalar

#: Names of the generative factors, in the order of the factor columns.
DSPRITES_FACTOR_NAMES = ("shape", "scale", "orientation", "position_x", "position_y")

_IMAGE_SIZE = 64
_WINDOW = 32  # side of the square window a sprite is drawn in
_MARGIN = 16  # first and last centre pixels are _MARGIN and _MARGIN + 31


def dsprites_factor_values():
    """Values each dSprites factor takes on the full grid.

    The shape is 0 (square), 1 (ellipse) or 2 (heart); the scale takes 6
    values from 0.5 to 1; the orientation 40 values in radians, from 0 to
    ``2 * pi * 39 / 40`` (so that no two orientations give the same image of
    a heart); the horizontal and vertical positions 32 values each from 0
    (left, top) to 1 (right, bottom).

    Returns
    -------
    values : list of numpy.ndarray
        One 1-D array per factor, in the order of ``DSPRITES_FACTOR_NAMES``:
        shape, scale, orientation, position_x, position_y.

    See Also
    --------
    make_dsprites : The images of the full grid or of a random subset of it.

    Examples
    --------
    >>> from nidl.datasets import dsprites_factor_values
    >>> [len(v) for v in dsprites_factor_values()]
    [3, 6, 40, 32, 32]
    """
    return [
        np.arange(3, dtype=np.float64),
        np.linspace(0.5, 1.0, 6),
        np.linspace(0.0, 2 * np.pi, 40, endpoint=False),
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    ]


def make_dsprites(n_samples=None, random_state=None):
    """Generate dSprites-style images of shapes with known generative factors.

    The images reproduce the design of the dSprites data set [1]_, drawn
    procedurally so that nothing is downloaded: 64x64 binary images of one
    white shape (square, ellipse or heart) on a black background, generated
    from five independent factors, shape (3 values), scale (6), orientation
    (40), horizontal position (32) and vertical position (32), for
    3 x 6 x 40 x 32 x 32 = 737,280 images in all. A pixel is on when its
    centre lies inside the shape. The full grid takes 3 GB; draw a random
    subset with ``n_samples`` for everyday use.

    Parameters
    ----------
    n_samples : int, default=None
        Number of images drawn at random, without replacement, from the full
        grid. None returns the full grid in factor order (the last factor,
        ``position_y``, varies fastest).
    random_state : int, RandomState instance or None, default=None
        Seed of the random subset. Ignored when ``n_samples`` is None.

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n_samples, 64, 64)
        Binary images (0 or 1).
    factors : numpy.ndarray of float64, shape (n_samples, 5)
        The factor values of each image: shape (0 square, 1 ellipse, 2
        heart), scale, orientation in radians, position_x and position_y in
        [0, 1]; see :func:`dsprites_factor_values`.

    See Also
    --------
    draw_dsprites : Draw images for given factor values.
    dsprites_factor_values : The values each factor takes.

    References
    ----------
    .. [1] L. Matthey, I. Higgins, D. Hassabis and A. Lerchner, "dSprites:
       Disentanglement testing Sprites dataset", 2017.

    Examples
    --------
    >>> from nidl.datasets import make_dsprites
    >>> images, factors = make_dsprites(n_samples=100, random_state=0)
    >>> images.shape, images.dtype, factors.shape
    ((100, 64, 64), dtype('uint8'), (100, 5))
    >>> sorted(set(images.ravel().tolist()))
    [0, 1]
    """
    values = dsprites_factor_values()
    sizes = [len(v) for v in values]
    n_total = int(np.prod(sizes))
    if n_samples is None:
        indices = np.arange(n_total)
    else:
        check_scalar(
            n_samples, "n_samples", numbers.Integral, min_val=1, max_val=n_total
        )
        rng = check_random_state(random_state)
        indices = rng.choice(n_total, size=n_samples, replace=False)
    codes = np.unravel_index(indices, sizes)
    factors = np.stack([v[c] for v, c in zip(values, codes)], axis=1)
    return draw_dsprites(factors), factors


def draw_dsprites(factors):
    """Draw dSprites-style images for given factor values.

    This is the generator of :func:`make_dsprites`, exposed so that images
    can be drawn for chosen factors, as intervention metrics such as
    :func:`nidl.metrics.factor_vae_score` need. Values between the grid
    values are allowed: positions move the shape by fractions of a pixel and
    any orientation is drawn.

    Parameters
    ----------
    factors : array-like of shape (n_samples, 5)
        Factor values, columns in the order shape (0, 1 or 2), scale (in
        [0.5, 1]), orientation (radians), position_x and position_y (in
        [0, 1]).

    Returns
    -------
    images : numpy.ndarray of uint8, shape (n_samples, 64, 64)
        Binary images (0 or 1).

    Raises
    ------
    ValueError
        If ``factors`` does not have 5 columns, or a value lies outside its
        range.

    See Also
    --------
    make_dsprites : Images and factors of the grid.

    Examples
    --------
    >>> from nidl.datasets import draw_dsprites
    >>> square = draw_dsprites([[0, 1.0, 0.0, 0.5, 0.5]])[0]
    >>> int(square.sum()), int(square[32, 32]), int(square[0, 0])
    (324, 1, 0)
    """
    factors = check_array(factors, dtype=np.float64, input_name="factors")
    if factors.shape[1] != len(DSPRITES_FACTOR_NAMES):
        raise ValueError(
            f"factors has {factors.shape[1]} columns but dSprites images have "
            f"{len(DSPRITES_FACTOR_NAMES)} factors; pass columns "
            f"{', '.join(DSPRITES_FACTOR_NAMES)}."
        )
    shape, scale, orientation, pos_x, pos_y = factors.T
    _check_range(shape, "shape", 0, 2)
    if not np.isin(shape, (0, 1, 2)).all():
        bad = shape[~np.isin(shape, (0, 1, 2))][0]
        raise ValueError(
            f"the shape factor must be 0 (square), 1 (ellipse) or 2 (heart), "
            f"got {bad}; pass one of these values."
        )
    _check_range(scale, "scale", 0.5, 1.0)
    _check_range(pos_x, "position_x", 0.0, 1.0)
    _check_range(pos_y, "position_y", 0.0, 1.0)

    # Each shape is drawn once per distinct (shape, scale, orientation,
    # sub-pixel offset) and pasted at its whole-pixel position.
    centre_x = _MARGIN + (_WINDOW - 1) * pos_x
    centre_y = _MARGIN + (_WINDOW - 1) * pos_y
    pixel_x = np.floor(centre_x + 1e-9).astype(np.intp)
    pixel_y = np.floor(centre_y + 1e-9).astype(np.intp)
    keys = np.stack(
        [
            shape,
            scale,
            np.mod(orientation, 2 * np.pi),
            np.clip(centre_x - pixel_x, 0, None),
            np.clip(centre_y - pixel_y, 0, None),
        ],
        axis=1,
    ).round(9)
    unique_keys, inverse = np.unique(keys, axis=0, return_inverse=True)
    sprites = _draw_sprites(unique_keys)

    n_samples = len(factors)
    images = np.zeros((n_samples, _IMAGE_SIZE, _IMAGE_SIZE), dtype=np.uint8)
    offsets = np.arange(_WINDOW) - _MARGIN
    for start in range(0, n_samples, 16384):
        chunk = slice(start, start + 16384)
        rows = pixel_y[chunk, None, None] + offsets[None, :, None]
        cols = pixel_x[chunk, None, None] + offsets[None, None, :]
        index = np.arange(start, start + len(rows))[:, None, None]
        images[index, rows, cols] = sprites[inverse.ravel()[chunk]]
    return images


def _check_range(values, name, low, high):
    outside = (values < low) | (values > high)
    if outside.any():
        raise ValueError(
            f"the {name} factor must lie in [{low}, {high}], got "
            f"{values[outside][0]}; pass values in that range."
        )


def _draw_sprites(keys):
    """Binary sprites in a 32x32 window, one per row of ``keys``."""
    offsets = np.arange(_WINDOW, dtype=np.float64) - _MARGIN
    sprites = np.empty((len(keys), _WINDOW, _WINDOW), dtype=np.uint8)
    for start in range(0, len(keys), 1024):
        shape, scale, angle, frac_x, frac_y = (
            column[:, None, None] for column in keys[start : start + 1024].T
        )
        # Position of each pixel centre relative to the shape centre, in the
        # shape's own frame (image rows point down, so y is flipped).
        dx = offsets[None, None, :] - frac_x
        dy = -(offsets[None, :, None] - frac_y)
        cos, sin = np.cos(angle), np.sin(angle)
        u = (cos * dx + sin * dy) / scale
        v = (-sin * dx + cos * dy) / scale
        square = (np.abs(u) <= 9.0) & (np.abs(v) <= 9.0)
        ellipse = (u / 11.0) ** 2 + (v / 5.5) ** 2 <= 1.0
        hx, hy = u / 8.0, v / 8.0 + 0.125
        heart = (hx**2 + hy**2 - 1) ** 3 - hx**2 * hy**3 <= 0
        sprites[start : start + 1024] = np.where(
            shape == 0, square, np.where(shape == 1, ellipse, heart)
        )
    return sprites
