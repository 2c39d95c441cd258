"""The behaviours of the volume transforms that code written for upstream
nidl relies on, one test per behaviour, through the public names.

Each test restates one documented behaviour (types, dtypes, shapes, error
types, parameter forms); the deliberate differences are tested at the end.
Random outputs are checked for ranges or changes, under a fixed seed.
"""

from unittest import mock

import numpy as np
import pytest
import torch

from nidl import transforms as T

NUMPY_DTYPES = [np.int16, np.int32, np.int64, np.float16, np.float32, np.float64,
                np.uint8, np.uint16]
TORCH_DTYPES = [torch.int16, torch.int32, torch.int64, torch.float16, torch.float32,
                torch.float64]
INTERPOLATIONS = ["nearest", "linear", "bspline", "cubic", "gaussian",
                  "label_gaussian", "hamming", "cosine", "welch", "lanczos",
                  "blackman"]
#: Transforms that change an integer ramp with their default parameters.
CHANGING = [T.RandomRotation, T.RandomFlip, T.RandomErasing, T.RandomGaussianBlur,
            T.ZNormalization, T.RobustRescaling]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)


def ramp():
    return np.arange(2 * 4 * 4 * 4).reshape(2, 4, 4, 4)


def non_float16(dtypes):
    return [d for d in dtypes if d not in (np.float16, torch.float16)]


# ----------------------------------------------------------------------------
# Common behaviour
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CHANGING)
def test_p_zero_returns_input_p_one_changes_it(cls):
    volume = ramp()
    assert np.array_equal(cls(p=0.0)(volume), volume)
    assert np.any(cls(p=1.0)(volume) != volume)


@pytest.mark.parametrize("cls", CHANGING)
@pytest.mark.parametrize("p", [-1, 3, [1, 2], "not number"])
def test_invalid_p_is_a_value_error(cls, p):
    with pytest.raises(ValueError, match="p="):
        cls(p=p)


@pytest.mark.parametrize("cls", CHANGING)
def test_nested_list_input_is_a_type_error(cls):
    with pytest.raises(TypeError, match="numpy.ndarray or a torch.Tensor"):
        cls()([[[1, 2, 3], [4, 5, 6], [7, 8, 9]]])


# ----------------------------------------------------------------------------
# Identity and MultiViewsTransform
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("data", [np.array([1, 2, 3]), torch.tensor([1, 2, 3])])
def test_identity_returns_the_same_object_of_any_shape(data):
    assert T.Identity()(data) is data


def test_identity_refuses_a_string():
    with pytest.raises(TypeError):
        T.Identity()("abcd")


def test_multiple_views_of_one_callable():
    views = T.MultiViewsTransform(mock.MagicMock(side_effect=lambda x: x + 1),
                                  n_views=3)(np.array([1, 2, 3]))
    assert isinstance(views, list) and len(views) == 3
    for view in views:
        np.testing.assert_array_equal(view, [2, 3, 4])


def test_one_view_per_callable_of_a_sequence():
    double = mock.MagicMock(side_effect=lambda x: x * 2)
    shift = mock.MagicMock(side_effect=lambda x: x + 3)
    views = T.MultiViewsTransform([double, shift])(np.array([1, 2, 3]))
    np.testing.assert_array_equal(views[0], [2, 4, 6])
    np.testing.assert_array_equal(views[1], [4, 5, 6])


@pytest.mark.parametrize("n_views", [0, 1, 2])
def test_n_views_gives_that_many_views(n_views):
    views = T.MultiViewsTransform(lambda x: x + 1, n_views=n_views)(np.array([1]))
    assert len(views) == n_views


@pytest.mark.parametrize(
    "transforms, n_views, error",
    [
        ("not_a_callable", None, TypeError),
        ([lambda x: x, "bad_transform"], None, TypeError),
        (lambda x: x, "two", TypeError),
        (lambda x: x, 2.0, TypeError),
        (lambda x: x, -1, ValueError),
        ([lambda x: x], 2, ValueError),
    ],
)
def test_multiple_views_errors(transforms, n_views, error):
    with pytest.raises(error, match="MultiViewsTransform"):
        T.MultiViewsTransform(transforms, n_views=n_views)


