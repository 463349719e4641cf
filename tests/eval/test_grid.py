"""Grid TOML: a good file becomes the expected cells; every error names the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeguard.errors import ConfigError
from edgeguard.eval.grid import load_grid
from edgeguard.eval.values import parse_eps, parse_eps_list

GOOD = """\
[eval]
data = "signs"
n = 40
seed = 3
eot = 5
eps = ["4/255", "8/255"]

[[config]]
name = "plain"
model = "signs"

[[config]]
model = "signs"
defenses = ["bits:5", "median:3x3"]

[[attack]]
spec = "pgd:steps=3"

[[attack]]
spec = "pgd:steps=10,alpha=1/255"
eps = [0.01]
n = 8
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "grid.toml"
    p.write_text(text)
    return p


def test_good_grid_cells(tmp_path) -> None:
    g = load_grid(_write(tmp_path, GOOD))
    assert (g.data, g.n, g.seed, g.eot, g.eps) == ("signs", 40, 3, 5, (4 / 255, 8 / 255))
    assert [c["name"] for c in g.configs] == ["plain", "signs+bits:5+median:3x3"]
    a0, a1 = g.attacks
    assert a0.spec == "pgd:steps=3" and a0.eps == (4 / 255, 8 / 255) and a0.n == 40 and a0.eot == 5
    assert a1.spec == "pgd:alpha=0.00392156862745098,steps=10" and a1.eps == (0.01,) and a1.n == 8
    cells = g.cells()
    assert len(cells) == 2 * (2 + 1)
    assert len({c.key for c in cells}) == len(cells)
    assert cells[0].key == load_grid(_write(tmp_path, GOOD)).cells()[0].key  # stable across loads
    attack = a1.build(0.01)
    assert (attack.eps, attack.steps) == (0.01, 10)


def test_overrides_and_spec_eps(tmp_path) -> None:
    text = GOOD.replace('spec = "pgd:steps=3"', 'spec = "pgd:eps=2/255,steps=3"')
    g = load_grid(_write(tmp_path, text), n=5)
    assert g.n == 5 and g.attacks[0].eps == (2 / 255,) and g.attacks[0].n == 5


def test_example_grid_in_repo_parses() -> None:
    g = load_grid(Path(__file__).parents[2] / "eval" / "example.toml")
    assert g.configs and g.attacks and g.cells()


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("n = 40", "n = 40\nsamples = 3", r"line 4: eval\.samples: unknown key"),
        ("n = 40", "n = 0", r"line 3: eval\.n: expected an integer in 1\.\."),
        ('eps = ["4/255", "8/255"]', 'eps = ["4/255", "x"]', r"line 6: eval\.eps: expected a number"),
        ('eps = ["4/255", "8/255"]', "eps = [-1]", r"eval\.eps: expected ε > 0"),
        ('data = "signs"', 'data = "imagenet"', r"line 2: eval\.data: expected signs, gtsrb:PATH"),
        (
            'name = "plain"',
            'name = "plain"\nmodle = "x"',
            r"line 10: config\[0\]\.modle: unknown key; did you mean 'model'",
        ),
        (
            'defenses = ["bits:5", "median:3x3"]',
            'defenses = ["bits:99"]',
            r"line 14: config\[1\]\.defenses: item 0: ",
        ),
        (
            'model = "signs"\n\n[[config]]',
            'model = "nosuch"\n\n[[config]]',
            r"line 10: config\[0\]\.model: unknown model 'nosuch'",
        ),
        (
            'spec = "pgd:steps=3"',
            'spec = "pgdd:steps=3"',
            r"line 17: attack\[0\]\.spec: .*unknown attack 'pgdd'",
        ),
        ('spec = "pgd:steps=3"', 'spec = "pgd:stepz=3"', r"attack\[0\]\.spec: .*unknown parameter 'stepz'"),
        ("eps = [0.01]", "eps = [2]", r"attack\[1\]\.spec: .*ε = 2 is larger than the pixel range"),
        ("n = 8", "n = 8\nwhat = 1", r"line 23: attack\[1\]\.what: unknown key"),
        ('name = "plain"', 'name = "signs+bits:5+median:3x3"', r"config\[1\]\.name: .*used by two"),
        (
            '[[attack]]\nspec = "pgd:steps=10',
            '[[attack]]\nspec = "pgd:steps=3"\n[[attack]]\nspec = "pgd:steps=10',
            r"attack\[1\]\.spec: 'pgd:steps=3' is listed twice",
        ),
        ("[eval]", "[evals]\n[eval]", r"line 1: evals: unknown table; did you mean 'eval'"),
    ],
)
def test_errors_name_file_line_key(tmp_path, old: str, new: str, match: str) -> None:
    assert old in GOOD
    p = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match) as err:
        load_grid(p)
    assert str(p) in str(err.value) and "\n" not in str(err.value)


def test_file_level_errors(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_grid(tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_grid(_write(tmp_path, "[eval\n"))
    with pytest.raises(ConfigError, match=r"config: expected at least one \[\[config\]\]"):
        load_grid(_write(tmp_path, "[[attack]]\nspec = 'pgd'\n"))
    with pytest.raises(ConfigError, match="engine .* does not exist"):
        load_grid(_write(tmp_path, GOOD.replace('model = "signs"', 'model = "gone.onnx"', 1)))


def test_eps_parsing() -> None:
    assert parse_eps("8/255") == 8 / 255 and parse_eps(0.5) == 0.5
    assert parse_eps_list("8/255,2/255,8/255") == (2 / 255, 8 / 255)
    for bad in ("2/0", "nan", "0", True, "abc"):
        with pytest.raises(ValueError):
            parse_eps(bad)
