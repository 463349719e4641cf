"""Decisions: engine outputs → what the application acts on. Task-generic by registry.

A decision step registers itself for a task with ``@DECISIONS.register(task, ...)`` beside its
definition; :func:`for_task` looks the manifest's task up. Classification (softmax top-k) is here;
detection (boxes, NMS) registers its own decision in its own module.
Every decision returns a list with one JSON-serialisable dict per image.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import ConfigError
from .manifest import Manifest
from .registry import DECISIONS

Decision = Callable[[dict[str, np.ndarray], Manifest], list[dict[str, Any]]]


def for_task(task: str, **options: Any) -> Decision:
    """The decision step registered for the manifest's ``task`` (``@DECISIONS.register(task)``).

    Raises:
        ConfigError: no decision step for ``task``, or an option it does not take.
    """
    if task not in DECISIONS:
        raise ConfigError(f"no decision step for task {task!r} (known: {', '.join(DECISIONS.names())})")
    return DECISIONS.create(task, **options)


def params(task: str) -> tuple[Any, ...]:
    """The option table (:class:`~edgeguard.registry.Param`) of ``task``'s decision step."""
    return DECISIONS.get(task).params


def tasks() -> list[str]:
    """Tasks that have a decision step."""
    return DECISIONS.names()


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@DECISIONS.register(
    "classification",
    summary="softmax top-k labels (+ adversarial score and flag when the engine has a detector)",
    usage="classification",
    help={"top": "how many classes to report", "output": "engine output holding the logits"},
    examples=({"top": 1}, {"top": 5}, {"top": 3, "output": "logits"}),
    invalid=({"top": 0},),
)
def classification(top: int = 5, output: str = "logits") -> Decision:
    """Top-``top`` labels with softmax probabilities; the adversarial score is added when present."""
    if top < 1:
        raise ConfigError(f"--top {top}: must be at least 1")

    def decide(outputs: dict[str, np.ndarray], manifest: Manifest) -> list[dict[str, Any]]:
        logits = outputs.get(output, next(iter(outputs.values())))
        probs = softmax(logits.astype(np.float64))
        labels = manifest.labels or ()
        det = manifest.detector
        scores = outputs.get(det.output) if det else None
        results = []
        for i, p in enumerate(probs):
            idx = np.argsort(-p, kind="stable")[: min(top, p.size)]
            res: dict[str, Any] = {
                "top": [
                    {
                        "label": labels[j] if j < len(labels) else str(int(j)),
                        "index": int(j),
                        "prob": float(p[j]),
                    }
                    for j in idx
                ]
            }
            if scores is not None:
                s = float(np.asarray(scores[i]).reshape(-1)[0])
                res["adv_score"] = s
                res["flagged"] = bool(s > det.threshold)  # type: ignore[union-attr]
            results.append(res)
        return results

    return decide
