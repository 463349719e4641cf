"""A small fake ``tensorrt`` module for CPU tests, faithful to the documented Python API per version.

``make_fake("10.3.0")`` / ``make_fake("11.0.0")`` / ``make_fake("8.5.2")`` returns a module object to put in
``sys.modules["tensorrt"]``. What differs by version (TensorRT Python API docs, 8.x→10.x and 10.x→11.x
migration guides):

* 8.5: ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` (required), no ``STRONGLY_TYPED``; ``BuilderFlag``
  FP16/INT8/OBEY_PRECISION_CONSTRAINTS; ``Builder.build_engine`` and ``IBuilderConfig.max_workspace_size``
  still exist; ``IParserError`` has no ``node_name()`` (added in 8.6).
* 10.x: ``EXPLICIT_BATCH`` deprecated (accepted, ignored), ``STRONGLY_TYPED`` added; ``build_engine`` and
  ``max_workspace_size`` removed.
* 11.x: no ``EXPLICIT_BATCH``; ``STRONGLY_TYPED`` ignored; ``BuilderFlag.FP16/INT8/OBEY_…`` removed; every
  network strongly typed, so setting a layer's precision raises.

Plans are ``FAKEPLAN`` + a JSON header line + the ONNX bytes. The runtime refuses plans from another
version or device (as real TensorRT does) and "executes" by running the ONNX in onnxruntime, reading
and writing the I/O buffers through their raw addresses (``set_tensor_address``).
"""

from __future__ import annotations

import ctypes
import enum
import json
import types
from typing import Any

import numpy as np

MAGIC = b"FAKEPLAN"
OPERATOR_FORMAT = {"QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger"}


