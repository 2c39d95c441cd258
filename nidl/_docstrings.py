"""Docstring substitution: descriptions written once, filled in where used.

As scikit-learn and pandas do for parameters that many objects share, a
docstring holds a placeholder ``%(name)s`` on a line of its own, and
:func:`docstring_filler` replaces it with the text registered under
``name``, indented as the placeholder is. A ``%`` that is not part of such a
placeholder is left alone, so docstrings need no escaping.
"""

import re
import textwrap

__all__ = ["docstring_filler"]

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.MULTILINE)


def docstring_filler(snippets):
    """Make a decorator that fills ``%(name)s`` lines from ``snippets``.

    Parameters
    ----------
    snippets : dict of str to str
        Text to put in place of each placeholder, written without
        indentation (it takes the placeholder's).

    Returns
    -------
    callable
        Decorator of functions and classes: it fills their docstring and
        returns them. An unknown name raises a KeyError at import time.

    Examples
    --------
    >>> fill_doc = docstring_filler({"p": "p : float\\n    A probability."})
    >>> @fill_doc
    ... def f(p):
    ...     '''Do something.
    ...
    ...     Parameters
    ...     ----------
    ...     %(p)s
    ...     '''
    >>> print(f.__doc__.splitlines()[-2])
        A probability.
    """
    snippets = {
        name: textwrap.dedent(text).strip("\n") for name, text in snippets.items()
    }

    def substitute(match):
        indent, name = match.groups()
        if name not in snippets:
            raise KeyError(
                f"docstring placeholder %({name})s has no text; register it "
                f"among {sorted(snippets)}"
            )
        return textwrap.indent(snippets[name], indent)

    def fill_doc(obj):
        if obj.__doc__:
            obj.__doc__ = _PLACEHOLDER.sub(substitute, obj.__doc__)
        return obj

    return fill_doc
