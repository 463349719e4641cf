"""ObjectSeeker (certified masking for detection): graph copies, host merge against ART, the certificate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeguard.defenses.seeker import SplitCopies
from edgeguard.detection import detection
from edgeguard.errors import ConfigError
from edgeguard.eval.seeker import Certificate, certify_objects, patch_pixels, recovering
from edgeguard.seeker import SeekerOptions, clusters, masked_rows, merge, parse, split_set


class Toy(nn.Module):
    """A detector whose answer is known: one anchor per template box (fixed ``cx cy w h``); its class
    score is the mean of channel 0 inside the box (the object's visible fraction when objects are
    drawn as 1 on 0), times ``1 − max(channel 1)``: any green pixel anywhere hides everything (a
    patch-hiding attack that works from far away, which masking it undoes)."""

    def __init__(self, boxes: list[list[int]], classes: list[int], nc: int = 2) -> None:
        super().__init__()
        self.boxes, self.classes, self.nc = boxes, classes, nc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hide = 1.0 - x[:, 1].amax(dim=(1, 2))
        cols = []
        for (x1, y1, x2, y2), c in zip(self.boxes, self.classes):
            s = x[:, 0, y1:y2, x1:x2].mean(dim=(1, 2)) * hide
            xywh = torch.tensor([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dtype=x.dtype)
            cls = torch.zeros(x.shape[0], self.nc, dtype=x.dtype)
            cls[:, c] = s
            cols.append(torch.cat([xywh.expand(x.shape[0], 4), cls], 1))
        return torch.stack(cols, 2)  # (B, 4 + nc, K)


def _scene(size: int, objects: list[list[int]], green: list[int] | None = None) -> np.ndarray:
    x = np.zeros((1, 3, size, size), np.float32)
    for x1, y1, x2, y2 in objects:
        x[0, 0, y1:y2, x1:x2] = 1.0
    if green is not None:
        x1, y1, x2, y2 = green
        x[0, 1, y1:y2, x1:x2] = 1.0
    return x


def _seeker(model: nn.Module, x: np.ndarray, splits, conf: float, opts: SeekerOptions) -> np.ndarray:
    """Base ∪ recovered rows of one frame through the graph module (what the pipeline does)."""
    head, heads = SplitCopies(model, splits)(torch.from_numpy(x))
    decide = detection(conf=conf, iou=0.5)
    base = decide._raw(head[0].numpy(), None)[0]
    masked = masked_rows(heads[0].numpy(), decide, None, splits.size, opts.masked_conf)
    return np.concatenate([base, merge(base, masked, opts)])


def test_split_geometry_and_options():
    s = split_set(3, (64, 64))
    assert s.positions(0) == [16, 32, 48] and s.count == 12
    assert s.copies()[:4] == [("top", 16), ("bottom", 16), ("left", 16), ("right", 16)]
    keep = s.keep()
    assert keep[0, 0, :16].sum() == 0 and keep[0, 0, 16:].min() == 1  # top: rows above the line
    assert keep[3, 0, :, 16:].sum() == 0 and keep[3, 0, :, :16].min() == 1  # right: columns from it
    assert parse("lines=30,fill=0.5", (320, 320)) == (split_set(30, (320, 320), fill=0.5), SeekerOptions())
    assert parse("masked_conf=0.4,prune=0.5", (64, 64))[1] == SeekerOptions(masked_conf=0.4, prune=0.5)
    for bad in ("lines=0", "lines=64", "patch=0.25", "fill=2", "lines", "masked_conf=1.5"):
        with pytest.raises(ConfigError, match="--masking"):
            parse(bad, (64, 64))


def test_batched_copies_equal_the_per_mask_loop():
    torch.manual_seed(0)  # a small conv net with a YOLO-shaped head: every output depends on pixels
    f = nn.Sequential(nn.Conv2d(3, 8, 5, 4, 2), nn.SiLU(), nn.Conv2d(8, 5, 3, 2, 1), nn.Flatten(2)).eval()
    splits = split_set(2, (64, 64), fill=0.25)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        head, heads = SplitCopies(f, splits)(x)
        torch.testing.assert_close(head, f(x), rtol=1e-4, atol=1e-5)
        assert tuple(heads.shape) == (2, 8, 5, 64)
        for i in range(splits.count):
            one = f(torch.from_numpy(splits.apply(x.numpy(), i)))
            torch.testing.assert_close(heads[:, i], one, rtol=1e-4, atol=1e-5)
    assert np.array_equal(SplitCopies(f, splits).keep().numpy(), splits.keep())
    assert np.array_equal(SplitCopies(f, splits).keep(x).numpy(), splits.keep())


def test_clusters_equal_sklearn_dbscan():
    from sklearn.cluster import DBSCAN

    from edgeguard.seeker import box_ioa

    rng = np.random.default_rng(0)
    for _ in range(20):
        xy = rng.uniform(0, 50, (12, 2))
        boxes = np.concatenate([xy, xy + rng.uniform(2, 30, (12, 2))], 1)
        ioa = box_ioa(boxes, boxes)
        want = DBSCAN(eps=0.1, min_samples=1, metric="precomputed").fit_predict(1 - np.maximum(ioa, ioa.T))
        got = clusters(boxes, 0.1)
        assert len(set(zip(want, got))) == len(set(want)) == len(set(got))  # the same partition


@pytest.mark.parametrize("green", [None, [58, 2, 62, 6], [2, 50, 6, 54]])
def test_merge_equals_art_objectseeker(green):
    """ART's PyTorchObjectSeeker (adversarial-robustness-toolbox) as the oracle of the inference: the
    same 12 copies (k = 3 on 64 px: both place the lines at 16, 32, 48) and thresholds give the same
    boxes, labels and scores."""
    from art.estimators.certification.object_seeker import PyTorchObjectSeeker

    toy = Toy([[8, 8, 24, 24], [40, 36, 56, 60]], [0, 1])

    class AsDicts(nn.Module):  # ART's detector interface: list of {boxes, scores, labels}
        def forward(self, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
            out = []
            for p in toy(x):
                xywh, cls = p[:4].T, p[4:].T
                xyxy = torch.cat([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
                out.append({"boxes": xyxy, "scores": cls.max(1).values, "labels": cls.argmax(1)})
            return out

    art = PyTorchObjectSeeker(
        AsDicts(), input_shape=(3, 64, 64), detector_type="Faster-RCNN", num_lines=3,
        confidence_threshold=0.7, iou_threshold=0.5, prune_threshold=0.6, epsilon=0.1,
        device_type="cpu", clip_values=(0, 1),
    )  # fmt: skip
    x = _scene(64, [[8, 8, 24, 24], [40, 36, 56, 60]], green)
    want = art.predict(x)[0]
    want_rows = np.concatenate([want["boxes"], want["scores"][:, None], want["labels"][:, None]], 1)
    opts = SeekerOptions(masked_conf=0.7, prune=0.6, eps=0.1)
    got = _seeker(toy, x, split_set(3, (64, 64)), 0.7, opts)
    key = lambda r: tuple(np.round(r, 4))  # noqa: E731
    assert sorted(map(key, got)) == sorted(map(key, want_rows))
    assert len(got) == 2  # both people found: by the base detector, or recovered from the copies


def test_masking_recovers_what_a_far_patch_hides():
    toy = Toy([[32, 32, 48, 48]], [0], nc=1)
    x = _scene(80, [[32, 32, 48, 48]], green=[4, 4, 12, 12])
    splits, opts = split_set(4, (80, 80)), SeekerOptions()
    head = toy(torch.from_numpy(x))[0].numpy()
    assert detection(conf=0.25)._raw(head, None)[0].shape[0] == 0  # the bare detector sees nobody
    rows = _seeker(toy, x, splits, 0.25, opts)
    assert rows.shape[0] == 1 and np.allclose(rows[0, :4], [32, 32, 48, 48])


def _flags(toy: nn.Module, lines: int, ioa: float = 0.5) -> tuple[np.ndarray, object]:
    splits = split_set(lines, (80, 80))
    x = _scene(80, [[32, 32, 48, 48]])
    _, heads = SplitCopies(toy, splits)(torch.from_numpy(x))
    masked = masked_rows(heads[0].numpy(), detection(iou=0.5), None, splits.size, 0.8)
    return recovering(masked, np.array([[32, 32, 48, 48]]), np.array([0]), prune=0.6, ioa=ioa), splits


def test_certificate_of_a_hand_worked_toy():
    """80 px frame, one 16 px object at (32, 32)–(48, 48), lines at 16, 32, 48, 64: every copy that
    leaves the object whole sees it (score 1 > τ_mask 0.8; the bound is 0.6 · |g| / |g| = 0.6 > T 0.5):
    top@16, top@32, bottom@48, bottom@64, and the same for left/right. The robust half-planes are rows
    < 32, rows ≥ 48, columns < 32, columns ≥ 48: any patch that misses the object fits in one (far and
    close certified); one on the object fits in none (over not certified)."""
    toy = Toy([[32, 32, 48, 48]], [0], nc=1)
    flags, splits = _flags(toy, 4)
    sees = [True, False, True, False] * 2 + [False, True, False, True] * 2  # per line: top bottom left right
    assert flags[:, 0].tolist() == sees
    gt = np.array([[32, 32, 48, 48]])
    assert certify_objects(flags, gt, splits, 8) == [Certificate(far=True, close=True, over=False)]
    # one line at 40 cuts the object in two: no copy sees it whole, no location is robust
    flags1, splits1 = _flags(toy, 1)
    assert not flags1.any()
    assert certify_objects(flags1, gt, splits1, 8) == [Certificate(far=False, close=False, over=False)]
    # T above τ_prune: a recovered box might be pruned by a base box that barely touches g
    flags7, _ = _flags(toy, 4, ioa=0.7)
    assert not flags7.any()
    assert patch_pixels(0.1, (320, 320)) == 32


def test_certified_far_patches_cannot_hide_the_object():
    """The certificate's promise, checked by attack: the hiding patch (green) at every far location on
    a 4-px grid (one batch), ObjectSeeker's output still holds a box with IoA > 0.5 with the object."""
    toy = Toy([[32, 32, 48, 48]], [0], nc=1)
    splits, s, opts = split_set(4, (80, 80)), 8, SeekerOptions()
    frames = []
    for y0 in range(-s + 1, 80, 4):
        for x0 in range(-s + 1, 80, 4):
            if y0 + s <= 24 or y0 >= 56 or x0 + s <= 24 or x0 >= 56:  # outside the close band: far
                g = [max(x0, 0), max(y0, 0), max(x0 + s, 0), max(y0 + s, 0)]
                frames.append(_scene(80, [[32, 32, 48, 48]], g))
    with torch.no_grad():
        head, heads = SplitCopies(toy, splits)(torch.from_numpy(np.concatenate(frames)))
    decide = detection(conf=0.25, iou=0.5)
    assert len(frames) > 300
    for i in range(len(frames)):
        base = decide._raw(head[i].numpy(), None)[0]
        masked = masked_rows(heads[i].numpy(), decide, None, splits.size, opts.masked_conf)
        rows = np.concatenate([base, merge(base, masked, opts)])
        assert rows.shape[0] >= 1 and max(_ioa(r[:4]) for r in rows) > 0.5, i


def _ioa(b: np.ndarray) -> float:
    x1, y1, x2, y2 = b
    inter = max(0.0, min(x2, 48) - max(x1, 32)) * max(0.0, min(y2, 48) - max(y1, 32))
    return inter / 256.0


def test_nan_boxes_of_a_masked_copy_are_dropped_not_raised():
    """A live stream's NaN boxes are dropped and counted (issue 13); the masked copies' too."""
    heads = np.zeros((2, 5, 3), np.float32)
    heads[:, :4] = [[[10.0], [10.0], [8.0], [8.0]]]  # one box, the same at every anchor
    heads[:, 4] = 0.9
    heads[0, 0, 1] = np.nan  # copy 0, anchor 1: NaN centre
    rows = masked_rows(heads, detection(iou=0.5), None, (32, 32), 0.8)
    assert [len(r) for r in rows] == [1, 1] and all(np.isfinite(r).all() for r in rows)
