"""The data path: preprocess → host stages → engine → decision (→ escalation when flagged).

``Pipeline`` is what vehicle software embeds::

    import edgeguard
    pipe = edgeguard.load("r50.onnx")              # engine + manifest (+ host stages it names)
    results = pipe([frame_bgr])                    # or pipe.run_batch(x) for (B, 3, H, W) floats
    results[0].decision["top"][0]["label"], results[0].timing_ms

Nothing here assumes classification: the decision step is chosen by the manifest's ``task``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import decision as decisions
from .certify import finish, mask_set_of
from .checks import check_image_batch, check_path
from .engines import Engine, open_engine
from .errors import ConfigError, EngineError, InputError, StaleEngineError
from .letterbox import Geometry
from .manifest import Manifest
from .preprocess import check_crop, load_image, preprocess
from .registry import uri_scheme
from .seeker import finish as seeker_finish
from .seeker import options_of, split_set_of

HostStage = Callable[[np.ndarray], np.ndarray]
Crop = str | tuple[int, int, int, int]
Gate = Callable[[dict[str, Any]], bool]
log = logging.getLogger("edgeguard.pipeline")


def stage_name(stage: Any) -> str:
    return str(getattr(stage, "name", None) or type(stage).__name__.lower())


def check_finite_outputs(outputs: dict[str, np.ndarray], names: Sequence[str | None] = ()) -> None:
    """Raise EngineError when a floating engine output holds NaN or Inf, naming the output and image.

    A NaN logit has no top-1 and is not JSON (``infer --json`` once printed ``NaN`` with exit 0).
    """
    for key, value in outputs.items():
        arr = np.asarray(value)
        if not np.issubdtype(arr.dtype, np.floating) or np.isfinite(arr).all():
            continue
        rows = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1) if arr.ndim else np.array([True])
        i = int(np.flatnonzero(rows)[0])
        name = names[i] if i < len(names) and names[i] else f"image {i} of the batch"
        raise EngineError(
            f"engine output {key!r} is NaN or Inf for {name} ({int(rows.sum())} of {rows.size} images); "
            f"the engine or its weights are broken — re-export it"
        )


def flagged_gate(decision: dict[str, Any]) -> bool:
    """Default escalation gate: the engine's adversarial detector flagged the frame."""
    return bool(decision.get("flagged", False))


