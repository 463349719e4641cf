"""Training data of the persons detector: the scene pool cache and the zoomed crops' boxes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from edgeguard.data.scenes import render_surveillance
from edgeguard.persons_data import person_starts, pool_scenes, sample_batch, scene_pool


@dataclass
class _Cfg:
    seed: int = 0
    crop: int = 96
    batch_size: int = 1
    scale: float = 0.0


def _bright_box(img: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(img.mean(axis=2) > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


@pytest.mark.parametrize("scale", [0.0, 0.4])
def test_crop_boxes_follow_the_pixels(scale: float) -> None:
    """A white 30×60 'person' on black: in every crop (zoomed by exp(U(-σ, σ)), flipped or not) its
    returned box is where its bright pixels are, within the resize's 1.5 px of blur."""
    img = np.zeros((320, 320, 3), np.uint8)
    img[100:160, 140:170] = 255
    boxes = np.array([[140.0, 100.0, 170.0, 160.0]], np.float32)
    seen = 0
    for step in range(40):
        x, gt, flags = sample_batch([(img, boxes, np.zeros(1, bool))], step, _Cfg(scale=scale))
        if not (flags[0] == 1).any():
            continue
        seen += 1
        crop = (x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        want = gt[0][flags[0] == 1][0].numpy()
        tol = 1e-6 if scale == 0 else 1.5
        assert np.abs(_bright_box(crop) - want).max() <= tol
    assert seen >= 20


def test_scene_pool_renders_once_and_draws_whole_scenes(tmp_path, monkeypatch) -> None:
    """Shards of rendered scenes (seed, i) are cached; a second call only loads them; a step's scenes
    carry their own boxes."""
    pool = scene_pool(3, 99, tmp_path, size=64, shard=2)
    assert len(pool) == 4 and len(list((tmp_path / "pool").glob("*.npz"))) == 2
    for i in range(4):
        s = render_surveillance((99, i), 64)
        assert np.array_equal(pool.images[i], s.image)
        b, ign = pool.targets(i)
        assert np.array_equal(b, s.boxes) and np.array_equal(ign, s.ignore)
    from edgeguard.data import scene_sets

    monkeypatch.setattr(scene_sets, "_render_chunk", lambda *a: pytest.fail("re-rendered a cached shard"))
    again = scene_pool(3, 99, tmp_path, size=64, shard=2)
    assert np.array_equal(again.images, pool.images)
    cfg = _Cfg(batch_size=6)
    scenes = pool_scenes(pool, person_starts(pool), 5, cfg)
    assert len(scenes) == 6
    for image, b, ign in scenes:
        i = next(k for k in range(4) if np.array_equal(pool.images[k], image))
        want_b, want_ign = pool.targets(i)
        assert np.array_equal(b, want_b) and np.array_equal(ign, want_ign)
