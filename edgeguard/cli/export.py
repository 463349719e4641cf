"""``edgeguard export``: model + defenses → one ONNX graph (+ sidecar manifest), parity-checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import ConfigError
from ..registry import DEFENSES, DETECTORS, STAGES
from ._common import PlainUsage, console
from .app import app


@app.command("export", cls=PlainUsage)
def export_cmd(
    ctx: typer.Context,
    model: str | None = typer.Argument(
        None,
        metavar="MODEL",
        help="torchvision classifier name (resnet50, mobilenet_v3_large, …), an edgeguard model "
        "(signs, signs-denoise), or a path to an .onnx file to prepend defenses to. "
        "Required unless --recipe names one.",
        show_default=False,
    ),
    recipe: Path | None = typer.Option(
        None,
        "--recipe",
        help="Export recipe (TOML, e.g. export/stop-sign.toml): model, defenses, stages, precision, "
        "opset, output name, TensorRT batch profile. Options given on the command line override its "
        "fields (a repeated option such as --defense replaces the recipe's list).",
    ),
    weights: Path | None = typer.Option(
        None,
        "--weights",
        help="State dict (.pt/.pth, loaded with weights_only=True) or .safetensors. "
        "Default: shipped weights for edgeguard models, random init (seed 0, with a warning on "
        "stderr) for torchvision ones.",
    ),
    defense: list[str] = typer.Option(
        [],
        "--defense",
        "-d",
        help=DEFENSES.help(
            "Defense spec NAME[:SHORTHAND | :key=value,…], repeatable, applied in order.",
            "See `edgeguard defenses`.",
        ),
    ),
    stage: list[str] = typer.Option(
        [],
        "--stage",
        "-s",
        help=STAGES.help(
            "Host stage the deployed pipeline runs before the engine (recorded in the manifest, repeatable).",
            "See `edgeguard defenses`.",
        ),
    ),
    input_size: int | None = typer.Option(
        None, "--input-size", help="Square input side (default: the model's)."
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output .onnx (default: MODEL.onnx)."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset, 17..20 (what torch's exporter writes)."),
    normalize: str | None = typer.Option(
        None,
        "--normalize",
        help="none | imagenet | M,M,M/S,S,S. Default: the model's own (ImageNet for "
        "torchvision); none for .onnx inputs.",
    ),
    tolerance: float = typer.Option(1e-4, "--tolerance", help="Max relative error onnxruntime vs torch."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print the graph's op histogram."),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        help="fp32 | fp16 (FP16 graph, defenses kept FP32) | int8 (symmetric Q/DQ; "
        "needs --calib). Checked against the fp32 graph.",
    ),
    calib: Path | None = typer.Option(
        None,
        "--calib",
        help="Folder of ≥ 300 representative images for INT8 calibration "
        "(see calibration/README.md; `edgeguard data calib signs` renders one).",
    ),
    min_agreement: float = typer.Option(
        0.9, "--min-agreement", help="Minimum top-1 agreement of fp16/int8 with fp32 (0..1)."
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        help=DETECTORS.help(
            "Adversarial-input detector fused into the graph as a second output `adv_score`; each "
            "squeezer key takes its defense's shorthand, and one the fused defenses already apply is "
            "refused.",
            "See README 'Adversarial-input detector'.",
        ),
    ),
    detector_fpr: float = typer.Option(
        0.05,
        "--detector-fpr",
        help="False-positive rate on clean images the detector threshold τ is set for (τ = the "
        "(1 − FPR) quantile of clean scores, from the written engine's own outputs).",
    ),
    detector_calib: Path | None = typer.Option(
        None,
        "--detector-calib",
        help="Folder of clean images τ is set on. Default for the sign models: 500 rendered validation "
        "images; for persons: 300 rendered validation scenes (its score: change of the class score map); "
        "required for other models.",
    ),
    masking: str | None = typer.Option(
        None,
        "--masking",
        help="Certified masking (PatchCleanser) against one square sticker: patch=0.25 is the sticker's "
        "side as a fraction of the sign face's (options masks=6 per axis, face=0.95 of the crop, "
        "fill=0.5). The graph also outputs `mask_logits` (B, M, C); the decision reports `certified`. "
        "See README 'Certified masking'. For a detector (persons): ObjectSeeker's "
        "lines=30[,fill=0,masked_conf=0.8,prune=0.6] split lines per axis, 4·lines masked copies in "
        "one call, output `masked_heads`; recovered boxes are added on the host (README 'Certified "
        "masking for detection').",
    ),
    engine: str = typer.Option(
        "onnx", "--engine", help="onnx | trt: also build a TensorRT plan (needs TensorRT and a GPU)."
    ),
    batch: str = typer.Option("1,4,8", "--batch", help="TensorRT batch profile MIN,OPT,MAX (--engine trt)."),
    workspace: int = typer.Option(1024, "--workspace", help="TensorRT builder workspace limit in MiB."),
    task: str | None = typer.Option(
        None,
        "--task",
        help="detection (detect) for a YOLO-layout .onnx detector (an Ultralytics export says so in its "
        "metadata): letterboxed input, its labels, parity also on the decoded boxes.",
    ),
    nms: bool = typer.Option(
        False,
        "--nms",
        help="Detectors: append ONNX NonMaxSuppression (best class only, as Ultralytics) so the engine "
        "outputs detections (B, max_det, 6); checked against the host NMS. With --conf/--iou/--max-det.",
    ),
    conf: float = typer.Option(0.25, "--conf", help="--nms: score threshold baked into the graph."),
    iou: float = typer.Option(0.7, "--iou", help="--nms: IoU threshold baked into the graph."),
    max_det: int = typer.Option(300, "--max-det", help="--nms: boxes per image the graph outputs."),
    triton: Path | None = typer.Option(
        None,
        "--triton",
        help="Also write a Triton model repository entry REPO/NAME (NAME = the output's stem; the "
        "TensorRT plan with --engine trt, else the ONNX graph). See `edgeguard triton`.",
    ),
) -> None:
    """Export a classifier (or a YOLO-layout detector) with defenses fused in front into one ONNX graph.

    The graph takes `input` float32 (B, 3, H, W) RGB in [0, 1] (dynamic batch) and outputs `logits`
    (and `adv_score` with --detector, `mask_logits` with --masking).
    The export fails (exit 2, no file written) if onnxruntime and torch disagree beyond --tolerance
    on real photos.
    """
    from ..exporter.onnx import export
    from ._precision import engine_report, plan_engine

    opts = dict(
        model=model,
        weights=weights,
        defense=defense,
        stage=stage,
        input_size=input_size,
        out=out,
        opset=opset,
        normalize=normalize,
        tolerance=tolerance,
        precision=precision,
        calib=calib,
        min_agreement=min_agreement,
        detector=detector,
        detector_fpr=detector_fpr,
        detector_calib=detector_calib,
        engine=engine,
        batch=batch,
        workspace=workspace,
        task=task,
        nms={"conf": conf, "iou": iou, "max_det": max_det} if nms else None,
        masking=masking,
    )
    if recipe is not None:
        from ..recipe import load_recipe, merge

        opts = merge(load_recipe(recipe).cli_options(), _given(ctx, opts))
    elif model is None:
        raise ConfigError("export: give MODEL (a zoo or torchvision name, or an .onnx path) or --recipe FILE")
    engine, batch, workspace = opts.pop("engine"), opts.pop("batch"), opts.pop("workspace")
    build = plan_engine(engine, batch)  # fails fast (TensorRT/GPU missing, bad --batch) before exporting
    if triton is not None:
        from ..exporter.triton import check_name, check_repository

        check_repository(triton)  # a file or an unwritable folder fails now, before the export
        if opts.get("out") is not None:
            check_name(Path(opts["out"]).stem, what="--triton: model name (the --out file's stem)")
    with console.status(f"exporting {escape(str(opts['model']))} …"):
        res = export(**opts)
    m = res.manifest
    console.print(f"[bold green]wrote[/] {escape(str(res.path))}  (+ {escape(res.sidecar.name)})")
    console.print(f"  input  : input float32 (B, 3, {m.input.size[0]}, {m.input.size[1]}) RGB [0, 1]")
    source = escape(m.provenance.source.model)
    console.print(f"  defense: {' → '.join(m.defenses) or 'none'} → normalize → {source}")
    if m.host_stages:
        console.print(f"  host   : {' → '.join(m.host_stages)} (run before the engine by edgeguard.load)")
    if m.detector is not None:
        d = m.detector
        console.print(
            f"  detect : {escape(d.spec or d.output)} → output {d.output}, τ = {d.threshold:.4g} at FPR "
            f"{d.fpr} on {d.calibration.images if d.calibration else '?'} clean images"
        )
    if m.masking is not None:
        k = m.masking
        console.print(
            f"  masking: patch {k.patch} of the face ({k.patch_px} px) → {k.count} masks of {k.mask_px} px, "
            f"stride {k.stride_px} px, fill {k.fill} → output {k.output}"
        )
    if m.seeker is not None:
        k = m.seeker
        console.print(
            f"  seeker : {k.lines} split lines per axis → {k.count} masked copies (fill {k.fill}) "
            f"→ output {k.output}; host merge τ_mask {k.masked_conf}, prune IoA {k.prune}"
        )
    p = res.parity
    console.print(
        f"  parity : max abs {p.max_abs:.2e}, relative {p.max_rel:.2e} (≤ {p.tolerance:.0e}) on "
        f"{p.images} photos, top-1 agreement {p.top1_agreement:.0%}"
    )
    for b in m.extra.get("box_parity", []) if m.task == "detection" else []:
        console.print(
            f"  boxes  : {escape(b['what'])}: {b['boxes']} boxes on {b['images']} photos, max "
            f"{b['max_px']:.2g} px, score {b['max_score']:.1e}"
        )
    console.print(f"  nodes  : {sum(res.ops.values())} ({len(res.ops)} op types), {res.seconds:.1f} s")
    plan = engine_report(res, build, workspace)
    if triton is not None:
        from ..exporter.triton import write_repository
        from .triton import report_repository

        report_repository(write_repository(plan or res.path, triton))
    if verbose:
        t = Table("op", "count", title="op histogram")
        for op, n in res.ops.most_common():
            t.add_row(op, str(n))
        console.print(t)


def _given(ctx: typer.Context, opts: dict[str, Any]) -> dict[str, Any]:
    """The options the user typed on the command line (they override a recipe; defaults do not)."""
    # compared by name: Typer vendors its own click, whose ParameterSource enum is not a public import
    return {
        k: v for k, v in opts.items() if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"
    }
