"""The procedural sign renderer: determinism, class appearance, dataset contract, image folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeguard.data import (
    CLASSES,
    LABELS,
    ImageFolder,
    SignDataset,
    class_index,
    contact_sheet,
    render_arrays,
    render_scene,
    render_sign,
    write_image_folder,
)
from edgeguard.errors import ConfigError


def test_same_seed_identical_pixels_different_seed_differs() -> None:
    for cls in (0, 7, 12):
        a = render_scene(cls, (3, 11))
        b = render_scene(cls, (3, 11))
        c = render_scene(cls, (3, 12))
        assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
        np.testing.assert_array_equal(a, b)
        assert np.abs(a.astype(int) - c.astype(int)).mean() > 5


def _fractions(cls: str) -> dict[str, float]:
    rgb, mask = render_sign(cls, 256)
    px = rgb[mask == 255].astype(int)
    r, g, b = px[:, 0], px[:, 1], px[:, 2]
    return {
        "red": float(np.mean((r > 150) & (g < 80) & (b < 80))),
        "white": float(np.mean((r > 200) & (g > 200) & (b > 200))),
        "blue": float(np.mean((b > 130) & (r < 60))),
        "yellow": float(np.mean((r > 200) & (g > 150) & (b < 60))),
        "black": float(np.mean((r < 60) & (g < 60) & (b < 60))),
        "area": float(np.mean(mask == 255)),
    }


def test_every_class_has_its_colours() -> None:
    f = {c: _fractions(c) for c in CLASSES}
    assert f["stop"]["red"] > 0.6 and f["stop"]["white"] > 0.1  # red octagon, white STOP
    assert 0.66 < f["stop"]["area"] < 0.72  # regular octagon in the circle: 2√2 r² / (2r)² ≈ 0.707
    assert f["yield"]["red"] > 0.4 and f["yield"]["white"] > 0.25 and f["yield"]["area"] < 0.6  # triangle
    assert f["no_entry"]["red"] > 0.6 and f["no_entry"]["white"] > 0.1
    for c in ("speed_limit_30", "speed_limit_50", "speed_limit_60", "speed_limit_80"):
        assert f[c]["red"] > 0.2 and f[c]["white"] > 0.3 and f[c]["black"] > 0.03  # ring + digits
    assert f["priority_road"]["yellow"] > 0.3 and f["priority_road"]["area"] < 0.55  # yellow diamond
    for c in ("pedestrian_crossing", "keep_right", "turn_left_ahead", "turn_right_ahead"):
        assert f[c]["blue"] > 0.4 and f[c]["white"] > 0.1, c
    assert f["pedestrian_crossing"]["area"] > 0.95 and f["pedestrian_crossing"]["black"] > 0.01  # square
    assert f["no_parking"]["blue"] > 0.3 and f["no_parking"]["red"] > 0.2


def test_classes_pairwise_distinct_and_mirrored_turns() -> None:
    sheets = [render_sign(c, 64)[0].astype(int) for c in CLASSES]
    for i in range(len(sheets)):
        for j in range(i + 1, len(sheets)):
            changed = (np.abs(sheets[i] - sheets[j]).sum(-1) > 150).mean()
            assert changed > 0.008, (CLASSES[i], CLASSES[j], changed)
    left, _ = render_sign("turn_left_ahead", 128)
    right, _ = render_sign("turn_right_ahead", 128)
    flip = np.abs(left[:, ::-1].astype(int) - right.astype(int)).mean()
    assert flip < 1.0 < np.abs(left.astype(int) - right.astype(int)).mean()  # mirror images (up to AA)


def test_rendered_stop_sign_is_red_dominant_at_its_location() -> None:
    img, quad = render_scene("stop", (9, 1), return_quad=True)
    cx, cy = quad.mean(axis=0).astype(int)
    patch = img[max(cy - 6, 0) : cy + 6, max(cx - 6, 0) : cx + 6].astype(int)
    red_or_white = (patch[..., 0] > patch[..., 2] + 20) | (patch.min(axis=-1) > 90)
    assert red_or_white.mean() > 0.6


def test_class_names_and_errors() -> None:
    assert class_index("stop") == 0 and class_index("speed limit 30") == 3 and class_index(12) == 12
    assert len(CLASSES) == len(LABELS) >= 12
    with pytest.raises(ConfigError, match="did you mean stop"):
        class_index("stpo")
    with pytest.raises(ConfigError, match="out of range"):
        class_index(99)
    with pytest.raises(ConfigError):
        render_sign("stop", 4)


def test_dataset_contract() -> None:
    ds = SignDataset(30, seed=5)
    assert len(ds) == 30
    x, y = ds[14]
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert y == 14 % len(CLASSES)
    assert torch.equal(ds[14][0], SignDataset(30, seed=5)[14][0])
    assert not torch.equal(ds[14][0], SignDataset(30, seed=6)[14][0])
    with pytest.raises(IndexError):
        ds[30]
    sub = SignDataset(4, seed=5, classes=["stop", "yield"])
    assert [sub[i][1] for i in range(4)] == [0, 1, 0, 1] and sub.labels == ["stop", "yield"]
    xs, ys = render_arrays(ds, workers=2, chunk=8)
    assert xs.shape == (30, 64, 64, 3) and list(ys) == [ds.label_of(i) for i in range(30)]
    np.testing.assert_array_equal(xs[14], ds.render(14))


def test_image_folder_roundtrip_and_contact_sheet(tmp_path) -> None:
    out = write_image_folder(tmp_path / "cal", per_class=2, seed=3)
    folder = ImageFolder(out)
    assert len(folder) == 2 * len(CLASSES) and sorted(folder.labels) == sorted(CLASSES)
    x, y = folder[0]
    assert x.shape == (3, 64, 64)
    sheet = contact_sheet(per_class=2, seed=3)
    assert sheet.ndim == 3 and sheet.shape[0] >= len(CLASSES) * 64
