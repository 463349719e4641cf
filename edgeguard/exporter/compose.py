"""Prepend defenses (and optional normalisation) to an existing ONNX classifier by graph composition.

The prefix (defenses → normalisation) is traced from torch into its own small graph and joined to the
user's graph with ``onnx.compose.merge_models``; the user's node and tensor names get an ``m/`` prefix
so they cannot collide. The first output is renamed ``logits``. Parity compares the merged graph with
torch-eager prefix → onnxruntime on the original graph.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import defenses, manifest
from ..checks import check_path
from ..engines.base import Engine, TensorSpec
from ..engines.onnxruntime import OnnxRuntimeEngine
from ..engines.torch import TorchEngine
from ..errors import ConfigError, EngineError, first_line
from ..provenance import file_sha256, versions
from .graph import MAX_TORCH_OPSET, MIN_USER_OPSET, dedupe_opsets, max_opset, parse_normalize, simplify
from .wrap import DefendedModel, Normalize


def _load(path: Path) -> Any:
    import onnx

    if not check_path(path, what="model file").is_file():
        raise ConfigError(f"model file {str(path)!r} does not exist")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise EngineError(f"{path.name} is not a valid ONNX model ({first_line(exc, 120)})") from None
    return model


# Operator domains onnxruntime's CPU provider implements; a node from any other domain is a custom op
# that no engine edgeguard opens can run.
KNOWN_DOMAINS = ("", "ai.onnx", "ai.onnx.ml", "com.microsoft")


def _dims(value_info: Any) -> list[int | None] | None:
    """A tensor's dims (``None`` = dynamic), or ``None`` when it has no shape at all."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]


def check_graph(model: Any, path: Path, task: str = "classification") -> None:
    """What edgeguard can compose: opsets onnxruntime runs, no custom ops, one float input, logits out
    (``task="detection"``: a YOLO layout out, see :func:`edgeguard.detection.layout_of`).

    Raises:
        ConfigError: naming the first thing that does not fit and what is expected instead.
    """
    import onnx

    for op in model.opset_import:
        if op.domain in ("", "ai.onnx") and not MIN_USER_OPSET <= op.version <= max_opset():
            raise ConfigError(
                f"{path.name} uses ONNX opset {op.version}; edgeguard composes opsets "
                f"{MIN_USER_OPSET}..{max_opset()} (what this onnxruntime runs)"
            )
    for node in model.graph.node:
        if node.domain not in KNOWN_DOMAINS:
            raise ConfigError(
                f"{path.name}: node {node.name or node.op_type!r} is a custom op {node.op_type!r} from "
                f"domain {node.domain!r}, which onnxruntime cannot run; export the model with standard ops"
            )
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) == 1:
        elem = inputs[0].type.tensor_type.elem_type
        if elem != onnx.TensorProto.FLOAT:
            name = onnx.TensorProto.DataType.Name(elem).lower() if elem else "not a tensor"
            raise ConfigError(
                f"{path.name}: input {inputs[0].name!r} is {name}; edgeguard composes float32 inputs "
                f"(B, 3, H, W) in [0, 1] (export the model with a float32 input)"
            )
    if not model.graph.output:
        raise ConfigError(f"{path.name} has no outputs")
    out = model.graph.output[0]
    shape = _dims(out)
    if out.type.tensor_type.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16):
        raise ConfigError(
            f"{path.name}: output {out.name!r} is not a float tensor; expected logits (B, classes)"
        )
    if task == "detection":
        from ..detection import layout_of

        try:
            layout_of(shape if shape is not None else (None, None, None))
        except EngineError as err:
            raise ConfigError(f"{path.name}: {err}") from None
        return
    if shape is not None and len(shape) != 2:
        raise ConfigError(
            f"{path.name}: output {out.name!r} has {len(shape)} dims {shape}; expected classifier logits "
            f"(B, classes)"
        )
    if shape is not None and shape[1] is not None and shape[1] < 1:
        raise ConfigError(f"{path.name}: output {out.name!r} has {shape[1]} classes; expected at least 1")


def _input_hw(model: Any, input_size: int | tuple[int, int] | None) -> tuple[str, tuple[int, int], bool]:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ConfigError(f"ONNX model has {len(inputs)} inputs; edgeguard composes single-input classifiers")
    shape = _dims(inputs[0]) or []
    if len(shape) != 4 or shape[1] not in (3, None):
        raise ConfigError(f"ONNX input {inputs[0].name!r} has shape {shape}; expected (B, 3, H, W)")
    if any(d is not None and d < 1 for d in shape):
        raise ConfigError(
            f"ONNX input {inputs[0].name!r} has shape {shape}; every fixed dim must be at least 1"
        )
    dynamic_batch = shape[0] is None
    want = None
    if input_size is not None:
        want = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    fixed = (shape[2], shape[3])
    if want is None:
        if None in fixed:
            raise ConfigError("the ONNX model's height/width are dynamic; pass --input-size")
        return inputs[0].name, fixed, dynamic_batch  # type: ignore[return-value]
    for axis, have, asked in zip(("height", "width"), fixed, want):
        if have is not None and have != asked:
            raise ConfigError(
                f"--input-size {tuple(want)} differs from the ONNX model's fixed {axis} {have} "
                f"(input shape {shape})"
            )
    hw = tuple(want)
    return inputs[0].name, hw, dynamic_batch