# ----------------------------------------------------------------------------
# RandomRotation
# ----------------------------------------------------------------------------

AXES_FORMS = [(1, 2), ((1, 2),), ((0, 1), (1, 2), (0, 2))]
#: Voxel axes 0, 1, 2 run along P, R, S (a rotation of the identity).
ROTATED_AFFINE = np.array([[0, 1, 0, 0], [-1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])


@pytest.mark.parametrize("axes", AXES_FORMS)
@pytest.mark.parametrize("dtype", NUMPY_DTYPES + TORCH_DTYPES, ids=str)
def test_rotation_keeps_type_shape_and_dtype(axes, dtype):
    volume = ramp().astype(np.float32)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RandomRotation(axes=axes, rotation_probability=1.0)(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == volume.shape and out.dtype == dtype


@pytest.mark.parametrize("axes", [("LR", "AP"), (("LR", "IS"),)])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_rotation_labels_follow_the_affine(axes, kind):
    volume = ramp().astype(np.float32)
    data = torch.from_numpy(volume) if kind == "torch" else volume
    out = T.RandomRotation(axes=axes)(data, affine=ROTATED_AFFINE)
    assert tuple(out.shape) == volume.shape


def test_rotation_labels_without_affine_use_the_identity():
    volume = ramp().astype(np.float32)
    out = T.RandomRotation(axes=(("LR", "AP"),))(volume, affine=None)
    assert np.any(out != volume)


def test_rotation_probability_zero_keeps_the_input():
    volume = ramp()
    out = T.RandomRotation(axes=((1, 2),), rotation_probability=0.0)(volume)
    np.testing.assert_array_equal(out, volume)


@pytest.mark.parametrize("axes", [(("LR",),), (("XX", "IS"),)])
def test_rotation_bad_axes_are_value_errors(axes):
    with pytest.raises(ValueError, match="axes="):
        T.RandomRotation(axes=axes)


# ----------------------------------------------------------------------------
# RandomFlip
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_flip_all_axes_flips_the_spatial_axes(kind):
    volume = ramp()
    data = torch.from_numpy(volume) if kind == "torch" else volume
    out = T.RandomFlip(axes=(0, 1, 2), flip_probability=1.0)(data)
    np.testing.assert_array_equal(np.asarray(out), np.flip(volume, axis=(1, 2, 3)))


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_flip_probability_zero_keeps_the_input(kind):
    volume = ramp()
    data = torch.from_numpy(volume) if kind == "torch" else volume
    out = T.RandomFlip(axes=(0, 1, 2), flip_probability=0.0)(data)
    np.testing.assert_array_equal(np.asarray(out), volume)


def test_flip_labels_follow_the_affine():
    volume = np.random.rand(4, 10, 10, 10)
    out = T.RandomFlip(axes=("AP", "IS"))(volume, affine=ROTATED_AFFINE)
    np.testing.assert_array_equal(out, np.flip(volume, axis=(1, 3)))


def test_flip_labels_with_identity_affine():
    volume = np.random.rand(4, 5, 5, 5)
    out = T.RandomFlip(axes="LR")(volume, affine=np.eye(4))
    np.testing.assert_array_equal(out, np.flip(volume, axis=1))


@pytest.mark.parametrize("axes", [(3,), ("XY",)])
def test_flip_bad_axes_are_value_errors(axes):
    with pytest.raises(ValueError, match="axes="):
        T.RandomFlip(axes=axes)


@pytest.mark.parametrize("shape", [(2, 4, 4, 4, 1), (2, 4)])
def test_flip_refuses_other_dimensions(shape):
    with pytest.raises(ValueError, match="expects a volume"):
        T.RandomFlip(axes="LR")(np.zeros(shape))


def test_flip_of_a_3d_volume():
    volume = np.random.rand(2, 3, 4)
    np.testing.assert_array_equal(T.RandomFlip(axes=2)(volume),
                                  np.flip(volume, axis=2))


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + TORCH_DTYPES, ids=str)
def test_flip_keeps_shape_and_dtype(dtype):
    volume = ramp()
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RandomFlip(axes=(0, 1))(data)
    assert tuple(out.shape) == volume.shape and out.dtype == dtype


# ----------------------------------------------------------------------------
# RandomErasing
# ----------------------------------------------------------------------------

ERASE_SHAPE = (2, 20, 20, 20)
N = int(np.prod(ERASE_SHAPE))


@pytest.mark.parametrize("dtype", NUMPY_DTYPES + TORCH_DTYPES, ids=str)
def test_erasing_keeps_type_shape_and_dtype(dtype):
    volume = np.random.rand(*ERASE_SHAPE)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RandomErasing(value=np.pi)(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == ERASE_SHAPE and out.dtype == dtype


@pytest.mark.parametrize("inplace", [True, False])
def test_erasing_inplace(inplace):
    data = np.ones(ERASE_SHAPE)
    out = T.RandomErasing(inplace=inplace, value=5.0)(data)
    assert (out is data) == inplace
    assert np.any(out == 5.0)
    assert np.any(data == 5.0) == inplace


def test_erasing_fills_the_drawn_fraction():
    for _ in range(10):
        out = T.RandomErasing(scale=(0.3, 0.3), value=7.0)(np.ones(ERASE_SHAPE))
        assert abs((out == 7.0).sum() - round(0.3 * N)) < 0.05 * N


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_erasing_with_the_mean_keeps_the_global_mean(kind):
    data = np.random.rand(*ERASE_SHAPE)
    data = torch.rand(*ERASE_SHAPE) if kind == "torch" else data
    out = T.RandomErasing(value="mean")(data)
    assert float(abs(out - data).sum()) > 0
    assert float(abs(out.mean() - data.mean())) < 1e-7


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_erasing_with_noise_fills_the_drawn_fraction(kind):
    data = torch.zeros(ERASE_SHAPE) if kind == "torch" else np.zeros(ERASE_SHAPE)
    out = T.RandomErasing(scale=(0.1, 0.5), value="random")(data)
    assert round(0.1 * N) <= int((out != 0).sum()) <= round(0.5 * N)


def test_erasing_several_boxes():
    out = T.RandomErasing(scale=(0.05, 0.2), value=9.0, num_iterations=3)(
        np.zeros(ERASE_SHAPE))
    assert round(0.05 * N) < (out == 9.0).sum() < 3 * round(0.2 * N)


def test_erasing_unknown_fill_is_a_value_error_when_called():
    transform = T.RandomErasing(value="bad_value")
    with pytest.raises(ValueError, match="value='bad_value'"):
        transform(np.zeros(ERASE_SHAPE))


@pytest.mark.parametrize(
    "kwargs, error",
    [({"ratio": 2}, TypeError), ({"scale": -1}, TypeError),
     ({"scale": (-1, 2)}, ValueError)],
)
def test_erasing_range_errors(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs)) + "="):
        T.RandomErasing(**kwargs)


