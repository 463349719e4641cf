"""Detection metrics of an adversarial-input detector: ROC, AUC, τ at a false-positive rate, detection rate.

Positives are adversarial inputs, negatives clean ones; a higher score means "more adversarial" and
an input is flagged when its score is strictly above τ (as ``edgeguard.decision`` flags frames).
Written with numpy (a sort and two cumulative sums; no extra dependency for the report); the tests
check it against scikit-learn's ``roc_curve``/``roc_auc_score`` as the oracle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..defenses.squeeze import threshold_at_fpr
from ..errors import ConfigError

Scores = np.ndarray | Sequence[float]


def _scores(values: Scores, what: str) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64).reshape(-1)
    if s.size == 0:
        raise ConfigError(f"detection: no {what} scores")
    if not np.isfinite(s).all():
        raise ConfigError(f"detection: a {what} score is NaN or Inf")
    return s


def roc(scores_clean: Scores, scores_adv: Scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ROC curve: ``(fpr, tpr, thresholds)``, one point per distinct score, from (0, 0) up.

    Point ``i`` is the rule "flag when score ≥ thresholds[i]" (the first threshold is +inf: nothing
    flagged), as scikit-learn's ``roc_curve(..., drop_intermediate=False)``.

    Raises:
        ConfigError: an empty or non-finite score list.
    """
    clean, adv = _scores(scores_clean, "clean"), _scores(scores_adv, "adversarial")
    s = np.concatenate([clean, adv])
    y = np.concatenate([np.zeros(clean.size), np.ones(adv.size)])
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the last index of each distinct score
    tps = np.cumsum(y)[last]
    fps = last + 1 - tps
    fpr = np.r_[0.0, fps / clean.size]
    tpr = np.r_[0.0, tps / adv.size]
    return fpr, tpr, np.r_[np.inf, s[last]]


def auc(scores_clean: Scores, scores_adv: Scores) -> float:
    """Area under the ROC curve (trapezoids; ties count one half): P(score_adv > score_clean)."""
    fpr, tpr, _ = roc(scores_clean, scores_adv)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def detection_rate(scores: Scores, tau: float) -> float:
    """The fraction of ``scores`` strictly above ``tau`` (flagged)."""
    return float(np.mean(_scores(scores, "") > tau))


def summary(scores_clean: Scores, scores_adv: Scores, tau: float, fpr: float | None = None) -> dict[str, Any]:
    """``{"tau", "fpr", "auc", "clean_flagged", "detection_rate"}`` for a results record."""
    return {
        "tau": float(tau),
        "fpr": fpr,
        "auc": auc(scores_clean, scores_adv),
        "clean_flagged": detection_rate(scores_clean, tau),
        "detection_rate": detection_rate(scores_adv, tau),
    }


__all__ = ["auc", "detection_rate", "roc", "summary", "threshold_at_fpr"]