class PrefixThenGraph(Engine):
    """Parity reference for a composed graph: the torch-eager prefix, then the user's original graph.

    Its single output is called ``logits``, like the composed graph's first output.
    """

    provider = "torch+onnxruntime"

    def __init__(self, prefix: Engine, graph: Engine, name: str = "logits") -> None:
        super().__init__()
        self.prefix, self.graph, self.name = prefix, graph, name
        self.inputs = list(prefix.inputs)
        self.outputs = [TensorSpec(name, graph.outputs[0].dtype, graph.outputs[0].shape)]
        self._active = True

    def _load(self) -> None:
        self.graph.activate()

    def _unload(self) -> None:
        self.graph.deactivate()

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        prepped = self.prefix(feed)["prep"]
        first = self.graph.outputs[0].name
        batch = self.graph.inputs[0].shape[0]
        if batch is None:
            return {self.name: self.graph(prepped)[first]}
        # Fixed-batch graph: run the images in chunks of its batch size.
        parts = [self.graph(prepped[i : i + batch])[first] for i in range(0, len(prepped), batch)]
        return {self.name: np.concatenate(parts)}


def _rename(graph: Any, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for vi in list(graph.output) + list(graph.value_info):
        if vi.name == old:
            vi.name = new


def export_onnx_file(
    path: Path,
    *,
    specs: list[str],
    input_size: int | tuple[int, int] | None,
    out: str | Path | None,
    opset: int,
    normalize: str | None,
    tolerance: float,
    parity_images: int,
    finish: Callable[..., Any],
    t0: float,
    task: str | None = None,
) -> Any:
    import onnx
    import onnx.compose
    import onnx.version_converter

    from .. import yolo_meta

    user = _load(path)
    meta = {p.key: p.value for p in user.metadata_props}
    task = {"detect": "detection", "classify": "classification"}.get(task or meta.get("task", ""), task)
    task = task or "classification"
    if task not in ("classification", "detection"):
        raise ConfigError(f"--task {task!r}: expected classification or detection")
    check_graph(user, path, task)
    if task == "detection" and input_size is None:
        input_size = yolo_meta.imgsz_of(meta)  # an Ultralytics export names its size
    in_name, size, dynamic_batch = _input_hw(user, input_size)
    # A bare ONNX file says nothing about its expected normalisation: default to none, say so in --help.
    norm = parse_normalize(normalize, ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)))
    user_opset = max((o.version for o in user.opset_import if o.domain in ("", "ai.onnx")), default=opset)
    target = max(opset, user_opset)
    if user_opset < target:
        try:
            user = onnx.version_converter.convert_version(user, target)
        except Exception as exc:
            raise EngineError(
                f"cannot convert {path.name} from opset {user_opset} to {target}: {exc}"
            ) from None
    prefix_mod = DefendedModel(
        torch.nn.Identity(), [defenses.from_spec(s) for s in specs], Normalize(*norm) if norm else None
    ).eval()
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = Path(d) / "prefix.onnx"
        torch.onnx.export(
            prefix_mod,
            (torch.rand(1, 3, *size),),
            str(p),
            dynamo=False,
            opset_version=min(target, MAX_TORCH_OPSET),
            input_names=["input"],
            output_names=["prep"],
            dynamic_axes={"input": {0: "batch"}, "prep": {0: "batch"}},
        )
        prefix = onnx.load(str(p))
    if target > MAX_TORCH_OPSET:  # torch writes ≤ 20; the user's graph is newer: lift the small prefix
        prefix = onnx.version_converter.convert_version(prefix, target)
    if prefix.ir_version != user.ir_version:
        prefix.ir_version = user.ir_version = max(prefix.ir_version, user.ir_version)
    user_p = onnx.compose.add_prefix(user, "m/")
    merged = onnx.compose.merge_models(prefix, user_p, io_map=[("prep", "m/" + in_name)])
    merged = simplify(dedupe_opsets(merged))
    out_names = [o.name for o in merged.graph.output]
    first = "logits" if task == "classification" else out_names[0].removeprefix("m/")
    _rename(merged.graph, out_names[0], first)
    for name in out_names[1:]:
        _rename(merged.graph, name, name.removeprefix("m/"))

    reference = PrefixThenGraph(
        TorchEngine(prefix_mod, input_shape=(None, 3, *size), output_names=("prep",)),
        OnnxRuntimeEngine(path, provider="cpu"),
        first,
    )
    out_path = Path(out) if out else path.with_name(path.stem + "-defended.onnx")
    if out_path.resolve() == path.resolve():
        raise ConfigError("--out would overwrite the source model; choose another file name")
    detector = task == "detection"
    data = manifest.new(
        input_size=size,
        mean=norm[0] if norm else (0.0, 0.0, 0.0),
        std=norm[1] if norm else (1.0, 1.0, 1.0),
        labels=yolo_meta.names_of(meta) if detector else None,
        task=task,
        resize="letterbox" if detector else "stretch",
        stride=_stride(yolo_meta.stride_of(meta), size) if detector else None,
        defenses=specs,
        source={"model": str(path), "weights": None, "sha256": file_sha256(path), "init": "onnx"},
        versions=versions(),
        opset=target,
        outputs=(first, *[n.removeprefix("m/") for n in out_names[1:]]),
        dynamic_batch=dynamic_batch,
    )
    images = parity_images if dynamic_batch else 1
    return finish(merged, out_path, data, reference, size, tolerance, images, t0)


def _stride(stride: int | None, size: tuple[int, int]) -> int | None:
    """The detector's stride when it divides the input size (a manifest refuses one that does not)."""
    return stride if stride and all(s % stride == 0 for s in size) else None