def make_fake(version: str = "10.3.0", device: str = "sm87") -> types.ModuleType:  # noqa: C901
    major = int(version.split(".")[0])
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.float32, trt.float16, trt.int8, trt.int64 = "float32", "float16", "int8", "int64"
    trt.DataType = types.SimpleNamespace(FLOAT="float32", HALF="float16", INT8="int8", INT64="int64")
    np_types = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "int64": np.int64}
    trt.nptype = lambda dt: np_types[dt]
    trt.DEVICE = device
    trt.log: list[str] = []

    net_flags = {"EXPLICIT_BATCH": 0} if major < 10 else {}
    if major == 10:
        net_flags = {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1}
    elif major >= 11:
        net_flags = {"STRONGLY_TYPED": 0}
    trt.NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", net_flags)
    weak = ["FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"] if major < 11 else []  # removed in 11
    bflags = ["TF32", "REFIT", "DEBUG", *weak]
    trt.BuilderFlag = enum.IntEnum("BuilderFlag", {n: i for i, n in enumerate(bflags)})
    trt.MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1})
    trt.TensorIOMode = enum.IntEnum("TensorIOMode", {"NONE": 0, "INPUT": 1, "OUTPUT": 2})

    class Logger:
        WARNING, ERROR, INFO = 2, 1, 3

        def __init__(self, severity: int = 2) -> None:
            self.severity = severity

        def log(self, severity: int, msg: str) -> None:
            trt.log.append(msg)

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...], dtype: str = "float32") -> None:
            self.name, self.shape, self.dtype = name, shape, dtype

    class Layer:
        def __init__(self, name: str, net: Network) -> None:
            self.name, self._net, self._precision, self.num_outputs = name, net, None, 1
            self.output_types: dict[int, str] = {}

        def get_output(self, i: int) -> Tensor:
            return Tensor(self.name + "_out", (-1,), "float32")

        @property
        def precision(self) -> Any:
            return self._precision

        @precision.setter
        def precision(self, value: Any) -> None:
            if self._net.strongly_typed:
                raise RuntimeError("setting layer precision is not allowed in a strongly typed network")
            self._precision = value

        def set_output_type(self, i: int, dtype: Any) -> None:
            if self._net.strongly_typed:
                raise RuntimeError("setting layer output types is not allowed in a strongly typed network")
            self.output_types[i] = dtype

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            st = net_flags.get("STRONGLY_TYPED")
            self.strongly_typed = major >= 11 or (st is not None and bool(flags & (1 << st)))
            self.inputs: list[Tensor] = []
            self.layers: list[Layer] = []
            self.onnx = b""

        num_inputs = property(lambda self: len(self.inputs))
        num_layers = property(lambda self: len(self.layers))

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

        def get_layer(self, i: int) -> Layer:
            return self.layers[i]

    class ParserError:
        def __init__(self, desc: str, node: int, name: str) -> None:
            self._desc, self._node, self._name = desc, node, name

        def desc(self) -> str:
            return self._desc

        def node(self) -> int:
            return self._node

        def code(self) -> int:
            return 8

    if major > 8:
        ParserError.node_name = lambda self: self._name  # type: ignore[attr-defined]

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.network, self.errors = network, []

        num_errors = property(lambda self: len(self.errors))

        def get_error(self, i: int) -> ParserError:
            return self.errors[i]

        def parse(self, model: bytes, path: str | None = None) -> bool:
            import onnx

            m = onnx.load_from_string(bytes(model))
            for i, node in enumerate(m.graph.node):
                if node.op_type in OPERATOR_FORMAT:
                    msg = f"No importer registered for op: {node.op_type}"
                    self.errors.append(ParserError(msg, i, node.name))
            if self.errors:
                return False
            inits = {t.name for t in m.graph.initializer}
            for vi in m.graph.input:
                if vi.name not in inits:
                    dim = vi.type.tensor_type.shape.dim
                    dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in dim)
                    self.network.inputs.append(Tensor(vi.name, dims))
            self.network.layers = [Layer(n.name, self.network) for n in m.graph.node]
            self.network.onnx = bytes(model)
            return True

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple] = {}

        def set_shape(self, name: str, min: tuple, opt: tuple, max: tuple) -> None:  # noqa: A002
            if not all(a <= b <= c for a, b, c in zip(min, opt, max)):
                raise ValueError("profile must satisfy min <= opt <= max")
            self.shapes[name] = (tuple(min), tuple(opt), tuple(max))

    class TimingCache:
        def __init__(self, blob: bytes) -> None:
            self.builds = int(blob[len(b"FAKECACHE") :] or 0) if blob.startswith(b"FAKECACHE") else 0

        def serialize(self) -> bytes:
            return b"FAKECACHE%d" % self.builds

    class BuilderConfig:
        def __init__(self) -> None:
            self.flags: set[str] = set()
            self.pools: dict[int, int] = {}
            self.profiles: list[Profile] = []
            self.cache: TimingCache | None = None

        def set_flag(self, flag: Any) -> None:
            self.flags.add(trt.BuilderFlag(flag).name)

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            self.pools[int(trt.MemoryPoolType(pool))] = int(size)

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            return len(self.profiles) - 1

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self.cache = cache
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self.cache

    if major < 10:
        BuilderConfig.max_workspace_size = 0  # type: ignore[attr-defined]

    class Builder:
        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def create_network(self, flags: int = 0) -> Network:
            if major < 10 and not flags & (1 << net_flags["EXPLICIT_BATCH"]):
                raise RuntimeError("implicit batch networks cannot parse ONNX: pass EXPLICIT_BATCH")
            return Network(flags)

        def create_builder_config(self) -> BuilderConfig:
            return BuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
            for t in network.inputs:
                if -1 in t.shape and not any(t.name in p.shapes for p in config.profiles):
                    self.logger.log(1, f"no optimization profile for dynamic input {t.name}")
                    return None
            if config.cache is not None:
                config.cache.builds += 1
            pinned = [la.name for la in network.layers if la.precision is not None]
            header = {
                "version": version,
                "device": trt.DEVICE,
                "flags": sorted(config.flags),
                "strongly_typed": network.strongly_typed,
                "pinned": pinned,
                "workspace": config.pools.get(0),
                "profile": config.profiles[0].shapes,
            }
            return MAGIC + json.dumps(header).encode() + b"\n" + network.onnx

    if major < 10:
        Builder.build_engine = lambda self, network, config: None  # type: ignore[attr-defined]

    class Context:
        def __init__(self, engine: Engine) -> None:
            self.engine, self.shapes, self.addresses = engine, {}, {}

        def set_input_shape(self, name: str, shape: tuple) -> bool:
            lo, _, hi = self.engine.get_tensor_profile_shape(name, 0)
            if not all(a <= s <= b for a, s, b in zip(lo, shape, hi)):
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name: str) -> tuple:
            if name in self.shapes:
                return self.shapes[name]
            batch = next(iter(self.shapes.values()))[0]
            return (batch, *self.engine.get_tensor_shape(name)[1:])

        def set_tensor_address(self, name: str, ptr: int) -> bool:
            self.addresses[name] = int(ptr)
            return True

        def execute_async_v3(self, stream_handle: int) -> bool:
            ins = self.engine.inputs
            feed = {n: _view(self.addresses[n], self.shapes[n], np.float32).copy() for n in ins}
            outs = self.engine.session.run(self.engine.outputs, feed)
            for name, value in zip(self.engine.outputs, outs):
                _view(self.addresses[name], value.shape, np.float32)[...] = value
            return True

    class Engine:
        def __init__(self, header: dict, onnx_bytes: bytes) -> None:
            import onnxruntime as ort

            self.header = header
            self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self.inputs = [i.name for i in self.session.get_inputs()]
            self.outputs = [o.name for o in self.session.get_outputs()]
            self._shapes = {
                a.name: tuple(d if isinstance(d, int) else -1 for d in a.shape)
                for a in [*self.session.get_inputs(), *self.session.get_outputs()]
            }

        num_io_tensors = property(lambda self: len(self.inputs) + len(self.outputs))

        def get_tensor_name(self, i: int) -> str:
            return [*self.inputs, *self.outputs][i]

        def get_tensor_mode(self, name: str) -> Any:
            return trt.TensorIOMode.INPUT if name in self.inputs else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name: str) -> str:
            return "float32"

        def get_tensor_shape(self, name: str) -> tuple:
            return self._shapes[name]

        def get_tensor_profile_shape(self, name: str, profile_index: int) -> list:
            return [tuple(s) for s in self.header["profile"][name]]

        def create_execution_context(self) -> Context:
            return Context(self)

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, blob: bytes) -> Engine | None:
            if not bytes(blob).startswith(MAGIC) or b"\n" not in blob:
                self.logger.log(1, "Serialization assertion failed: magic tag mismatch")
                return None
            head, onnx_bytes = bytes(blob)[len(MAGIC) :].split(b"\n", 1)
            header = json.loads(head)
            if header["version"] != version or header["device"] != trt.DEVICE:
                self.logger.log(1, "The engine plan file is not compatible with this version/device")
                return None
            return Engine(header, onnx_bytes)

    trt.Logger, trt.Builder, trt.OnnxParser, trt.Runtime = Logger, Builder, OnnxParser, Runtime
    return trt


def _view(ptr: int, shape: tuple, dtype: Any) -> np.ndarray:
    """A numpy view of ``shape``/``dtype`` over raw host memory at ``ptr`` (CPU stand-in for a GPU buffer)."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buf = (ctypes.c_byte * n).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def read_header(plan: bytes) -> dict:
    """The JSON header of a fake plan (what flags/precision the builder was given)."""
    return json.loads(plan[len(MAGIC) :].split(b"\n", 1)[0])
