"""Optional dependencies: imported when first needed, with an error that
says which extra of nidl installs them."""

import importlib

__all__ = ["import_optional"]


def import_optional(module, needed_by, extra):
    """Import an optional dependency, or say how to install it.

    Parameters
    ----------
    module : str
        Dotted name of the module to import, e.g. ``"nibabel"`` or
        ``"matplotlib.pyplot"``.
    needed_by : str
        What needs it, as the error message starts, e.g. ``"reading NIfTI
        images"``.
    extra : str
        The extra of nidl that installs it, e.g. ``"neuroimaging"``.

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    ImportError
        If the module is not installed; the message names the command that
        installs it, and the original error is chained.

    Examples
    --------
    >>> import_optional("numpy", "this example", "neuroimaging").__name__
    'numpy'
    >>> import_optional("not_a_module", "this example", "plotting")
    Traceback (most recent call last):
    ...
    ImportError: this example needs not_a_module, which is not installed;
    install it with pip install "nidl[plotting]".
    """
    package = module.split(".")[0]
    try:
        # The package first: a submodule already in sys.modules would be
        # returned even when its package is blocked or gone.
        importlib.import_module(package)
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{needed_by} needs {package}, which is not installed; install it "
            f'with pip install "nidl[{extra}]".'
        ) from error