@dataclass
class Result:
    """One image's result. ``timing_ms`` holds the batch's per-stage wall times in milliseconds."""

    decision: dict[str, Any]
    outputs: dict[str, np.ndarray]
    timing_ms: dict[str, float]
    source: str | None = None
    escalation: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def adv_score(self) -> float | None:
        """The engine detector's adversarial score of this image (``None``: the engine has no detector)."""
        return self.decision.get("adv_score")

    @property
    def flagged(self) -> bool:
        """Whether the score exceeds the detector's threshold τ (always ``False`` without a detector)."""
        return bool(self.decision.get("flagged", False))

    @property
    def certified(self) -> bool | None:
        """Certified masking: whether the double-masking label is certified against one sticker of the
        engine's patch size (``None``: no masked engine, or not computed)."""
        return self.decision.get("certified")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: path, the decision, ``adv_score`` (null without a detector) and ``flagged``."""
        d: dict[str, Any] = {
            "path": self.source,
            **self.decision,
            "adv_score": self.adv_score,
            "flagged": self.flagged,
            "timing_ms": {k: round(v, 3) for k, v in self.timing_ms.items()},
        }
        if self.escalation is not None:
            d["escalation"] = self.escalation
        return d


class Pipeline:
    """Preprocess → host stages → engine → decision, with optional detector-gated escalation.

    Args:
        engine: an :class:`~edgeguard.engines.Engine` (its manifest describes input size, labels, task).
        host_stages: callables ``(B, 3, H, W) float32 → same`` run in order before the engine.
        top: classification top-k.
        crop: ``resize``, ``center`` or a box ``(x, y, w, h)``.
        escalate: a costly stage run only on frames the gate passes; the engine is re-run on them.
        gate: decides escalation from one image's first decision (default: detector flag).
        allow_slow: accept ``realtime=False`` stages in the always-on path.
        task: the task the engine must be for (``classification``, ``detection``; ``detect`` and
            ``classify`` are accepted): checked against its manifest, or, for a bare ONNX file
            without one, how its outputs are read (:attr:`notes` says what was assumed).
        decision: options of the task's decision step (detection: ``conf``, ``iou``, ``agnostic``,
            ``classes``, ``max_det``, ``max_nms``; see ``edgeguard.detection``).
        certify: engines exported with ``--masking``: check every frame's certificate (one more engine
            call per frame whose first round is unanimous); without it ``certified`` is ``None`` there
            (the second round still runs where the first round disagrees). See ``edgeguard.certify``.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        host_stages: Sequence[HostStage] = (),
        top: int = 5,
        crop: str | tuple[int, int, int, int] = "resize",
        escalate: HostStage | None = None,
        gate: Gate | None = None,
        allow_slow: bool = True,
        task: str | None = None,
        decision: dict[str, Any] | None = None,
        certify: bool = True,
    ) -> None:
        if not callable(engine) or not hasattr(engine, "manifest"):
            raise ConfigError(
                f"Pipeline: expected an Engine (edgeguard.load(path) opens one), got {type(engine).__name__}"
            )
        if isinstance(top, bool) or not isinstance(top, int):
            raise ConfigError(f"top {top!r}: expected an integer >= 1")
        host_stages = [host_stages] if callable(host_stages) else list(host_stages)
        for stage in [*host_stages, *([escalate] if escalate is not None else [])]:
            if not callable(stage):
                raise ConfigError(
                    f"host stage {stage!r}: expected a callable (batch -> batch) or a stage spec string"[:200]
                )
        if gate is not None and not callable(gate):
            raise ConfigError(f"gate {gate!r}: expected a callable (decision -> bool)"[:200])
        if decision is not None and not isinstance(decision, dict):
            raise ConfigError(f"decision {decision!r}: expected a dict of decision options"[:200])
        self.engine = engine
        self.notes: list[str] = []  # what a bare engine's manifest had to assume (said once by the CLI)
        want = task_name(task)
        if engine.manifest is not None:
            self.manifest: Manifest = engine.manifest
            if want is not None and want != self.manifest.task:
                raise ConfigError(
                    f"--task {task}: the engine's manifest says it is a {self.manifest.task} model; "
                    f"pass --task {self.manifest.task} or use a {want} engine"
                )
        else:
            self.manifest = _bare_manifest(engine, want, self.notes)
        for stage in host_stages:
            if not allow_slow and getattr(stage, "realtime", True) is False:
                raise ConfigError(
                    f"host stage {stage_name(stage)!r} is not real-time and cannot run on every frame; "
                    f"use it with --escalate so it only runs on flagged frames"
                )
        self.host_stages = list(host_stages)
        self.size = self.manifest.input.size
        self.color = self.manifest.input.color
        self.crop = check_crop(crop)
        options = dict(decision or {})
        if "top" in {p.name for p in decisions.params(self.manifest.task)}:
            options.setdefault("top", top)
        self.decide = decisions.for_task(self.manifest.task, **options)
        specs = list(getattr(engine, "outputs", None) or [])
        names = [o.name for o in specs]
        if hasattr(self.decide, "check"):  # a layout the decision cannot read fails here, not on frame 1
            self.decide.check(self.manifest, specs)
        self._nonfinite_ok: frozenset[str] = (
            self.decide.nonfinite_ok(self.manifest, names)
            if hasattr(self.decide, "nonfinite_ok")
            else frozenset()
        )
        self.certify = bool(certify)
        self.masks = mask_set_of(self.manifest)
        self.splits = split_set_of(self.manifest)  # ObjectSeeker's masked copies (detection engines)
        self.seeker = options_of(self.manifest)  # its host merge's τ_mask and pruning IoA
        if self.splits is not None:  # masked copies' NaN boxes are dropped by their decode, as the frame's
            self._nonfinite_ok = self._nonfinite_ok | {self.manifest.seeker.output}  # type: ignore[union-attr]
        self.escalate = escalate
        self.gate = gate or flagged_gate
        if escalate is not None and gate is None and self.manifest.detector is None:
            # (logging's last-resort handler prints this one line on stderr when nothing is configured)
            log.warning(
                "warning: --escalate %s will never run: the engine has no detector output to flag frames "
                "(export it with --detector, e.g. squeeze:median=2x2)",
                stage_name(escalate),
            )

    @property
    def labels(self) -> tuple[str, ...] | None:
        return self.manifest.labels

    def __enter__(self) -> Pipeline:
        self.engine.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.deactivate()

    def __call__(
        self, frames: Sequence[np.ndarray | str | Path], *, crop: Crop | None = None
    ) -> list[Result]:
        """Run BGR uint8 frames (or image paths) through the whole pipeline as one batch.

        ``crop`` overrides the pipeline's crop for this call only (a camera passes each frame's region
        of interest here; nothing outside the call changes ``self.crop``).
        """
        t0 = time.perf_counter()
        if isinstance(frames, (str, Path, np.ndarray)) or not isinstance(frames, Sequence):
            raise InputError(
                f"pipeline: expected a list of BGR uint8 frames or image paths, got {type(frames).__name__}"
                "; pass [frame] for one image (or use run_batch for a (B, 3, H, W) float batch)"
            )
        mode = self.crop if crop is None else check_crop(crop)
        sources = [str(f) if isinstance(f, (str, Path)) else None for f in frames]
        imgs = [load_image(f) if isinstance(f, (str, Path)) else f for f in frames]
        spec = self.manifest.input
        geometry: list[Geometry] = []
        x = preprocess(
            imgs,
            self.size,
            color=self.color,
            crop_mode=mode,
            resize=spec.resize,
            pad_value=spec.pad_value,
            geometry=geometry,
        )
        results = self.run_batch(
            x, _t_pre=(time.perf_counter() - t0) * 1e3, _t0=t0, _names=sources, _geometry=geometry
        )
        for r, s in zip(results, sources):
            r.source = s
        return results

    def run_batch(
        self,
        x: Any,
        *,
        _t_pre: float = 0.0,
        _t0: float | None = None,
        _names: Sequence[str | None] = (),
        _geometry: Sequence[Geometry] | None = None,
    ) -> list[Result]:
        """Run a preprocessed ``(B, 3, H, W)`` float batch in [0, 1] (numpy or torch).

        Detection boxes are in engine-input pixels here (no frame to map them back to).

        Raises:
            EngineError: the engine returned NaN or Inf (a broken engine must not yield a decision).
        """
        t0 = _t0 if _t0 is not None else time.perf_counter()
        x = _as_array(x)
        check_image_batch(x, name="pipeline input")
        x = np.ascontiguousarray(x, dtype=np.float32)
        timing: dict[str, float] = {"preprocess": _t_pre}
        for stage in self.host_stages:
            ts = time.perf_counter()
            x = np.ascontiguousarray(stage(x), dtype=np.float32)
            timing[f"stage:{stage_name(stage)}"] = (time.perf_counter() - ts) * 1e3
        outputs = self.engine(x)
        self._check_finite(outputs, _names)
        timing["engine"] = self.engine.last_ms
        td = time.perf_counter()
        decided = self._decide(outputs, _geometry)
        timing["decision"] = (time.perf_counter() - td) * 1e3
        if self.masks is not None:  # PatchCleanser's second round, on the host over the same engine
            tm = time.perf_counter()
            finish(self.engine, self.manifest, self.masks, x, outputs, decided, certify=self.certify)
            timing["masking"] = (time.perf_counter() - tm) * 1e3
        if self.splits is not None:  # ObjectSeeker: prune and merge the masked copies' boxes
            tm = time.perf_counter()
            seeker_finish(self.decide, self.manifest, self.splits, outputs, decided, _geometry, self.seeker)
            timing["masking"] = (time.perf_counter() - tm) * 1e3
        results = [Result(d, {k: v[i] for k, v in outputs.items()}, timing) for i, d in enumerate(decided)]
        if self.escalate is not None:
            self._escalate(x, results, timing, _geometry)
        timing["total"] = (time.perf_counter() - t0) * 1e3
        return results

    def _check_finite(self, outputs: dict[str, np.ndarray], names: Sequence[str | None]) -> None:
        """NaN/Inf outputs are an EngineError, except where the decision drops and counts them (boxes)."""
        if self._nonfinite_ok:
            outputs = {k: v for k, v in outputs.items() if k not in self._nonfinite_ok}
        check_finite_outputs(outputs, names)

    def _decide(
        self, outputs: dict[str, np.ndarray], geometry: Sequence[Geometry] | None
    ) -> list[dict[str, Any]]:
        if getattr(self.decide, "takes_geometry", False):
            return self.decide(outputs, self.manifest, geometry)  # type: ignore[call-arg]
        return self.decide(outputs, self.manifest)

    def _escalate(
        self,
        x: np.ndarray,
        results: list[Result],
        timing: dict[str, float],
        geometry: Sequence[Geometry] | None = None,
    ) -> None:
        """Seed 001's proposal: purify only frames the cheap detector flags, then decide again."""
        idx = [i for i, r in enumerate(results) if self.gate(r.decision)]
        if not idx:
            return
        ts = time.perf_counter()
        purified = np.ascontiguousarray(self.escalate(x[idx]), dtype=np.float32)
        t_stage = (time.perf_counter() - ts) * 1e3
        outputs = self.engine(purified)
        self._check_finite(outputs, [f"escalated image {i}" for i in idx])
        second = self._decide(outputs, [geometry[i] for i in idx] if geometry else None)
        timing["escalation"] = (time.perf_counter() - ts) * 1e3
        info = getattr(self.escalate, "last_info", None)
        for j, i in enumerate(idx):
            first = results[i].decision
            again = dict(second[j])
            results[i].escalation = {
                "stage": stage_name(self.escalate),
                "first": first,
                "stage_ms": t_stage,
                "info": dict(info) if isinstance(info, dict) else None,
                "after": {k: again.get(k) for k in ("adv_score", "flagged") if k in again},
            }
            # The reading is the purified one, but the detector's verdict stays the first pass's: the
            # frame *was* flagged (an attack caught; its event must fire). Purification removes the
            # perturbation the detector saw, so the second pass is rarely flagged; reporting that would
            # turn caught frames into silent misreadings whenever purification fails.
            for key in ("adv_score", "flagged"):
                if key in first:
                    again[key] = first[key]
            results[i].decision = again
            results[i].outputs = {k: v[j] for k, v in outputs.items()}


