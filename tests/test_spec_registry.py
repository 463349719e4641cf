from __future__ import annotations

import pytest

from edgeguard import defenses
from edgeguard.errors import ConfigError
from edgeguard.spec import format_spec, parse_value, split_spec


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5", 5),
        ("1.5", 1.5),
        ("8/255", 8 / 255),
        ("3x3", (3, 3)),
        ("true", True),
        ("abc", "abc"),
        ("1e-3", 1e-3),
        ("-2", -2),
    ],
)
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_split_spec_forms():
    assert split_spec("bits:5") == ("bits", "5", {})
    assert split_spec("gaussian:sigma=1.0,size=5") == ("gaussian", None, {"sigma": 1.0, "size": 5})
    assert split_spec(" Median ") == ("median", None, {})
    assert split_spec("tvm:keep=0.1,lam=0.03,iters=100")[2] == {"keep": 0.1, "lam": 0.03, "iters": 100}


@pytest.mark.parametrize("bad", ["", ":5", "bits:keep=", "a:x=1,x=2", "9x:1", "g:sigma"])
def test_split_spec_rejects(bad):
    with pytest.raises(ConfigError):
        reg_name, short, params = split_spec(bad)
        if short is not None:  # "g:sigma" parses as a shorthand; the registry rejects it
            defenses.REGISTRY.resolve(bad)


def test_format_spec_round_trip():
    text = format_spec("median", {"kernel": (1, 3)})
    assert text == "median:kernel=1x3"
    assert split_spec(text)[2] == {"kernel": (1, 3)}


def test_registry_spec_equals_create():
    a = defenses.from_spec("median:1x3")
    b = defenses.create("median", kernel=(1, 3))
    assert a.kernel == b.kernel == (1, 3)
    assert defenses.REGISTRY.canonical("bits:5") == "bits:bits=5"
    assert defenses.REGISTRY.canonical("gaussian:2") == "gaussian:sigma=2.0"


def test_unknown_names_suggest():
    with pytest.raises(ConfigError, match="did you mean median"):
        defenses.from_spec("medain:3x3")
    with pytest.raises(ConfigError, match="unknown parameter 'sigm'.*did you mean sigma"):
        defenses.from_spec("gaussian:sigm=1")


@pytest.mark.parametrize(
    "spec",
    [
        "median:4x4",
        "median:3x5",
        "bits:9",
        "bits:0",
        "bits:2.5",
        "gaussian:sigma=0",
        "gaussian:sigma=1,size=4",
        "noise:/nonexistent.npy",
    ],
)
def test_bad_defense_specs(spec):
    with pytest.raises(ConfigError):
        defenses.from_spec(spec)


def test_median_error_lists_windows():
    with pytest.raises(ConfigError, match="3x3, 1x3, 3x1, 2x2, 5x5"):
        defenses.from_spec("median:4x4")
