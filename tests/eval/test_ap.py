"""AP@0.5 on a hand-worked case, ignore regions and size ranges, IoU against torchvision."""

from __future__ import annotations

import numpy as np
import pytest

from edgeguard.eval.ap import average_precision, box_iou, match_image

# image A: two people, one found twice (the duplicate is a false alarm), one found late
A_GT = (np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float), None)
A_DET = (np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 0, 30, 10]], float), np.array([0.9, 0.8, 0.3]))
# image B: one person missed, one ignored person detected (no effect), one false alarm
B_GT = (np.array([[0, 0, 10, 20], [50, 50, 60, 60]], float), np.array([False, True]))
B_DET = (np.array([[50, 50, 60, 60], [100, 100, 110, 110]], float), np.array([0.95, 0.6]))


def test_hand_worked_ap() -> None:
    # ranked: 0.9 TP, 0.8 FP, 0.6 FP, 0.3 TP over 3 people → recall 1/3,1/3,1/3,2/3, precision
    # 1, 1/2, 1/3, 1/2; envelope 1, 1/2, 1/2, 1/2 → AP = 1/3·1 + 1/3·1/2 = 0.5
    r = average_precision([A_DET, B_DET], [A_GT, B_GT])
    assert r.ap == pytest.approx(0.5)
    assert r.recall == pytest.approx(2 / 3) and r.precision == pytest.approx(0.5)
    assert (r.n_gt, r.n_det) == (3, 4)
    np.testing.assert_allclose(r.curve[1], [1, 1 / 2, 1 / 3, 1 / 2])


def test_size_range_ignores_people_and_detections_outside_it() -> None:
    # small people (< 15 px): the 20 px person is out of range → 2 people; recall 1/2 ... 1 → 0.75
    r = average_precision([A_DET, B_DET], [A_GT, B_GT], size=(0, 15))
    assert r.n_gt == 2 and r.ap == pytest.approx(0.75)
    # an unmatched 30 px detection does not count against small-people AP, but does overall
    tall = (np.array([[200, 0, 210, 30]], float), np.array([0.99]))
    scores, tp, n = match_image(*tall, *B_GT, size=(0, 15))
    assert len(scores) == 0 and n == 0
    scores, tp, n = match_image(*tall, *B_GT)
    assert list(tp) == [False] and n == 1


def test_iou_threshold_and_empty_cases() -> None:
    det = (np.array([[0, 0, 10, 10]], float), np.array([0.5]))
    gt = (np.array([[5, 0, 15, 10]], float), None)  # IoU 50/150 = 1/3
    assert average_precision([det], [gt], iou=0.3).ap == pytest.approx(1.0)
    assert average_precision([det], [gt], iou=0.5).ap == pytest.approx(0.0)
    assert np.isnan(average_precision([(np.zeros((0, 4)), np.zeros(0))], [(np.zeros((0, 4)), None)]).ap)
    with pytest.raises(ValueError):
        average_precision([det], [])


def test_box_iou_matches_torchvision() -> None:
    import torch
    from torchvision.ops import box_iou as tv_iou

    rng = np.random.default_rng(0)
    a = rng.uniform(0, 50, (20, 2))
    a = np.concatenate([a, a + rng.uniform(1, 30, (20, 2))], 1)
    b = rng.uniform(0, 50, (15, 2))
    b = np.concatenate([b, b + rng.uniform(1, 30, (15, 2))], 1)
    np.testing.assert_allclose(
        box_iou(a, b), tv_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy(), atol=1e-12
    )
