"""TensorRT engine: a plain plan file run with torch-allocated CUDA buffers on a CUDA stream.

Name-based I/O throughout (``num_io_tensors`` / ``get_tensor_mode`` / ``set_input_shape`` /
``set_tensor_address`` / ``execute_async_v3``): introduced in TensorRT 8.5, the only API since 10.0
(bindings removed) and unchanged in 11.x — so one code path serves 8.5, 10 and 11.

The sidecar ``NAME.edgeguard.json`` (if present) supplies the manifest and the ``tensorrt`` build record.
A plan built for another TensorRT version or GPU cannot be deserialized, and one built from an ONNX file
that has changed since runs the old graph: when the record says either, opening fails with a
:class:`~edgeguard.errors.StaleEngineError` naming why (:func:`stale_reason`, the one check that the
builder's cache uses too). Engines never build: ``edgeguard.load(path, rebuild=True)`` and the
``infer``/``camera`` commands rebuild through ``edgeguard.exporter.tensorrt``. Plans without a sidecar
(trtexec, Polygraphy) load as they are.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .. import manifest as mf
from ..checks import check_path
from ..errors import EngineError, InputError, StaleEngineError, first_line
from ..provenance import file_sha256
from ..registry import ENGINES
from . import _trt
from .base import Engine, TensorSpec

log = logging.getLogger("edgeguard.tensorrt")


def require_tensorrt() -> dict[str, str]:
    """Import TensorRT and find the GPU now; returns the device (name, compute capability).

    Raises:
        EngineError: TensorRT is not installed (says how to install it), too old, or no GPU is visible.
    """
    _trt.import_tensorrt()
    return _trt.device_info()


def stale_reason(recorded: mf.TensorRTBuild | None, expected: dict[str, Any]) -> str | None:
    """Why a plan built as ``recorded`` (its sidecar's ``tensorrt`` record) cannot be used where
    ``expected`` describes the machine and source (``None`` when it can).

    ``expected`` holds ``onnx_sha256``, ``version``, ``device``, ``precision`` and ``profile``; a
    ``None`` value is not compared (the runtime does not know which precision/profile is wanted).
    """
    if recorded is None:
        return "its sidecar does not record how it was built"
    want_sha = expected.get("onnx_sha256")
    if want_sha is not None and recorded.onnx_sha256 != want_sha:
        return f"the source ONNX changed (sha256 {recorded.onnx_sha256[:12]}… → {want_sha[:12]}…)"
    if recorded.version != expected["version"]:
        return f"it was built with TensorRT {recorded.version}, this is TensorRT {expected['version']}"
    dev, want = recorded.device, expected["device"]
    if dev.compute_capability != want["compute_capability"] or dev.name != want["name"]:
        return (
            f"it was built for {dev.name} (sm {dev.compute_capability}), this GPU is "
            f"{want['name']} (sm {want['compute_capability']})"
        )
    if expected.get("precision") is not None and recorded.precision != expected["precision"]:
        return f"precision {recorded.precision} → {expected['precision']}"
    profile = recorded.profile.to_dict()
    if expected.get("profile") is not None and profile != expected["profile"]:
        return f"batch profile {profile} → {expected['profile']}"
    return None


def plan_source(plan: Path, record: mf.TensorRTBuild) -> Path | None:
    """The source ONNX a plan's build record names, when it sits beside the plan."""
    src = plan.with_name(record.onnx)  # a bare file name: the manifest checks it
    return src if src.is_file() else None


def check_plan(plan: str | Path, trt_version: str | None = None) -> None:
    """Raise :class:`StaleEngineError` when the plan's sidecar says it cannot run here as it is.

    Compared with this machine: the TensorRT version and GPU the plan was built for, and (when the
    source ONNX is beside it) that file's sha256. A plan without a sidecar or build record passes:
    there is nothing to check it against, and TensorRT itself refuses one it cannot deserialize.
    """
    plan = Path(plan)
    side = mf.sidecar_path(plan)
    record = mf.load_sidecar(side).tensorrt if side.is_file() else None
    if record is None:
        return
    version = trt_version if trt_version is not None else str(_trt.import_tensorrt().__version__)
    src = plan_source(plan, record)
    current = {
        "onnx_sha256": file_sha256(src) if src is not None else None,
        "version": version,
        "device": _trt.device_info(),
    }
    reason = stale_reason(record, current)
    if reason is None:
        return
    if src is None:
        how = (
            f"its source {record.onnx!r} is not next to it, so it cannot be rebuilt — copy the .onnx "
            "beside it or run `edgeguard export … --engine trt` on this machine"
        )
    else:
        how = (
            f"rebuild it from {src.name} with edgeguard.load(…, rebuild=True) or `edgeguard infer` "
            "(both rebuild it in place)"
        )
    raise StaleEngineError(
        f"{plan.name} cannot run here: {reason}; {how}", reason=reason, engine=plan, source=src
    )


TENSORRT_SUFFIXES = (".trt", ".engine", ".plan")


class TensorRTEngine(Engine):
    """A TensorRT plan (``.engine`` / ``.plan`` / ``.trt``) behind the Engine protocol.

    Args:
        path: the plan file.

    Raises:
        StaleEngineError: the sidecar says the plan was built for another TensorRT/GPU or from an ONNX
            file that has changed (``reason`` says which; see :func:`check_plan`).
        EngineError: TensorRT not installed (says how to install it), no GPU, missing/corrupt plan.
    """

    provider = "TensorRT"

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = check_path(path, what="engine file", error=EngineError)
        if not self.path.is_file():
            raise EngineError(f"engine file {str(self.path)!r} does not exist")
        self._trt = _trt.import_tensorrt()
        side = mf.sidecar_path(self.path)
        self.manifest = mf.load_sidecar(side) if side.is_file() else None
        check_plan(self.path, str(self._trt.__version__))
        self._engine: Any = None
        self._context: Any = None
        self._profiles: dict[str, tuple[tuple[int, ...], ...]] = {}
        self._load()  # read I/O specs now so callers can inspect them (as OnnxRuntimeEngine does)
        self._active = True

    # -- lifecycle --------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._context is not None:
            return
        trt = self._trt
        self._device = _trt.torch_device()
        runtime = trt.Runtime(_trt.make_logger(trt))
        try:
            engine = runtime.deserialize_cuda_engine(self.path.read_bytes())
        except Exception as exc:  # some versions raise instead of returning None
            engine, why = None, first_line(exc, 160)
        else:
            why = "TensorRT returned no engine"
        if engine is None:
            raise EngineError(
                f"TensorRT {trt.__version__} cannot load {self.path.name} ({why}): the file is corrupt or "
                "was built by another TensorRT version or for another GPU; rebuild it with "
                "`edgeguard export … --engine trt` on this machine"
            )
        self._engine, self._context = engine, engine.create_execution_context()
        self._runtime = runtime
        self._stream, self._sync = _trt.new_stream(self._device)
        self.inputs, self.outputs, self._profiles = [], [], {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dtype = _trt.numpy_dtype(trt, engine.get_tensor_dtype(name))
            shape = tuple(None if d < 0 else int(d) for d in engine.get_tensor_shape(name))
            spec = TensorSpec(name, dtype, shape)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.inputs.append(spec)
                self._profiles[name] = tuple(
                    tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, 0)
                )
            else:
                self.outputs.append(spec)

    def _unload(self) -> None:
        self._context = self._engine = None

    # -- inference --------------------------------------------------------------------------------
    def profile_of(self, name: str) -> tuple[tuple[int, ...], ...]:
        """``(min, opt, max)`` shapes of input ``name`` in optimisation profile 0."""
        return self._profiles[name]

    def _check_profile(self, name: str, shape: tuple[int, ...]) -> None:
        lo, opt, hi = self._profiles[name]
        if all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
            return
        built = ""
        if self.manifest and self.manifest.tensorrt:
            p = self.manifest.tensorrt.profile
            built = f" (built with --batch {p.min},{p.opt},{p.max})"
        raise InputError(
            f"engine input {name!r}: shape {shape} is outside {self.path.name}'s optimisation profile "
            f"min {lo} / opt {opt} / max {hi}{built}; split the batch or rebuild with a wider --batch"
        )

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        ctx, keep = self._context, []
        for spec in self.inputs:
            arr = feed[spec.name]
            self._check_profile(spec.name, tuple(arr.shape))
            if not ctx.set_input_shape(spec.name, tuple(arr.shape)):
                raise InputError(f"TensorRT rejected shape {tuple(arr.shape)} for input {spec.name!r}")
            t = torch.from_numpy(arr).to(self._device)
            keep.append(t)
            ctx.set_tensor_address(spec.name, t.data_ptr())
        results = {}
        for spec in self.outputs:
            shape = tuple(int(d) for d in ctx.get_tensor_shape(spec.name))
            t = torch.empty(shape, dtype=torch.from_numpy(np.empty(0, spec.dtype)).dtype, device=self._device)
            results[spec.name] = t
            ctx.set_tensor_address(spec.name, t.data_ptr())
        if not ctx.execute_async_v3(self._stream):
            raise EngineError(f"TensorRT failed to execute {self.path.name} (see TensorRT's messages above)")
        self._sync()
        return {name: t.cpu().numpy() for name, t in results.items()}


@ENGINES.register(
    "tensorrt",
    summary="serialized TensorRT plan (needs TensorRT and an NVIDIA GPU)",
    usage="model.plan | .trt | .engine",
    suffixes=TENSORRT_SUFFIXES,
    examples=({},),
)
def open_plan(path: str | Path, provider: str | None = None, threads: int = 0) -> TensorRTEngine:
    """Open a plan (``provider``/``threads`` are onnxruntime options: TensorRT runs the plan as built)."""
    return TensorRTEngine(path)
