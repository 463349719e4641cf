"""TensorRT compatibility helpers shared by the builder (``export/tensorrt.py``) and the runtime.

Everything here is imported lazily by its callers, so the CLI and ``--help`` work without TensorRT.
Supported: TensorRT 8.5 (JetPack 5), 10.x (JetPack 6, NGC 24.xx) and 11.x (JetPack 7.2.2+, recent NGC).
All three expose the name-based I/O API (``num_io_tensors``, ``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``), which TensorRT 8.5 introduced and 10.0 made the only one (bindings removed).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import EngineError

MIN_VERSION = (8, 5)
INSTALL_HINT = (
    "the `tensorrt` Python module is not installed: on Jetson it ships with JetPack "
    "(`sudo apt install python3-libnvinfer`, or use docker/Dockerfile.jetson); on x86 use an NGC TensorRT "
    "container (docker/Dockerfile.trt) or `pip install tensorrt --extra-index-url https://pypi.nvidia.com`"
)
# "/f/…", "/squeezers/": the same prefix inside a feature-squeezing detector (defenses/squeeze.py)
PREFIX_SCOPES = ("/defenses/", "/normalize/", "/f/defenses/", "/f/normalize/", "/squeezers/")


def import_tensorrt() -> ModuleType:
    """``import tensorrt``, or an EngineError saying how to install it. Rejects versions < 8.5."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EngineError(INSTALL_HINT) from None
    if version_tuple(trt) < MIN_VERSION:
        raise EngineError(
            f"TensorRT {trt.__version__} is too old: edgeguard supports 8.5 (JetPack 5), 10.x and 11.x"
        )
    return trt


def version_tuple(trt: ModuleType) -> tuple[int, ...]:
    """``"10.3.0.26"`` → ``(10, 3, 0, 26)``."""
    return tuple(int(p) for p in re.findall(r"\d+", str(getattr(trt, "__version__", "0")))[:4])


def major(trt: ModuleType) -> int:
    return version_tuple(trt)[0]


def make_logger(trt: ModuleType) -> Any:
    """A TensorRT logger at WARNING severity (builder/runtime messages reach stderr)."""
    return trt.Logger(trt.Logger.WARNING)


def device_info() -> dict[str, str]:
    """Name and compute capability of CUDA device 0 (what a plan is specific to), via torch.

    Raises:
        EngineError: no CUDA device is visible.
    """
    import torch

    if not torch.cuda.is_available():
        raise EngineError(
            "TensorRT needs an NVIDIA GPU, and torch sees none (torch.cuda.is_available() is False); "
            "on a machine without a GPU run the .onnx with onnxruntime instead"
        )
    major_cc, minor_cc = torch.cuda.get_device_capability(0)
    return {"name": torch.cuda.get_device_name(0), "compute_capability": f"{major_cc}.{minor_cc}"}


def device_slug(info: dict[str, str]) -> str:
    """``{"compute_capability": "8.7"}`` → ``"sm87"`` (the plan-name field; one plan per GPU family)."""
    return "sm" + info["compute_capability"].replace(".", "")


def torch_device() -> Any:
    """The torch device I/O buffers live on (CUDA device 0)."""
    import torch

    device_info()  # raises the clear error when there is no GPU
    return torch.device("cuda", 0)


def new_stream(device: Any) -> tuple[int, Callable[[], None]]:
    """A CUDA stream on ``device``: ``(raw handle for execute_async_v3, synchronize)``."""
    import torch

    stream = torch.cuda.Stream(device=device)
    return int(stream.cuda_stream), stream.synchronize


def numpy_dtype(trt: ModuleType, dtype: Any) -> np.dtype:
    """TensorRT ``DataType`` → numpy dtype (``trt.nptype``)."""
    return np.dtype(trt.nptype(dtype))


def is_prefix_layer(name: str) -> bool:
    """Whether a layer/node belongs to the defense prefix or the normalisation (kept in FP32)."""
    return name.startswith(PREFIX_SCOPES)
