"""A Triton ``config.pbtxt`` for an exported engine: tensors from the ONNX graph, batching from the manifest.

Written as protobuf text by hand (a few fixed fields) so writing a repository needs no ``tritonclient``;
the tests parse every generated file into Triton's own ``ModelConfig`` message
(``tritonclient.grpc.model_config_pb2``), which is the schema this text must satisfy.

Triton's rules followed here (Triton docs, "Model Configuration"):

- ``max_batch_size > 0``: the first dimension of every tensor is the batch and is left out of ``dims``;
  the server batches requests (``dynamic_batching``). ``0``: ``dims`` are the full shapes.
- A per-image output of shape ``(B,)`` (the detector's ``adv_score``) has no dims left once the batch
  is removed; Triton wants ``dims: [ 1 ]`` with ``reshape { shape: [ ] }`` so the server returns ``(B,)``.
- ``label_filename`` on the classification output names a labels file in the model folder.
- A dynamic axis other than the batch is ``-1``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..engines.triton import MANIFEST_PARAMETER  # the engine reads the manifest back through ModelConfig
from ..errors import ConfigError
from ..manifest import Manifest

DEFAULT_MAX_BATCH = 8  # for a dynamic-batch ONNX graph; a TensorRT plan takes its profile's max
LABELS_FILE = "labels.txt"
PLATFORMS = {".onnx": ("onnxruntime_onnx", "model.onnx"), ".plan": ("tensorrt_plan", "model.plan")}

# ONNX TensorProto element types → Triton data types (model_config.proto DataType).
_ONNX_TO_TRITON = {
    1: "TYPE_FP32",
    2: "TYPE_UINT8",
    3: "TYPE_INT8",
    5: "TYPE_INT16",
    6: "TYPE_INT32",
    7: "TYPE_INT64",
    9: "TYPE_BOOL",
    10: "TYPE_FP16",
    11: "TYPE_FP64",
    16: "TYPE_BF16",
}


@dataclass(frozen=True)
class Tensor:
    """A graph input/output: Triton data type and full shape (``None`` = dynamic axis)."""

    name: str
    dtype: str
    shape: tuple[int | None, ...]


def graph_tensors(onnx_path: Path) -> tuple[list[Tensor], list[Tensor]]:
    """The inputs (initializers excluded) and outputs of an ONNX graph.

    Raises:
        ConfigError: not a readable ONNX file, weights stored as external data (only the ``.onnx``
            would be copied), or a tensor type Triton has no data type for.
    """
    import onnx

    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:
        raise ConfigError(f"{onnx_path.name} is not a readable ONNX model ({type(exc).__name__})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ConfigError(f"{onnx_path.name} keeps weights in external data files; save it as one file")
    inits = {t.name for t in model.graph.initializer}

    def tensor(vi: onnx.ValueInfoProto) -> Tensor:
        tt = vi.type.tensor_type
        if tt.elem_type not in _ONNX_TO_TRITON:
            raise ConfigError(f"{onnx_path.name}: tensor {vi.name!r} has a type Triton cannot serve")
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim)
        return Tensor(vi.name, _ONNX_TO_TRITON[tt.elem_type], dims)

    inputs = [tensor(v) for v in model.graph.input if v.name not in inits]
    return inputs, [tensor(v) for v in model.graph.output]


def batch_axis_dynamic(tensors: list[Tensor]) -> bool:
    """Whether every tensor's first axis is dynamic (the graph takes any batch)."""
    return all(t.shape and t.shape[0] is None for t in tensors)


def _quote(text: str) -> str:
    """A protobuf text-format string literal (backslash and double quote escaped; UTF-8 kept as is)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dims(values: tuple[int | None, ...]) -> str:
    return "[ " + ", ".join("-1" if d is None else str(d) for d in values) + " ]"


def _tensor_block(t: Tensor, batched: bool, label_file: str | None) -> str:
    dims = t.shape[1:] if batched else t.shape
    lines = [f"    name: {_quote(t.name)}", f"    data_type: {t.dtype}"]
    if batched and not dims:  # per-image scalar such as adv_score (B,)
        lines += ["    dims: [ 1 ]", "    reshape { shape: [ ] }"]
    else:
        lines.append(f"    dims: {_dims(dims)}")
    if label_file:
        lines.append(f"    label_filename: {_quote(label_file)}")
    return "  {\n" + "\n".join(lines) + "\n  }"


def label_output(m: Manifest | None, outputs: list[Tensor]) -> str | None:
    """The classification output the labels file belongs to: the first output, one score per label."""
    if m is None or m.labels is None or m.task != "classification" or not outputs:
        return None
    first = outputs[0]
    return first.name if first.shape and first.shape[-1] == len(m.labels) else None


def config_text(
    name: str,
    platform: str,
    inputs: list[Tensor],
    outputs: list[Tensor],
    *,
    max_batch: int,
    preferred: tuple[int, ...] = (),
    manifest: Manifest | None = None,
) -> str:
    """The ``config.pbtxt`` text. ``max_batch`` 0 = no batching (dims are the full shapes)."""
    if max_batch < 0:
        raise ConfigError(f"max batch size {max_batch}: expected ≥ 0")
    batched = max_batch > 0
    labelled = label_output(manifest, outputs)
    head = [f"name: {_quote(name)}", f"platform: {_quote(platform)}", f"max_batch_size: {max_batch}"]
    ins = ",\n".join(_tensor_block(t, batched, None) for t in inputs)
    outs = ",\n".join(_tensor_block(t, batched, LABELS_FILE if t.name == labelled else None) for t in outputs)
    parts = ["\n".join(head), f"input [\n{ins}\n]", f"output [\n{outs}\n]"]
    if batched:
        pref = [b for b in preferred if 0 < b <= max_batch]
        inner = f"\n  preferred_batch_size: {_dims(tuple(pref))}\n" if pref else " "
        parts.append("dynamic_batching {" + inner + "}")
    if manifest is not None:
        from .. import manifest as mf

        text = json.dumps(mf.to_dict(manifest), separators=(",", ":"), ensure_ascii=False)
        value = f"value {{ string_value: {_quote(text)} }}"
        parts.append(f"parameters {{\n  key: {_quote(MANIFEST_PARAMETER)}\n  {value}\n}}")
    return "\n".join(parts) + "\n"


def check_max_batch(max_batch: int | None, *, dynamic: bool, profile_max: int | None) -> int:
    """The ``max_batch_size`` to write: ``--max-batch`` if given (checked), else the default.

    Raises:
        ConfigError: a batch size < 1, one for a fixed-batch graph, or one above a plan's profile.
    """
    if max_batch is not None and (isinstance(max_batch, bool) or max_batch < 1):
        raise ConfigError(f"--max-batch {max_batch}: expected an integer ≥ 1")
    if not dynamic:
        if max_batch is not None:
            raise ConfigError(
                f"--max-batch {max_batch}: the graph has a fixed batch axis; export it with a dynamic batch"
            )
        return 0
    if profile_max is not None:
        if max_batch is not None and max_batch > profile_max:
            raise ConfigError(
                f"--max-batch {max_batch}: the TensorRT plan's batch profile ends at {profile_max}"
            )
        return max_batch or profile_max
    return max_batch or DEFAULT_MAX_BATCH


__all__ = [
    "DEFAULT_MAX_BATCH",
    "LABELS_FILE",
    "MANIFEST_PARAMETER",
    "PLATFORMS",
    "Tensor",
    "batch_axis_dynamic",
    "check_max_batch",
    "config_text",
    "graph_tensors",
    "label_output",
]