@pytest.mark.parametrize("shape", [(1, 2, 2, 2), (1, 1, 1, 1), (2, 1, 1)])
def test_erasing_tiny_volumes(shape):
    out = T.RandomErasing()(np.ones(shape))
    assert out.shape == shape and out.dtype == np.float64


def test_erasing_with_extreme_ratios_still_erases():
    out = T.RandomErasing(ratio=(20, 30))(np.ones((2, 3, 4), dtype=np.float32))
    assert np.any(out != 1) and out.shape == (2, 3, 4) and out.dtype == np.float32


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_erasing_box_comes_from_the_class_sampler(kind):
    box = [slice(0, 3), slice(1, 4), slice(2, 5)]
    data = torch.ones(2, 10, 10, 10) if kind == "torch" else np.ones((2, 10, 10, 10))
    with mock.patch("nidl.transforms.RandomErasing._sample_3d_box",
                    return_value=box) as sampler:
        out = T.RandomErasing(value=2.0)(data)
    sampler.assert_called_once_with((10, 10, 10), (0.02, 0.33), (1.0, 3.0))
    expected = np.ones((2, 10, 10, 10))
    expected[:, 0:3, 1:4, 2:5] = 2.0
    np.testing.assert_array_equal(np.asarray(out), expected)


def test_erasing_sampler_falls_back_to_an_empty_box():
    box = T.RandomErasing._sample_3d_box((4, 4, 4), (2.0, 2.0), (1.0, 1.0))
    assert box == [slice(0, 0)] * 3


