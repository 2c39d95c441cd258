"""Preprocessing transforms against independent computations."""

import nibabel
import numpy as np
import pytest
import torch
from nilearn.image import resample_img
from scipy import ndimage

from nidl.transforms import (
    CropOrPad,
    Resample,
    Resize,
    RobustRescaling,
    ZNormalization,
)


def channels(array):
    return array[None] if array.ndim == 3 else array


def check_same_kind(output, data):
    assert type(output) is type(data)
    assert output.ndim == data.ndim


# ----------------------------------------------------------------------------
# Intensity
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("masked", [False, True])
def test_znormalization_matches_masked_mean_and_std(volume, kind, convert, numpy_of,
                                                    masked):
    def above_five(v):
        return v > 5

    transform = ZNormalization(masking_fn=above_five if masked else None, eps=0.0)
    output = transform(convert(volume))
    check_same_kind(output, convert(volume))
    assert output.dtype == convert(volume).dtype
    # Each library's own standard deviation: numpy.std's population one,
    # torch.std's unbiased one.
    ddof = 1 if kind == "torch" else 0
    for out, x in zip(channels(numpy_of(output)), channels(volume)):
        x = x.astype(np.float64)
        voxels = x[x > 5] if masked else x.ravel()
        expected = (x - voxels.mean()) / voxels.std(ddof=ddof)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_znormalization_eps_keeps_constant_volume_finite(convert, numpy_of):
    output = numpy_of(ZNormalization()(convert(np.full((3, 3, 3), 7.0))))
    np.testing.assert_array_equal(output, 0.0)


def test_znormalization_integer_volume_gives_floats(kind, convert, numpy_of):
    output = numpy_of(ZNormalization()(convert(np.arange(27).reshape(3, 3, 3))))
    assert np.issubdtype(output.dtype, np.floating)
    ddof = 1 if kind == "torch" else 0
    np.testing.assert_allclose(output.std(ddof=ddof), 1.0, rtol=1e-5)


@pytest.mark.parametrize("masked", [False, True])
def test_robust_rescaling_matches_percentiles(volume, convert, numpy_of, masked):
    def above_four(v):
        return v > 4

    transform = RobustRescaling(
        out_min_max=(-1, 2), percentiles=(5, 90),
        masking_fn=above_four if masked else None
    )
    output = transform(convert(volume))
    check_same_kind(output, convert(volume))
    for out, x in zip(channels(numpy_of(output)), channels(volume)):
        voxels = x[x > 4] if masked else x
        low, high = np.percentile(voxels, (5, 90))
        expected = (np.clip(x, low, high) - low) / (high - low) * 3 - 1
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
        assert out.min() == pytest.approx(-1) and out.max() == pytest.approx(2)


def test_robust_rescaling_constant_volume_is_out_min(convert, numpy_of):
    output = RobustRescaling(out_min_max=(3, 4))(
        convert(np.ones((2, 2, 2), np.float32))
    )
    np.testing.assert_array_equal(numpy_of(output), 3.0)


def test_masks_are_checked(convert):
    with pytest.raises(ValueError, match="boolean mask"):
        ZNormalization(masking_fn=lambda v: 1.0)(convert(np.ones((2, 2, 2))))
    with pytest.raises(ValueError, match="selected no voxel of channel 1"):
        RobustRescaling(masking_fn=lambda v: v > 1)(
            convert(np.stack([np.full((2, 2, 2), 2.0), np.zeros((2, 2, 2))]))
        )


# ----------------------------------------------------------------------------
# CropOrPad
# ----------------------------------------------------------------------------


def test_crop_or_pad_by_hand(convert, numpy_of):
    x = np.arange(5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3) + 1
    output = numpy_of(CropOrPad((2, 5, 3), constant_values=-1.0)(convert(x)))
    # Axis 0: 5 -> 2 keeps rows 1 and 2; axis 1: 2 -> 5 pads 1 before, 2 after.
    expected = np.full((2, 5, 3), -1.0, np.float32)
    expected[:, 1:3, :] = x[1:3]
    np.testing.assert_array_equal(output, expected)


