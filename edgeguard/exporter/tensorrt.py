"""Build TensorRT plans from edgeguard ONNX graphs, and keep a validated engine cache.

Version-adaptive (REFERENCE.md "Platform facts"; TensorRT 10→11 migration guide):

* **11.x** — every network is strongly typed; ``BuilderFlag.FP16/INT8``, ``OBEY_PRECISION_CONSTRAINTS``
  and ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` are gone. Precision comes from the graph alone
  (FP16 tensors / symmetric Q/DQ), so we create the network with no flags and set no precision flags.
* **10.x** — explicit batch is implicit (``EXPLICIT_BATCH`` deprecated, ignored); weakly typed by
  default: the graph's precision is enabled with ``BuilderFlag.FP16`` (FP16 graph) or ``INT8`` (Q/DQ
  graph), and the defense/normalisation layers are pinned to FP32 with ``OBEY_PRECISION_CONSTRAINTS``
  so the builder cannot lower them. ``strongly_typed=True`` builds as on 11 instead.
* **8.5** — as 10.x, plus ``1 << EXPLICIT_BATCH`` at network creation (still required there).

Plans are written plain (no header: trtexec, Polygraphy and DeepStream load them). How each was built
lives in the sidecar ``NAME.edgeguard.json`` under ``tensorrt``; :func:`ensure_engine` rebuilds when the
source ONNX, TensorRT version, GPU, precision or batch profile differ, and logs why (the comparison is
the engine side's :func:`~edgeguard.engines.tensorrt.stale_reason`, so builder and runtime agree).
:func:`rebuild_plan` is what ``edgeguard.load(…, rebuild=True)`` calls for a plan the runtime refused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .. import manifest as mf
from ..engines import _trt
from ..engines.tensorrt import check_plan, stale_reason
from ..errors import ConfigError, EngineError, StaleEngineError
from ..outputs import OutputGroup
from ..provenance import file_sha256

log = logging.getLogger("edgeguard.tensorrt")

DEFAULT_WORKSPACE_MB = 1024
TIMING_CACHE_NAME = "edgeguard.timing.cache"


@dataclass(frozen=True)
class BatchProfile:
    """Optimisation-profile batch sizes: ``min ≤ opt ≤ max``."""

    min: int
    opt: int
    max: int

    @classmethod
    def parse(cls, text: str | BatchProfile | None) -> BatchProfile:
        """``"8"`` → 8,8,8; ``"1,8"`` → 1,8,8; ``"1,4,8"`` → 1,4,8 (``None`` → 1,1,1)."""
        if isinstance(text, BatchProfile):
            return text
        try:
            vals = [int(v) for v in str(text or "1").split(",")]
        except ValueError:
            vals = []
        if len(vals) == 1:
            vals = vals * 3
        elif len(vals) == 2:
            vals = [vals[0], vals[1], vals[1]]
        if len(vals) != 3 or not 1 <= vals[0] <= vals[1] <= vals[2] <= 4096:
            raise ConfigError(f"--batch {text!r}: expected MAX, MIN,MAX or MIN,OPT,MAX (1 ≤ min ≤ opt ≤ max)")
        return cls(*vals)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def describe(self) -> str:
        return f"min {self.min} / opt {self.opt} / max {self.max}"


@dataclass
class EngineBuild:
    """Result of :func:`ensure_engine`: the plan, its sidecar, and whether/why it was (re)built."""

    path: Path
    sidecar: Path
    built: bool
    reason: str
    record: mf.TensorRTBuild


def plan_name(stem: str, profile: BatchProfile, version: str, device: dict[str, str], precision: str) -> str:
    """jetson-inference-style cache name: ``<model>.b<maxBatch>.trt<version>.<sm>.<precision>.engine``."""
    return f"{stem}.b{profile.max}.trt{version}.{_trt.device_slug(device)}.{precision}.engine"


def _network_flags(trt: Any, strongly_typed: bool) -> tuple[int, bool]:
    """Creation flags and whether the network is strongly typed, per TensorRT major version."""
    major = _trt.major(trt)
    if major >= 11:
        # 11.x: strong typing is always on; STRONGLY_TYPED is deprecated/ignored, EXPLICIT_BATCH removed.
        return 0, True
    flags = 0
    if major < 10:
        # 8.5/8.6: explicit batch must be requested (deprecated and ignored from 10.0 on).
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    if strongly_typed:
        if not hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            raise ConfigError(f"TensorRT {trt.__version__} has no strongly typed networks (needs ≥ 9.1)")
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    return flags, strongly_typed


def _parse(trt: Any, network: Any, logger: Any, model: Any, data: bytes, where: str) -> Any:
    """Parse ONNX bytes; on failure raise EngineError naming the failing node(s)."""
    parser = trt.OnnxParser(network, logger)
    if parser.parse(data):
        return parser
    nodes = list(model.graph.node)
    msgs = []
    for i in range(parser.num_errors):
        err = parser.get_error(i)
        name = err.node_name() if hasattr(err, "node_name") else ""  # node_name(): TensorRT ≥ 8.6
        idx = err.node()
        if not name and 0 <= idx < len(nodes):
            name = nodes[idx].name
        op = nodes[idx].op_type if 0 <= idx < len(nodes) else "?"
        msgs.append(f"node {name or '(graph)'!r} ({op}): {err.desc()}")
    more = f" (+{len(msgs) - 1} more)" if len(msgs) > 1 else ""
    raise EngineError(
        f"TensorRT {trt.__version__} cannot parse {where}: {msgs[0] if msgs else 'unknown error'}{more}"
    )


def _precision_flags(trt: Any, config: Any, network: Any, precision: str) -> list[str]:
    """Weakly typed builds (8.5/10.x): enable the graph's precision, pin the defense prefix to FP32."""
    flags = []
    if precision == "fp16":
        flags.append("FP16")
    if precision == "int8":
        flags.append("INT8")  # explicit Q/DQ networks need INT8 enabled when weakly typed
    for f in flags:
        config.set_flag(getattr(trt.BuilderFlag, f))
    if flags:
        pinned = 0
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            outs = [layer.get_output(j) for j in range(layer.num_outputs)]
            if _trt.is_prefix_layer(layer.name) and all(o.dtype == trt.float32 for o in outs):
                layer.precision = trt.float32
                for j in range(layer.num_outputs):
                    layer.set_output_type(j, trt.float32)
                pinned += 1
        if pinned:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
            flags.append(f"OBEY_PRECISION_CONSTRAINTS({pinned} defense layers FP32)")
    return flags


