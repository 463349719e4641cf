"""Export: a torch classifier (or an existing ONNX graph) + traceable defenses → one ONNX graph.

Steps: build the :class:`~edgeguard.exporter.wrap.DefendedModel`, trace it with the TorchScript-based
exporter (``dynamo=False``: it needs no extra dependency, handles every torchvision classifier, and
keeps node names stable), run ``onnx.checker``, simplify with onnxslim, embed the manifest, check
parity against torch eager on real photos, and only then move the file into place next to its
``.edgeguard.json`` sidecar. A failed export leaves any previous file untouched.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from .. import defenses, manifest, models
from ..checks import check_path
from ..engines.base import Engine
from ..engines.torch import TorchEngine
from ..errors import ConfigError, EngineError
from ..outputs import OutputGroup
from ..provenance import file_sha256, versions
from .graph import check_opset, op_histogram, parse_normalize, simplify
from .parity import Parity, check_onnx
from .wrap import DefendedModel, Normalize

DEFAULT_OPSET = 17
log = logging.getLogger("edgeguard.export")


@dataclass
class ExportResult:
    """What :func:`export` produced."""

    path: Path
    sidecar: Path
    manifest: manifest.Manifest
    parity: Parity
    ops: Counter = field(default_factory=Counter)
    seconds: float = 0.0


def state_sha256(model: torch.nn.Module) -> str:
    """Hash of a model's parameters and buffers (identifies random-init weights too)."""
    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _finish(
    model: Any,
    out: Path,
    data: manifest.Manifest,
    reference: Engine,
    size: tuple[int, int],
    tolerance: float,
    images: int,
    t0: float,
    lowp: Any = None,
    host_stages: list[str] | None = None,
    detector: Any = None,
    nms: dict[str, Any] | None = None,
) -> ExportResult:
    """Check, embed the manifest, check parity on a temp file, then move into place.

    ``reference`` is the engine the graph must match (torch eager for a traced model).

    ``lowp`` (:class:`~edgeguard.exporter.precision.PrecisionOptions`) lowers the parity-checked FP32
    graph to FP16/INT8 and checks it against FP32 before anything is written. ``host_stages`` (canonical
    stage specs) are recorded in the manifest so ``edgeguard.load`` rebuilds them. ``detector``
    (:class:`~edgeguard.exporter.detector.DetectorOptions`) sets the detector threshold from the final
    (lowered) graph's own scores.
    """
    import onnx

    if host_stages:
        data = replace(data, host_stages=tuple(host_stages))

    onnx.checker.check_model(model)
    side = manifest.sidecar_path(out)
    # ONNX + sidecar are one group: temps in out's folder, renamed only when parity (and lowering)
    # passed and both are written; on any failure the user's old files stay as they were.
    with destinations(out) as group:
        tmp = group.temp(out)
        manifest.embed(model, data)
        onnx.save(model, str(tmp))
        parity = check_onnx(tmp, reference, size, images=images, tolerance=tolerance)
        if not parity.ok:
            raise EngineError(
                f"parity check failed: onnxruntime vs torch relative error {parity.max_rel:.2e} > "
                f"{tolerance:.0e} (max abs {parity.max_abs:.2e}); {out.name} was not written. "
                f"A quantising defense (bits) placed after a smoothing one turns float rounding noise "
                f"into whole quantisation steps: put bits first, or raise --tolerance knowingly"
            )
        data = replace(data, provenance=replace(data.provenance, parity=manifest.Parity(**parity.as_dict())))
        if data.task == "detection":  # parity on the decoded boxes too (and in-graph NMS when asked)
            from .detect_parity import check_export

            with_nms, data, checks = check_export(tmp, reference, data, images, nms)
            data = replace(data, extra={**data.extra, "box_parity": [c.as_dict() for c in checks]})
            model = with_nms if with_nms is not None else model
        if lowp is not None:
            from .precision import lower

            model, data = lower(model, data, tmp, lowp, photos=images)
        manifest.embed(model, data)
        onnx.save(model, str(tmp))
        if detector is not None:  # τ from this precision's own scores
            from .detector import calibrate

            data = calibrate(tmp, data, detector)
            manifest.embed(model, data)
            onnx.save(model, str(tmp))
        manifest.save_sidecar(data, out, to=group.temp(side))
    return ExportResult(out, side, data, parity, op_histogram(model), time.perf_counter() - t0)