def _as_array(x: Any) -> np.ndarray:
    """A numpy view of a run_batch input: numpy as is, a torch tensor copied to the CPU (bf16 → fp32)."""
    if isinstance(x, np.ndarray):
        return x
    torch = sys.modules.get("torch")  # whoever made a tensor imported torch; do not import it here
    if torch is not None and isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64, torch.float16):
            t = t.float()  # numpy has no bfloat16 (or float8)
        return t.numpy()
    raise InputError(
        f"run_batch: expected a (B, 3, H, W) float numpy array or torch tensor, got {type(x).__name__}; "
        f"np.stack a list of (3, H, W) images, or call the pipeline on BGR frames"
    )


def task_name(task: str | None) -> str | None:
    """``detect``/``classify`` (Ultralytics' words) → ``detection``/``classification``; None stays."""
    if task is None:
        return None
    name = {"detect": "detection", "classify": "classification"}.get(task, task)
    if name not in decisions.tasks():
        raise ConfigError(f"--task {task!r}: expected one of {', '.join(decisions.tasks())} (or detect)")
    return name


def _bare_manifest(engine: Engine, task: str | None = None, notes: list[str] | None = None) -> Manifest:
    """For a plain ONNX file without an edgeguard manifest: size from its input (or Ultralytics metadata).

    A YOLO file exported by Ultralytics carries ``names``, ``imgsz``, ``stride`` and ``task`` in its
    metadata; they are read (``edgeguard.yolo_meta``), and ``notes`` receives what had to be assumed.
    """
    from .yolo_meta import bare_manifest

    return bare_manifest(engine, task, notes if notes is not None else [])


