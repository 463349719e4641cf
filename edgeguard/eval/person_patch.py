"""Optimise a person-hiding patch for a deployed detector configuration and measure it
(``edgeguard attack patch``; the surveillance scenario's attack step).

Scenes come from the surveillance renderer (:mod:`edgeguard.data.scene_sets`): the patch is fitted on
scenes of base seed :data:`PATCH_FIT_SEED` (never used by the ``persons`` detector's training,
validation or test sets) and measured on the detector's held-out test scenes (seed
:data:`~edgeguard.data.scene_sets.PERSONS_TEST_SEED`, the README's numbers). Every counted person
(not marked ``ignore``) wears the patch; the conditions (contrast, brightness, noise, rotation) are
drawn once per person from a generator seeded apart from the optimisation's, and the same draws serve
the optimised and the random patch.

Modes: ``naive`` fits on the bare detector (``eval.attackable(...).bare``), ``adaptive`` through the
configuration's deployed defenses (``.full``: straight-through rounding, BPDA host stages, EOT over
random stages; ``.joint`` with the squeeze detector's penalty above τ), ``query`` searches on the deployed
``Pipeline`` itself (an eval :class:`~.oracle.Oracle`, outputs only). Recall and AP are measured on
the deployed pipeline's raw outputs (onnxruntime) decoded at the default operating point (conf 0.25,
NMS IoU 0.7, as the detection decision).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..attacks.patch import PersonPatch, flatten_targets, random_patch, wear
from ..attacks.patch_eot import PatchConditions
from ..attacks.patch_place import DEFAULT_SCALE, check_scale
from ..errors import ConfigError
from .ap import average_precision
from .config import Config

PATCHES = Path(__file__).resolve().parents[1] / "models" / "patches"
SHIPPED = "person"  # edgeguard/models/patches/person.png (+ .json), `make patch`
PATCH_FIT_SEED = 30
MEASURE_SEED_OFFSET = 1_000_003  # fresh conditions: not the optimisation's draws
RANDOM_PATCH_SEED_OFFSET = 7
CONF, IOU = 0.25, 0.7  # the detection decision's defaults (edgeguard.detection)


@dataclass
class Scenes:
    """Rendered scenes as tensors: ``x`` (N, 3, H, W) in [0, 1]; per image the counted persons'
    ``boxes`` (K, 4) and full ``heights`` (K,); ``truth`` per image (all boxes, ignore flags) for AP."""

    x: torch.Tensor
    boxes: list[torch.Tensor]
    heights: list[torch.Tensor]
    truth: list[tuple[np.ndarray, np.ndarray]]

    def __len__(self) -> int:
        return len(self.x)


def scenes(n: int, seed: int, size: int = 320) -> Scenes:
    """Scenes ``(seed, 0..n-1)`` of the default (held-out difficulty) renderer."""
    from ..data.scene_sets import render_scene_set

    s = render_scene_set(n, seed, size)
    x = torch.from_numpy(s.images).permute(0, 3, 1, 2).float() / 255
    boxes, heights, truth = [], [], []
    for i in range(n):
        sel = s.image_index == i
        b, ign = s.boxes[sel], s.ignore[sel]
        boxes.append(torch.from_numpy(b[~ign]).float())
        heights.append(torch.from_numpy(s.heights[sel][~ign]).float())
        truth.append((b, ign))
    return Scenes(x, boxes, heights, truth)


def person_class(labels: list[str] | None, what: str) -> int:
    """Index of ``person`` among a detector's labels.

    Raises:
        ConfigError: the detector has no person class.
    """
    names = [str(v).strip().lower() for v in labels or ()]
    if "person" not in names:
        shown = ", ".join(names[:8]) or "none"
        raise ConfigError(f"{what}: the detector has no 'person' class (labels: {shown})")
    return names.index("person")


def detector_facts(config: Config) -> tuple[list[str] | None, int]:
    """A detector configuration's labels and input side; ConfigError for a classifier."""
    if config.is_engine:
        from ..engines.onnxruntime import read_onnx_manifest

        m = read_onnx_manifest(config.model)
        if m is None:
            raise ConfigError(f"{config.model}: no edgeguard manifest (task, labels and input size unknown)")
        task, labels, side = m.task, list(m.labels) if m.labels else None, int(m.input.size[0])
    else:
        from .. import models

        if config.model not in models.REGISTRY:
            raise ConfigError(f"{config.model!r} is not a registry model or an .onnx engine")
        extra = models.REGISTRY.get(config.model).extra
        task, labels = extra.get("task"), list(extra.get("labels") or [])
        side = int(extra.get("input_size", (320, 320))[0])
    if task != "detection":
        raise ConfigError(
            f"{config.name}: {config.model} is a {task or 'classification'} model; the person patch attacks "
            "person detectors (e.g. persons)"
        )
    return labels, side


def raw_outputs(model: Any, x: torch.Tensor, batch: int = 32) -> np.ndarray:
    """The model's ``(B, N, 4 + nc)`` rows (a model returning ``(raw, adv_score)`` gives its raw head)."""
    rows = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            raw = model(x[s : s + batch])
            rows.append((raw[0] if isinstance(raw, (tuple, list)) else raw).transpose(1, 2).numpy())
    return np.concatenate(rows) if rows else np.zeros((0, 0, 5), np.float32)


