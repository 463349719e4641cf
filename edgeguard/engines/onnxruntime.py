"""onnxruntime engine: CPU by default; CUDA / TensorRT execution providers when installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import manifest as mf
from ..checks import check_path
from ..errors import ConfigError, EngineError, first_line
from ..registry import ENGINES
from .base import Engine, TensorSpec

# Short names accepted by --provider, in preference order for "auto".
PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(uint8)": np.uint8,
    "tensor(double)": np.float64,
}


def choose_providers(provider: str | None, available: list[str]) -> list[str]:
    """Provider list for a session: ``auto`` takes TensorRT → CUDA → CPU, whichever are available."""
    if provider in (None, "auto"):
        return [p for p in PROVIDERS.values() if p in available] or ["CPUExecutionProvider"]
    full = PROVIDERS.get(provider.lower(), provider)
    if full not in available:
        raise ConfigError(
            f"--provider {provider}: not available in this onnxruntime (available: "
            f"{', '.join(available)}); install onnxruntime-gpu "
            "(pip install 'edgeguard[gpu]') for cuda/tensorrt"
        )
    return [full] if full == "CPUExecutionProvider" else [full, "CPUExecutionProvider"]


def read_onnx_manifest(path: Path) -> mf.Manifest | None:
    """The manifest embedded in an ONNX file (or its sidecar when the graph carries none)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise EngineError(
            f"{path.name} is not a readable ONNX model ({type(exc).__name__}); re-export it with "
            f"`edgeguard export`"
        ) from None
    data = mf.read_embedded(model, where=path.name)
    side = mf.sidecar_path(path)
    if data is None and side.is_file():
        data = mf.load_sidecar(side)
    return data


def _example_graph(folder: Path) -> dict[str, Any]:
    """Contract-test fixture: a tiny graph ``logits = mean over H, W of input`` (B, 3, H, W) → (B, 3)."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("ReduceMean", ["input"], ["logits"], axes=[2, 3], keepdims=0)
    graph = helper.make_graph(
        [node],
        "example",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["B", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.17
    path = Path(folder) / "example.onnx"
    onnx.save(model, str(path))
    return {"path": str(path)}


@ENGINES.register(
    "onnxruntime",
    summary="ONNX graph run by onnxruntime (CPU, CUDA or TensorRT execution provider)",
    usage="model.onnx",
    suffixes=(".onnx",),
    examples=({"provider": "cpu"}, {"provider": "auto", "threads": 1}),
    example_setup=_example_graph,
)
class OnnxRuntimeEngine(Engine):
    """An ONNX graph run by onnxruntime.

    Args:
        path: ``.onnx`` file.
        provider: ``auto`` (default), ``cpu``, ``cuda``, ``tensorrt`` or a full provider name.
        threads: intra-op threads (0 = onnxruntime default).
    """

    def __init__(self, path: str | Path, provider: str | None = None, threads: int = 0) -> None:
        super().__init__()
        self.path = check_path(path, what="engine file", error=EngineError)
        if not self.path.is_file():
            raise EngineError(f"engine file {str(self.path)!r} does not exist")
        self.manifest = read_onnx_manifest(self.path)
        self._provider_arg, self._threads = provider, threads
        self._session: Any = None
        self._load()  # read I/O specs now so callers can inspect them; cheap for edge-sized graphs
        self._active = True

    def _load(self) -> None:
        if self._session is not None:
            return
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if self._threads:
            opts.intra_op_num_threads = self._threads
        providers = choose_providers(self._provider_arg, ort.get_available_providers())
        from .ort_gpu import provider_options  # CUDA/TensorRT EP options (engine + timing caches)

        providers = provider_options(providers, self.path, self.manifest)
        try:
            self._session = ort.InferenceSession(str(self.path), opts, providers=providers)
        except Exception as exc:
            first = first_line(exc)
            raise EngineError(f"onnxruntime cannot load {self.path.name}: {first}") from None
        self.provider = self._session.get_providers()[0]
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.inputs = [self._spec(i) for i in self._session.get_inputs()]
        self.outputs = [self._spec(o) for o in self._session.get_outputs()]

    @staticmethod
    def _spec(arg: Any) -> TensorSpec:
        shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
        return TensorSpec(arg.name, np.dtype(_DTYPES.get(arg.type, np.float32)), shape)

    def _unload(self) -> None:
        self._session = None

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self.outputs]
        try:
            values = self._session.run(names, feed)
        except Exception as exc:
            raise EngineError(f"onnxruntime failed on {self.path.name}: {first_line(exc)}") from None
        return dict(zip(names, values))