def load(
    path: str | Path,
    *,
    provider: str | None = None,
    threads: int = 0,
    host_stages: Sequence[HostStage | str] | None = None,
    escalate: HostStage | str | None = None,
    rebuild: bool | Callable[[str], None] = False,
    **options: Any,
) -> Pipeline:
    """Open an engine (``.onnx``, ``.trt`` …, or its ``.edgeguard.json`` sidecar) as a :class:`Pipeline`.

    Host stages named in the manifest are built unless ``host_stages`` is given; string entries are
    stage specs (``"tvm:keep=0.5"``). ``threads`` sets onnxruntime's intra-op threads (0 = its default).

    ``rebuild``: a TensorRT plan built for another TensorRT/GPU, or from an ONNX file that changed since,
    raises :class:`~edgeguard.errors.StaleEngineError` (engines never build). With ``rebuild=True`` it is
    rebuilt in place from the source ONNX beside it (through ``edgeguard.exporter.tensorrt``, which needs
    only what running the plan needs, no export extra) and a warning is logged; a callable is also
    handed that one-line notice.
    """
    from . import manifest as mf

    unknown = sorted(set(options) - set(_PIPELINE_OPTIONS))
    if unknown:
        raise ConfigError(
            f"load: unknown option {unknown[0]!r} (takes provider, threads, host_stages, escalate, rebuild, "
            f"{', '.join(_PIPELINE_OPTIONS)})"
        )
    if isinstance(host_stages, str):
        host_stages = [host_stages]  # one spec, not a sequence of letters
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ConfigError(
            f"load: expected the path of an engine (.onnx, .trt …) or its .edgeguard.json sidecar, "
            f"got {path!r}"[:200]
        )
    text = os.fspath(path)
    if "://" in text and uri_scheme(text):  # an engine served elsewhere (triton://HOST:8001/MODEL)
        engine = _open(text, provider, rebuild, threads)
    else:
        p = check_path(path, what="engine file")
        if p.name.endswith(mf.SIDECAR_SUFFIX):
            data = mf.load_sidecar(p)
            name = data.engine  # a bare file name: the manifest refuses ".", "..", folders and NUL
            if not name:
                raise ConfigError(f"{p.name} names no engine file; pass the .onnx/.trt path instead")
            p = p.with_name(check_path(name, what=f"{p.name}: engine", error=ConfigError).name)
        engine = _open(p, provider, rebuild, threads)
    specs: Sequence[HostStage | str] = (
        host_stages if host_stages is not None else (engine.manifest.host_stages if engine.manifest else ())
    )
    return Pipeline(
        engine,
        host_stages=[_stage(s) for s in specs],
        escalate=_stage(escalate) if escalate is not None else None,
        **options,
    )


def _open(
    path: Path | str, provider: str | None, rebuild: bool | Callable[[str], None], threads: int = 0
) -> Engine:
    """Open the engine; rebuild a stale TensorRT plan first when the caller asked for it."""
    try:
        return open_engine(path, provider=provider, threads=threads)
    except StaleEngineError as err:
        if not rebuild or err.source is None:
            raise
        notice = f"rebuilding {err.engine.name} from {err.source.name}: {err.reason}"
    import logging

    from .exporter.tensorrt import rebuild_plan  # lazy: the build side, only when asked to rebuild

    logging.getLogger("edgeguard.tensorrt").warning(notice)
    if callable(rebuild):
        rebuild(notice)
    rebuild_plan(path)
    return open_engine(path, provider=provider, threads=threads)


def _stage(s: HostStage | str) -> HostStage:
    if isinstance(s, str):
        from . import stages

        return stages.from_spec(s)
    if not callable(s):
        raise ConfigError(
            f"host stage {s!r}: expected a stage spec string or a callable (batch -> batch)"[:200]
        )
    return s


_PIPELINE_OPTIONS = ("top", "crop", "gate", "allow_slow", "task", "decision", "certify")