def destinations(out: Path) -> OutputGroup:
    """The checked output group of an export: ``out`` (.onnx) and its sidecar.

    Raises:
        ConfigError: ``out`` does not end in .onnx, or it or its sidecar cannot be written safely.
    """
    if Path(out).suffix != ".onnx":
        raise ConfigError(f"--out {str(out)!r}: the file name must end in .onnx")
    paths = [out, manifest.sidecar_path(out)]
    return OutputGroup(paths, what=["--out", "--out's sidecar"], make_parents=True)


def _torch_to_onnx(
    module: torch.nn.Module, size: tuple[int, int], opset: int, outputs: tuple[str, ...] = ("logits",)
) -> Any:
    import onnx

    dummy = torch.rand(1, 3, *size)
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(d) / "m.onnx"
        torch.onnx.export(
            module,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=["input"],
            output_names=list(outputs),
            dynamic_axes={"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}},
        )
        return onnx.load(str(path))


def export(
    model: str,
    *,
    weights: str | Path | None = None,
    defense: list[str] | tuple[str, ...] = (),
    input_size: int | tuple[int, int] | None = None,
    out: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    normalize: str | None = None,
    tolerance: float = 1e-4,
    parity_images: int = 4,
    seed: int = 0,
    precision: str = "fp32",
    calib: str | Path | None = None,
    min_agreement: float = 0.9,
    stage: list[str] | tuple[str, ...] = (),
    detector: str | None = None,
    detector_fpr: float = 0.05,
    detector_calib: str | Path | None = None,
    task: str | None = None,
    nms: dict[str, Any] | bool | None = None,
    masking: str | None = None,
) -> ExportResult:
    """Export ``model`` (a zoo/torchvision name or a path to an ``.onnx``) with ``defense`` specs fused.

    Args:
        model: torchvision classifier name (``resnet50``), an edgeguard model (``signs``), or ``*.onnx``.
        weights: state dict (``.pt/.pth``, loaded with ``weights_only=True``) or ``.safetensors``.
        defense: spec strings applied in order (``["bits:5", "median:3x3"]``).
        input_size: square side or ``(H, W)``; default from the model (224 for torchvision).
        out: output ``.onnx`` path; default ``<model>.onnx`` in the current folder.
        opset: ONNX opset (≥ 17).
        normalize: ``None`` (model default), ``"none"``, ``"imagenet"`` or ``"m,m,m/s,s,s"``.
        tolerance: maximum norm-wise relative error between onnxruntime and torch.
        parity_images: how many real photos the parity check runs.
        seed: torch seed for random initialisation (makes random-weight exports reproducible).
        precision: ``fp32``, ``fp16`` or ``int8`` (see :mod:`edgeguard.exporter.precision`).
        calib: folder of calibration images (required for ``int8``).
        min_agreement: minimum top-1 agreement of an fp16/int8 graph with the fp32 one.
        stage: host-stage specs (``tvm:keep=0.5``) the deployed pipeline runs before the engine;
            recorded in the manifest, not in the graph.
        detector: adversarial-input detector spec (``squeeze:bits=4,median=2x2``, see
            :mod:`edgeguard.defenses.squeeze`): the graph gets a second output ``adv_score``.
        detector_fpr: false-positive rate on clean images the detector threshold τ is set for.
        detector_calib: folder of clean images τ is set on (default for the sign models: rendered
            signs; for ``persons``: rendered surveillance scenes).
        task: ``detection`` (or ``detect``) for a YOLO-layout ``.onnx`` detector (an Ultralytics
            export's ``task`` metadata says so too): manifest ``task: detection``, letterboxed input,
            labels from its ``names``; parity is also checked on the decoded boxes.
        nms: detectors only: append ONNX NonMaxSuppression (``True`` or ``{"conf", "iou", "max_det"}``,
            defaults 0.25 / 0.7 / 300), so the engine outputs ``detections`` (B, max_det, 6); checked
            against the host NMS on real photos before anything is written.
        masking: certified masking options (``patch=0.25[,masks=6,face=0.95,fill=0.5]``, see
            :mod:`edgeguard.defenses.masking`): the graph also outputs ``mask_logits`` (B, M, C), the
            logits of every one-masked copy of the frame; the mask geometry goes into the manifest.
            For a detector, ObjectSeeker's split lines (``lines=30[,fill=0]``, see
            :mod:`edgeguard.seeker`): the graph also outputs ``masked_heads`` (B, 4·lines, 4 + nc, N).

    Raises:
        ConfigError: bad name, spec, size, opset or normalisation.
        ModelError: unreadable or mismatching weights.
        EngineError: parity failure (no file written).
    """
    check_opset(opset)
    if input_size is not None:
        input_size = _size(input_size, (0, 0))
    defense, stage = _check_arguments(model, defense, stage, normalize, tolerance, parity_images, seed)
    from .precision import PrecisionOptions

    lowp = PrecisionOptions(precision, calib, min_agreement) if precision != "fp32" else None
    from .detector import check_options

    det = check_options(detector, detector_fpr, detector_calib, str(model))
    _check_masking(masking, model, det, precision)
    t0 = time.perf_counter()
    specs = [defenses.REGISTRY.canonical(s) for s in defense]
    stage_specs: list[str] = []
    if stage:
        from .. import stages

        stage_specs = [stages.REGISTRY.canonical(s) for s in stage]
        for s in stage_specs:  # build each once: its parameters are checked now, not on the car
            stages.from_spec(s)
    nms_opts = _nms_options(nms, precision)
    finish = functools.partial(_finish, lowp=lowp, host_stages=stage_specs, detector=det, nms=nms_opts)
    is_file = str(model).endswith(".onnx")
    if is_file:
        check_path(model, what="model file")  # before --out, whose default name derives from it
    if out:
        out_path = Path(out)
    elif is_file:
        out_path = Path(model).with_name(Path(model).stem + "-defended.onnx")
    else:
        out_path = Path(f"{model}.onnx")
    destinations(out_path)  # fail now, before minutes of work, if the outputs cannot be written
    if is_file:
        from .compose import export_onnx_file

        return export_onnx_file(
            Path(model),
            specs=specs,
            input_size=input_size,
            out=out_path,
            opset=opset,
            normalize=normalize,
            tolerance=tolerance,
            parity_images=parity_images,
            finish=finish,
            t0=t0,
            task=task,
        )
    torch.manual_seed(seed)
    net, info = models.build(str(model), weights)
    if task is not None and {"detect": "detection"}.get(task, task) != info.task:
        raise ConfigError(f"--task {task}: {model} is a {info.task} model")
    size = _size(input_size, info.input_size)
    norm = parse_normalize(normalize, (info.mean, info.std))
    wrapped = DefendedModel(
        net, [defenses.from_spec(s) for s in specs], Normalize(*norm) if norm else None
    ).eval()
    outputs: tuple[str, ...] = ("logits",)
    if det is not None:
        from .detector import OUTPUT, wrap

        wrapped, outputs = wrap(wrapped, det, specs, size, info.task), ("logits", OUTPUT)
    masks = splits = None
    if masking is not None and info.task == "detection":  # ObjectSeeker's split-masked copies
        from ..defenses.seeker import OUTPUT as SEEKER_OUTPUT
        from ..defenses.seeker import SplitCopies
        from ..seeker import parse as parse_splits

        splits, seeker_opts = parse_splits(masking, size)
        wrapped, outputs = SplitCopies(wrapped, splits).eval(), ("logits", SEEKER_OUTPUT)
    elif masking is not None:
        from ..certify import parse
        from ..defenses.masking import OUTPUT as MASK_OUTPUT
        from ..defenses.masking import MaskedCopies

        masks = parse(masking, size)
        wrapped, outputs = MaskedCopies(wrapped, masks).eval(), ("logits", MASK_OUTPUT)
    onnx_model = simplify(_torch_to_onnx(wrapped, size, opset, outputs))
    src = {
        "model": str(model),
        "weights": str(weights) if weights else info.weights,
        "init": "file" if (weights or info.weights) else f"random(seed={seed})",
    }
    src["sha256"] = file_sha256(src["weights"]) if src["weights"] else state_sha256(net)
    if not src["weights"] and info.labels:
        # `infer` on such a graph still prints labels with high-looking probabilities: say so once
        # (logging's last-resort handler prints this one line on stderr when nothing is configured)
        log.warning(
            "warning: %s has random weights (seed %d, no --weights): the %d labels it predicts are "
            "meaningless however confident; pass --weights FILE for real predictions",
            model,
            seed,
            len(info.labels),
        )
    data = manifest.new(
        input_size=size,
        mean=norm[0] if norm else (0.0, 0.0, 0.0),
        std=norm[1] if norm else (1.0, 1.0, 1.0),
        labels=info.labels,
        defenses=specs,
        source=src,
        versions=versions(),
        task=info.task,
        opset=opset,
        outputs=outputs,
        resize="letterbox" if info.task == "detection" else "stretch",
    )
    if masks is not None:
        geometry = {k: v for k, v in masks.as_dict().items() if k != "size"}
        data = replace(data, masking=manifest.Masking(output=outputs[1], **geometry))
    if splits is not None:
        seeker = manifest.Seeker(
            output=outputs[1],
            lines=splits.lines,
            count=splits.count,
            fill=splits.fill,
            masked_conf=seeker_opts.masked_conf,
            prune=seeker_opts.prune,
        )
        data = replace(data, seeker=seeker)
    reference = TorchEngine(wrapped, input_shape=(None, 3, *size), output_names=outputs)
    return finish(onnx_model, out_path, data, reference, size, tolerance, parity_images, t0)


def _check_masking(masking: Any, model: Any, det: Any, precision: str) -> None:
    """``--masking``'s combinations, before any work (its geometry is checked once the size is known)."""
    if masking is None:
        return
    if not isinstance(masking, str):
        raise ConfigError(f"--masking {masking!r}: expected options such as patch=0.25")
    if str(model).endswith(".onnx"):
        raise ConfigError(
            "--masking with an .onnx MODEL is not supported: the masked copies must run through the "
            "model's torch source; export the torch model (edgeguard export NAME --masking …) instead"
        )
    if det is not None:
        raise ConfigError("--masking and --detector cannot be combined in one engine (export one of them)")
    if precision != "fp32":
        raise ConfigError("--masking: masked engines are exported in fp32 only; drop --precision")


def _nms_options(nms: dict[str, Any] | bool | None, precision: str) -> dict[str, Any] | None:
    """In-graph NMS options with their defaults, or None (ConfigError for anything else)."""
    if nms is None or nms is False:
        return None
    opts = {"conf": 0.25, "iou": 0.7, "max_det": 300}
    if isinstance(nms, dict):
        unknown = sorted(set(nms) - set(opts))
        if unknown:
            raise ConfigError(f"nms: unknown option {unknown[0]!r} (takes conf, iou, max_det)")
        opts.update(nms)
    elif nms is not True:
        raise ConfigError(f"nms {nms!r}: expected True or a dict of conf, iou, max_det")
    if precision != "fp32":
        raise ConfigError("--nms: in-graph NMS is appended to fp32 graphs only; export fp32 with --nms")
    from ..detection import detection

    detection(conf=opts["conf"], iou=opts["iou"], max_det=opts["max_det"])  # the same range checks
    return opts


MAX_PARITY_IMAGES = 64  # the bundled photos are resampled per image; more adds time, not evidence


def _check_arguments(
    model: Any, defense: Any, stage: Any, normalize: Any, tolerance: Any, parity_images: Any, seed: Any
) -> tuple[list[str], list[str]]:
    """Type and range checks of :func:`export`'s arguments, before any work; the spec lists.

    A single spec string is accepted for ``defense``/``stage`` (``defense="bits:5"``), not iterated
    letter by letter.

    Raises:
        ConfigError: naming the argument, what was given and what is expected.
    """
    if not isinstance(model, (str, os.PathLike)) or not str(model):
        raise ConfigError(f"model {model!r}: expected a model name (signs, resnet50 …) or an .onnx path")
    lists = []
    for what, value in (("--defense", defense), ("--stage", stage)):
        specs = [value] if isinstance(value, str) else value
        if not isinstance(specs, (list, tuple)) or not all(isinstance(s, str) for s in specs):
            raise ConfigError(f"{what} {value!r}: expected a list of spec strings such as ['bits:5']")
        lists.append(list(specs))
    if normalize is not None and not isinstance(normalize, str):
        raise ConfigError(f"--normalize {normalize!r}: expected none, imagenet or MEAN,MEAN,MEAN/STD,STD,STD")
    tol_ok = isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool)
    if not tol_ok or not math.isfinite(tolerance) or tolerance <= 0:
        raise ConfigError(f"--tolerance {tolerance!r}: expected a finite number > 0 (default 1e-4)")
    if isinstance(parity_images, bool) or not isinstance(parity_images, int):
        raise ConfigError(f"parity_images {parity_images!r}: expected an integer in 1..{MAX_PARITY_IMAGES}")
    if not 1 <= parity_images <= MAX_PARITY_IMAGES:
        raise ConfigError(f"parity_images {parity_images!r}: expected an integer in 1..{MAX_PARITY_IMAGES}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ConfigError(f"seed {seed!r}: expected a non-negative integer")
    return lists[0], lists[1]


def _size(value: int | tuple[int, int] | None, default: tuple[int, int]) -> tuple[int, int]:
    if value is None:
        return tuple(default)  # type: ignore[return-value]
    try:
        h, w = (value, value) if isinstance(value, int) else tuple(value)  # type: ignore[misc]
    except (TypeError, ValueError):
        h = w = None
    ok = all(isinstance(v, int) and not isinstance(v, bool) and 16 <= v <= 4096 for v in (h, w))
    if not ok:
        raise ConfigError(f"--input-size {value!r}: expected an integer side (or H,W) in 16..4096")
    return h, w
