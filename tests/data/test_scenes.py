"""The surveillance-scene renderer: determinism, boxes on drawn people, the documented difficulty."""

from __future__ import annotations

import numpy as np
import pytest

from edgeguard.data.render import _rng
from edgeguard.data.scene_sets import PERSONS_TEST_SEED, SceneSet, render_scene_set, scenes_contact_sheet
from edgeguard.data.scenes import SurveillanceConfig, render_background, render_surveillance
from edgeguard.errors import ConfigError


def test_same_seed_same_scene_and_seeds_differ() -> None:
    a, b = render_surveillance((PERSONS_TEST_SEED, 3)), render_surveillance((PERSONS_TEST_SEED, 3))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    c = render_surveillance((PERSONS_TEST_SEED, 4))
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (320, 320, 3) and a.image.dtype == np.uint8


def test_set_rendering_is_worker_independent(tmp_path) -> None:
    one = render_scene_set(4, 5, 96, workers=1, chunk=2)
    two = render_scene_set(4, 5, 96, workers=2, chunk=2)
    for k in SceneSet.__dataclass_fields__:
        assert np.array_equal(getattr(one, k), getattr(two, k))
    back = SceneSet.load(one.save(tmp_path / "s.npz"))
    assert np.array_equal(back.images, one.images) and np.array_equal(back.boxes, one.boxes)
    assert np.array_equal(back.images[2], render_surveillance((5, 2), 96).image)


def test_boxes_are_the_tight_extent_of_drawn_people() -> None:
    """Oracle: the empty background replayed from the same seed. Outside people and distractors the
    frame is a per-channel monotone map of it (lighting, gamma); inside a person's box most figure
    pixels depart from that map, and the box rows/columns at its edges contain such pixels."""
    cfg = SurveillanceConfig(
        p_blur=0.0, max_noise=0.0, p_jpeg=0.0, distractors=(0, 0), p_occluder=0.0, people=(3, 5)
    )
    checked = 0
    for i in range(4):
        seed = (PERSONS_TEST_SEED, 100 + i)
        scene = render_surveillance(seed, 160, cfg)
        rng = _rng(seed)
        indoor = bool(rng.random() < cfg.p_indoor)
        bg, _ = render_background(rng, 160, 160, indoor)
        img = scene.image.astype(np.float64)
        inside = np.zeros((160, 160), bool)
        for x1, y1, x2, y2 in scene.boxes.astype(int):
            inside[y1:y2, x1:x2] = True
        # the lighting map, fitted per channel on pixels outside every box (a cubic: gain + gamma)
        resid = np.zeros((160, 160))
        for ch in range(3):
            coef = np.polyfit(bg[..., ch][~inside], img[..., ch][~inside], 3)
            resid = np.maximum(resid, np.abs(np.polyval(coef, bg[..., ch]) - img[..., ch]))
        assert np.median(resid[~inside]) < 3
        for (x1, y1, x2, y2), ign in zip(scene.boxes.astype(int), scene.ignore, strict=True):
            if ign:
                continue
            changed = resid[y1:y2, x1:x2] > 12
            assert changed.mean() > 0.15, "a box over pixels that look like the background"
            # tight: the outermost rows and columns of the box hold changed pixels
            assert changed[0].any() or changed[1].any()
            assert changed[-1].any() or changed[-2].any()
            assert changed[:, 0].any() or changed[:, 1].any()
            assert changed[:, -1].any() or changed[:, -2].any()
            checked += 1
    assert checked >= 8


@pytest.mark.slow
def test_held_out_difficulty_is_as_documented() -> None:
    scenes = [render_surveillance((PERSONS_TEST_SEED, i)) for i in range(40)]
    heights = np.concatenate([s.heights for s in scenes])
    occ = np.concatenate([s.occlusion for s in scenes])
    ign = np.concatenate([s.ignore for s in scenes])
    vis_h = np.concatenate([s.boxes[:, 3] - s.boxes[:, 1] for s in scenes])
    assert heights.min() >= 24 and heights.max() <= 0.7 * 320 + 1
    assert 0.15 < (heights < 48).mean() < 0.55  # about a third are small
    assert (occ[~ign] <= 0.5).all() and ((occ[ign] > 0.5) | (vis_h[ign] < 12)).all()
    assert (occ[~ign] > 0.2).mean() > 0.1  # occlusion does happen
    assert all(1 <= len(s.distractors) <= 6 for s in scenes)
    assert all(len(s.boxes) <= 6 for s in scenes)
    overlapping = 0
    for s in scenes:  # groups: people whose boxes touch
        b = s.boxes
        ov = (np.minimum(b[:, None, 2], b[None, :, 2]) > np.maximum(b[:, None, 0], b[None, :, 0])) & (
            np.minimum(b[:, None, 3], b[None, :, 3]) > np.maximum(b[:, None, 1], b[None, :, 1])
        )
        overlapping += int(ov.sum() > len(b))
    assert overlapping >= 5


def test_contact_sheet_and_bad_size() -> None:
    sheet = scenes_contact_sheet(2, size=96, cols=2)
    assert sheet.shape == (100, 200, 3)
    with pytest.raises(ConfigError):
        render_surveillance(0, 32)


def test_cli_preview_persons(cli, tmp_path) -> None:
    import cv2

    from edgeguard.data.scene_sets import PERSONS_PREVIEW_SEED, draw_boxes

    out = str(tmp_path / "p.png")
    res = cli("data", "preview", "persons", "--per-class", "2", "--size", "96", "--out", out)
    assert res.returncode == 0, res.stderr
    sheet = cv2.cvtColor(cv2.imread(str(tmp_path / "p.png")), cv2.COLOR_BGR2RGB)
    first = render_surveillance((PERSONS_PREVIEW_SEED, 0), 96)
    assert np.array_equal(sheet[2:98, 2:98], draw_boxes(first.image, first.boxes, first.ignore))
    res = cli("data", "preview", "persons", "--size", "32", "--out", str(tmp_path / "q.png"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "q.png").exists()