def test_erasing_sampler_gives_three_slices():
    box = T.RandomErasing._sample_3d_box((10, 12, 8), (0.1, 0.3), (1.0, 2.0))
    assert isinstance(box, list) and len(box) == 3
    assert all(0 <= s.start <= s.stop <= n for s, n in zip(box, (10, 12, 8)))


# ----------------------------------------------------------------------------
# RandomResizedCrop
# ----------------------------------------------------------------------------

CROP_TARGET = (16, 14, 12)


@pytest.mark.parametrize("dtype", non_float16(NUMPY_DTYPES + TORCH_DTYPES), ids=str)
def test_resized_crop_keeps_type_and_dtype(dtype):
    volume = np.random.rand(32, 32, 32)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RandomResizedCrop(target_shape=CROP_TARGET)(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == CROP_TARGET and out.dtype == dtype


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_resized_crop_keeps_the_channel_axis(kind):
    shape = (1, 32, 32, 32)
    data = torch.rand(shape) if kind == "torch" else np.random.rand(*shape)
    assert tuple(T.RandomResizedCrop(CROP_TARGET)(data).shape) == (1, *CROP_TARGET)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_resized_crop_every_interpolation(interpolation):
    data = np.random.rand(32, 32, 32).astype(np.float32)
    out = T.RandomResizedCrop(CROP_TARGET, interpolation=interpolation)(data)
    assert out.shape == CROP_TARGET and out.dtype == np.float32


@pytest.mark.parametrize("target", [(-1, 20, 20), (1, 20, 20, 20), (20.0, 20, 20),
                                    17.2, 17.0, (16, 17)])
def test_resized_crop_bad_target_is_a_value_error(target):
    with pytest.raises(ValueError, match="target_shape="):
        T.RandomResizedCrop(target_shape=target)


@pytest.mark.parametrize(
    "kwargs, error",
    [({"scale": (1.2, 0.5)}, ValueError), ({"scale": (1.2, "3.2")}, TypeError),
     ({"scale": (0.5, 2.0)}, ValueError), ({"ratio": (2.0, 0.5)}, ValueError)],
)
def test_resized_crop_range_errors(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs)) + "="):
        T.RandomResizedCrop((16, 16, 16), **kwargs)


def test_resized_crop_keeps_values_in_range():
    out = T.RandomResizedCrop(CROP_TARGET)(np.random.rand(32, 32, 32))
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_resized_crop_sampler_falls_back_to_the_whole_volume():
    box = T.RandomResizedCrop._sample_3d_box(in_shape=(10, 10, 10), scale=(2.0, 2.0),
                                             ratio=(1.0, 1.0))
    assert box == [slice(0, 10), slice(0, 10), slice(0, 10)]


def test_resized_crop_is_random():
    data = np.random.rand(32, 32, 32)
    transform = T.RandomResizedCrop(target_shape=17)
    assert not np.allclose(transform(data), transform(data))


