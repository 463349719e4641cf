"""TensorRT engine: a plain plan file run with torch-allocated CUDA buffers on a CUDA stream.

Name-based I/O throughout (``num_io_tensors`` / ``get_tensor_mode`` / ``set_input_shape`` /
``set_tensor_address`` / ``execute_async_v3``): introduced in TensorRT 8.5, the only API since 10.0
(bindings removed) and unchanged in 11.x — so one code path serves 8.5, 10 and 11.

The sidecar ``NAME.edgeguard.json`` (if present) supplies the manifest and the ``tensorrt`` build record.
A plan built for another TensorRT version or GPU cannot be deserialized; when the record says so and the
source ONNX it names sits next to the plan, the plan is rebuilt in place (with a log line saying why),
otherwise opening fails with an EngineError saying how to rebuild. Plans without a sidecar (trtexec,
Polygraphy) load as they are.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .. import manifest as mf
from ..errors import EngineError, InputError, first_line
from . import _trt
from .base import Engine, TensorSpec

log = logging.getLogger("edgeguard.tensorrt")


class TensorRTEngine(Engine):
    """A TensorRT plan (``.engine`` / ``.plan`` / ``.trt``) behind the Engine protocol.

    Args:
        path: the plan file.
        rebuild: rebuild a stale plan from its source ONNX (named in the sidecar) instead of failing.

    Raises:
        EngineError: TensorRT not installed (says how to install it), no GPU, missing/corrupt plan, or a
            plan built for another TensorRT/GPU that cannot be rebuilt here.
    """

    provider = "TensorRT"

    def __init__(self, path: str | Path, rebuild: bool = True) -> None:
        super().__init__()
        self.path = Path(path)
        if not self.path.is_file():
            raise EngineError(f"engine file {str(self.path)!r} does not exist")
        self._trt = _trt.import_tensorrt()
        side = mf.sidecar_path(self.path)
        self.manifest = mf.load_sidecar(side) if side.is_file() else None
        if rebuild:
            self._rebuild_if_stale()
        self._engine: Any = None
        self._context: Any = None
        self._profiles: dict[str, tuple[tuple[int, ...], ...]] = {}
        self._load()  # read I/O specs now so callers can inspect them (as OnnxRuntimeEngine does)
        self._active = True

    # -- cache validation -------------------------------------------------------------------------
    def _rebuild_if_stale(self) -> None:
        record = (self.manifest or {}).get("tensorrt")
        if not record:
            return
        from ..exporter.tensorrt import BatchProfile, ensure_engine, stale_reason  # lazy: build side

        src = self.path.with_name(str(record.get("onnx", "")))
        current = {
            "onnx_sha256": record.get("onnx_sha256"),
            "version": str(self._trt.__version__),
            "device": _trt.device_info(),
            "precision": record.get("precision"),
            "profile": record.get("profile"),
        }
        reason = stale_reason(record, current)
        if reason is None:
            return
        if not record.get("onnx") or not src.is_file():
            raise EngineError(
                f"{self.path.name} cannot run here: {reason}; its source {record.get('onnx')!r} is not next "
                "to it, so it cannot be rebuilt — copy the .onnx beside it or run `edgeguard export … "
                "--engine trt` on this machine"
            )
        log.warning("rebuilding %s: %s", self.path.name, reason)
        typed = bool(record.get("strongly_typed")) and _trt.major(self._trt) < 11
        build = ensure_engine(
            src,
            self.path,
            batch=BatchProfile(**record["profile"]),
            force=True,
            workspace_mb=int(record.get("workspace_mb", 1024)),
            strongly_typed=typed,
        )
        self.manifest = mf.load_sidecar(build.sidecar)

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
        if self.manifest and self.manifest.get("tensorrt"):
            p = self.manifest["tensorrt"]["profile"]
            built = f" (built with --batch {p['min']},{p['opt']},{p['max']})"
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
