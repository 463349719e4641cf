"""Checked values of an evaluation: ε, data specs, patch sizes, configurations and engines.

Shared by the grid file (:mod:`edgeguard.eval.grid`) and the ``edgeguard eval`` options, so a value is
refused with the same words wherever it comes from. Each check raises ``ValueError`` saying what was
expected; the caller adds where the value came from (file, line, key or option) and turns it into a
:class:`~edgeguard.errors.ConfigError`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..spec import parse_value

MAX_N = 1_000_000
DATA_KINDS = ("signs", "gtsrb", "folder")


def check_patch(value: Any) -> float:
    """``certify``/``--patch``: the sticker's side as a fraction of the sign face, 0 < patch < 1."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 < float(value) < 1.0
    if not ok:
        raise ValueError(
            f"expected the sticker side as a fraction of the sign face, 0 < patch < 1, got {value!r}"
        )
    return float(value)


def parse_eps(value: Any) -> float:
    """One ε: a number or a string such as ``"8/255"``; must be finite and > 0.

    Raises:
        ValueError: with what was expected.
    """
    v = value
    if isinstance(value, str):
        try:
            v = parse_value(value)
        except ConfigError as err:
            raise ValueError(str(err)) from None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"expected a number or a fraction such as '8/255', got {value!r}"[:120])
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"expected ε > 0, got {value!r}")
    return float(v)


def parse_eps_list(value: Any) -> tuple[float, ...]:
    """A list of ε (or one comma-separated string ``"2/255,4/255"``), sorted, duplicates removed."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"expected a non-empty list of ε such as ['4/255', '8/255'], got {value!r}"[:120])
    return tuple(sorted({parse_eps(v) for v in items}))


def check_data_spec(spec: Any) -> str:
    """``signs[:variety=NAME]``, ``gtsrb:PATH`` or ``folder:PATH`` (paths are checked on loading)."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("expected signs, gtsrb:PATH or folder:PATH")
    kind, _, path = spec.partition(":")
    if kind == "signs" and path:
        signs_variety(spec)
        return spec
    if kind not in DATA_KINDS or (kind == "signs") != (not path):
        raise ValueError(f"expected signs, gtsrb:PATH or folder:PATH, got {spec!r}"[:120])
    return spec


def signs_variety(spec: str) -> str:
    """The renderer variety of ``signs`` (classic) or ``signs:variety=NAME`` (classic, wide, unseen)."""
    from ..data.looks import VARIETIES

    _, _, opt = spec.partition(":")
    if not opt:
        return "classic"
    key, eq, name = opt.partition("=")
    if key.strip() != "variety" or not eq or name.strip() not in VARIETIES:
        raise ValueError(f"expected signs or signs:variety={'|'.join(VARIETIES)}, got {spec!r}"[:120])
    return name.strip()


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(f"expected an integer in {lo}..{hi}, got {v!r}"[:120])
        return v

    return check


def _fpr(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
        raise ValueError(f"expected a number in (0, 1), got {v!r}"[:120])
    return float(v)


def _string(v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or "\n" in v or "\x00" in v:
        raise ValueError(f"expected a non-empty one-line string, got {v!r}"[:120])
    return v


def _strings(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list) or not all(isinstance(s, str) and s.strip() for s in v):
        raise ValueError(f"expected a list of spec strings, got {v!r}"[:120])
    return tuple(v)


_EVAL: dict[str, Callable[[Any], Any]] = {
    "data": check_data_spec,
    "n": _int(1, MAX_N),
    "seed": _int(0, 2**31 - 1),
    "eot": _int(1, 1000),
    "eps": parse_eps_list,
    "detector_fpr": _fpr,
    "certify": check_patch,
}
_CONFIG: dict[str, Callable[[Any], Any]] = {
    "name": _string,
    "model": _string,
    "defenses": _strings,
    "stages": _strings,
    "detector": _string,
    "weights": _string,
}
_ATTACK: dict[str, Callable[[Any], Any]] = {
    "spec": _string,
    "eps": parse_eps_list,
    "n": _int(1, MAX_N),
    "seed": _int(0, 2**31 - 1),
    "eot": _int(1, 1000),
}


# -- building the pieces (shared with the CLI) --------------------------------------------------------


def config_name(d: Mapping[str, Any]) -> str:
    """Default label: ``signs+bits:5+median:3x3`` (model, defenses, stages, detector)."""
    model = str(d["model"])
    base = Path(model).name if model.endswith(".onnx") else model
    parts = [
        base,
        *d.get("defenses", ()),
        *d.get("stages", ()),
        *([d["detector"]] if d.get("detector") else []),
    ]
    return "+".join(parts)


def check_config(d: Mapping[str, Any], base: Path | None = None) -> dict[str, Any]:
    """Check one configuration's specs against the registries; resolve an .onnx path against ``base``.

    Raises:
        ValueError: ``"KEY: why"`` for the first problem (the caller adds file and line).
    """
    from ..registry import DEFENSES, MODELS, STAGES

    out = {k: v for k, v in d.items() if v is not None}
    if "model" not in out:
        raise ValueError("model: missing (a model name such as 'signs', or an .onnx engine)")
    model = out["model"]
    if model.endswith(".onnx"):
        p = Path(model).expanduser()
        p = base / p if base is not None and not p.is_absolute() else p
        if not p.is_file():
            raise ValueError(f"model: engine {str(p)!r} does not exist")
        out["model"] = str(p)
        check_engine(p, detector=out.get("detector"))
    elif model not in MODELS:
        close = difflib.get_close_matches(model, MODELS.names(), n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"model: unknown model {model!r}{hint} (a registered name or an .onnx engine)")
    for key, reg in (("defenses", DEFENSES), ("stages", STAGES)):
        for i, spec in enumerate(out.get(key, ())):
            try:
                reg.from_spec(spec)
            except ConfigError as err:
                raise ValueError(f"{key}: item {i}: {err}") from None
        out[key] = list(out.get(key, ()))
    if "weights" in out:
        w = Path(out["weights"]).expanduser()
        w = base / w if base is not None and not w.is_absolute() else w
        if not w.is_file():
            raise ValueError(f"weights: {str(w)!r} does not exist")
        out["weights"] = str(w)
    out.setdefault("name", config_name(out))
    return out


def check_engine(path: Path, *, detector: str | None = None) -> None:
    """An engine can be evaluated: it opens, classifies, has (B, classes) logits, and an ``adv_score``
    output when a detector is asked for.

    Raises:
        ValueError: ``"model: why"``.
    """
    from ..errors import EdgeGuardError
    from ..pipeline import load

    try:
        pipe = load(path, threads=1)
    except EdgeGuardError as err:
        raise ValueError(f"model: {err}") from None
    m = pipe.manifest
    if m.task != "classification":
        raise ValueError(
            f"model: engine {path.name!r} is a {m.task} engine; edgeguard eval scores classifiers"
        )
    specs = {o.name: o for o in pipe.engine.outputs}
    name = m.outputs[0] if m.outputs and m.outputs[0] in specs else next(iter(specs), None)
    if name is None or len(specs[name].shape) != 2:
        shown = ", ".join(o.describe() for o in pipe.engine.outputs) or "none"
        raise ValueError(
            f"model: engine {path.name!r} has no (batch, classes) logits output (outputs: {shown}); "
            f"export a classifier with `edgeguard export`"
        )
    if detector is not None and (m.detector is None or m.detector.output not in specs):
        raise ValueError(
            f"model: engine {path.name!r} has no adv_score output for detector {detector!r}; "
            f"export it with `edgeguard export --detector {detector}`"
        )