# ----------------------------------------------------------------------------
# RandomGaussianBlur
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(32, 16, 64), (1, 32, 16, 64)])
@pytest.mark.parametrize("dtype", non_float16(NUMPY_DTYPES + TORCH_DTYPES), ids=str)
def test_blur_keeps_type_shape_and_dtype(shape, dtype):
    volume = np.random.rand(*shape)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RandomGaussianBlur(sigma=(0.1, 2))(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == shape and out.dtype == dtype


@pytest.mark.parametrize(
    "sigma, stored",
    [([0.1, 1.0], (0.1, 1.0, 0.1, 1.0, 0.1, 1.0)),
     ((0.1, 1.0, 0.2, 1.2, 0.3, 1.3), (0.1, 1.0, 0.2, 1.2, 0.3, 1.3))],
)
def test_blur_sigma_is_stored_per_axis(sigma, stored):
    assert T.RandomGaussianBlur(sigma=sigma).sigma == stored


@pytest.mark.parametrize("sigma", [(0.1, 1.0, 0.5), (0.1, 1.0, 0.5, 1.0), (-1, 0.5)])
def test_blur_bad_sigma_is_a_value_error(sigma):
    with pytest.raises(ValueError, match="sigma"):
        T.RandomGaussianBlur(sigma=sigma)


def test_blur_spreads_a_spike_locally():
    volume = np.ones((16, 16, 16))
    volume[8, 8, 8] = 10
    out = T.RandomGaussianBlur(sigma=(3.0, 3.0))(volume)
    assert out[8, 8, 8] < 10 and out[8, 9, 10] > 1
    assert abs(out[0, 0, 0] - 1) < 1e-3


# ----------------------------------------------------------------------------
# RandomGaussianNoise
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 10, 10, 10), (10, 10, 10)])
@pytest.mark.parametrize("dtype", NUMPY_DTYPES + TORCH_DTYPES, ids=str)
def test_noise_keeps_shape_and_dtype(shape, dtype):
    volume = np.random.rand(*shape)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RandomGaussianNoise(mean=0, std=(0.1, 3.0))(data)
    assert tuple(out.shape) == shape and out.dtype == dtype


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_noise_statistics(kind):
    ones = torch.ones(3, 10, 10, 10) if kind == "torch" else np.ones((3, 10, 10, 10),
                                                                      np.float32)
    out = T.RandomGaussianNoise(mean=0, std=(0.1, 0.1))(ones)
    assert float(out.std()) == pytest.approx(0.1, abs=5e-3)
    shifted = T.RandomGaussianNoise(mean=(-1.0, 1.0), std=(0.1, 0.1))(ones)
    assert 0 < float(shifted.mean()) < 2
    loud = T.RandomGaussianNoise(mean=(-1.0, 1.0), std=(3.0, 10.0))(ones)
    assert 0.3 < float(loud.std()) < np.sqrt(100 + 1 / 12)


def test_noise_negative_std_is_a_value_error():
    with pytest.raises(ValueError, match="std="):
        T.RandomGaussianNoise(mean=0, std=(-1.0, 0.1))


# ----------------------------------------------------------------------------
# ZNormalization
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(10, 10, 10), (3, 10, 10, 10)])
def test_znormalization_numpy_uses_the_population_std(shape):
    out = T.ZNormalization()(np.random.rand(*shape))
    for channel in out.reshape(-1, 1000):
        assert channel.mean() == pytest.approx(0, abs=5e-4)
        assert np.std(channel) == pytest.approx(1, abs=5e-4)


@pytest.mark.parametrize("shape", [(10, 10, 10), (3, 10, 10, 10)])
def test_znormalization_torch_uses_the_unbiased_std(shape):
    out = T.ZNormalization()(torch.rand(*shape, dtype=torch.float64))
    for channel in out.reshape(-1, 1000):
        assert channel.mean().item() == pytest.approx(0, abs=5e-4)
        assert torch.std(channel).item() == pytest.approx(1, abs=5e-4)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_znormalization_inside_a_mask(kind):
    data = torch.rand(10, 10, 10) if kind == "torch" else np.random.rand(10, 10, 10)
    mask = data > 0.5
    out = T.ZNormalization(masking_fn=lambda x: x > 0.5)(data)
    assert out.shape == data.shape and bool(np.isfinite(np.asarray(out)).all())
    assert float(out[mask].mean()) == pytest.approx(0, abs=5e-4)
    assert float(out[mask].std()) == pytest.approx(1, abs=5e-4)


