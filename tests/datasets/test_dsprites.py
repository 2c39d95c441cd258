import numpy as np
import pytest

from nidl.datasets import draw_dsprites, dsprites_factor_values, make_dsprites


def test_subset_shapes_values_and_reproducibility():
    images, factors = make_dsprites(n_samples=200, random_state=0)
    assert images.shape == (200, 64, 64) and images.dtype == np.uint8
    assert factors.shape == (200, 5)
    assert set(np.unique(images)) == {0, 1}
    for column, values in zip(factors.T, dsprites_factor_values()):
        assert np.isin(column, values).all()
    # Drawn without replacement: no two images share all their factors.
    assert len(np.unique(factors, axis=0)) == 200
    again, factors_again = make_dsprites(n_samples=200, random_state=0)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(factors_again, factors)
    other = make_dsprites(n_samples=200, random_state=1)[1]
    assert not np.array_equal(other, factors)


def test_draw_reproduces_the_images():
    images, factors = make_dsprites(n_samples=200, random_state=0)
    np.testing.assert_array_equal(draw_dsprites(factors), images)


def test_grid_has_737280_images_in_factor_order():
    sizes = [len(v) for v in dsprites_factor_values()]
    assert int(np.prod(sizes)) == 737280
    assert sizes == [3, 6, 40, 32, 32]


def test_geometry_on_paper():
    # A square of half-side 9 pixels centred between pixels covers 18 x 18.
    square = draw_dsprites([[0, 1.0, 0.0, 0.5, 0.5]])[0]
    assert square.sum() == 18 * 18
    rows, cols = np.nonzero(square)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (23, 40, 23, 40)
    # One grid step of position moves the shape by exactly one pixel.
    step = dsprites_factor_values()[3][1]
    for shape in (0, 1, 2):
        base = draw_dsprites([[shape, 0.8, 0.7, 0.3, 0.6]])[0]
        right = draw_dsprites([[shape, 0.8, 0.7, 0.3 + step, 0.6]])[0]
        down = draw_dsprites([[shape, 0.8, 0.7, 0.3, 0.6 + step]])[0]
        np.testing.assert_array_equal(np.roll(base, 1, axis=1), right)
        np.testing.assert_array_equal(np.roll(base, 1, axis=0), down)
    # Symmetries: a square is unchanged by a quarter turn, an ellipse by a
    # half turn, a heart is not.
    at = [0.5, 0.5]
    for shape, turn, same in ((0, np.pi / 2, True), (1, np.pi, True),
                              (2, np.pi, False)):
        a = draw_dsprites([[shape, 1.0, 0.0, *at]])[0]
        b = draw_dsprites([[shape, 1.0, turn, *at]])[0]
        assert np.array_equal(a, b) == same
    # Area grows with the square of the scale.
    small = draw_dsprites([[1, 0.5, 0.0, 0.5, 0.5]])[0].sum()
    large = draw_dsprites([[1, 1.0, 0.0, 0.5, 0.5]])[0].sum()
    assert 3.5 < large / small < 4.5


def test_shapes_stay_inside_the_image():
    values = dsprites_factor_values()
    grid = np.array(
        np.meshgrid([0, 1, 2], [1.0], values[2], [0.0, 1.0], [0.0, 1.0], indexing="ij")
    ).reshape(5, -1).T
    images = draw_dsprites(grid)
    edges = images[:, [0, -1], :].sum() + images[:, :, [0, -1]].sum()
    assert edges == 0
    assert (images.reshape(len(images), -1).sum(axis=1) > 50).all()


@pytest.mark.parametrize(
    "factors, match",
    [
        ([[0, 1.0, 0.0, 0.5]], "5 factors"),
        ([[3, 1.0, 0.0, 0.5, 0.5]], "shape"),
        ([[0.5, 1.0, 0.0, 0.5, 0.5]], "shape"),
        ([[0, 1.5, 0.0, 0.5, 0.5]], "scale"),
        ([[0, 1.0, 0.0, -0.1, 0.5]], "position_x"),
        ([[0, 1.0, 0.0, 0.5, 2.0]], "position_y"),
    ],
)
def test_draw_rejects_bad_factors(factors, match):
    with pytest.raises(ValueError, match=match):
        draw_dsprites(factors)


@pytest.mark.parametrize("n_samples", [0, 737281, 2.5])
def test_bad_n_samples(n_samples):
    with pytest.raises((ValueError, TypeError), match="n_samples"):
        make_dsprites(n_samples=n_samples)
