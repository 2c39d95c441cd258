"""The transform protocol: input checks, probability, repr, is_random,
Compose and MultiViewsTransform."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import nidl.transforms
from nidl.transforms import (
    Compose,
    CropOrPad,
    Identity,
    MultiViewsTransform,
    RandomErasing,
    RandomFlip,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomResizedCrop,
    RandomRotation,
    Resample,
    Resize,
    RobustRescaling,
    Transform,
    VolumeTransform,
    ZNormalization,
)
from nidl.transforms.volume import augmentation, preprocessing

PREPROCESSING = [
    ZNormalization(),
    RobustRescaling(),
    CropOrPad((4, 5, 3)),
    Resize((4, 5, 3)),
    Identity(),
]
AUGMENTATION = [
    RandomGaussianBlur(),
    RandomGaussianNoise(),
    RandomFlip(),
    RandomRotation(),
    RandomResizedCrop(4),
    RandomErasing(),
]


def test_public_names_and_import_paths():
    for name in preprocessing.__all__:
        assert getattr(nidl.transforms.volume, name) is getattr(preprocessing, name)
        assert getattr(nidl.transforms, name) is getattr(preprocessing, name)
    for name in augmentation.__all__:
        assert getattr(nidl.transforms.volume, name) is getattr(augmentation, name)
        assert getattr(nidl.transforms, name) is getattr(augmentation, name)
    assert {"Transform", "VolumeTransform", "Identity", "MultiViewsTransform",
            "Compose"} <= set(nidl.transforms.__all__)


@pytest.mark.parametrize("shape", [(4, 4), (1, 1, 4, 4, 4), (4,)])
@pytest.mark.parametrize("transform", PREPROCESSING[:4] + AUGMENTATION, ids=repr)
def test_volume_transforms_refuse_other_dimensions(transform, shape):
    pattern = (r"expects a volume of shape \(C, X, Y, Z\) or \(X, Y, Z\); "
               rf"got shape {re_shape(shape)}")
    with pytest.raises(ValueError, match=pattern):
        transform(np.zeros(shape))
    with pytest.raises(ValueError, match=pattern):
        transform(torch.zeros(shape))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("transform", PREPROCESSING + AUGMENTATION, ids=repr)
def test_transforms_refuse_other_types(transform):
    with pytest.raises(TypeError,
                       match="numpy.ndarray or a torch.Tensor.*got builtins.list"):
        transform([[[0.0]]])


@pytest.mark.parametrize("transform", PREPROCESSING, ids=repr)
def test_preprocessing_is_deterministic(transform, volume, convert, numpy_of):
    assert not transform.is_random
    data = convert(volume)
    torch.manual_seed(0)
    first = numpy_of(transform(data))
    torch.manual_seed(1)
    np.testing.assert_array_equal(first, numpy_of(transform(data)))


def test_probability_decides_from_torch_generator(volume, convert, numpy_of):
    data = convert(volume)
    never = ZNormalization(p=0.0)
    always = ZNormalization(p=1.0)
    assert never(data) is data
    assert not np.array_equal(numpy_of(always(data)), volume)
    assert never.is_random and always.is_random

    half = ZNormalization(p=0.5)

    def applied(seed):
        torch.manual_seed(seed)
        np.random.seed(seed + 1)
        return [half(data) is not data for _ in range(40)]

    assert applied(0) == applied(0)
    assert applied(0) != applied(1)
    assert 5 < sum(applied(0)) < 35


def test_identity():
    x = np.ones((2, 3))
    assert Identity()(x) is x
    assert not Identity().is_random


def test_subclass_contract():
    class Double(VolumeTransform):
        """Double the voxels."""

        def __init__(self, factor=2, p=None):
            super().__init__(p=p)
            self.factor = factor

        def apply_transform(self, data):
            return data * self.factor

    assert repr(Double(factor=3)) == "Double(factor=3, p=None)"
    assert Double()(np.ones((1, 1, 1)))[0, 0, 0] == 2
    assert issubclass(Double, Transform)
    with pytest.raises(TypeError):
        Transform()


# ----------------------------------------------------------------------------
# repr
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "transform, text",
    [
        (
            CropOrPad([10, 12, 8]),
            ("CropOrPad(target_shape=(10, 12, 8), padding_mode='constant', "
             "constant_values=0.0, p=None)"),
        ),
        (CropOrPad(np.int64(5), constant_values=(1, 2, 3)),
         ("CropOrPad(target_shape=(5, 5, 5), padding_mode='constant', "
          "constant_values=(1, 2, 3), p=None)")),
        (ZNormalization(), "ZNormalization(masking_fn=None, eps=1e-08, p=None)"),
        (RobustRescaling(),
         ("RobustRescaling(out_min_max=(0, 1), percentiles=(1, 99), "
          "masking_fn=None, p=None)")),
        (Resample(), "Resample(target=1.0, interpolation='linear', p=None)"),
        (Resample((1, 2, np.float32(3))),
         "Resample(target=(1, 2, 3.0), interpolation='linear', p=None)"),
        (Resize(4, "nearest"),
         "Resize(target_shape=(4, 4, 4), interpolation='nearest', p=None)"),
        (RandomGaussianBlur(), "RandomGaussianBlur(sigma=(0, 2, 0, 2, 0, 2), p=None)"),
        (RandomGaussianNoise(),
         "RandomGaussianNoise(mean=0.0, std=(0.1, 1.0), p=None)"),
        (RandomFlip(), "RandomFlip(axes=(0,), flip_probability=1.0, p=None)"),
        (RandomRotation(),
         "RandomRotation(axes=((0, 1),), rotation_probability=1.0, p=None)"),
        (
            RandomResizedCrop(8),
            ("RandomResizedCrop(target_shape=(8, 8, 8), scale=(0.08, 1.0), "
             "ratio=(0.75, 1.33), interpolation='linear', p=None)"),
        ),
        (
            RandomErasing(p=0.5),
            ("RandomErasing(scale=(0.02, 0.33), ratio=(1.0, 3.0), num_iterations=1, "
             "value=0.0, inplace=False, p=0.5)"),
        ),
        (Identity(p=0.25), "Identity(p=0.25)"),
        (
            Compose([Identity(), RandomFlip()]),
            ("Compose(transforms=[Identity(p=None), "
             "RandomFlip(axes=(0,), flip_probability=1.0, p=None)])"),
        ),
        (
            MultiViewsTransform(RandomFlip(), n_views=2),
            ("MultiViewsTransform(transforms=RandomFlip(axes=(0,), "
             "flip_probability=1.0, p=None), n_views=2, p=None)"),
        ),
        (
            MultiViewsTransform([Identity(), Identity()]),
            ("MultiViewsTransform(transforms=[Identity(p=None), Identity(p=None)], "
             "n_views=None, p=None)"),
        ),
    ],
)
def test_repr_lists_every_parameter(transform, text):
    assert repr(transform) == text


def brain_mask(volume):
    return volume > 0


def test_repr_of_functions_has_no_address_and_tells_bodies_apart():
    text = repr(ZNormalization(masking_fn=brain_mask))
    assert "0x" not in text
    assert f"{__name__}.brain_mask[code " in text
    assert repr(ZNormalization(masking_fn=brain_mask)) == text
    first = repr(ZNormalization(masking_fn=lambda v: v > 0))
    second = repr(ZNormalization(masking_fn=lambda v: v > 1))
    assert first != second and "0x" not in first


REPR_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["scipy"] = None  # nidl.transforms must import without scipy
    import functools
    import numpy as np
    from nidl.transforms import Compose, CropOrPad, RobustRescaling, ZNormalization

    def foreground(volume, threshold=0.0):
        return volume > threshold

    chain = Compose([
        CropOrPad((4, 5, 6)),
        ZNormalization(
            masking_fn=lambda v: v > 0 if "a" in {"a", "b", "c", "d"} else v < 0
        ),
        RobustRescaling(masking_fn=functools.partial(foreground, threshold=-1)),
        ZNormalization(masking_fn=np.isfinite),
    ])
    print(repr(chain))
    print(chain(np.ones((2, 3, 4))).shape)
    """
)


