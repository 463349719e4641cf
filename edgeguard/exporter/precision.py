"""Reduced precision in the ONNX graph itself: FP16 graphs and symmetric Q/DQ INT8 graphs.

TensorRT 11 builds every network strongly typed (no FP16/INT8 builder flags): the ONNX graph alone
decides the precision (REFERENCE.md, "Platform facts"). So precision is applied here, at export, and
the same file runs in onnxruntime (CPU-checkable) and in TensorRT 8.5/10/11.

What stays FP32, and why (decided for issue #6):

* The whole defense prefix and the normalisation (every node under ``/defenses/`` and ``/normalize/``).
  Bit-depth reduction is ``Round(x·(2^b−1))/(2^b−1)``: in FP16 ``x·31`` carries ~11 bits, so pixels near
  a rounding boundary flip to the next level and the squeezer stops being the one that was evaluated.
  The median is exact in any precision (Min/Max/Slice/Pad/Concat only select values) but costs nothing
  to keep in FP32, and keeping the prefix in one precision keeps the detector head's squeezed branch
  comparable with its plain branch. The prefix is a few element-wise ops; the network dominates.
* ``Round`` anywhere (op block-list), for the same reason as above.

FP16 uses onnxconverter-common's ``convert_float_to_float16`` with ``keep_io_types=True`` (FP32 input
and logits, Cast nodes inside). Parity is checked against the FP32 graph, not torch: norm-wise relative
error ≤ ``fp16_tolerance`` (1e-2) and top-1 agreement ≥ ``min_agreement``. INT8 is judged on top-1
agreement only (its relative error is reported), on the parity photos plus up to 60 calibration images.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import manifest as mf
from ..errors import ConfigError, EngineError
from .quantize import check_tensorrt_qdq, list_images, load_batch, prefix_nodes, quantize_int8

log = logging.getLogger("edgeguard.precision")

PRECISIONS = ("fp32", "fp16", "int8")
FP16_TOLERANCE = 1e-2
DEFAULT_MIN_AGREEMENT = 0.9
AGREEMENT_CALIB_IMAGES = 60
FP16_OP_BLOCK = ("Round",)


@dataclass
class PrecisionOptions:
    """How to lower the exported FP32 graph.

    Args:
        precision: ``fp32`` (no change), ``fp16`` or ``int8``.
        calib: folder of calibration images (required for ``int8``; optional extra parity images else).
        min_agreement: minimum top-1 agreement with the FP32 graph (0..1).
        fp16_tolerance: maximum norm-wise relative error of the FP16 graph vs FP32.
        progress: show the calibration progress bar.
    """

    precision: str = "fp32"
    calib: str | Path | None = None
    min_agreement: float = DEFAULT_MIN_AGREEMENT
    fp16_tolerance: float = FP16_TOLERANCE
    progress: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.precision == "int8" and self.calib is None:
            raise ConfigError(
                "--precision int8 needs --calib DIR (a folder of ≥ 300 representative images; "
                "`edgeguard data calib signs --out calibration/signs` renders one for the sign model)"
            )
        if self.precision == "int8":
            list_images(self.calib)  # fail before the export work: missing/empty folder → ConfigError
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ConfigError(f"--min-agreement {self.min_agreement}: expected a fraction in 0..1")
        if not self.fp16_tolerance > 0:
            raise ConfigError(f"fp16 tolerance {self.fp16_tolerance}: expected > 0")


@dataclass
class PrecisionParity:
    """Reduced-precision graph vs the FP32 graph, both in onnxruntime (CPU)."""

    precision: str
    images: int
    max_abs: float
    max_rel: float
    top1_agreement: float
    min_agreement: float
    tolerance: float | None

    @property
    def ok(self) -> bool:
        rel_ok = self.tolerance is None or self.max_rel <= self.tolerance
        return rel_ok and self.top1_agreement >= self.min_agreement

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def graph_precision(model: Any) -> str:
    """Infer a graph's precision: Q/DQ nodes → ``int8``; FP16 weights or casts → ``fp16``; else ``fp32``."""
    from onnx import TensorProto

    ops = {n.op_type for n in model.graph.node}
    if ops & {"QuantizeLinear", "DequantizeLinear"}:
        return "int8"
    if any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer):
        return "fp16"
    for n in model.graph.node:
        if n.op_type == "Cast" and any(a.name == "to" and a.i == TensorProto.FLOAT16 for a in n.attribute):
            return "fp16"
    return "fp32"


def to_fp16(model: Any) -> Any:
    """FP16 copy of ``model`` with FP32 inputs/outputs; the defense prefix and ``Round`` stay FP32.

    Stale ``value_info`` (left by onnxslim) is dropped first so the converter re-infers every type —
    with it, onnxconverter-common 1.16 emits Cast nodes whose declared types contradict each other.
    """
    import onnx
    from onnxconverter_common import float16

    model = onnx.ModelProto.FromString(model.SerializeToString())
    del model.graph.value_info[:]
    block_ops = list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP16_OP_BLOCK)
    low = float16.convert_float_to_float16(
        model, keep_io_types=True, node_block_list=prefix_nodes(model), op_block_list=block_ops
    )
    return drop_round_trips(low)