def detections(
    model: Any, x: torch.Tensor | None, conf: float = CONF, iou: float = IOU, cls: int = 0,
    raw: np.ndarray | None = None,
) -> list:  # fmt: skip
    """``(boxes xyxy, scores)`` per image from a YOLO-layout model's raw output (or ``raw`` rows from
    :func:`raw_outputs`): anchors whose best class is ``cls`` with its score above ``conf``, then the
    host NMS of the detection decision (:func:`edgeguard.nms.nms`)."""
    from ..nms import nms, xywh_to_xyxy

    out = []
    for r in raw_outputs(model, x) if raw is None else raw:
        r = r[(r[:, 4 + cls] > conf) & (r[:, 4:].argmax(1) == cls)]
        xyxy = xywh_to_xyxy(r[:, :4])
        k = nms(xyxy, r[:, 4 + cls], iou)[:300]
        out.append((xyxy[k], r[k, 4 + cls]))
    return out


def measure(
    model: Any, data: Scenes, patch: torch.Tensor | None, *, scale: float, seed: int,
    conditions: PatchConditions | None = None, cls: int = 0,
) -> dict[str, float]:  # fmt: skip
    """Person recall and precision at conf 0.25 and AP@0.5 (scores ≥ 0.001) with every counted person
    wearing ``patch`` (``None``: clean), conditions drawn from ``seed``."""
    x = data.x
    if patch is not None:
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            x = wear(
                x, data.boxes, patch, scale=scale, conditions=conditions, generator=gen, heights=data.heights
            )
    raw = raw_outputs(model, x)  # one pass serves both operating points
    at = average_precision(detections(None, None, cls=cls, raw=raw), data.truth, 0.5)
    ap = average_precision(detections(None, None, conf=0.001, cls=cls, raw=raw), data.truth, 0.5)
    return {"recall": at.recall, "precision": at.precision, "ap50": ap.ap, "people": at.n_gt}


def load_patch(name: str = SHIPPED) -> tuple[torch.Tensor, dict[str, Any]]:
    """A patch PNG as ``(3, p, p)`` in [0, 1] and its JSON record: a shipped name (``person``) or the
    path of a PNG written by ``edgeguard attack patch`` (its ``.json`` beside it).

    Raises:
        ConfigError: no such patch, an unreadable PNG or a missing / unreadable record.
    """
    import json

    import cv2

    path = PATCHES / f"{name}.png" if "/" not in name and not name.endswith(".png") else Path(name)
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in PATCHES.glob("*.png") if ".examples" not in p.name))
        raise ConfigError(f"patch {name!r}: no such file or shipped patch (shipped: {shipped or 'none'})")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[0] != bgr.shape[1]:
        raise ConfigError(f"patch {str(path)!r}: not a square PNG image")
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"patch {str(path)!r}: its record {path.with_suffix('.json').name} is unreadable: {err}"
        ) from None
    rgb = torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1])).permute(2, 0, 1).float() / 255
    return rgb, meta


@dataclass
class PatchRun:
    """The patch ``(3, p, p)`` in [0, 1], the record, and example frames (uint8 RGB)."""

    patch: torch.Tensor
    meta: dict[str, Any]
    examples: np.ndarray


