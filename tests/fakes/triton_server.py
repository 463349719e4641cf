"""An in-process stand-in for Triton Inference Server: the four KServe v2 gRPC calls the Triton engine
makes (ServerLive, ModelMetadata, ModelConfig, ModelInfer), on the servicer base class that
``tritonclient`` ships, serving a model repository written by ``edgeguard triton``.

Like Triton it reads each model's ``config.pbtxt`` into ``ModelConfig``, reports tensor shapes with the
batch axis as -1 (and a ``reshape`` applied), refuses a batch above ``max_batch_size`` or a shape that
does not match the config, and runs ``1/model.onnx`` (with onnxruntime). No Triton server can be
installed on this machine; the real-server check lives in ``benchmarks/gpu_check.sh``.
"""

from __future__ import annotations

import socket
from concurrent import futures
from pathlib import Path

import grpc
import numpy as np
import onnxruntime as ort
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import triton_to_np_dtype


class _Model:
    def __init__(self, folder: Path) -> None:
        self.config = text_format.Parse(
            (folder / "config.pbtxt").read_text(encoding="utf-8"), mc.ModelConfig()
        )
        self.session = ort.InferenceSession(
            str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
        )

    def shape(self, t: mc.ModelInput | mc.ModelOutput) -> list[int]:
        dims = list(t.reshape.shape) if t.HasField("reshape") else list(t.dims)
        return ([-1] + dims) if self.config.max_batch_size > 0 else dims

    @staticmethod
    def dtype(t: mc.ModelInput | mc.ModelOutput) -> str:
        return mc.DataType.Name(t.data_type).removeprefix("TYPE_")


class FakeTriton(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Serves every model folder of ``repo``; ``batches`` records the batch size of every inference."""

    def __init__(self, repo: Path) -> None:
        self.models = {
            p.name: _Model(p) for p in sorted(Path(repo).iterdir()) if (p / "config.pbtxt").is_file()
        }
        self.batches: list[int] = []

    def _model(self, name: str, context: grpc.ServicerContext) -> _Model:
        if name not in self.models:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Request for unknown model: '{name}' is not found")
        return self.models[name]

    def ServerLive(self, request, context):  # noqa: N802, ANN001, ANN201 - gRPC method names
        return service_pb2.ServerLiveResponse(live=True)

    def ModelMetadata(self, request, context):  # noqa: N802, ANN001, ANN201
        m = self._model(request.name, context)

        def meta(t):  # noqa: ANN001, ANN202
            return service_pb2.ModelMetadataResponse.TensorMetadata(
                name=t.name, datatype=m.dtype(t), shape=m.shape(t)
            )

        return service_pb2.ModelMetadataResponse(
            name=request.name,
            versions=["1"],
            platform=m.config.platform,
            inputs=[meta(t) for t in m.config.input],
            outputs=[meta(t) for t in m.config.output],
        )

    def ModelConfig(self, request, context):  # noqa: N802, ANN001, ANN201
        return service_pb2.ModelConfigResponse(config=self._model(request.name, context).config)

    def ModelInfer(self, request, context):  # noqa: N802, ANN001, ANN201
        m = self._model(request.model_name, context)
        specs = {t.name: t for t in m.config.input}
        feed = {}
        for tensor, raw in zip(request.inputs, request.raw_input_contents):
            spec = specs.get(tensor.name)
            shape = list(tensor.shape)
            if spec is None or tensor.datatype != m.dtype(spec):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected input {tensor.name!r}")
            want = m.shape(spec)
            if len(shape) != len(want) or any(w not in (-1, s) for w, s in zip(want, shape)):
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, f"input {tensor.name!r}: shape {shape} vs {want}"
                )
            if m.config.max_batch_size and shape[0] > m.config.max_batch_size:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"inference request batch-size must be <= {m.config.max_batch_size}",
                )
            feed[tensor.name] = np.frombuffer(raw, dtype=triton_to_np_dtype(tensor.datatype)).reshape(shape)
        self.batches.append(shape[0] if m.config.max_batch_size else 0)
        names = [o.name for o in request.outputs] or [o.name for o in m.config.output]
        values = m.session.run(names, feed)
        by_name = {o.name: o for o in m.config.output}
        return service_pb2.ModelInferResponse(
            model_name=request.model_name,
            model_version="1",
            id=request.id,
            outputs=[
                service_pb2.ModelInferResponse.InferOutputTensor(
                    name=n, datatype=m.dtype(by_name[n]), shape=list(v.shape)
                )
                for n, v in zip(names, values)
            ],
            raw_output_contents=[np.ascontiguousarray(v).tobytes() for v in values],
        )


def serve(repo: Path) -> tuple[grpc.Server, FakeTriton, int]:
    """Start the fake on a free loopback port: (server, servicer, port). Stop it with ``server.stop(0)``."""
    servicer = FakeTriton(repo)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, servicer, port


def silent_port() -> tuple[socket.socket, int]:
    """A loopback port that accepts TCP connections (kernel backlog) and never says a word: a client
    waits there until its own deadline, as with a firewalled or hung server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    return sock, sock.getsockname()[1]