def test_repr_is_the_same_in_other_processes():
    """Reprs key a cache shared by processes (workers, later runs): they must
    not hold memory addresses or depend on string hashing. The processes
    also check that importing and using the package needs no scipy."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", REPR_SCRIPT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONHASHSEED=seed),
        )
        for seed in ("1", "2")
    ]
    outputs = set()
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        outputs.add(stdout)
    assert len(outputs) == 1
    (text,) = outputs
    assert "0x" not in text and "functools.partial(__main__.foreground[code" in text
    assert text.splitlines()[-1] == "(4, 5, 6)"


# ----------------------------------------------------------------------------
# is_random, Compose, MultiViewsTransform
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("transform", AUGMENTATION, ids=repr)
def test_augmentations_are_random(transform):
    assert transform.is_random


def test_compose_applies_in_order_and_is_random_if_any_part_is():
    chain = Compose([lambda x: x + 1, lambda x: x * 10])
    assert chain(np.zeros(1))[0] == 10
    assert chain.is_random  # callables that do not say are taken as random
    assert not Compose([CropOrPad(4), ZNormalization()]).is_random
    assert Compose([CropOrPad(4), RandomFlip()]).is_random
    assert Compose([CropOrPad(4, p=0.5)]).is_random
    assert len(chain.transforms) == 2


def test_compose_checks_its_transforms():
    with pytest.raises(TypeError, match=r"Compose\(\[transform\]\)"):
        Compose(Identity())
    with pytest.raises(TypeError, match=r"transforms\[1\] is a int"):
        Compose([Identity(), 3])


def test_multiple_views_of_one_transform(volume):
    torch.manual_seed(0)
    views = MultiViewsTransform(RandomGaussianNoise(), n_views=3)(volume)
    assert isinstance(views, list) and len(views) == 3
    assert all(v.shape == volume.shape for v in views)
    assert not np.array_equal(views[0], views[1])


def test_one_view_per_transform(volume):
    transform = MultiViewsTransform([Identity(), RandomFlip(axes=1)])
    first, second = transform(volume)
    assert first is volume
    np.testing.assert_array_equal(second, np.flip(volume, volume.ndim - 2))
    assert transform.is_random
    assert not MultiViewsTransform([Identity(), ZNormalization()]).is_random
    assert len(MultiViewsTransform(Identity()).transforms) == 1


def test_multiple_views_with_probability_zero_are_the_input(volume):
    views = MultiViewsTransform(RandomFlip(), n_views=2, p=0.0)(volume)
    assert len(views) == 2 and all(v is volume for v in views)


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: MultiViewsTransform([Identity()], n_views=2), ValueError,
         "n_views=2 was given with a list"),
        (lambda: MultiViewsTransform(Identity(), n_views=-1), ValueError,
         "n_views=-1"),
        (lambda: MultiViewsTransform(Identity(), n_views="two"), TypeError,
         "n_views='two' must be an int"),
        (lambda: MultiViewsTransform([Identity(), "flip"]), TypeError,
         r"transforms\[1\]"),
        (lambda: MultiViewsTransform(3), TypeError, "callable or a list"),
    ],
)
def test_multiple_views_parameters_are_checked(build, error, match):
    with pytest.raises(error, match=match):
        build()
