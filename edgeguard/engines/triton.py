"""A model served by NVIDIA Triton Inference Server, run over gRPC (KServe v2 protocol) with ``tritonclient``.

``triton://HOST[:PORT]/MODEL[/VERSION][?timeout=S]`` (port 8001, Triton's gRPC default). Opening the
engine asks the server whether it is live, then reads the model's metadata (tensor names, data types,
shapes) and its config (``max_batch_size``; the edgeguard manifest that ``edgeguard triton`` stores in
the config's ``parameters``). Every one of those calls is bounded by ``timeout`` (default
:data:`CONNECT_TIMEOUT_S` seconds), so an unreachable or silent address fails with one
:class:`~edgeguard.errors.EngineError` instead of hanging; an inference is bounded by
:data:`INFER_TIMEOUT_S`. A batch larger than the model's ``max_batch_size`` is sent in pieces.

``tritonclient`` comes with the ``triton`` extra and is imported only when such an engine opens.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .. import manifest as mf
from ..errors import ConfigError, EngineError, first_line
from ..extras import require
from ..registry import ENGINES
from .base import Engine, TensorSpec

CONNECT_TIMEOUT_S = 5.0  # server live + model metadata + config, each
INFER_TIMEOUT_S = 30.0
DEFAULT_PORT = 8001
MANIFEST_PARAMETER = "edgeguard.manifest"  # the key `edgeguard triton` writes into config.pbtxt


def parse_target(target: str) -> tuple[str, str, str, float | None]:
    """``triton://HOST[:PORT]/MODEL[/VERSION][?timeout=S]`` → (``host:port``, model, version, timeout).

    Raises:
        EngineError: no host or model, a bad port, an unknown query key or a bad timeout.
    """
    text = str(target)
    try:
        u = urlsplit(text)
        port = u.port or DEFAULT_PORT
    except ValueError as exc:
        raise EngineError(f"{text[:200]}: {first_line(exc)}; expected triton://HOST[:PORT]/MODEL") from None
    parts = [p for p in u.path.split("/") if p]
    if not u.hostname or not 1 <= len(parts) <= 2:
        raise EngineError(f"{text[:200]}: expected triton://HOST[:PORT]/MODEL[/VERSION]")
    query = parse_qs(u.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"timeout"})
    if unknown:
        raise EngineError(f"{text[:200]}: unknown option {unknown[0]!r} (takes ?timeout=SECONDS)")
    timeout = None
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            timeout = math.nan
        if not (math.isfinite(timeout) and timeout > 0):
            raise EngineError(f"{text[:200]}: timeout must be a number of seconds > 0")
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname
    return f"{host}:{port}", parts[0], parts[1] if len(parts) == 2 else "", timeout


@ENGINES.register(
    "triton",
    summary="a model on an NVIDIA Triton Inference Server, over gRPC (the 'triton' extra)",
    usage="triton://HOST:8001/MODEL",
    schemes=("triton",),
    examples=({},),
)
class TritonEngine(Engine):
    """A model served by Triton (see the module docstring).

    Args:
        target: ``triton://HOST[:PORT]/MODEL[/VERSION][?timeout=S]``.
        provider, threads: accepted for the common engine signature; the server chooses its own.
        timeout: seconds for connecting and reading the model (default 5; the URI's ``?timeout=``
            wins over the default, this argument over both).
        manifest: an edgeguard sidecar (``…/1/model.edgeguard.json`` of the repository) to use when the
            server's config carries none.

    Raises:
        EngineError: an unreachable server (after ``timeout`` seconds), a model it does not serve.
        MissingExtraError: ``tritonclient`` is not installed.
    """

    def __init__(
        self,
        target: str | Path,
        provider: str | None = None,
        threads: int = 0,
        timeout: float | None = None,
        manifest: str | Path | None = None,
    ) -> None:
        super().__init__()
        self.path = str(target)
        self.address, self.model, self.version, uri_timeout = parse_target(self.path)
        if timeout is not None and not (isinstance(timeout, (int, float)) and 0 < timeout < math.inf):
            raise ConfigError(f"timeout {timeout!r}: expected seconds > 0")
        self.timeout = float(timeout or uri_timeout or CONNECT_TIMEOUT_S)
        self._sidecar = Path(manifest) if manifest is not None else None
        self.max_batch = 0
        self.provider = f"triton {self.address}"
        self._client: Any = None
        self._load()
        self._active = True

    def _where(self) -> str:
        return f"triton://{self.address}/{self.model}"

    def _load(self) -> None:
        if self._client is not None:
            return
        require("tritonclient", "grpc", what="engine triton://", extra="triton")
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException

        client = grpcclient.InferenceServerClient(url=self.address)
        try:
            try:
                live = client.is_server_live(client_timeout=self.timeout)
            except InferenceServerException as exc:
                raise EngineError(
                    f"{self._where()}: server unreachable within {self.timeout:g} s ({_message(exc)})"
                ) from None
            if not live:
                raise EngineError(f"{self._where()}: the server answers but is not live")
            try:
                meta = client.get_model_metadata(self.model, self.version, client_timeout=self.timeout)
                config = client.get_model_config(self.model, self.version, client_timeout=self.timeout).config
            except InferenceServerException as exc:
                raise EngineError(f"{self._where()}: model not available ({_message(exc)})") from None
        except BaseException:
            client.close()
            raise
        self._client = client
        self.max_batch = int(config.max_batch_size)
        self.inputs = [_spec(t) for t in meta.inputs]
        self.outputs = [_spec(t) for t in meta.outputs]
        self.metadata = {k: v.string_value for k, v in config.parameters.items()}
        self.manifest = self._manifest(self.metadata.get(MANIFEST_PARAMETER))

    def _manifest(self, text: str | None) -> mf.Manifest | None:
        if text:
            return mf.loads(text, where=f"{self._where()} config parameter {MANIFEST_PARAMETER}")
        if self._sidecar is not None:
            return mf.load_sidecar(self._sidecar)
        return None  # the Pipeline derives one from the tensors, as for a bare ONNX file

    def _unload(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = next(iter(feed.values())).shape[0] if self.max_batch else 0
        step = self.max_batch or 1
        if not self.max_batch or n <= step:
            return self._infer(feed)
        pieces = [self._infer({k: v[i : i + step] for k, v in feed.items()}) for i in range(0, n, step)]
        return {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tritonclient.grpc as grpcclient
        from tritonclient.utils import InferenceServerException, np_to_triton_dtype

        inputs = []
        for name, arr in feed.items():
            inp = grpcclient.InferInput(name, list(arr.shape), np_to_triton_dtype(arr.dtype))
            inp.set_data_from_numpy(arr)
            inputs.append(inp)
        wanted = [grpcclient.InferRequestedOutput(o.name) for o in self.outputs]
        try:
            result = self._client.infer(
                self.model, inputs, model_version=self.version, outputs=wanted, client_timeout=INFER_TIMEOUT_S
            )
        except InferenceServerException as exc:
            raise EngineError(f"{self._where()}: inference failed ({_message(exc)})") from None
        return {o.name: result.as_numpy(o.name) for o in self.outputs}


def _message(exc: Any) -> str:
    msg = exc.message() if callable(getattr(exc, "message", None)) else str(exc)
    return first_line(msg or type(exc).__name__, 160)


def _spec(t: Any) -> TensorSpec:
    from tritonclient.utils import triton_to_np_dtype

    dtype = triton_to_np_dtype(t.datatype)
    if dtype is None:
        raise EngineError(f"tensor {t.name!r}: Triton data type {t.datatype} has no numpy equivalent")
    return TensorSpec(t.name, np.dtype(dtype), tuple(None if d < 0 else int(d) for d in t.shape))


__all__ = ["CONNECT_TIMEOUT_S", "INFER_TIMEOUT_S", "TritonEngine", "parse_target"]
