"""The embedded person detector: YOLOv8 output layout, ONNX parity, and it finds rendered people."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeguard import models
from edgeguard.models.persons import PersonDetector


def _constant_boxes(net: PersonDetector, side: float) -> None:
    """Every anchor regresses ``side`` strides to each side: softplus(b) = side with zero weights."""
    for h in net.heads:
        conv = h.box[-1]
        torch.nn.init.zeros_(conv.weight)
        torch.nn.init.constant_(conv.bias, float(np.log(np.expm1(side))))


def test_output_is_the_ultralytics_layout() -> None:
    """(B, 4 + nc, N), N = 40² + 20² + 10² = 2100 at 320²; anchors at cell centres (i + 0.5)·s, stride 8
    first, row-major; cx, cy, w, h in input pixels; sigmoid scores in [0, 1]."""
    torch.manual_seed(0)
    net = PersonDetector().eval()
    _constant_boxes(net, 1.0)
    with torch.no_grad():
        out = net(torch.rand(2, 3, 320, 320))
    assert out.shape == (2, 5, 2100)
    cx, cy, w, h, score = out[0]
    s = torch.tensor([8.0] * 1600 + [16.0] * 400 + [32.0] * 100)
    col = torch.cat([torch.arange(n).repeat(n) for n in (40, 20, 10)]).float()
    row = torch.cat([torch.arange(n).repeat_interleave(n) for n in (40, 20, 10)]).float()
    torch.testing.assert_close(cx, (col + 0.5) * s, atol=1e-4, rtol=0)
    torch.testing.assert_close(cy, (row + 0.5) * s, atol=1e-4, rtol=0)
    torch.testing.assert_close(w, 2 * s, atol=1e-4, rtol=0)
    torch.testing.assert_close(h, 2 * s, atol=1e-4, rtol=0)
    assert ((score >= 0) & (score <= 1)).all()
    assert net(torch.rand(1, 3, 256, 384)).shape == (1, 5, 32 * 48 + 16 * 24 + 8 * 12)


def test_onnx_export_equals_torch(tmp_path) -> None:
    import onnxruntime as ort

    net, info = models.build("persons")
    assert info.task == "detection" and info.labels == ["person"] and info.input_size == (320, 320)
    x = torch.rand(2, 3, 320, 320, generator=torch.Generator().manual_seed(1))
    path = tmp_path / "persons.onnx"
    torch.onnx.export(
        net,
        (x[:1],),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["images"],
        output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        want = net(x).numpy()
    assert got.shape == (2, 5, 2100)
    np.testing.assert_allclose(got, want, atol=2e-3, rtol=1e-4)  # boxes in pixels, scores in [0, 1]


@pytest.mark.slow
def test_shipped_detector_finds_rendered_people() -> None:
    """Held-out scenes (test seed), default thresholds (conf 0.25, IoU 0.7): most people found, AP far
    above chance (a detector that does not look scores ~0: 2100 anchors, a few people). README, 500
    scenes: mAP@0.5 0.87, recall 87 %, precision 69 %; these 8 scenes: 0.87, 84 %, 68 %."""
    from edgeguard.data.scene_sets import PERSONS_TEST_SEED, render_scene_set
    from edgeguard.train_persons import evaluate

    net, _ = models.build("persons")
    data = render_scene_set(8, PERSONS_TEST_SEED, 320)
    m = evaluate(net, data)
    assert m["n_people"] >= 12
    assert m["map50"] > 0.7 and m["recall"] > 0.65 and m["precision"] > 0.5


def test_assignment_on_a_hand_built_person() -> None:
    """A 40×96 person at (100, 100): positives are the stride-8 and stride-16 anchors inside the box and
    within 2.5 strides of its centre (120, 148); no stride-32 anchor (range from 128 px). By hand: stride
    8 centres x ∈ {108, 116, 124, 132}, y ∈ {132, …, 164} (4 × 5); stride 16 x ∈ {104, 120, 136},
    y ∈ {120, …, 184} (3 × 5)."""
    from edgeguard.train_persons import assign

    net = PersonDetector().eval()
    with torch.no_grad():
        _, _, pts, strides = net.raw(torch.zeros(1, 3, 320, 320))
    gt = torch.tensor([[[100.0, 100.0, 140.0, 196.0]]])
    fg, idx, ignore = assign(pts, strides, gt, torch.tensor([[1.0]]))
    x, y, s = pts[:, 0], pts[:, 1], strides
    want = (
        (x > 100)
        & (x < 140)
        & (y > 100)
        & (y < 196)
        & ((x - 120).abs() < 2.5 * s)
        & ((y - 148).abs() < 2.5 * s)
    )
    want &= s < 32
    assert torch.equal(fg[0], want) and int(want[s == 8].sum()) == 4 * 5 and int(want[s == 16].sum()) == 3 * 5
    assert not ignore.any() and (idx[0][fg[0]] == 0).all()


def test_train_persons_refuses_a_bad_out(cli, tmp_path) -> None:
    res = cli("train", "persons", "--out", str(tmp_path / "w.pt"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "safetensors" in res.stderr
    assert not any(tmp_path.iterdir())


def test_task_aligned_targets_by_hand() -> None:
    """Two people, five anchors (TOOD/YOLOv8 assignment, α = 1, β = 6). Person 0 [0, 0, 10, 10]: a0 exact
    (score 0.5, t = 0.5), a1 half height (IoU 0.5, score 0.9, t = 0.9/64), a2 80 % height (IoU 0.8, score
    0.2, t = 0.2·0.8⁶ = 0.0524288); person 1 [20, 0, 30, 10]: a3 exact (score 0.3); a4 [4, 0, 24, 10] is a
    candidate of both (IoU 0.25 and 40/260, score 1). Top-2: person 0 keeps a0 and a2 (a1's partial box
    loses despite its higher score), targets t / max t · max IoU = 1 and 0.1048576; a3 → 1; a4 is
    person 1's second (t = (40/260)⁶ ≈ 1.3e-5, target t/0.3). Top-4: a4 is chosen by both and goes to
    the person it overlaps most (0), target 0.25⁶/0.5."""
    from edgeguard.persons_tal import task_aligned_targets

    gt = torch.tensor([[[0.0, 0, 10, 10], [20, 0, 30, 10]]])
    pred = torch.tensor([[[0.0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 8], [20, 0, 30, 10], [4, 0, 24, 10]]])
    scores = torch.tensor([[0.5, 0.9, 0.2, 0.3, 1.0]])
    cand = torch.tensor([[[1, 0], [1, 0], [1, 0], [0, 1], [1, 1]]], dtype=torch.bool)
    fg, idx, target = task_aligned_targets(cand, scores, pred, gt, topk=2)
    assert fg[0].tolist() == [True, False, True, True, True]
    assert idx[0][fg[0]].tolist() == [0, 0, 1, 1]
    want = torch.tensor([1.0, 0.0, 0.1048576, 1.0, (40 / 260) ** 6 / 0.3])
    torch.testing.assert_close(target[0], want, atol=1e-6, rtol=1e-4)
    fg, idx, target = task_aligned_targets(cand, scores, pred, gt, topk=4)
    assert fg[0].all() and idx[0].tolist() == [0, 0, 0, 1, 0]
    want = torch.tensor([1.0, 0.9 / 64 / 0.5, 0.1048576, 1.0, 0.25**6 / 0.5])
    torch.testing.assert_close(target[0], want, atol=1e-6, rtol=1e-4)
