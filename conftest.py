"""Doctests of code that needs an optional dependency skip where it is absent.

The docstring examples of nidl run as doctests (``--doctest-modules``). A few
functions import an optional dependency (nilearn, matplotlib, ...) when
called; where that dependency is not installed, their examples are skipped
rather than failed. Any other error still fails the doctest.
"""

import doctest
import importlib.util

import pytest

#: Dependencies that nidl imports only where they are needed (extras).
OPTIONAL = ("matplotlib", "monai", "nibabel", "nilearn", "pandas", "scipy", "torchio")


def _missing_optional(error):
    """The optional dependency an ImportError (or its causes) is about, if any."""
    missing = [name for name in OPTIONAL if importlib.util.find_spec(name) is None]
    while error is not None:
        if isinstance(error, ImportError):
            text = f"{getattr(error, 'name', '') or ''} {error}"
            for name in missing:
                if name in text:
                    return name
        error = error.__cause__ or error.__context__
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        return (yield)
    except doctest.UnexpectedException as failure:
        name = _missing_optional(failure.exc_info[1])
        if name is None:
            raise
        pytest.skip(f"this example needs {name}, which is not installed")
