"""Inputs shared by the transform tests: tiny volumes as arrays or tensors."""

import numpy as np
import pytest
import torch

SHAPE = (8, 10, 6)


@pytest.fixture(params=["numpy", "torch"])
def kind(request):
    """The input kind under test."""
    return request.param


@pytest.fixture
def convert(kind):
    """Turn a NumPy array into the input kind under test."""

    def as_kind(array):
        array = np.ascontiguousarray(array)
        return torch.from_numpy(array) if kind == "torch" else array

    return as_kind


@pytest.fixture(params=[3, 4], ids=["3d", "4d"])
def volume(request):
    """A random float32 volume of spatial shape 8x10x6, with 2 channels in 4-D."""
    rng = np.random.default_rng(0)
    shape = SHAPE if request.param == 3 else (2, *SHAPE)
    return rng.normal(5.0, 2.0, size=shape).astype(np.float32)


def to_numpy(data):
    """The voxels of an output, as a NumPy array."""
    return data.numpy() if isinstance(data, torch.Tensor) else np.asarray(data)


@pytest.fixture
def numpy_of():
    """Turn an output into a NumPy array, checking nothing else."""
    return to_numpy