def test_znormalization_of_a_constant_volume():
    out = T.ZNormalization()(np.full((10, 10, 10), 3.14, dtype=np.float32))
    assert np.std(out) < 1e-6 and np.isfinite(out).all()


@pytest.mark.parametrize("shape", [(10, 10, 10), (3, 10, 10, 10)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, torch.float16,
                                   torch.float32, torch.float64], ids=str)
def test_znormalization_keeps_float_dtypes(shape, dtype):
    volume = np.random.rand(*shape)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.ZNormalization()(data)
    assert tuple(out.shape) == shape and out.dtype == dtype


# ----------------------------------------------------------------------------
# RobustRescaling
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, kwargs, bounds",
    [
        (np.random.normal(100, 20, (64, 64, 64)).astype(np.float32), {}, (0, 1)),
        (np.random.normal(10, 5, (2, 32, 32, 32)).astype(np.float32),
         {"out_min_max": (-1, 1), "percentiles": (5, 95)}, (-1, 1)),
        (torch.randn(64, 64, 64) * 5 + 100, {}, (0, 1)),
        (torch.randn(3, 32, 32, 32) * 10 + 50, {}, (0, 1)),
    ],
)
def test_robust_rescaling_output_range(data, kwargs, bounds):
    out = T.RobustRescaling(**kwargs)(data)
    assert type(out) is type(data) and out.shape == data.shape
    assert out.dtype == data.dtype
    assert bounds[0] <= float(out.min()) and float(out.max()) <= bounds[1]


def test_robust_rescaling_clips_outliers_and_masks():
    volume = np.random.normal(50, 5, (64, 64, 64)).astype(np.float32)
    volume[0, 0, 0] = 1e6
    out = T.RobustRescaling()(volume)
    assert out.min() >= 0 and out.max() <= 1
    mask = np.zeros(volume.shape, dtype=bool)
    mask[16:48, 16:48, 16:48] = True
    out = T.RobustRescaling(masking_fn=lambda v: mask)(volume)
    assert out.min() >= 0 and out.max() <= 1
    volume = torch.rand(1, 32, 32, 32) * 100
    out = T.RobustRescaling(masking_fn=lambda v: v > 10)(volume)
    assert out.min() >= 0 and out.max() <= 1


def test_robust_rescaling_is_per_channel():
    volume = np.stack([np.linspace(0, 1, 64), np.linspace(100, 300, 64)])
    out = T.RobustRescaling(percentiles=(0, 100))(volume.reshape(2, 4, 4, 4))
    for channel in out:
        assert channel.min() == 0 and channel.max() == 1


