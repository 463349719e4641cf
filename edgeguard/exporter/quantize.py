"""INT8 as explicit, symmetric Q/DQ in the ONNX graph (what TensorRT 10 and 11 both accept).

TensorRT 10.1 deprecated the implicit INT8 calibrators and TensorRT 11 removed them together with the
INT8 builder flag: precision must come from the network as QuantizeLinear/DequantizeLinear pairs, and
the ONNX parser accepts those only when they are *symmetric* (every zero point 0, signed int8) and in
QDQ form, never operator form (QLinearConv, MatMulInteger …) — REFERENCE.md, "Platform facts".

So we quantise with onnxruntime's ``quantize_static`` in QDQ format with QInt8 activations and
weights, ``ActivationSymmetric``/``WeightSymmetric`` set and per-channel weights, then *verify* the
result with :func:`check_tensorrt_qdq` (the same check guards the TensorRT build path against graphs
quantised elsewhere). The traceable defenses and the normalisation stay in float: their node names
start with ``/defenses/`` and ``/normalize/`` (the export traces them under those module paths), and
a quantised bit-depth rounding or median would no longer be the defense that was evaluated.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..checks import check_path
from ..engines._trt import PREFIX_SCOPES
from ..errors import ConfigError, EngineError, InputError
from ..manifest import Manifest
from .graph import dedupe_opsets

log = logging.getLogger("edgeguard.quantize")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
# Ultralytics warns below 300 calibration images; TensorRT's own guidance is "about 500".
MIN_RECOMMENDED_IMAGES = 300
CALIB_BATCH = 8
# Operator-format quantised ops: the TensorRT ONNX parser has no importer for them.
OPERATOR_FORMAT_OPS = frozenset(
    {
        "QLinearConv",
        "QLinearMatMul",
        "MatMulInteger",
        "ConvInteger",
        "QLinearAdd",
        "QLinearMul",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearAveragePool",
        "QLinearGlobalAveragePool",
        "QLinearConcat",
        "QLinearSoftmax",
        "QGemm",
        "DynamicQuantizeLinear",
        "DynamicQuantizeMatMul",
    }
)


def prefix_nodes(model: Any) -> list[str]:
    """Names of the defense + normalisation nodes (kept in float by FP16 and INT8 conversion)."""
    return [n.name for n in model.graph.node if n.name.startswith(PREFIX_SCOPES)]


def list_images(folder: str | Path) -> list[Path]:
    """Every image file under ``folder`` (recursive, sorted by relative path).

    Raises:
        ConfigError: ``folder`` is missing, not a folder, or holds no image files.
    """
    root = check_path(folder, what="--calib")
    if not root.is_dir():
        raise ConfigError(f"--calib {str(root)!r}: not a folder; pass a folder of calibration images")
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        what = f"{len(files)} files, none with an image suffix" if files else "it is empty"
        raise ConfigError(
            f"--calib {str(root)!r}: no calibration images ({what}); expected "
            f"{'/'.join(IMAGE_SUFFIXES)} files — see calibration/README.md"
        )
    return images


def folder_digest(root: str | Path, images: list[Path]) -> str:
    """sha256 over (relative path, file sha256) of every calibration image: the set's provenance."""
    root = Path(root)
    h = hashlib.sha256()
    for p in images:
        h.update(p.relative_to(root).as_posix().encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def load_batch(images: list[Path], data: Manifest) -> np.ndarray:
    """Read and preprocess images exactly as the manifest says (size, colour order, stretch or
    letterbox; [0, 1] floats)."""
    from ..preprocess import load_image, preprocess

    frames = [load_image(p) for p in images]  # InputError names an undecodable file
    spec = data.input
    return preprocess(frames, spec.size, color=spec.color, resize=spec.resize, pad_value=spec.pad_value)


def _reader_class() -> type:
    from onnxruntime.quantization import CalibrationDataReader

    class FolderReader(CalibrationDataReader):
        """Feeds ``(B, 3, H, W)`` batches of preprocessed calibration images to onnxruntime."""

        def __init__(self, images: list[Path], data: Manifest, step: Callable[[int], None]) -> None:
            self.images, self.data, self.step = images, data, step
            self.input_name = data.input.name
            self._it: Iterator[int] = iter(range(0, len(images), CALIB_BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self._it, None)
            if start is None:
                return None
            chunk = self.images[start : start + CALIB_BATCH]
            batch = load_batch(chunk, self.data)
            self.step(len(chunk))
            return {self.input_name: batch}

        def rewind(self) -> None:
            self._it = iter(range(0, len(self.images), CALIB_BATCH))

    return FolderReader


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calib: str | Path,
    data: Manifest,
    *,
    progress: bool = True,
    per_channel: bool = True,
) -> dict[str, Any]:
    """Quantise the float graph at ``fp32_path`` to symmetric QDQ INT8 at ``out_path``.

    Args:
        fp32_path: exported float32 graph (with the defense prefix).
        out_path: where the quantised graph is written.
        calib: folder of calibration images (preprocessed as ``data`` — the manifest — says).
        data: the manifest (input name, size, colour order).
        progress: show a rich progress bar while calibrating.
        per_channel: per-output-channel weight scales (TensorRT supports them on Conv/Gemm weights).

    Returns:
        Calibration provenance for the manifest: folder name, image count, digest, method, warning.

    Raises:
        ConfigError: no calibration folder / images.
        InputError: a calibration file is not a decodable image.
        EngineError: the quantised graph is not symmetric QDQ (names the node).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    root = Path(calib)
    images = list_images(root)
    warning = None
    if len(images) < MIN_RECOMMENDED_IMAGES:
        warning = (
            f"only {len(images)} calibration images in {root.name}/ (fewer than {MIN_RECOMMENDED_IMAGES}): "
            "INT8 ranges may be poorly estimated; see calibration/README.md"
        )
        log.warning(warning)
    try:
        load_batch(images[:1], data)  # fail early, before onnxruntime swallows the traceback
    except InputError as err:
        raise InputError(f"--calib {root.name}: {err}") from None
    model = dedupe_opsets(onnx.load(str(fp32_path)))
    exclude = prefix_nodes(model)
    prepped = Path(out_path).with_suffix(".pre.onnx")
    # ORT's recommended pre-processing: shape inference only. Its graph optimisations are skipped so
    # the defense nodes keep the names `nodes_to_exclude` refers to (onnxslim already folded the graph).
    quant_pre_process(model, str(prepped), skip_optimization=True)
    bar = Progress(
        TextColumn("calibrating INT8"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task("calib", total=len(images))
        reader = _reader_class()(images, data, lambda n: bar.advance(task, n))
        try:
            quantize_static(
                str(prepped),
                str(out_path),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                nodes_to_exclude=exclude,
                calibrate_method=CalibrationMethod.MinMax,
                # REFERENCE.md: the TensorRT parser accepts Q/DQ only with zero points 0.
                # Biases stay float: TensorRT quantises them itself and dequantizes int8 only, not int32.
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False},
            )
        finally:
            prepped.unlink(missing_ok=True)
    check_tensorrt_qdq(onnx.load(str(out_path)), where=Path(out_path).name)
    return {
        "folder": root.name,
        "images": len(images),
        "sha256": folder_digest(root, images),
        "method": "minmax",
        "symmetric": True,
        "per_channel": per_channel,
        "excluded_nodes": len(exclude),
        "warning": warning,
    }


def _initializer_values(model: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:  # zero points may also arrive as Constant nodes
        if node.op_type == "Constant" and node.attribute:
            attr = node.attribute[0]
            if attr.name == "value":
                values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def check_tensorrt_qdq(model: Any, *, where: str = "model") -> int:
    """Raise unless every quantised op is symmetric signed-int8 QDQ, as TensorRT requires.

    Returns:
        The number of QuantizeLinear/DequantizeLinear nodes checked (0 for a float graph).

    Raises:
        EngineError: an operator-format op (QLinearConv, MatMulInteger …), a non-zero zero point, or an
            unsigned (uint8) zero point — the message names the node and says how to re-quantise.
    """
    fix = (
        "re-quantise with `edgeguard export … --precision int8 --calib DIR` (symmetric QDQ: "
        "ActivationSymmetric/WeightSymmetric, QInt8)"
    )
    values = _initializer_values(model)
    count = 0
    for node in model.graph.node:
        label = f"node {node.name or '(unnamed)'!r} ({node.op_type})"
        if node.op_type in OPERATOR_FORMAT_OPS:
            raise EngineError(
                f"{where}: {label} is operator-format quantisation, which the TensorRT ONNX parser "
                f"rejects; use QDQ format: {fix}"
            )
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        count += 1
        if len(node.input) < 3 or not node.input[2]:
            # Without a zero point QuantizeLinear emits uint8 unless output_dtype says otherwise.
            if node.op_type == "QuantizeLinear" and not any(a.name == "output_dtype" for a in node.attribute):
                raise EngineError(f"{where}: {label} has no zero point and so quantises to uint8: {fix}")
            continue
        zp = values.get(node.input[2])
        if zp is None:
            raise EngineError(f"{where}: {label} has a computed zero point; TensorRT needs constant 0")
        if zp.dtype == np.uint8:
            raise EngineError(
                f"{where}: {label} uses uint8 (asymmetric) quantisation; TensorRT needs signed int8 "
                f"with zero point 0: {fix}"
            )
        if zp.dtype != np.int8:
            raise EngineError(
                f"{where}: {label} quantises to {zp.dtype} (e.g. an int32 bias); TensorRT's Q/DQ layers "
                f"take int8 only: {fix}"
            )
        if np.any(zp != 0):
            raise EngineError(
                f"{where}: {label} has zero point {zp.ravel()[:4].tolist()} (asymmetric); TensorRT "
                f"accepts only symmetric Q/DQ (zero point 0): {fix}"
            )
    return count
