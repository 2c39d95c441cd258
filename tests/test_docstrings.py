"""Every public name has a numpydoc docstring with a runnable example.

Public names are those listed in the ``__all__`` of nidl's public modules
(modules whose dotted name has no part starting with an underscore). The
examples themselves run as doctests (``--doctest-modules`` in pyproject).
"""

import importlib
import inspect
import pkgutil
import re

import pytest

import nidl

EXAMPLES = re.compile(r"^Examples\n-{8,}\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)",
                      re.MULTILINE | re.DOTALL)


def public_modules():
    names = ["nidl"] + [
        info.name
        for info in pkgutil.walk_packages(nidl.__path__, prefix="nidl.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules = []
    for name in sorted(names):
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            # A module that needs an optional dependency is checked where
            # that dependency is installed.
            if error.name and error.name.split(".")[0] == "nidl":
                raise
    return modules


def public_names():
    found = {}
    for module in public_modules():
        for name in vars(module).get("__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj):
                found.setdefault(id(obj), (f"{module.__name__}.{name}", obj))
    return sorted(found.values(), key=lambda item: item[0])


PUBLIC = public_names()


def test_public_names_are_found():
    names = {name for name, _ in PUBLIC}
    assert "nidl.estimators.autoencoders.VAE" in names
    assert "nidl.losses.BetaVAELoss" in names


@pytest.mark.parametrize(
    "name",
    sorted(
        f"nidl.{info.name}"
        for info in pkgutil.iter_modules(nidl.__path__)
        if not info.name.startswith("_")
    ),
)
def test_top_level_modules_declare_all(name):
    """The API reference lists what ``__all__`` holds: every public package
    or module directly under nidl must say what it exports."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] == "nidl":
            raise
        pytest.skip(f"{name} needs {error.name}, which is not installed")
    assert "__all__" in vars(module), (
        f"{name} has no __all__, so its public names are missing from the API "
        "reference; list them in __all__"
    )


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_all_lists_existing_names(module):
    missing = [name for name in vars(module).get("__all__", ())
               if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ lists missing names {missing}"


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[name for name, _ in PUBLIC])
def test_docstring_has_runnable_examples(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    summary = doc.strip().splitlines()[0]
    assert summary.strip(), f"{name}: the docstring must start with a one-line summary"
    match = EXAMPLES.search(doc)
    assert match, f"{name}: the docstring has no numpydoc 'Examples' section"
    assert ">>> " in match.group(1), (
        f"{name}: the 'Examples' section has no '>>>' line to run as a doctest"
    )


@pytest.mark.parametrize(
    "name, obj", [(n, o) for n, o in PUBLIC if inspect.isclass(o)],
    ids=[n for n, o in PUBLIC if inspect.isclass(o)],
)
def test_public_methods_have_docstrings(name, obj):
    """Methods nidl defines on a public class say what they do."""
    undocumented = []
    for attribute, value in vars(obj).items():
        if attribute.startswith("_"):
            continue
        function = getattr(value, "__func__", getattr(value, "fget", value))
        if not inspect.isfunction(function):
            continue
        if not inspect.getdoc(getattr(obj, attribute)):
            undocumented.append(attribute)
    assert not undocumented, f"{name}: methods without a docstring: {undocumented}"
