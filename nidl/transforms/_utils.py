"""Helpers of the transforms: parameter checks, reproducible reprs, and the
conversions between arrays, tensors and image objects."""

from __future__ import annotations

import functools
import hashlib
import numbers
import types

import numpy as np
import torch

# --------------------------------------------------------------------------
# Parameter checks shared by the transforms
# --------------------------------------------------------------------------


def is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_positive_int(value):
    return is_integer(value) and value >= 1


def is_integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_python_number(value):
    """A NumPy or torch scalar as a plain int or float, so that reprs are the
    same whatever type the user passed."""
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def check_probability(value, name, owner):
    """Check a probability; ``p`` may also be None (always apply)."""
    if value is None and name == "p":
        return None
    if not is_number(value) or not 0 <= value <= 1:
        alternative = ", or None to always apply the transform" if name == "p" else ""
        raise ValueError(
            f"{owner}: {name}={value!r} must be a probability, a number between "
            f"0 and 1{alternative}."
        )
    return as_python_number(value)


def as_tuple(value, message):
    """``value`` as a tuple, or a ValueError with ``message`` if it is not
    iterable."""
    try:
        return tuple(value)
    except TypeError:
        raise ValueError(message) from None


def check_range(value, name, owner, minimum=None, maximum=None, positive=False):
    """Check an increasing pair ``(low, high)`` and return it as a tuple.

    Something that is not a sequence of numbers is a TypeError; a sequence
    of numbers of the wrong length, order or bounds is a ValueError.
    """
    if positive:
        kind = "positive numbers"
    elif minimum == 0 and maximum is None:
        kind = "non-negative numbers"
    elif minimum is not None and maximum is not None:
        kind = f"numbers between {minimum} and {maximum}"
    else:
        kind = "numbers"
    message = (
        f"{owner}: {name}={value!r} must be an increasing pair (low, high) of {kind}"
    )
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(
            f"{message}; got a {type(value).__name__}. Pass two numbers, e.g. "
            f"{name}=(low, high)."
        ) from None
    if len(pair) != 2:
        raise ValueError(f"{message}; got {len(pair)} values, pass two.")
    if not all(is_number(v) for v in pair):
        raise TypeError(
            f"{message}; got {[type(v).__name__ for v in pair]}. Pass two numbers."
        )
    low, high = pair
    if low > high:
        raise ValueError(f"{message}; swap them: {name}=({high!r}, {low!r}).")
    if (
        (positive and low <= 0)
        or (minimum is not None and low < minimum)
        or (maximum is not None and high > maximum)
    ):
        raise ValueError(f"{message}.")
    return tuple(as_python_number(v) for v in pair)


def check_shape(value, name, owner):
    """Check a spatial shape: one positive int for all axes, or three."""
    message = (
        f"{owner}: {name}={value!r} must be a positive int or a sequence of "
        "three positive ints (one per spatial axis X, Y, Z)"
    )
    if is_integer(value):
        shape = (value,) * 3
    else:
        shape = as_tuple(value, f"{message}.")
    if len(shape) != 3 or not all(is_positive_int(s) for s in shape):
        raise ValueError(f"{message}.")
    return tuple(int(s) for s in shape)


# --------------------------------------------------------------------------
# Deterministic descriptions of parameter values, for the reprs
# --------------------------------------------------------------------------


def code_digest(code):
    """A digest of a function's code that is the same in every process.

    The default repr of a function holds its memory address, which changes
    from one process to the next; the bytecode and constants do not (sets
    are sorted because their order depends on string hashing).
    """
    digest = hashlib.sha1()

    def feed(obj):
        if isinstance(obj, types.CodeType):
            digest.update(obj.co_code)
            digest.update(repr(obj.co_names).encode())
            for const in obj.co_consts:
                feed(const)
        elif isinstance(obj, (frozenset, set)):
            digest.update(repr(sorted(repr(item) for item in obj)).encode())
        else:
            digest.update(repr(obj).encode())

    feed(code)
    return digest.hexdigest()[:12]


