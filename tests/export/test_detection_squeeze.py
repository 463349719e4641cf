"""Detection squeeze score: ``export persons --detector squeeze:…`` puts ``adv_score`` in the engine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import edgeguard
from edgeguard.defenses.squeeze import DetectionSqueeze, detection_squeeze_score, from_spec, threshold_at_fpr
from edgeguard.errors import ConfigError
from edgeguard.exporter.detector import engine_scores
from edgeguard.exporter.quantize import list_images, load_batch

DETECTOR = "squeeze:median=3x3"


def _scenes(n: int, seed: int, size: int = 64) -> np.ndarray:
    from edgeguard.data.scene_sets import render_scene_set

    images = render_scene_set(n, seed=seed, size=size).images
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / np.float32(255.0)


def test_score_is_the_l1_change_of_the_best_class_map():
    # 2 views (raw, one squeezer) × 1 image × (4 + 2 classes) × 3 anchors; boxes must not count
    raw = torch.tensor([[0, 0, 0], [0, 0, 0], [1, 1, 1], [1, 1, 1], [0.9, 0.1, 0.0], [0.2, 0.3, 0.4]])
    sq = raw.clone()
    sq[:4] += 50.0  # the boxes move a lot: not part of the score
    sq[4] = torch.tensor([0.5, 0.1, 0.0])  # best map: (0.9, 0.3, 0.4) → (0.5, 0.3, 0.4)
    sq[5] = torch.tensor([0.2, 0.8, 0.4])  # → (0.5, 0.8, 0.4): |Δ| = 0.4 + 0.5 + 0 = 0.9
    score = detection_squeeze_score(torch.stack([raw, sq])[:, None])
    torch.testing.assert_close(score, torch.tensor([0.9]))


@pytest.mark.slow
def test_persons_engine_score_equals_torch_and_tau_is_its_quantile(tmp_path: Path) -> None:
    calib = tmp_path / "calib"
    calib.mkdir()
    for i, img in enumerate(_scenes(20, seed=7)):
        cv2.imwrite(
            str(calib / f"{i:02d}.png"), (img.transpose(1, 2, 0)[:, :, ::-1] * 255).round().astype(np.uint8)
        )
    out = tmp_path / "p.onnx"
    res = edgeguard.export(
        "persons", input_size=64, detector=DETECTOR, detector_fpr=0.1, detector_calib=calib, out=out,
        parity_images=2,
    )  # fmt: skip
    m = res.manifest
    assert m.task == "detection" and m.outputs == ("logits", "adv_score") and m.detector.spec == DETECTOR
    x = load_batch(list_images(calib), m)
    scores = engine_scores(out, x)
    assert m.detector.threshold == threshold_at_fpr(scores, 0.1)
    # onnxruntime's score equals the torch module's on other scenes
    from edgeguard.models import build

    net, _ = build("persons", None)
    y = _scenes(6, seed=8)
    with torch.no_grad():
        _, want = DetectionSqueeze(net.eval(), from_spec(DETECTOR))(torch.from_numpy(y))
    np.testing.assert_allclose(engine_scores(out, y), want.numpy(), rtol=1e-4, atol=1e-4 * float(want.max()))
    # the detection decision carries it: what the camera's detect path reads
    results = edgeguard.load(out).run_batch(y)
    assert [r.adv_score for r in results] == pytest.approx(engine_scores(out, y).tolist(), rel=1e-6)
    assert [r.flagged for r in results] == [s > m.detector.threshold for s in engine_scores(out, y)]


@pytest.mark.slow
def test_tau_at_5_percent_on_clean_scenes_flags_about_5_percent_of_new_ones() -> None:
    """τ is the 95 % quantile of 150 clean scenes' scores; on 150 other clean scenes the flagged share
    is then Beta-distributed around 5 % (sd ≈ 1.8 %): within (0, 15 %] for any sane detector."""
    from edgeguard.models import build

    net, _ = build("persons", None)
    det = DetectionSqueeze(net.eval(), from_spec("squeeze:bits=4,median=3x3"))
    with torch.no_grad():
        calib = det(torch.from_numpy(_scenes(150, seed=21)))[1].numpy()
        held = det(torch.from_numpy(_scenes(150, seed=23)))[1].numpy()
    tau = threshold_at_fpr(calib, 0.05)
    assert np.mean(calib > tau) <= 0.05
    assert 0.0 < np.mean(held > tau) <= 0.15


def test_other_detectors_need_a_calibration_folder(tmp_path: Path) -> None:
    from edgeguard.exporter.detector import check_options

    assert check_options(DETECTOR, 0.05, None, "persons").calib is None  # rendered scenes by default
    with pytest.raises(ConfigError, match="--detector-calib"):
        check_options(DETECTOR, 0.05, None, "yolo-custom")
