"""The import graph of ``edgeguard`` (read with ``ast``, nothing is imported): one way, no circles.

Rules (issue #10, docs/architecture): imports flow ``cli → camera/eval/exporter → pipeline → engines,
stages, defenses``; engines run and never build (nothing from ``exporter`` or model code); the ops
(defenses, stages, layers) depend on array libraries and a few core modules only; nobody imports the
CLI. An import inside a function is still a dependency — it runs the first time the function does —
so every rule except the first counts imports at any depth.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgeguard"

# Circles that other parts of issue #10 are removing, each closed by a lazy import inside a function.
# The test fails when one of them is gone, so this list can only shrink; it must end empty.
KNOWN_CIRCLES: list[frozenset[str]] = []


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (edgeguard.x.y) or top-level third-party/stdlib name
    top_level: bool  # executed at import time (module body), not inside a function or class
    line: int


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is_package) for every module under edgeguard/."""
    out = {}
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return out


MODULES = _modules()


def _dynamic_target(call: ast.Call) -> list[str]:
    """``import_module("edgeguard.x")`` / ``import_module(f"edgeguard.x.{name}")``: a lazy import too.

    A literal name, or the literal start of an f-string (the package it names is imported either way),
    is resolved to the deepest known module; names computed at run time cannot be read and are skipped.
    """
    func = call.func
    fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    if fname not in ("import_module", "__import__") or not call.args:
        return []
    arg = call.args[0]
    if isinstance(arg, ast.JoinedStr) and arg.values:
        arg = arg.values[0]
    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
        return []
    parts = arg.value.rstrip(".").split(".")
    while len(parts) > 1 and ".".join(parts) not in MODULES:
        parts.pop()
    return [".".join(parts)]


def _imports() -> list[Import]:
    found = []
    for mod, (path, is_pkg) in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        body = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join(pkg + ([node.module] if node.module else []))
                # `from pkg import name`: the submodule when `name` is one, else the package itself.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
            elif isinstance(node, ast.Call):
                targets = _dynamic_target(node)
            for t in targets:
                name = t if t.startswith("edgeguard") else t.split(".")[0]
                found.append(Import(mod, name, id(node) in body, node.lineno))
    return found


IMPORTS = _imports()


def _internal(imp: Import) -> bool:
    return imp.target == "edgeguard" or imp.target.startswith("edgeguard.")