def run(
    config: Config,
    *,
    mode: str = "adaptive",
    scale: float = DEFAULT_SCALE,
    steps: int = 300,
    queries: int = 300,
    fit: int = 200,
    test: int = 200,
    seed: int = 0,
    workdir: str | None = None,
) -> PatchRun:
    """Fit a patch for ``config`` (``mode``: naive, adaptive or query) and measure clean / random /
    optimised recall on ``test`` held-out scenes through the deployed pipeline.

    Raises:
        ConfigError: bad parameters, a classifier, a detector without a person class (checked first).
    """
    from ..attacks.patch import patch as make_patch
    from ..attacks.patch_query import patch_query
    from ..data.scene_sets import PERSONS_TEST_SEED
    from .attackable import attackable
    from .config import deploy
    from .oracle import Oracle

    if mode not in ("naive", "adaptive", "query"):
        raise ConfigError(f"attack patch: mode must be naive, adaptive or query, got {mode!r}")
    for key, v, lo in (("fit", fit, 1), ("test", test, 1), ("seed", seed, 0)):
        if isinstance(v, bool) or not isinstance(v, int) or v < lo:
            raise ConfigError(f"attack patch: --{key} must be a whole number >= {lo}, got {v!r}")
    check_scale(scale, "attack patch")
    labels, side = detector_facts(config)
    cls = person_class(labels, config.name)
    attack: PersonPatch
    if mode == "query":
        attack = patch_query(scale=scale, queries=queries, person_class=cls)
    else:
        attack = make_patch(scale=scale, steps=steps, person_class=cls)
    fit_set = scenes(fit, PATCH_FIT_SEED, side)
    test_set = scenes(test, PERSONS_TEST_SEED, side)
    notes: list[str] = []
    gen = torch.Generator().manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = deploy(config, workdir or tmp)
        deployed = Oracle(pipe)
        det = pipe.manifest.detector
        if mode == "query":
            scored: Any = Oracle(pipe, score=True) if det is not None else deployed
            if det is not None:
                attack = _with_tau(attack, float(det.threshold))
            target = scored
            notes.append("query-only: random search on the deployed pipeline's outputs (no gradients)")
        else:
            made = attackable(config, seed=seed)
            notes += made.notes
            if mode == "naive":
                target = made.bare
                notes.append("naive: fitted on the bare detector, measured through the deployed defenses")
            else:
                target = made.joint if made.joint is not None else made.full
                if made.joint is not None and det is not None:
                    attack = _with_tau(attack, float(det.threshold))
            if target is None:
                raise ConfigError(f"attack patch: {config.name} has no white-box copy; use --query N")
        fitted = attack.optimise(target, fit_set.x, fit_set.boxes, gen, heights=fit_set.heights)
        control = random_patch(attack.size, torch.Generator().manual_seed(seed + RANDOM_PATCH_SEED_OFFSET))
        m_seed = seed + MEASURE_SEED_OFFSET
        measured = {
            name: measure(deployed, test_set, p, scale=scale, seed=m_seed, cls=cls)
            for name, p in (("clean", None), ("random", control), ("patch", fitted.patch))
        }
        queries_used = deployed.queries
        examples = example_frames(deployed, test_set, fitted.patch, control, scale, m_seed, cls)
    flat, _, _ = flatten_targets(test_set.boxes)
    meta = {
        "attack": attack.spec(),
        "mode": mode,
        "config": {"model": config.model, "defenses": list(config.defenses), "stages": list(config.stages)},
        "detector": None if config.detector is None else config.detector,
        "person_class": cls,
        "weights_sha256": _weights_sha(config),
        "scale": scale,
        "placement": "square on the torso: side = scale x person height (capped by the box), centre "
        "0.37 of the height below the box top (edgeguard.attacks.patch_place)",
        "conditions": {k: v for k, v in PatchConditions().__dict__.items()},
        "patch_px": attack.size,
        "seed": seed,
        "fit": {"scenes": fit, "seed": PATCH_FIT_SEED, "objective_first_last": _ends(fitted.history)},
        "test": {
            "scenes": test,
            "seed": PERSONS_TEST_SEED,
            "people": len(flat),
            "conf": CONF,
            "nms_iou": IOU,
        },
        "measured": {**measured, "on": "the deployed pipeline (onnxruntime), raw outputs decoded"},
        "recall_drop_points": {
            k: round(100 * (measured["clean"]["recall"] - measured[k]["recall"]), 1)
            for k in ("random", "patch")
        },
        "measurement_queries": queries_used,
        "notes": notes,
    }
    return PatchRun(patch=fitted.patch, meta=meta, examples=examples)


def _weights_sha(config: Config) -> str | None:
    """sha256 of the detector's weights file (registry model) or of the engine file."""
    import hashlib

    from .. import models

    if config.is_engine:
        path = Path(config.model)
    else:
        entry = models.REGISTRY.get(config.model)
        path = Path(config.weights or entry.extra.get("default_weights") or "")
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def _with_tau(attack: PersonPatch, tau: float) -> PersonPatch:
    from dataclasses import replace

    return replace(attack, tau=tau)


def _ends(history: list[float]) -> list[float]:
    if not history:
        return []
    k = max(1, len(history) // 10)
    return [float(np.mean(history[:k])), float(np.mean(history[-k:]))]


def example_frames(
    model: Any,
    data: Scenes,
    patch: torch.Tensor,
    control: torch.Tensor,
    scale: float,
    seed: int,
    cls: int = 0,
) -> np.ndarray:
    """Up to 4 test scenes with people, one per row: clean | random patch | optimised patch, with the
    deployed detector's boxes and scores at the default threshold drawn (uint8 RGB)."""
    from ..data.scene_sets import draw_boxes

    idx = [i for i in range(len(data)) if len(data.boxes[i])][:4] or [0]
    rows = []
    for i in idx:
        x = data.x[i : i + 1]
        cells = [x]
        for p in (control, patch):
            gen = torch.Generator().manual_seed(seed + i)
            cells.append(wear(x, [data.boxes[i]], p, scale=scale, generator=gen, heights=[data.heights[i]]))
        drawn = []
        for c in cells:
            rgb = (c[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
            boxes, scores = detections(model, c, cls=cls)[0]
            drawn.append(draw_boxes(rgb, boxes, scores=scores))
        rows.append(np.concatenate(drawn, 1))
    return np.concatenate(rows, 0)


__all__ = [
    "PATCH_FIT_SEED",
    "PATCHES",
    "SHIPPED",
    "PatchRun",
    "Scenes",
    "detections",
    "detector_facts",
    "example_frames",
    "load_patch",
    "measure",
    "person_class",
    "raw_outputs",
    "run",
    "scenes",
]
