"""``edgeguard triton``: an exported engine → a Triton Inference Server model repository."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ._common import PlainUsage, console, safe
from .app import app

if TYPE_CHECKING:
    from ..exporter.triton import TritonRepository


def report_repository(res: TritonRepository) -> None:
    """The lines ``triton`` and ``export --triton`` print about the model folder."""
    state = "unchanged (already there, same content)" if res.unchanged else "wrote"
    console.print(f"[bold green]{state}[/] {safe(res.folder, 4096)}/")
    batching = " with dynamic batching" if res.max_batch else ""
    console.print(
        f"  triton : {res.platform}, max_batch_size {res.max_batch}{batching}; files {', '.join(res.files)}"
    )
    console.print(f"  serve  : tritonserver --model-repository {safe(res.folder.parent, 4096)}")
    console.print(f"  client : edgeguard camera --engine triton://HOST:8001/{res.name}")


@app.command("triton", cls=PlainUsage)
def triton_cmd(
    repo: Path = typer.Argument(
        ..., metavar="REPO", help="Model repository folder (created if missing; its parent must exist)."
    ),
    engine: Path = typer.Option(
        ..., "--engine", "-e", help="Exported engine: NAME.onnx, or a TensorRT plan with its sidecar."
    ),
    name: str | None = typer.Option(None, "--name", help="Triton model name (default: the engine's stem)."),
    max_batch: int | None = typer.Option(
        None,
        "--max-batch",
        help="max_batch_size (default: 8 for a dynamic-batch ONNX graph, the batch profile's max for a "
        "TensorRT plan, which also caps it).",
    ),
) -> None:
    """Write REPO/NAME/{config.pbtxt, 1/model.onnx|model.plan, labels.txt, README.md} for Triton.

    Tensors come from the graph, batching from the manifest; the manifest goes beside the model and
    into config.pbtxt's parameters, so `edgeguard camera --engine triton://HOST:8001/NAME` runs the same
    pipeline against the server. An existing REPO/NAME with different content is refused (exit 2).
    """
    from ..exporter.triton import write_repository

    report_repository(write_repository(engine, repo, name=name, max_batch=max_batch))