def _timing_cache(config: Any, path: Path | None) -> Any:
    if path is None:
        return None
    blob = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(blob)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log.warning("timing cache %s does not match this GPU/TensorRT; starting a fresh one", path.name)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def _atomic_write(path: Path, blob: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)


def build_plan(
    onnx_path: str | Path,
    plan_path: str | Path,
    *,
    profile: BatchProfile,
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    timing_cache: str | Path | None = None,
    strongly_typed: bool = False,
) -> dict[str, Any]:
    """Build a plain TensorRT plan from an ONNX file; return the ``tensorrt`` sidecar record.

    Raises:
        EngineError: TensorRT missing/too old, unsupported quantisation (names the node), parser error
            (names the node), or a failed build.
        ConfigError: the batch profile does not fit the graph's input.
    """
    import onnx

    from .precision import graph_precision
    from .quantize import check_tensorrt_qdq

    trt = _trt.import_tensorrt()
    src = Path(onnx_path)
    data = src.read_bytes()
    model = onnx.load_from_string(data)
    check_tensorrt_qdq(model, where=src.name)  # clearer than the parser's assertion text
    precision = graph_precision(model)
    logger = _trt.make_logger(trt)
    builder = trt.Builder(logger)
    flags, typed = _network_flags(trt, strongly_typed)
    network = builder.create_network(flags)
    _parse(trt, network, logger, model, data, src.name)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    set_flags = [] if typed else _precision_flags(trt, config, network, precision)
    opt_profile = builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        dims = list(tensor.shape)
        if dims[0] != -1 and not profile.min == profile.max == dims[0]:
            raise ConfigError(
                f"--batch {profile.min},{profile.opt},{profile.max}: input {tensor.name!r} has a fixed batch "
                f"of {dims[0]}; re-export with a dynamic batch or use --batch {dims[0]}"
            )
        if any(d == -1 for d in dims[1:]):
            raise ConfigError(f"input {tensor.name!r} has dynamic dims {dims}; only the batch may be dynamic")
        rest = tuple(dims[1:])
        opt_profile.set_shape(tensor.name, (profile.min, *rest), (profile.opt, *rest), (profile.max, *rest))
    config.add_optimization_profile(opt_profile)
    cache_path = Path(timing_cache) if timing_cache else None
    cache = _timing_cache(config, cache_path)
    t0 = time.perf_counter()
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise EngineError(
            f"TensorRT {trt.__version__} failed to build a plan from {src.name} "
            "(see the TensorRT messages above; try a larger --workspace)"
        )
    _atomic_write(Path(plan_path), bytes(plan))
    if cache is not None and cache_path is not None:
        _atomic_write(cache_path, bytes(cache.serialize()))
    return {
        "version": str(trt.__version__),
        "onnx": src.name,
        "onnx_sha256": hashlib.sha256(data).hexdigest(),
        "device": _trt.device_info(),
        "precision": precision,
        "strongly_typed": typed,
        "flags": set_flags,
        "profile": profile.as_dict(),
        "workspace_mb": int(workspace_mb),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }


