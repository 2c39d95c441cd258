"""A dictionary whose keys are also attributes."""

import warnings

__all__ = ["Bunch"]


class Bunch(dict):
    """A dictionary whose keys can also be read and written as attributes.

    ``bunch.key`` is ``bunch["key"]`` and ``bunch.key = value`` is
    ``bunch["key"] = value``, which makes results with several named parts
    (for instance the outputs of a dataset fetcher) easy to explore. A key
    can be kept under an old name for a while: reading the old name still
    works but emits a ``FutureWarning`` that says which name to use instead.

    Parameters
    ----------
    **kwargs
        The initial keys and their values.

    See Also
    --------
    dict : The mapping a ``Bunch`` is, with every ``dict`` method.

    Notes
    -----
    Only the keys are pickled: a ``Bunch`` read back from a pickle holds the
    same keys and values, but its old key names no longer warn.

    Examples
    --------
    >>> from nidl.utils import Bunch
    >>> result = Bunch(loss=0.5, n_epochs=3)
    >>> result.loss
    0.5
    >>> result.accuracy = 0.9
    >>> result["accuracy"]
    0.9
    >>> result
    Bunch(
      loss: 0.5
      n_epochs: 3
      accuracy: 0.9
    )
    >>> Bunch()
    Bunch()
    """

    def __init__(self, **kwargs):
        super().__init__(kwargs)
        # Set on the instance itself: ``self._deprecated_keys = ...`` would go
        # through ``__setattr__`` and become a key.
        object.__setattr__(self, "_deprecated_keys", {})

    def _set_deprecated(self, value, *, new_key, deprecated_key, warning_message):
        """Store ``value`` under ``new_key`` and under its old name.

        Reading ``deprecated_key`` afterwards, as an item or an attribute,
        emits ``warning_message`` as a ``FutureWarning`` pointing at the
        line that read it.
        """
        # ``setdefault``: a Bunch read back from a pickle has no map yet.
        vars(self).setdefault("_deprecated_keys", {})[deprecated_key] = (
            warning_message
        )
        self[new_key] = self[deprecated_key] = value

    def _warn_if_deprecated(self, key):
        message = vars(self).get("_deprecated_keys", {}).get(key)
        if message is not None:
            # 1: this helper, 2: __getitem__ or __getattr__, 3: the caller,
            # so the warning names the user's line (and its module's filters
            # apply, not nidl's).
            warnings.warn(message, FutureWarning, stacklevel=3)

    def __getitem__(self, key):
        self._warn_if_deprecated(key)
        return super().__getitem__(key)

    def __getattr__(self, key):
        # Called only when normal attribute lookup fails, so methods and
        # the instance dictionary are never shadowed by keys.
        try:
            value = super().__getitem__(key)
        except KeyError:
            raise AttributeError(
                f"this Bunch has no key {key!r} (its keys are {list(self)}); "
                "read an existing key or set it first"
            ) from None
        self._warn_if_deprecated(key)
        return value

    def __setattr__(self, key, value):
        self[key] = value

    def __delattr__(self, key):
        try:
            del self[key]
        except KeyError:
            raise AttributeError(
                f"this Bunch has no key {key!r} to delete (its keys are "
                f"{list(self)})"
            ) from None

    def __dir__(self):
        return list(self.keys())

    def __setstate__(self, state):
        # The keys come back through the dictionary items; a pickled instance
        # dictionary is ignored so that unpickling never adds attributes
        # (pickles written by other versions may hold one).
        pass

    def __repr__(self):
        if not self:
            return f"{type(self).__name__}()"
        lines = [f"  {key}: {value!r}" for key, value in self.items()]
        return "\n".join([f"{type(self).__name__}(", *lines, ")"])