@pytest.mark.parametrize("shape", [(1, 10, 20, 30), (10, 20, 20)])
@pytest.mark.parametrize("dtype", NUMPY_DTYPES + TORCH_DTYPES, ids=str)
def test_robust_rescaling_keeps_type_shape_and_dtype(shape, dtype):
    volume = np.random.rand(*shape)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.RobustRescaling()(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == shape and out.dtype == dtype
    assert 0 <= float(out.min()) and float(out.max()) <= 1


@pytest.mark.parametrize("percentiles", [(90,), (99, 1), (-5, 105)])
def test_robust_rescaling_bad_percentiles_are_value_errors(percentiles):
    with pytest.raises(ValueError, match="percentiles="):
        T.RobustRescaling(percentiles=percentiles)


def test_robust_rescaling_constant_volume_is_zero():
    out = T.RobustRescaling(percentiles=(0, 100))(np.full((64, 64, 64), 5.0))
    np.testing.assert_allclose(out, 0.0, atol=1e-6)


# ----------------------------------------------------------------------------
# CropOrPad
# ----------------------------------------------------------------------------


def full(shape, value, kind):
    if kind == "torch":
        return torch.full(shape, value, dtype=torch.float32)
    return np.full(shape, value, dtype=np.float32)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_crop_or_pad_centres_and_fills(kind):
    same = T.CropOrPad((16, 29, 32))(full((16, 29, 32), 1, kind))
    assert tuple(same.shape) == (16, 29, 32) and np.allclose(same, 1)
    cropped = T.CropOrPad((32, 32, 32))(full((40, 40, 40), 5, kind))
    assert tuple(cropped.shape) == (32, 32, 32) and np.allclose(cropped, 5)
    padded = T.CropOrPad((32, 32, 32), constant_values=0)(full((24, 24, 24), 3, kind))
    assert np.allclose(padded[4:28, 4:28, 4:28], 3) and (padded == 0).any()
    mixed = T.CropOrPad((32, 32, 32), constant_values=-1)(full((40, 24, 24), 7, kind))
    assert tuple(mixed.shape) == (32, 32, 32)
    assert (mixed == 7).any() and (mixed == -1).any()
    channels = T.CropOrPad((32, 32, 32))(full((1, 24, 24, 24), 2, kind))
    assert tuple(channels.shape) == (1, 32, 32, 32) and (channels != 0).any()


@pytest.mark.parametrize("mode", ["edge", "maximum", "constant", "mean", "median",
                                  "minimum", "reflect", "symmetric"])
@pytest.mark.parametrize("dtype", non_float16(NUMPY_DTYPES), ids=str)
def test_crop_or_pad_modes_keep_the_dtype(mode, dtype):
    out = T.CropOrPad((12, 12, 12), padding_mode=mode)(np.ones((8, 8, 8), dtype))
    assert out.shape == (12, 12, 12) and out.dtype == dtype


def test_crop_or_pad_two_entry_target_is_a_value_error():
    with pytest.raises(ValueError, match="target_shape="):
        T.CropOrPad(target_shape=(32, 32))


@pytest.mark.parametrize(
    "dtype", NUMPY_DTYPES + TORCH_DTYPES + [torch.uint8, torch.uint16], ids=str)
def test_crop_or_pad_keeps_type_and_dtype(dtype):
    volume = np.random.random((1, 3, 4, 5))
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.CropOrPad(target_shape=(3, 32, 32))(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == (1, 3, 32, 32) and out.dtype == dtype


# ----------------------------------------------------------------------------
# Resample and Resize
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_resample_with_an_identity_affine(kind):
    volume = np.random.rand(32, 32, 32).astype(np.float32)
    data = torch.from_numpy(volume) if kind == "torch" else volume
    out = T.Resample(target=2.0)(data, np.eye(4))
    assert type(out) is type(data) and tuple(out.shape) == (16, 16, 16)
    assert 0 <= float(out.min()) and float(out.max()) <= 1
    out = T.Resample(target=(1.0, 3.0, 3.0))(volume[None], np.eye(4))
    assert out.shape == (1, 32, 11, 11) and 0 <= out.min() and out.max() <= 1


def test_resample_affine_must_be_4x4():
    with pytest.raises(ValueError, match="4x4"):
        T.Resample()(np.zeros((4, 4, 4)), affine=np.eye(3))


@pytest.mark.parametrize("kwargs", [{"interpolation": "invalid"},
                                    {"target": "not_a_number"}, {"target": -1.0}])
def test_resample_bad_parameters_are_value_errors(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs)) + "="):
        T.Resample(**kwargs)


@pytest.mark.parametrize(
    "dtype", non_float16(NUMPY_DTYPES + TORCH_DTYPES) + [torch.uint8, torch.uint16],
    ids=str)
def test_resample_without_affine_assumes_1mm_voxels(dtype):
    volume = np.random.random((1, 16, 9, 8))
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.Resample(target=(2, 3, 2))(data)
    assert type(out) is type(data)
    assert tuple(out.shape) == (1, 8, 3, 4) and out.dtype == dtype


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_resize_every_interpolation(interpolation):
    data = np.random.rand(2, 8, 8, 8).astype(np.float32)
    out = T.Resize((5, 6, 7), interpolation=interpolation)(data)
    assert out.shape == (2, 5, 6, 7) and out.dtype == np.float32


# ----------------------------------------------------------------------------
# Deliberate differences
# ----------------------------------------------------------------------------