def describe(value):
    """The repr of a parameter value, stable across processes."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return repr(value)
    if is_number(value):
        return repr(as_python_number(value))
    if isinstance(value, tuple):
        items = ", ".join(describe(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, functools.partial):
        arguments = [describe(value.func)]
        arguments += [describe(a) for a in value.args]
        arguments += [f"{k}={describe(v)}" for k, v in sorted(value.keywords.items())]
        return f"functools.partial({', '.join(arguments)})"
    if isinstance(value, types.FunctionType):
        # The name alone could be shared by two lambdas, and the body of a
        # named function can change: the code digest tells them apart.
        return (
            f"{value.__module__}.{value.__qualname__}"
            f"[code {code_digest(value.__code__)}]"
        )
    if isinstance(value, (type, types.BuiltinFunctionType)):
        name = getattr(value, "__qualname__", getattr(value, "__name__", ""))
        return f"{value.__module__}.{name}"
    if type(value).__repr__ is object.__repr__:
        # An instance without its own repr: its class and attributes.
        cls = type(value)
        attributes = ", ".join(
            f"{k}={describe(v)}" for k, v in sorted(vars(value).items())
        ) if hasattr(value, "__dict__") else ""
        return f"{cls.__module__}.{cls.__qualname__}({attributes})"
    return repr(value)


def is_random_transform(transform):
    """Whether a callable may give different outputs for the same input.

    A callable that does not say (a plain function, another library's
    transform) is taken as random: caching its output would be unsafe.
    """
    return bool(getattr(transform, "is_random", True))


def to_numpy(data):
    """The voxels of an array or a tensor as a NumPy array on the CPU."""
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    return data


def as_type_of(result, reference):
    """``result`` (a NumPy array) as the type of ``reference``: a tensor on
    the same device for tensor input, an array otherwise."""
    if isinstance(reference, torch.Tensor):
        return torch.as_tensor(np.ascontiguousarray(result), device=reference.device)
    return result


def cast_to_dtype(values, dtype):
    """Floating-point ``values`` (an array or a tensor) cast to ``dtype``.

    Integer dtypes get the nearest integer, clipped to the dtype's range:
    a plain cast would truncate towards zero and wrap negative values of an
    unsigned type around to large ones.
    """
    if isinstance(values, torch.Tensor):
        if not dtype.is_floating_point and dtype != torch.bool:
            info = torch.iinfo(dtype)
            values = values.round().clamp(info.min, info.max)
        return values.to(dtype)
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(values), info.min, info.max)
    return np.asarray(values).astype(dtype, copy=False)


def computing_dtype(dtype):
    """The floating-point NumPy dtype to compute in for input of ``dtype``:
    the dtype itself for float32 and float64, float32 for float16 (which
    SciPy does not filter or interpolate), float64 for integers."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.float64):
        return dtype
    return np.dtype(np.float32) if dtype == np.float16 else np.dtype(np.float64)


def uniform(low, high):
    """A number drawn uniformly in [low, high] from torch's generator."""
    return low + (high - low) * torch.rand((), dtype=torch.float64).item()


def is_image(data):
    """Whether data is a spatial image object (it has data and an affine)."""
    return hasattr(data, "dataobj") and hasattr(data, "affine")


def check_image_shape(image, owner):
    if len(image.shape) not in (3, 4):
        raise ValueError(
            f"{owner} expects a 3-D image, or a 4-D image whose last axis "
            f"holds volumes; got an image of shape {tuple(image.shape)}."
        )


def image_to_volume(image):
    """The voxels of an image, channels first (images keep them last)."""
    volume = np.asarray(image.dataobj)
    return np.moveaxis(volume, -1, 0) if volume.ndim == 4 else volume


def volume_to_image(image, volume, affine):
    """A new image of the same class as ``image``, holding ``volume``."""
    volume = np.asarray(volume)
    if volume.ndim == 4:
        volume = np.moveaxis(volume, 0, -1)
    header = image.header.copy() if getattr(image, "header", None) is not None else None
    if header is not None and hasattr(header, "set_data_dtype"):
        header.set_data_dtype(volume.dtype)
    return type(image)(np.ascontiguousarray(volume), np.asarray(affine), header=header)


def check_callables(transforms, owner, hint=""):
    """Check that every element of a list of transforms is callable."""
    for index, transform in enumerate(transforms):
        if not callable(transform):
            raise TypeError(
                f"{owner}: transforms[{index}] is a "
                f"{type(transform).__name__}, which is not callable{hint}."
            )


def check_callable(value, name, owner):
    if value is not None and not callable(value):
        raise TypeError(
            f"{owner}: {name} must be a callable or None; got a "
            f"{type(value).__name__}."
        )
    return value