def _circles(top_level_only: bool) -> list[frozenset[str]]:
    """Strongly connected components (more than one module) of the internal import graph (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        wanted = imp.top_level or not top_level_only
        if wanted and _internal(imp) and imp.target in MODULES and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def _where(source: str, targets: set[str]) -> list[str]:
    return sorted(
        {
            f"{i.source}:{i.line} imports {i.target}"
            for i in IMPORTS
            if i.source == source and i.target in targets
        }
    )


def test_the_graph_is_read():
    """Guard against a parser that silently finds nothing (every rule below would then pass)."""
    stages_lazy = {i.target for i in IMPORTS if i.source == "edgeguard.stages" and not i.top_level}
    assert "edgeguard.attacks" in stages_lazy  # import_module(f"edgeguard.attacks.{…}") is seen
    assert {"edgeguard.pipeline", "edgeguard.engines.base", "edgeguard.exporter.onnx"} <= set(MODULES)
    pipeline = {i.target for i in IMPORTS if i.source == "edgeguard.pipeline"}
    assert {"edgeguard.engines", "edgeguard.errors", "numpy"} <= pipeline
    lazy = [i for i in IMPORTS if i.source == "edgeguard.exporter.onnx" and not i.top_level]
    assert any(i.target == "edgeguard.exporter.compose" for i in lazy)


def test_no_circles_among_module_level_imports():
    circles = _circles(top_level_only=True)
    assert not circles, "import circles at module level: " + "; ".join(" ↔ ".join(sorted(c)) for c in circles)


def test_no_circles_counting_imports_inside_functions():
    circles = set(_circles(top_level_only=False))
    unexpected = circles - set(KNOWN_CIRCLES)
    detail = []
    for c in unexpected:
        for m in sorted(c):
            detail += _where(m, set(c) - {m})
    assert not unexpected, "import circles (lazy imports included):\n" + "\n".join(detail)
    gone = set(KNOWN_CIRCLES) - circles
    assert not gone, f"these circles are gone; drop them from KNOWN_CIRCLES: {[sorted(c) for c in gone]}"


def test_engines_import_no_build_or_model_code():
    """Engines run; they never build (exporter), train, parse commands or construct models."""
    banned = ("edgeguard.exporter", "edgeguard.models", "edgeguard.train", "edgeguard.cli")
    bad = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in IMPORTS
        if i.source.startswith("edgeguard.engines") and i.target.startswith(banned)
    ]
    assert not bad, "\n".join(bad)


# Ops depend on array libraries and core modules only. safetensors: defensive_noise loads its fixed
# noise pattern from a .safetensors file (the reason it is on the list). extras: a torch host stage
# names the extra to install when torch is missing (extras imports only errors and the stdlib).
OPS_THIRD_PARTY = {"torch", "numpy", "cv2", "safetensors"}
OPS_CORE = {
    "edgeguard.checks",
    "edgeguard.errors",
    "edgeguard.extras",
    "edgeguard.registry",
    "edgeguard.spec",
}
# The one lazy exception: `stages.bpda`/`stages.eot_gradient` still resolve (BPDA and EOT moved to
# attacks/ in issue #10) through a module __getattr__, so stages/ never imports attacks/ at import time.
OPS_LAZY = {"stages": {"edgeguard.attacks"}}


@pytest.mark.parametrize("area", ["defenses", "stages", "layers"])
def test_ops_import_only_array_libraries_and_core_modules(area):
    prefix = f"edgeguard.{area}"
    bad = []
    for i in IMPORTS:
        if not (i.source == prefix or i.source.startswith(prefix + ".")):
            continue
        if _internal(i):
            own = i.target == prefix or i.target.startswith(prefix + ".")
            lazy_ok = not i.top_level and i.target in OPS_LAZY.get(area, set())
            ok = own or i.target in OPS_CORE or lazy_ok
        else:
            ok = (
                i.target in OPS_THIRD_PARTY or i.target in sys.stdlib_module_names or i.target == "__future__"
            )
        if not ok:
            bad.append(f"{i.source}:{i.line} imports {i.target}")
    assert not bad, "\n".join(bad)


def test_nothing_imports_the_cli():
    bad = [
        f"{i.source}:{i.line} imports {i.target}"
        for i in IMPORTS
        if i.target.startswith("edgeguard.cli") and not i.source.startswith("edgeguard.cli")
    ]
    assert not bad, "\n".join(bad)


def test_engine_modules_import_without_torch_or_the_exporter():
    """What the runtime install imports to run and check engines pulls in neither torch nor exporter
    (``engines/torch.py`` imports torch when a TorchEngine is made, not when the module is imported)."""
    import subprocess

    mods = [
        "edgeguard.engines",
        "edgeguard.engines.compare",
        "edgeguard.engines.onnxruntime",
        "edgeguard.engines.tensorrt",
        "edgeguard.engines.torch",
        "edgeguard.provenance",
    ]
    heavy = ("torch", "onnx", "edgeguard.exporter", "edgeguard.models")
    code = f"import sys; import {', '.join(mods)}; print(sorted(set({heavy!r}) & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_plan_rebuild_path_imports_without_the_export_extra():
    """``load(…, rebuild=True)`` on a runtime install: the TensorRT build path must not need the
    modules only ``edgeguard[export]`` brings (torch stays: TensorRT engines keep their buffers in it)."""
    import subprocess

    from edgeguard.extras import EXTRAS

    blocked = sorted(set(EXTRAS["export"]) - {"torch"})
    code = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r})); "
        "import edgeguard.exporter.tensorrt as t, edgeguard.exporter.precision, edgeguard.exporter.quantize; "
        "print(callable(t.rebuild_plan))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "True", out.stderr[-2000:]