def test_resample_accepts_any_orientation():
    # The resampling runs on the voxel grid, so an axis that runs from
    # superior to inferior is resampled as well as one that runs upwards.
    volume = np.random.rand(8, 8, 8)
    flipped = T.Resample(2.0)(volume, np.diag([1.0, 1.0, -1.0, 1.0]))
    np.testing.assert_array_equal(flipped, T.Resample(2.0)(volume, np.eye(4)))


def test_multiple_views_skipped_by_p_are_still_a_list():
    views = T.MultiViewsTransform(lambda x: x + 1, n_views=2, p=0.0)(np.array([1]))
    assert isinstance(views, list) and len(views) == 2


@pytest.mark.parametrize("dtype", [np.int16, torch.int32], ids=str)
def test_znormalization_of_integers_gives_floats(dtype):
    volume = np.arange(27).reshape(3, 3, 3)
    data = (torch.from_numpy(volume).to(dtype) if isinstance(dtype, torch.dtype)
            else volume.astype(dtype))
    out = T.ZNormalization()(data)
    assert np.issubdtype(np.asarray(out).dtype, np.floating)


def test_integer_outputs_are_rounded_and_clipped_to_the_dtype():
    out = T.RandomGaussianNoise(mean=-300.0, std=(0.1, 0.1))(np.full((4, 4, 4), 5,
                                                                     np.uint8))
    assert out.dtype == np.uint8 and np.all(out == 0)
    out = T.Resize((3, 1, 1))(np.array([0, 3], np.int16).reshape(2, 1, 1))
    np.testing.assert_array_equal(out.ravel(), [0, 2, 3])


@pytest.mark.parametrize("fraction", [0.05, 0.1, 0.3])
def test_erasing_box_volume_is_close_to_the_drawn_fraction(fraction):
    # Each side is rounded down or up, whichever gives the volume closest to
    # the drawn one; sides rounded one by one can miss it by a tenth.
    for seed in range(20):
        torch.manual_seed(seed)
        out = T.RandomErasing(scale=(fraction, fraction), value=2.0)(
            np.ones((20, 20, 20)))
        assert abs((out == 2).sum() - fraction * 8000) <= 0.05 * fraction * 8000


@pytest.mark.parametrize("value", ["mean", "random", -3.7])
def test_erasing_integer_volumes_rounds_and_clips_the_fill(value):
    data = np.full((10, 10, 10), 7, dtype=np.uint8)
    data[0] = 8
    out = T.RandomErasing(scale=(0.3, 0.3), value=value)(data)
    assert out.dtype == np.uint8
    if value == "mean":
        assert set(np.unique(out)) <= {7, 8}
    elif value == -3.7:
        assert (out == 0).sum() > 0 and set(np.unique(out)) <= {0, 7, 8}
    else:  # standard normal noise, rounded: no value wraps around to 255
        assert out.max() <= 8 and (out == 0).any()


ALL_TRANSFORMS = [
    T.RandomRotation(axes=(1, 2)), T.RandomFlip(axes=(0, 1, 2)), T.RandomErasing(),
    T.RandomErasing(value="random"), T.RandomGaussianBlur(), T.RandomGaussianNoise(),
    T.RandomResizedCrop(4), T.ZNormalization(), T.RobustRescaling(), T.CropOrPad(10),
    T.Resample(2.0), T.Resize(5, interpolation="lanczos"),
]


@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=repr)
def test_float16_is_supported_everywhere(transform):
    # SciPy neither filters nor interpolates float16: it is computed in float32.
    volume = np.random.rand(2, 8, 8, 8).astype(np.float16)
    assert transform(volume).dtype == np.float16
    assert transform(torch.from_numpy(volume)).dtype == torch.float16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("transform", ALL_TRANSFORMS, ids=repr)
def test_tensors_stay_on_their_device(transform):
    data = torch.rand(2, 8, 8, 8, device="cuda")
    out = transform(data)
    assert out.device == data.device and out.dtype == data.dtype