def test_crop_or_pad_keeps_channels_and_type(volume, convert, numpy_of):
    output = CropOrPad(5)(convert(volume))
    check_same_kind(output, convert(volume))
    assert output.shape[-3:] == (5, 5, 5)
    # 8 -> 5 crops from 1; 10 -> 5 crops from 2; 6 -> 5 crops from 0.
    expected = volume[..., 1:6, 2:7, 0:5]
    np.testing.assert_array_equal(numpy_of(output), expected)


@pytest.mark.parametrize("mode", ["edge", "reflect", "symmetric", "minimum"])
def test_crop_or_pad_modes_follow_numpy_pad(convert, numpy_of, mode):
    x = np.arange(2 * 3 * 1, dtype=np.float32).reshape(1, 2, 3, 1)
    output = numpy_of(CropOrPad((3, 5, 4), padding_mode=mode)(convert(x)))
    expected = np.pad(x, [(0, 0), (0, 1), (1, 1), (1, 2)], mode=mode)
    np.testing.assert_array_equal(output, expected)


def test_crop_or_pad_constant_per_axis(convert, numpy_of):
    crop_or_pad = CropOrPad((3, 3, 3), constant_values=(1, 2, 3))
    output = numpy_of(crop_or_pad(convert(np.zeros((1, 1, 1)))))
    expected = np.pad(np.zeros((1, 1, 1)), 1, constant_values=((1, 1), (2, 2), (3, 3)))
    np.testing.assert_array_equal(output, expected)


def test_crop_or_pad_image_keeps_voxels_in_place():
    rng = np.random.default_rng(1)
    data = rng.random((7, 4, 5)).astype(np.float32)
    affine = np.array([[2.0, 0, 0, -10], [0, 0, 3.0, 5], [0, -1.5, 0, 7], [0, 0, 0, 1]])
    image = nibabel.Nifti1Image(data, affine)
    output = CropOrPad((4, 6, 5))(image)
    assert isinstance(output, nibabel.Nifti1Image)
    # 7 -> 4 crops from 1, 4 -> 6 pads 1 before: input voxel (3, 2, 1) is
    # output voxel (2, 3, 1), at the same place in the world.
    assert output.get_fdata()[2, 3, 1] == pytest.approx(data[3, 2, 1])
    np.testing.assert_allclose(output.affine @ [2, 3, 1, 1], affine @ [3, 2, 1, 1])


# ----------------------------------------------------------------------------
# Resize and Resample
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("interpolation, order",
                         [("linear", 1), ("nearest", 0), ("cubic", 3)])
@pytest.mark.parametrize("target_shape", [(4, 5, 3), (11, 7, 9)])
def test_resize_matches_scipy_zoom(volume, convert, numpy_of, interpolation, order,
                                   target_shape):
    output = Resize(target_shape, interpolation=interpolation)(convert(volume))
    check_same_kind(output, convert(volume))
    assert output.shape[-3:] == target_shape
    for out, x in zip(channels(numpy_of(output)), channels(volume)):
        factors = np.array(target_shape) / x.shape
        expected = ndimage.zoom(x, factors, order=order, grid_mode=True, mode="nearest")
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_resize_keeps_dtype_of_labels(convert, numpy_of):
    labels = np.repeat(np.arange(4, dtype=np.int16), 4).reshape(2, 2, 4)
    output = numpy_of(Resize((4, 4, 8), interpolation="nearest")(convert(labels)))
    assert output.dtype == np.int16
    assert set(np.unique(output)) == set(range(4))


@pytest.fixture
def image():
    rng = np.random.default_rng(2)
    data = ndimage.gaussian_filter(rng.random((12, 10, 8)), 1.5).astype(np.float32)
    # Oblique-free but not RAS: axes swapped and one flipped, 1.5 x 2 x 1 mm.
    affine = np.array([[0, 2.0, 0, -9], [-1.5, 0, 0, 12], [0, 0, 1.0, 4], [0, 0, 0, 1]])
    return nibabel.Nifti1Image(data, affine)


