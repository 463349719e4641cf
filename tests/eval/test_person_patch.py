"""eval.person_patch: decoding the raw head (threshold, best class, NMS) and the measured recall of a
patch on a tiny YOLO-layout detector whose score is a known function of the pixels."""

from __future__ import annotations

import numpy as np
import torch

from edgeguard.eval.person_patch import Scenes, detections, measure


def test_decode_keeps_the_person_class_above_conf_after_nms() -> None:
    rows = np.array(
        [
            [50, 50, 20, 40, 0.9, 0.1],  # person
            [51, 50, 20, 40, 0.8, 0.1],  # overlaps the first: suppressed
            [150, 50, 20, 40, 0.2, 0.1],  # below conf
            [250, 50, 20, 40, 0.6, 0.7],  # best class is the other one
        ],
        np.float32,
    )[None]
    ((boxes, scores),) = detections(None, None, conf=0.25, iou=0.7, cls=0, raw=rows)
    assert np.allclose(boxes, [[40, 30, 60, 70]]) and np.allclose(scores, [0.9])
    ((boxes1, _),) = detections(None, None, conf=0.25, iou=0.7, cls=1, raw=rows)
    assert np.allclose(boxes1, [[240, 30, 260, 70]])


class Brightness(torch.nn.Module):
    """One anchor per image at a fixed box; its person score is the mean brightness of that box."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x[:, :, 10:50, 20:40].mean((1, 2, 3))
        box = torch.tensor([30.0, 30.0, 20.0, 40.0]).expand(len(x), 4)
        return torch.cat([box, s[:, None]], 1)[:, :, None]


def test_a_black_patch_hides_the_bright_person_and_recall_says_so() -> None:
    x = torch.full((2, 3, 64, 64), 0.3)
    boxes = [torch.tensor([[20.0, 10.0, 40.0, 50.0]]), torch.tensor([[20.0, 10.0, 40.0, 50.0]])]
    data = Scenes(x, boxes, [torch.tensor([40.0])] * 2, [(b.numpy(), np.zeros(1, bool)) for b in boxes])
    clean = measure(Brightness(), data, None, scale=0.5, seed=0)
    assert clean["recall"] == 1.0 and clean["people"] == 2
    # a black patch of side 20 (the box width) covers half the box: mean 0.15 < conf 0.25
    from edgeguard.attacks.patch_eot import PatchConditions

    hidden = measure(
        Brightness(), data, torch.zeros(3, 8, 8), scale=0.5, seed=0, conditions=PatchConditions.none()
    )
    assert hidden["recall"] == 0.0
