"""Detection metrics against scikit-learn's roc_curve / roc_auc_score (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from edgeguard.errors import ConfigError
from edgeguard.eval import detection


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_roc_and_auc_equal_sklearn(seed, ties):
    rng = np.random.default_rng(seed)
    clean, adv = rng.normal(0, 1, 200), rng.normal(1, 1, 150)
    if ties:  # quantised scores: many equal values across and within the classes
        clean, adv = np.round(clean, 1), np.round(adv, 1)
    y = np.r_[np.zeros(clean.size), np.ones(adv.size)]
    s = np.r_[clean, adv]
    fpr, tpr, thr = detection.roc(clean, adv)
    ref_fpr, ref_tpr, ref_thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr)
    np.testing.assert_allclose(tpr, ref_tpr)
    np.testing.assert_array_equal(thr[1:], ref_thr[1:])
    assert detection.auc(clean, adv) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_hand_worked_auc_and_rates():
    clean, adv = [0.1, 0.2, 0.3], [0.25, 0.4]
    # pairs (adv > clean): 0.25 beats 0.1, 0.2; 0.4 beats all three → 5 of 6
    assert detection.auc(clean, adv) == pytest.approx(5 / 6)
    assert detection.detection_rate(adv, 0.3) == 0.5 and detection.detection_rate(adv, 0.4) == 0.0
    assert detection.threshold_at_fpr(clean, 1 / 3) == 0.2
    s = detection.summary(clean, adv, 0.2, fpr=1 / 3)
    assert s == {
        "tau": 0.2,
        "fpr": 1 / 3,
        "auc": pytest.approx(5 / 6),
        "clean_flagged": 1 / 3,
        "detection_rate": 1.0,
    }


def test_empty_or_nan_scores_are_refused():
    with pytest.raises(ConfigError, match="no clean scores"):
        detection.roc([], [1.0])
    with pytest.raises(ConfigError, match="adversarial score is NaN"):
        detection.auc([0.1], [float("nan")])