def ensure_engine(
    onnx_path: str | Path,
    out: str | Path | None = None,
    *,
    batch: str | BatchProfile | None = "1,4,8",
    workspace_mb: int = DEFAULT_WORKSPACE_MB,
    timing_cache: str | Path | None = None,
    strongly_typed: bool = False,
    force: bool = False,
) -> EngineBuild:
    """Return a valid plan for ``onnx_path``: reuse the cached one, or (re)build it and say why.

    Args:
        onnx_path: an edgeguard ONNX export (its embedded manifest becomes the plan's sidecar).
        out: plan path; default ``<onnx folder>/<plan_name(...)>``.
        batch: optimisation profile (``"1,4,8"``).
        workspace_mb: builder workspace limit (``set_memory_pool_limit(WORKSPACE, …)``).
        timing_cache: timing-cache file reused across builds (default: next to the ONNX).
        strongly_typed: on TensorRT 10, build strongly typed as 11 does.
        force: rebuild even if the cache is valid.
    """
    import onnx

    from .precision import graph_precision

    src = Path(onnx_path)
    if not src.is_file():
        raise ConfigError(f"ONNX file {str(src)!r} does not exist")
    trt = _trt.import_tensorrt()
    device = _trt.device_info()
    profile = BatchProfile.parse(batch)
    model = onnx.load(str(src), load_external_data=False)
    data = mf.read_embedded(model, where=src.name)
    if data is None:
        raise ConfigError(f"{src.name} has no edgeguard manifest; export it with `edgeguard export` first")
    precision = graph_precision(model)
    name = plan_name(src.stem, profile, trt.__version__, device, precision)
    path = Path(out) if out else src.with_name(name)
    expected = {
        "onnx_sha256": file_sha256(src),
        "version": str(trt.__version__),
        "device": device,
        "precision": precision,
        "profile": profile.as_dict(),
    }
    side = mf.sidecar_path(path)
    if path.is_file() and not force:
        recorded = mf.load_sidecar(side).tensorrt if side.is_file() else None
        reason = stale_reason(recorded, expected)
        if reason is None:
            log.info(
                "reusing %s (matches %s, TensorRT %s, %s)",
                path.name,
                src.name,
                trt.__version__,
                device["name"],
            )
            return EngineBuild(path, side, False, "cache valid", recorded)  # type: ignore[arg-type]
        log.warning("rebuilding %s: %s", path.name, reason)
    else:
        reason = "forced rebuild" if path.is_file() else "no plan yet"
    cache = Path(timing_cache) if timing_cache else src.with_name(TIMING_CACHE_NAME)
    # plan + sidecar are written as one group: a failed build leaves an older plan and its sidecar as
    # they were, and never a plan whose sidecar describes another build.
    with OutputGroup([path, side], what=["TensorRT plan", "TensorRT plan's sidecar"]) as group:
        record = mf.TensorRTBuild.from_dict(
            build_plan(
                src,
                group.temp(path),
                profile=profile,
                workspace_mb=workspace_mb,
                timing_cache=cache,
                strongly_typed=strongly_typed,
            )
        )
        data = replace(data, precision=replace(data.precision, mode=precision), tensorrt=record)
        mf.save_sidecar(data, path, to=group.temp(side))
    return EngineBuild(path, side, True, reason, record)


def rebuild_plan(plan: str | Path) -> EngineBuild:
    """Rebuild a stale plan in place from the source ONNX its sidecar names, with the same settings.

    The batch profile, workspace and typing recorded at the first build are kept (a plan made strongly
    typed on TensorRT 10 stays so; on 11 every build is). Does nothing but return the record when the
    plan is current.

    Raises:
        StaleEngineError: the source ONNX is not beside the plan (the message says how to fix it).
        EngineError: the plan has no sidecar build record to rebuild from, or the build fails.
    """
    plan = Path(plan)
    side = mf.sidecar_path(plan)
    record = mf.load_sidecar(side).tensorrt if side.is_file() else None
    if record is None:
        raise EngineError(
            f"{plan.name} has no sidecar build record, so edgeguard cannot tell what to rebuild it from; "
            "rebuild it with `edgeguard export MODEL --engine trt`"
        )
    try:
        check_plan(plan)
        return EngineBuild(plan, side, False, "cache valid", record)
    except StaleEngineError as err:
        if err.source is None:
            raise
        src = err.source
    trt = _trt.import_tensorrt()
    typed = record.strongly_typed and _trt.major(trt) < 11
    return ensure_engine(
        src,
        plan,
        batch=BatchProfile(**record.profile.to_dict()),
        force=True,
        workspace_mb=record.workspace_mb,
        strongly_typed=typed,
    )
