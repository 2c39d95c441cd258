"""Sphinx configuration of the nidl documentation.

Build with warnings as errors and every example executed::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The API reference is written at build time from the ``__all__`` of every
public package of nidl (see ``write_api_pages``), so a name added to an
``__all__`` appears in the reference without any edit here.
"""

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import nidl

# -- Project ---------------------------------------------------------------
project = "nidl"
author = "nidl developers"
copyright = "nidl developers, BSD 3-Clause License"
release = nidl.__version__
version = release

# -- Extensions ------------------------------------------------------------
# No extension here fetches anything over the network: the site builds
# offline (intersphinx is left out on purpose).
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # Serves MathJax from the site itself, so that the equations render
    # without network access too.
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/*.ipynb"]
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------
# autosummary_generate is set below to the generated API pages: a list of
# files, rather than True, so that a package that appeared since the last
# build gets its stub pages in an incremental build too.
autosummary_imported_members = True
autodoc_typehints = "none"
autodoc_member_order = "groupwise"
# numpydoc's own member tables would list the hundreds of methods inherited
# from torch and Lightning; the class template lists nidl's methods instead.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False


def _defining_module(obj):
    """Module where a class member is defined, or None for plain data."""
    for attribute in ("fget", "__func__"):
        obj = getattr(obj, attribute, obj)
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) else None


def skip_foreign_members(app, what, name, obj, skip, options):
    """Document the members nidl defines, not those of torch or scikit-learn.

    nidl estimators inherit from ``torch.nn.Module``, ``LightningModule`` and
    scikit-learn's mixins; their own documentation covers those members.
    """
    special = name.startswith("__") and name.endswith("__")
    if what != "class" or (name.startswith("_") and not special):
        return None
    module = _defining_module(obj)
    if module is None or not (module == "nidl" or module.startswith("nidl.")):
        return True
    return None


# -- API reference, generated from __all__ ----------------------------------
API_DIR = DOCS / "api"


def public_modules():
    """Public modules of nidl that declare ``__all__``, parents first.

    A module is public when no part of its dotted name starts with an
    underscore. Modules that cannot be imported because an optional
    dependency is missing are left out.
    """
    names = ["nidl"] + [
        info.name
        for info in pkgutil.walk_packages(nidl.__path__, prefix="nidl.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules = []
    for name in sorted(names, key=lambda name: (name.count("."), name)):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name and error.name.split(".")[0] != "nidl":
                print(f"nidl docs: {name} skipped, {error.name} is not installed")
                continue
            raise
        if "__all__" in vars(module):
            modules.append(module)
    return sorted(modules, key=lambda module: module.__name__)


def api_entries():
    """Map each public module to the names it documents.

    A name exported by several modules (a package and its submodule) is
    documented once, under the shortest module path.
    """
    seen = {}
    entries = {}
    by_depth = sorted(
        public_modules(), key=lambda m: (m.__name__.count("."), m.__name__)
    )
    for module in by_depth:
        names = []
        for name in module.__all__:
            obj = getattr(module, name)
            key = id(obj)
            if key in seen and not isinstance(obj, (int, float, str, bool, tuple)):
                continue
            seen[key] = module.__name__
            names.append(name)
        entries[module.__name__] = names
    return dict(sorted(entries.items()))


def _module_assigning(package, name):
    """Module of ``package`` that assigns ``name``, where its ``#:`` comment is.

    Data (constants) carry no ``__module__``; autodoc reads their
    documentation from the comment above the assignment, in the module that
    makes it.
    """
    obj = getattr(package, name)
    prefix = package.__name__ + "."
    for module_name in sorted(sys.modules):
        module = sys.modules[module_name]
        if (
            module_name.startswith(prefix)
            and module is not None
            and vars(module).get(name, None) is obj
        ):
            return module_name
    return package.__name__


_PARAMETER_LINE = re.compile(r"^(\s*[*\w][\w, *]* : )(.*)$")


def escape_stars_in_types(app, what, name, obj, options, lines):
    """Escape ``*`` in numpydoc type specifications such as
    ``shape (n_samples, *sample_shape)``: numpydoc sets the type in italics,
    where a bare star would open an emphasis that never closes."""
    for index, line in enumerate(lines):
        match = _PARAMETER_LINE.match(line)
        if match and "*" in match.group(2):
            escaped = re.sub(r"(?<!\\)\*", r"\\*", match.group(2))
            lines[index] = match.group(1) + escaped


def drop_type_docstrings(app, what, name, obj, options, lines):
    """Leave out the docstring of a constant's type (``tuple``, ``dict``...)."""
    if what != "data" or not lines:
        return
    type_doc = inspect.getdoc(type(obj))
    if type_doc and "\n".join(lines).strip() == type_doc.strip():
        lines.clear()


def write_api_pages():
    """Write one page per public module, listing what its ``__all__`` holds."""
    API_DIR.mkdir(exist_ok=True)
    written = []
    for module_name, names in api_entries().items():
        module = sys.modules[module_name]
        title = f":mod:`{module_name}`"
        lines = [
            f".. _api_{module_name}:",
            "",
            title,
            "=" * len(title),
            "",
            f".. automodule:: {module_name}",
            "   :no-members:",
            "   :no-index:",
            "",
            f".. currentmodule:: {module_name}",
            "",
        ]
        classes = [n for n in names if inspect.isclass(getattr(module, n))]
        functions = [
            n for n in names if callable(getattr(module, n)) and n not in classes
        ]
        others = [n for n in names if n not in classes and n not in functions]
        for heading, group in (("Classes", classes), ("Functions", functions)):
            if not group:
                continue
            lines += [heading, "-" * len(heading), "", ".. autosummary::",
                      "   :toctree: ../generated/", "   :nosignatures:", ""]
            lines += [f"   {name}" for name in group]
            lines.append("")
        if others:
            lines += ["Data", "----", ""]
            for name in others:
                where = _module_assigning(module, name)
                lines += [f".. autodata:: {where}.{name}", ""]
        if not names:
            lines += ["This module exports no name yet.", ""]
        page = API_DIR / f"{module_name}.rst"
        text = "\n".join(lines)
        written.append(f"api/{page.name}")
        if not page.exists() or page.read_text() != text:
            page.write_text(text)
    for old in API_DIR.glob("nidl*.rst"):
        if f"api/{old.name}" not in written:
            old.unlink()
    return written


autosummary_generate = write_api_pages()

# -- Example gallery ---------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Execute every example (the default would only run files whose path
    # matches this pattern too; it is spelled out so that it stays true).
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "backreferences_dir": "generated/backreferences",
    "doc_module": ("nidl",),
    "remove_config_comments": True,
    # The first examples a reader should meet, then the others by file name.
    "within_subsection_order": "gallery_order.FirstExamplesFirst",
    "show_memory": False,
    "min_reported_time": 0,
    "matplotlib_animations": False,
    "plot_gallery": "True",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}


def check_every_example_has_a_figure(app, exception):
    """Fail the build when an executed example produced no figure."""
    if exception is not None or app.builder.format != "html":
        return
    examples = sorted((ROOT / "examples").rglob("plot_*.py"))
    images = DOCS / "auto_examples"
    missing = []
    for example in examples:
        relative = example.relative_to(ROOT / "examples").parent
        if not (images / relative / f"{example.stem}.rst").exists():
            continue  # added while this build ran: not executed by it
        pattern = f"sphx_glr_{example.stem}_*.png"
        figures = list((images / relative / "images").glob(pattern))
        if not figures:
            missing.append(str(example.relative_to(ROOT)))
    if missing:
        from sphinx.util import logging

        logging.getLogger(__name__).warning(
            "these examples produced no figure: %s; every gallery example "
            "must show at least one", ", ".join(missing)
        )


# -- HTML ------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"nidl {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
html_sidebars = {"index": [], "install": [], "quickstart": []}
html_show_sourcelink = True


def setup(app):
    app.connect("autodoc-skip-member", skip_foreign_members)
    app.connect("autodoc-process-docstring", drop_type_docstrings)
    # Before numpydoc (priority 500) turns the sections into reST.
    app.connect("autodoc-process-docstring", escape_stars_in_types, priority=400)
    app.connect("build-finished", check_every_example_has_a_figure)
