"""Small ONNX classifiers built with onnx.helper, with one knob per thing that can be wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
from onnx import TensorProto, numpy_helper


def classifier(
    *,
    dtype: int = TensorProto.FLOAT,
    shape: tuple = ("B", 3, 16, 16),
    classes: int = 4,
    opset: int = 17,
    out_rank: int = 2,
    custom_domain: str | None = None,
    seed: int = 0,
) -> onnx.ModelProto:
    """``input`` → (Cast to float) → GlobalAveragePool → Flatten → MatMul (3 × classes) → ``logits``.

    ``out_rank`` 1 or 4 reshapes the logits to that rank; ``custom_domain`` adds a node from it.
    """
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((3, max(classes, 0))).astype(np.float32), "w")
    nodes = []
    src = "input"
    if dtype != TensorProto.FLOAT:
        nodes.append(oh.make_node("Cast", ["input"], ["xf"], to=TensorProto.FLOAT))
        src = "xf"
    nodes += [
        oh.make_node("GlobalAveragePool", [src], ["gap"]),
        oh.make_node("Flatten", ["gap"], ["flat"]),
        oh.make_node("MatMul", ["flat", "w"], ["mm"]),
    ]
    inits = [w]
    out_shape: list = ["B", classes]
    last = "mm"
    if custom_domain:
        nodes.append(oh.make_node("Mystery", [last], ["myst"], domain=custom_domain))
        last = "myst"
    if out_rank != 2:
        target = [-1] if out_rank == 1 else [-1, classes, 1, 1]
        inits.append(numpy_helper.from_array(np.array(target, np.int64), "shp"))
        nodes.append(oh.make_node("Reshape", [last, "shp"], ["resh"]))
        last = "resh"
        out_shape = [None] if out_rank == 1 else ["B", classes, 1, 1]
    nodes.append(oh.make_node("Identity", [last], ["logits"]))
    graph = oh.make_graph(
        nodes,
        "tiny",
        [oh.make_tensor_value_info("input", dtype, list(shape))],
        [oh.make_tensor_value_info("logits", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    imports = [oh.make_opsetid("", opset)]
    if custom_domain:
        imports.append(oh.make_opsetid(custom_domain, 1))
    model = oh.make_model(graph, opset_imports=imports)
    model.ir_version = min(model.ir_version, 10)
    return model


def save(model: onnx.ModelProto, folder: Path, name: str = "tiny.onnx") -> Path:
    path = Path(folder) / name
    path.write_bytes(model.SerializeToString())
    return path
