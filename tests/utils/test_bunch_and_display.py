"""Bunch (a dict with attribute access) and print_multicolor."""

import copy
import pickle
import re

import pytest

from nidl.utils import Bunch, print_multicolor
from nidl.utils import display as display_module

COLOURED_CHAR = re.compile(r"\x1b\[38;5;(\d{1,3})m\x1b\[1m(.)\x1b\[0m", re.DOTALL)


# --------------------------------------------------------------------- Bunch


def test_bunch_is_a_dict_with_attribute_access():
    bunch = Bunch(a=1, b="two")
    assert isinstance(bunch, dict)
    assert bunch == {"a": 1, "b": "two"}
    assert bunch.a == 1 and bunch.b == "two"

    bunch.c = [3]
    assert bunch["c"] == [3]
    bunch["d"] = 4.0
    assert bunch.d == 4.0
    # Attributes are keys, not instance attributes.
    assert "c" not in vars(bunch)

    del bunch.c
    assert "c" not in bunch


def test_bunch_missing_attribute_raises_attribute_error():
    bunch = Bunch(a=1)
    with pytest.raises(AttributeError, match="'missing'"):
        _ = bunch.missing
    assert not hasattr(bunch, "missing")
    with pytest.raises(AttributeError, match="'missing'"):
        del bunch.missing
    # Item access keeps the dict behaviour.
    with pytest.raises(KeyError):
        bunch["missing"]


def test_bunch_methods_are_not_shadowed_by_keys():
    bunch = Bunch(keys="a value")
    assert bunch["keys"] == "a value"
    assert list(bunch.keys()) == ["keys"]


def test_bunch_dir_lists_keys():
    bunch = Bunch(alpha=1, beta=2)
    assert dir(bunch) == ["alpha", "beta"]
    bunch.gamma = 3
    assert "gamma" in dir(bunch)


def test_bunch_deprecated_key_warns_on_read():
    bunch = Bunch()
    bunch._set_deprecated(
        [1, 2], new_key="labels", deprecated_key="target",
        warning_message="'target' is renamed 'labels'; read 'labels'",
    )
    assert bunch == {"labels": [1, 2], "target": [1, 2]}

    # The warning points at the line that reads the old key, here this file.
    with pytest.warns(FutureWarning, match="read 'labels'") as record:
        assert bunch["target"] == [1, 2]
    assert record[0].filename == __file__
    with pytest.warns(FutureWarning, match="read 'labels'") as record:
        assert bunch.target == [1, 2]
    assert record[0].filename == __file__


def test_bunch_new_key_does_not_warn(recwarn):
    bunch = Bunch()
    bunch._set_deprecated(
        0, new_key="new", deprecated_key="old", warning_message="use 'new'",
    )
    assert bunch["new"] == 0 and bunch.new == 0
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def test_bunch_pickle_round_trip():
    bunch = Bunch(a=1, b={"nested": [1, 2]})
    loaded = pickle.loads(pickle.dumps(bunch))
    assert type(loaded) is Bunch
    assert loaded == bunch
    assert loaded.b == {"nested": [1, 2]}
    loaded.c = 3
    assert loaded["c"] == 3
    assert copy.deepcopy(bunch) == bunch


def test_bunch_unpickling_ignores_pickled_instance_dict():
    bunch = Bunch(a=1)
    # A stray instance attribute, as a pickle from elsewhere may hold.
    object.__setattr__(bunch, "stray", "x")
    loaded = pickle.loads(pickle.dumps(bunch))
    assert loaded == {"a": 1}
    assert "stray" not in vars(loaded)
    with pytest.raises(AttributeError):
        _ = loaded.stray


def test_bunch_deprecated_key_survives_pickle_without_warning(recwarn):
    bunch = Bunch()
    bunch._set_deprecated(5, new_key="new", deprecated_key="old",
                          warning_message="use 'new'")
    loaded = pickle.loads(pickle.dumps(bunch))
    assert loaded["old"] == 5 and loaded["new"] == 5
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
    # The deprecation can be declared again on the loaded copy.
    loaded._set_deprecated(6, new_key="new", deprecated_key="old",
                           warning_message="use 'new'")
    with pytest.warns(FutureWarning, match="use 'new'"):
        _ = loaded.old


def test_bunch_repr():
    assert repr(Bunch()) == "Bunch()"
    assert repr(Bunch(a=1, name="x", values=[1, 2])) == (
        "Bunch(\n  a: 1\n  name: 'x'\n  values: [1, 2]\n)"
    )


# --------------------------------------------------------- print_multicolor


@pytest.mark.parametrize(
    "term, on_windows, coloured",
    [
        ("xterm-256color", False, True),
        ("cygwin", True, True),
        ("xterm-color", False, True),
        ("xterm", False, True),
        ("xterm", True, False),
        ("dumb", False, False),
        (None, False, False),
    ],
)
def test_print_multicolor_colours_only_capable_terminals(
    monkeypatch, term, on_windows, coloured
):
    monkeypatch.setattr(display_module, "_TERM", term)
    monkeypatch.setattr(display_module, "_ON_WINDOWS", on_windows)
    text = "nidl ok"
    result = print_multicolor(text, display=False)
    if not coloured:
        assert result == text
        return
    matches = COLOURED_CHAR.findall(result)
    # Every character, spaces included, is wrapped, and nothing else is left.
    assert "".join(char for _, char in matches) == text
    assert COLOURED_CHAR.sub("", result) == ""
    assert all(0 <= int(code) <= 255 for code, _ in matches)


def test_print_multicolor_draws_varied_colours(monkeypatch):
    monkeypatch.setattr(display_module, "_TERM", "xterm-256color")
    result = print_multicolor("a" * 200, display=False)
    codes = {code for code, _ in COLOURED_CHAR.findall(result)}
    assert len(codes) > 10


@pytest.mark.parametrize("term", ["xterm-256color", None])
def test_print_multicolor_display_prints_and_returns_none(monkeypatch, capsys, term):
    monkeypatch.setattr(display_module, "_TERM", term)
    assert print_multicolor("hello") is None
    out = capsys.readouterr().out
    assert out.endswith("\n")
    assert COLOURED_CHAR.sub(r"\2", out) == "hello\n"
    assert (out != "hello\n") == (term is not None)