def test_resample_image_matches_nilearn(image):
    output = Resample(target=(3.0, 1.0, 2.0))(image)
    assert isinstance(output, nibabel.Nifti1Image)
    # 12 x 1.5 / 3 = 6, 10 x 2 / 1 = 20, 8 x 1 / 2 = 4: the field of view is kept.
    assert output.shape == (6, 20, 4)
    np.testing.assert_allclose(output.header.get_zooms(), (3.0, 1.0, 2.0))
    expected = resample_img(
        image,
        target_affine=output.affine,
        target_shape=output.shape,
        interpolation="linear",
        force_resample=True,
        copy_header=True,
    ).get_fdata()
    # nilearn fills the half voxel beyond the outer centres with zeros where
    # this transform repeats the edge: compare away from the border.
    inner = (slice(1, -1),) * 3
    np.testing.assert_allclose(output.get_fdata()[inner], expected[inner], rtol=1e-5,
                               atol=1e-5)
    # The first voxel's outer corner stays in place.
    corner = np.array([-0.5, -0.5, -0.5, 1])
    np.testing.assert_allclose(output.affine @ corner, image.affine @ corner)


def test_resample_array_with_affine_equals_image_path(image, convert, numpy_of):
    data = np.asarray(image.dataobj)
    transform = Resample(target=2.0, interpolation="nearest")
    output = transform(convert(data), image.affine)
    check_same_kind(output, convert(data))
    np.testing.assert_array_equal(numpy_of(output), transform(image).get_fdata())


def test_resample_4d_image_keeps_volumes_last(image):
    data = np.stack([image.get_fdata(), -image.get_fdata()], axis=-1)
    output = Resample(2.0)(nibabel.Nifti1Image(data, image.affine))
    assert output.shape[-1] == 2
    np.testing.assert_allclose(output.get_fdata()[..., 1], -output.get_fdata()[..., 0])


def test_resample_without_affine_assumes_1mm_voxels(convert, numpy_of):
    volume = np.random.default_rng(0).random((8, 10, 6))
    output = Resample(2.0)(convert(volume))
    check_same_kind(output, convert(volume))
    np.testing.assert_array_equal(numpy_of(output),
                                  numpy_of(Resample(2.0)(convert(volume), np.eye(4))))
    assert output.shape == (4, 5, 3)


def test_resample_reads_a_tensor_affine_attribute():
    class VolumeWithAffine(torch.Tensor):
        pass

    data = torch.zeros(1, 4, 4, 4).as_subclass(VolumeWithAffine)
    data.affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0]))
    assert Resample(4.0)(data).shape == (1, 2, 2, 2)


def test_resample_affine_is_checked():
    with pytest.raises(ValueError, match="4x4"):
        Resample()(np.zeros((2, 2, 2)), np.eye(3))


def test_preprocessing_chain_on_an_image(image):
    from nidl.transforms import Compose

    chain = Compose([Resample(2.0), CropOrPad((8, 8, 8)), ZNormalization()])
    output = chain(image)
    assert isinstance(output, nibabel.Nifti1Image)
    assert output.shape == (8, 8, 8)
    np.testing.assert_allclose(output.header.get_zooms(), (2.0, 2.0, 2.0))


# ----------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: CropOrPad((4, 4)), "target_shape=.4, 4. must be"),
        (lambda: CropOrPad(0), "target_shape=0"),
        (lambda: CropOrPad(4, padding_mode="zeros"), "padding_mode='zeros'"),
        (lambda: CropOrPad(4, constant_values="a"), "constant_values='a'"),
        (lambda: Resize(4, interpolation="sinc"), "interpolation='sinc'"),
        (lambda: Resample(target=0), "target=0"),
        (lambda: Resample(target=(1, 2)), r"target=\(1, 2\)"),
        (lambda: RobustRescaling(percentiles=(99, 1)), r"percentiles=\(99, 1\).*swap"),
        (lambda: RobustRescaling(percentiles=(1, 101)), r"between 0 and 100"),
        (lambda: RobustRescaling(out_min_max=(1,)), "out_min_max"),
        (lambda: ZNormalization(eps=-1), "eps=-1"),
        (lambda: ZNormalization(p=2), "p=2"),
    ],
)
def test_parameters_are_checked_at_construction(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_masking_fn_must_be_callable():
    with pytest.raises(TypeError, match="masking_fn"):
        ZNormalization(masking_fn=np.ones((2, 2, 2)))