def drop_round_trips(model: Any) -> Any:
    """Remove FP32 → FP16 → FP32 Cast pairs the converter leaves between two blocked nodes.

    onnxconverter-common wraps *each* blocked node in its own Casts, so a value passing from one
    FP32 median node to the next would be rounded to FP16 on the way — exactly what the block list is
    meant to prevent. Consumers of such a pair are rewired to the original FP32 tensor (lossless).
    """
    from onnx import TensorProto

    def cast_to(node: Any) -> int | None:
        return next((a.i for a in node.attribute if a.name == "to"), None) if node.op_type == "Cast" else None

    graph = model.graph
    outputs = {o.name for o in graph.output}
    producer = {o: n for n in graph.node for o in n.output}
    rewire: dict[str, str] = {}
    for node in graph.node:
        if cast_to(node) != TensorProto.FLOAT or node.output[0] in outputs:
            continue
        up = producer.get(node.input[0])
        if up is not None and cast_to(up) == TensorProto.FLOAT16:
            src = up.input[0]
            src_node = producer.get(src)
            # Only a true round trip: the FP16 cast's own input must be FP32 (a blocked node's output,
            # a graph input, or another FP32 Cast), never an FP16 network tensor.
            if src_node is None or src_node.op_type != "Cast" or cast_to(src_node) == TensorProto.FLOAT:
                rewire[node.output[0]] = src
    for node in graph.node:
        node.input[:] = [rewire.get(i, i) for i in node.input]
    used = {i for n in graph.node for i in n.input} | outputs
    changed = True
    while changed:  # drop Casts nobody reads any more (the pairs above)
        dead = [n for n in graph.node if n.op_type == "Cast" and not any(o in used for o in n.output)]
        changed = bool(dead)
        for n in dead:
            graph.node.remove(n)
        used = {i for n in graph.node for i in n.input} | outputs
    live = {o for n in graph.node for o in n.output}
    for vi in list(graph.value_info):
        if vi.name not in live:
            graph.value_info.remove(vi)
    return model


def eval_images(data: mf.Manifest, calib: str | Path | None, photos: int) -> np.ndarray:
    """Parity photos plus up to :data:`AGREEMENT_CALIB_IMAGES` calibration images (evenly spaced)."""
    from ..samples import photo_batch

    x = photo_batch(photos, data.input.size)
    if calib is not None:
        files = list_images(calib)
        step = max(1, len(files) // AGREEMENT_CALIB_IMAGES)
        x = np.concatenate([x, load_batch(files[::step][:AGREEMENT_CALIB_IMAGES], data)])
    return x


def compare_graphs(
    ref_model: Any, low_model: Any, x: np.ndarray, opts: PrecisionOptions, input_name: str = "input"
) -> PrecisionParity:
    """Run both graphs in onnxruntime (CPU) on ``x`` and compare the first output.

    The comparison is :func:`edgeguard.engines.compare.compare` (norm-wise relative error, top-1
    agreement); each graph is written to a temporary file so it runs as an ordinary engine.
    """
    import onnx

    from ..engines.compare import compare
    from ..engines.onnxruntime import OnnxRuntimeEngine

    with tempfile.TemporaryDirectory(prefix="edgeguard-precision-") as d:
        paths = [Path(d) / "fp32.onnx", Path(d) / f"{opts.precision}.onnx"]
        for model, path in zip((ref_model, low_model), paths):
            onnx.save(model, str(path))
        ref, low = (OnnxRuntimeEngine(p, provider="cpu") for p in paths)
        with ref, low:
            first = ref.outputs[0].name
            diff = compare(ref, low, {input_name: x}, outputs={first: low.outputs[0].name})[first]
    tol = opts.fp16_tolerance if opts.precision == "fp16" else None
    return PrecisionParity(
        opts.precision, diff.images, diff.max_abs, diff.max_rel, diff.top1_agreement, opts.min_agreement, tol
    )


def lower(
    model: Any, data: mf.Manifest, fp32_path: str | Path, opts: PrecisionOptions, photos: int = 4
) -> tuple[Any, mf.Manifest]:
    """Lower the exported FP32 ``model`` (also saved at ``fp32_path``) to ``opts.precision``.

    Returns the new model and the manifest with ``precision`` (mode, parity and, for INT8, calibration)
    set. Raises EngineError (naming the numbers) when parity with FP32 fails.
    """
    import onnx

    if opts.precision == "fp32":
        return model, replace(data, precision=mf.Precision(mode="fp32"))
    calibration = None
    if opts.precision == "fp16":
        low = to_fp16(model)
    else:
        fd, name = tempfile.mkstemp(suffix=".int8.onnx", dir=Path(fp32_path).parent, prefix=".q.")
        os.close(fd)
        try:
            calibration = quantize_int8(fp32_path, name, opts.calib, data, progress=opts.progress)  # type: ignore[arg-type]
            low = onnx.load(name)
        finally:
            Path(name).unlink(missing_ok=True)
    onnx.checker.check_model(low)
    check_tensorrt_qdq(low, where=f"{opts.precision} graph")
    x = eval_images(data, opts.calib, photos)
    parity = compare_graphs(model, low, x, opts, data.input.name)
    log.info("%s parity vs fp32: %s", opts.precision, parity.as_dict())
    if not parity.ok:
        rel = f"relative error {parity.max_rel:.2e}" + (
            f" (limit {parity.tolerance:.0e})" if parity.tolerance is not None else ""
        )
        raise EngineError(
            f"{opts.precision} parity vs fp32 failed on {parity.images} images: top-1 agreement "
            f"{parity.top1_agreement:.1%} (need ≥ {parity.min_agreement:.0%}), {rel}; no file written. "
            + ("Use more/more representative --calib images, or " if opts.precision == "int8" else "")
            + "lower --min-agreement knowingly"
        )
    record = {k: v for k, v in parity.as_dict().items() if k != "precision"}
    precision = mf.Precision(
        mode=opts.precision,  # type: ignore[arg-type]
        parity=mf.PrecisionParity(**record),
        calibration=mf.Calibration(**calibration) if calibration is not None else None,
    )
    return low, replace(data, precision=precision)
