"""Printing and TensorRT plumbing for ``edgeguard export --precision … --engine trt`` (issue #6)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from ..errors import ConfigError
from ._common import console, err_console

ENGINES = ("onnx", "trt")


def plan_engine(engine: str, batch: str) -> Any:
    """Validate ``--engine``/``--batch`` before the export starts; the batch profile when building a plan.

    With ``--engine trt`` this imports TensorRT and looks for a GPU now, so a machine without them fails
    in a second with the install hint instead of after a long export.
    """
    if engine not in ENGINES:
        raise ConfigError(f"--engine {engine!r}: expected one of {', '.join(ENGINES)}")
    from ..exporter.tensorrt import BatchProfile

    profile = BatchProfile.parse(batch)
    if engine == "onnx":
        return None
    from ..engines.tensorrt import require_tensorrt

    require_tensorrt()
    return profile


def engine_report(res: Any, profile: Any, workspace: int) -> Path | None:
    """Print precision parity and calibration provenance; build the TensorRT plan if asked (its path)."""
    m = res.manifest
    pp = m.precision.parity
    if pp:
        limit = f" (≤ {pp.tolerance:.0e})" if pp.tolerance else ""
        tol = f", relative {pp.max_rel:.2e}{limit}"
        console.print(
            f"  {m.precision.mode:<7}: vs fp32 on {pp.images} images: top-1 agreement "
            f"{pp.top1_agreement:.1%} (≥ {pp.min_agreement:.0%}){tol}"
        )
    cal = m.precision.calibration
    if cal:
        folder = escape(cal.folder)
        console.print(f"  calib  : {cal.images} images from {folder}/ (sha256 {cal.sha256[:12]}…)")
        if cal.warning:
            err_console.print(f"[yellow]warning:[/] {escape(cal.warning)}")
    if profile is None:
        return None
    from ..exporter.tensorrt import ensure_engine

    with console.status("building TensorRT plan …"):
        build = ensure_engine(res.path, batch=profile, workspace_mb=workspace)
    r = build.record
    how = "strongly typed" if r.strongly_typed else ", ".join(r.flags or ["FP32"])
    state = "reused (cache valid)"
    if build.built:
        state = f"built in {r.build_seconds:.1f} s ({build.reason})"
    console.print(f"[bold green]wrote[/] {escape(str(build.path))}  (+ {escape(build.sidecar.name)})")
    console.print(
        f"  engine : TensorRT {r.version} on {r.device.name} (sm {r.device.compute_capability}), "
        f"{r.precision}, {how}, batch {profile.describe()}; {state}"
    )
    return Path(build.path)
