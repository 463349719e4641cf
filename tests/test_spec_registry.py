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


# -- the shared Registry: self-registration, listings read from source, lazy loading -------------------


@pytest.mark.parametrize(
    "reg", ["DEFENSES", "STAGES", "ENGINES", "DECISIONS", "SOURCES", "MODELS", "ATTACKS", "DETECTORS"]
)
def test_listing_from_source_equals_the_live_registry(reg):
    """Help texts come from the source listing; it must say what the imported registry says."""
    from edgeguard import registry

    r = getattr(registry, reg)
    listed = {x.name: (x.summary, x.usage) for x in r.listing()}
    live = {e.name: (e.summary, e.usage) for e in r if "alias_of" not in e.extra}
    assert listed == live and listed


def test_help_texts_do_not_import_torch():
    """Building the CLI's registry-generated help texts must not import torch (runtime install)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from edgeguard.cli.app import _load_commands\n"
        "from edgeguard.registry import DEFENSES, STAGES, ENGINES, DECISIONS, SOURCES\n"
        "_load_commands()\n"
        "texts = [r.help('x') for r in (DEFENSES, STAGES, ENGINES, DECISIONS, SOURCES)]\n"
        "assert all('Known:' in t for t in texts), texts\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_decorator_registers_beside_definition_and_validates():
    from edgeguard.registry import Registry

    reg = Registry("widget")

    @reg.register("box", summary="a box", examples=({"side": 2},), help={"side": "edge length"}, colour="red")
    class Box:
        realtime = False

        def __init__(self, side: int = 1, *, device: str = "cpu") -> None:
            self.side = side

    entry = reg.get("box")
    assert entry.factory is Box and entry.module == __name__ and entry.realtime is False
    assert [(p.name, p.default, p.help) for p in entry.params] == [
        ("side", 1, "edge length"),
        ("device", "cpu", ""),
    ]
    assert entry.extra == {"colour": "red"} and entry.examples == ({"side": 2},)
    assert reg.create("box", side=3).side == 3
    with pytest.raises(ConfigError, match="unknown parameter 'sid'.*did you mean side"):
        reg.create("box", sid=3)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("box")(Box)
    with pytest.raises(ConfigError, match="unknown widget 'bx'.*did you mean box"):
        reg.get("bx")


def test_module_missing_a_third_party_package_names_the_extra(tmp_path, monkeypatch):
    """A registered op whose module cannot import torch says which extra to install, in one line."""
    import sys

    from edgeguard.extras import MissingExtraError
    from edgeguard.registry import Registry

    pkg = tmp_path / "fakeops"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "light.py").write_text(
        "from fakeops import OPS\n@OPS.register('light', summary='no heavy import', usage='light')\n"
        "def light():\n    return 1\n"
    )
    (pkg / "heavy.py").write_text(
        "from fakeops import OPS\nimport not_installed_torch_like_pkg\n"
        "@OPS.register('heavy', summary='needs a package', usage='heavy')\ndef heavy():\n    return 2\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import fakeops

    fakeops.OPS = reg = Registry("op", package="fakeops", var="OPS")
    try:
        # the listing is read from source: neither module is imported for it
        assert [x.name for x in reg.listing()] == ["heavy", "light"]
        assert "fakeops.light" not in sys.modules
        assert reg.create("light") == 1
        with pytest.raises(ConfigError, match="op 'heavy' needs not_installed_torch_like_pkg, which is not"):
            reg.get("heavy")
        # a package an extra brings names the extra (here torch, refused by an import hook)
        (pkg / "torchy.py").write_text(
            "from fakeops import OPS\nimport torch\n"
            "@OPS.register('torchy', summary='needs torch', usage='torchy')\ndef torchy():\n    return 3\n"
        )
        reg2 = Registry("op", package="fakeops", var="OPS")
        fakeops.OPS = reg2
        monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ModuleNotFoundError
        for m in ("fakeops.light", "fakeops.heavy"):
            sys.modules.pop(m, None)
        with pytest.raises(
            MissingExtraError, match=r"op 'torchy' needs the 'export' extra.*edgeguard\[export\]"
        ):
            reg2.get("torchy")
        assert reg2.create("light") == 1
    finally:
        for m in [m for m in sys.modules if m.startswith("fakeops")]:
            del sys.modules[m]


def test_cli_help_texts_come_from_the_registries(cli):
    """--defense/--stage/--source/--engine help lists every registered entry with its usage."""
    from edgeguard.registry import DEFENSES, ENGINES, SOURCES, STAGES

    export_help = cli("export", "--help").stdout
    camera_help = cli("camera", "--help").stdout
    flat = {k: " ".join(v.replace("│", " ").split()) for k, v in (("e", export_help), ("c", camera_help))}
    for reg, where in ((DEFENSES, "e"), (STAGES, "e"), (STAGES, "c"), (SOURCES, "c"), (ENGINES, "c")):
        for x in reg.listing():
            assert f"{x.name}: " in flat[where], (reg.kind, x.name)
            assert " ".join(x.usage.split()) in flat[where], (reg.kind, x.usage)


def test_without_readable_sources_every_public_module_is_imported(tmp_path, monkeypatch):
    """A .pyc-only install has no source to scan: loading then imports every public module."""
    import sys

    from edgeguard import registry
    from edgeguard.registry import Registry

    pkg = tmp_path / "pyconly"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "op.py").write_text(
        "from pyconly import OPS\n@OPS.register('op', summary='s', usage='op')\ndef op():\n    return 5\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import pyconly

    pyconly.OPS = reg = Registry("op", package="pyconly", var="OPS")
    monkeypatch.setattr(registry, "registering_modules", lambda package, var: [])
    try:
        assert reg.create("op") == 5
    finally:
        for m in [m for m in sys.modules if m.startswith("pyconly")]:
            del sys.modules[m]
