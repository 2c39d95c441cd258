r"""Colourful text for terminals that can show it."""

import os
import random
import sys

__all__ = ["print_multicolor"]

# Read once, when nidl.utils is imported.
_TERM = os.environ.get("TERM")
_ON_WINDOWS = sys.platform.startswith("win")
_COLOUR_TERMS = ("xterm-256color", "cygwin", "xterm-color")
# A generator of its own, so that colouring text never moves the user's
# global random state.
_RNG = random.Random()


def _colours_supported():
    return _TERM in _COLOUR_TERMS or (_TERM == "xterm" and not _ON_WINDOWS)


def print_multicolor(text, display=True):
    r"""Print text with each character in a random bold colour.

    The colours are ANSI escape codes from the 256-colour palette: each
    character gets a random foreground colour, bold, and a reset after it.
    They are added only when the ``TERM`` environment variable, read when
    :mod:`nidl.utils` is imported, names a terminal that shows them
    (``"xterm-256color"``, ``"cygwin"``, ``"xterm-color"``, or ``"xterm"``
    outside Windows); anywhere else the text is left as it is.

    Parameters
    ----------
    text : str
        The text to show.
    display : bool, default=True
        If True, print the text; if False, return it instead, for instance
        to write it elsewhere.

    Returns
    -------
    str or None
        The text, coloured if the terminal supports it, when
        ``display=False``; None otherwise.

    Examples
    --------
    >>> import re
    >>> from nidl.utils import print_multicolor
    >>> banner = print_multicolor("nidl", display=False)
    >>> re.sub(r"\x1b\[[0-9;]*m", "", banner)  # without the colour codes
    'nidl'
    """
    if _colours_supported():
        text = "".join(
            f"\x1b[38;5;{_RNG.randint(0, 255)}m\x1b[1m{char}\x1b[0m"
            for char in text
        )
    if display:
        print(text)
        return None
    return text
