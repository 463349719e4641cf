"""Shared by CLI modules: the consoles, safe printing of user strings, and options declared once.

Options that several commands take (``--engine``, ``--provider``, ``--threads``, ``--stage``,
``--escalate``, ``--crop``, ``--top``) are ``Annotated`` types here, so ``infer``, ``camera`` and
``demo`` spell, abbreviate and explain them the same way.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand

from ..registry import ENGINES, STAGES

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

# Longest label (or other unbounded user string) printed in a table or line; the JSON keeps it whole.
# Rich lays out every character it prints, so a 1 MB label took minutes (issue #10). Paths are bounded
# by the OS (PATH_MAX, 4096 bytes on Linux) and printed whole: users copy them.
SHOW_MAX = 80
PATH_MAX = 4096


def fmt_ms(v: float) -> str:
    return f"{v:.2f} ms" if v < 100 else f"{v:.0f} ms"


def safe(text: object, limit: int = SHOW_MAX) -> str:
    """A user string ready for rich: cut to ``limit`` characters with an ellipsis, markup escaped.

    File names and labels such as ``[red]`` or ``a[/]b`` are data, not rich markup.
    """
    s = str(text)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return escape(s)


class PlainUsage(TyperCommand):
    """A command whose usage line names arguments by their metavar: ``export [OPTIONS] MODEL``.

    Typer writes required arguments as ``{model}``, which reads like a placeholder to fill with braces.
    Use as ``@app.command("export", cls=PlainUsage)`` with ``metavar="MODEL"`` on the argument.
    """

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if getattr(param, "param_type_name", "") != "argument":
                pieces.extend(param.get_usage_pieces(ctx))
                continue
            name = param.metavar or (param.name or "arg").upper()
            name = name if param.required else f"[{name}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


ENGINE_HELP = ENGINES.help("Engine file (or its NAME.edgeguard.json), chosen by suffix or URI scheme.")

# str, not Path: a URI such as triton://HOST:8001/MODEL must keep its "//" (pathlib folds it to one "/").
EngineOpt = Annotated[str, typer.Option("--engine", "-e", help=ENGINE_HELP)]
ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider", help="onnxruntime execution provider: auto (best installed), cpu, cuda, tensorrt."
    ),
]
ThreadsOpt = Annotated[
    int, typer.Option("--threads", help="onnxruntime intra-op CPU threads (0 = onnxruntime's default).")
]
StageOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stage",
        "-s",
        help=STAGES.help(
            "Host stage run before the engine on every image or frame, repeatable, in order.",
            "Slow stages (dip …) belong in --escalate. Default: the stages the engine's manifest names. "
            "See `edgeguard defenses`.",
        ),
    ),
]
EscalateOpt = Annotated[
    str | None,
    typer.Option(
        "--escalate",
        help="Costly stage (dip, tvm …) run only on images the engine's detector flags; the engine "
        "then decides again on the purified image.",
    ),
]
CropOpt = Annotated[
    str,
    typer.Option(
        "--crop",
        help="Region the model sees: resize (whole image) | center (largest centred crop of the "
        "model's aspect) | X,Y,W,H in pixels (must lie inside the image). camera also: auto (the "
        "source's region of interest if it has one, else the whole frame).",
    ),
]
TopOpt = Annotated[int, typer.Option("--top", "-k", help="How many classes to show (≥ 1).")]

# Detection (issue 13): Ultralytics' names and defaults, so a YOLO user's habits carry over.
TaskOpt = Annotated[
    str | None,
    typer.Option(
        "--task",
        help="classification | detection (detect): checked against the engine's manifest; for a bare "
        "ONNX file without one (a YOLO export), how its outputs are read.",
    ),
]
ConfOpt = Annotated[
    float | None, typer.Option("--conf", help="Detection: keep boxes scoring above this (default 0.25).")
]
IouOpt = Annotated[
    float | None,
    typer.Option("--iou", help="Detection: NMS IoU above which a box is suppressed (default 0.7)."),
]
AgnosticOpt = Annotated[
    bool, typer.Option("--agnostic", help="Detection: NMS across classes (default: within each class).")
]
ClassesOpt = Annotated[
    str | None, typer.Option("--classes", help="Detection: only these labels or indices, e.g. person or 0,2.")
]
MaxDetOpt = Annotated[
    int | None, typer.Option("--max-det", help="Detection: most boxes per image (default 300).")
]


def decision_options(
    conf: float | None, iou: float | None, agnostic: bool, classes: str | None, max_det: int | None
) -> dict[str, object]:
    """The detection flags a user gave (unset ones keep the decision's defaults)."""
    given = {"conf": conf, "iou": iou, "agnostic": agnostic or None, "classes": classes, "max_det": max_det}
    return {k: v for k, v in given.items() if v is not None}


__all__ = [
    "PATH_MAX",
    "SHOW_MAX",
    "AgnosticOpt",
    "ClassesOpt",
    "ConfOpt",
    "CropOpt",
    "IouOpt",
    "MaxDetOpt",
    "TaskOpt",
    "decision_options",
    "EngineOpt",
    "EscalateOpt",
    "PlainUsage",
    "ProviderOpt",
    "StageOpt",
    "ThreadsOpt",
    "TopOpt",
    "console",
    "err_console",
    "fmt_ms",
    "safe",
]
