"""``synthetic:stop-sign?sticker=…``: optimised RP2 stickers pasted on the drive-by's sign face."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeguard.camera.sticker_art import STICKER_DIR
from edgeguard.camera.synthetic import TEMPLATE, DriveBy, DriveBySequence, parse_synthetic, sign_template
from edgeguard.errors import SourceError

SHIPPED = STICKER_DIR / "stop-bars.png"


def _png_rgba(path: Path) -> np.ndarray:
    """The sticker PNG as BGRA, upscaled to the template side by pixel repetition (the oracle for a
    nearest-neighbour scale by a whole factor)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    k = TEMPLATE // img.shape[0]
    assert k * img.shape[0] == TEMPLATE
    return np.repeat(np.repeat(img, k, 0), k, 1)


def test_shipped_sticker_replaces_the_face_inside_its_mask_only() -> None:
    clean, mask = sign_template(False)
    path = parse_synthetic("synthetic:stop-sign?sticker=stop-bars").sticker
    assert path == str(SHIPPED)
    worn, mask2 = sign_template(path)
    assert np.array_equal(mask, mask2)
    rgba = _png_rgba(SHIPPED)
    inside = rgba[..., 3] > 127
    assert 0.1 < inside.mean() < 0.2  # RP2's two bars: 13 % of the face square
    assert np.array_equal(worn[inside], rgba[..., :3][inside])  # exactly the sticker's pixels
    assert np.array_equal(worn[~inside], clean[~inside])  # the clean face elsewhere
    # the mask is where the JSON says (face fractions), and only black and white are printed
    rects = json.loads(SHIPPED.with_suffix(".json").read_text())["mask"]["rects_xyxy_face_fraction"]
    ys, xs = np.nonzero(inside)
    x0 = min(r[0] for r in rects) * TEMPLATE
    x1 = max(r[2] for r in rects) * TEMPLATE
    assert abs(xs.min() - x0) <= 2 and abs(xs.max() + 1 - x1) <= 2
    assert set(np.unique(worn[inside])) <= {0, 255}


def test_sticker_survives_the_warp_into_the_frame() -> None:
    cfg = dict(frames=8, angles=(20.0,), width=640, height=480)
    clean = DriveBySequence(DriveBy(**cfg))
    stick = DriveBySequence(DriveBy(**cfg, sticker=str(SHIPPED)))
    i = 7  # nearest frame: the sign is largest
    a, roi = clean.render(i)
    b, roi2 = stick.render(i)
    assert roi == roi2
    # the sticker alone, warped with the sign's homography (oracle for the pasted pixels)
    quad = stick.quad(i)
    src = np.array([[0, 0], [TEMPLATE, 0], [TEMPLATE, TEMPLATE], [0, TEMPLATE]], np.float32)
    hom = cv2.getPerspectiveTransform(src, quad)
    rgba = _png_rgba(SHIPPED)
    inside = (rgba[..., 3] > 127).astype(np.uint8)
    size = (a.shape[1], a.shape[0])
    warped = cv2.warpPerspective(rgba[..., :3] * inside[..., None], hom, size, flags=cv2.INTER_LINEAR)
    core = cv2.warpPerspective(cv2.erode(inside, np.ones((9, 9), np.uint8)), hom, size) > 0
    near = cv2.warpPerspective(cv2.dilate(inside, np.ones((9, 9), np.uint8)), hom, size) > 0
    assert core.sum() > 300
    err = np.abs(b[core].astype(int) - warped[core].astype(int)).mean()
    assert err < 12, err  # inside the mask: the sticker, up to interpolation
    assert np.abs(a[core].astype(int) - warped[core].astype(int)).mean() > 4 * err  # not the clean face
    assert np.array_equal(a[~near], b[~near])  # outside: the clean render, pixel for pixel


def test_sticker_from_an_attack_output_path(tmp_path: Path) -> None:
    png = tmp_path / "mine.png"
    shutil.copy(SHIPPED, png)
    shutil.copy(SHIPPED.with_suffix(".json"), png.with_suffix(".json"))
    cfg = parse_synthetic(f"synthetic:stop-sign?sticker={png}&frames=2")
    assert cfg.sticker == str(png)
    assert np.array_equal(sign_template(cfg.sticker)[0], sign_template(str(SHIPPED))[0])


def test_fixed_pattern_unchanged_and_off_values() -> None:
    assert parse_synthetic("synthetic:stop-sign?sticker=1").sticker is True
    assert parse_synthetic("synthetic:stop-sign?sticker=0").sticker is False
    worn, mask = sign_template(True)
    clean, _ = sign_template(False)
    # the fixed pattern's white bar (template fractions 0.24..0.44 × 0.22..0.31)
    y, x = int(0.26 * TEMPLATE), int(0.3 * TEMPLATE)
    assert tuple(worn[y, x]) == (245, 245, 245) and tuple(clean[y, x]) != (245, 245, 245)


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda d: "nope", "shipped sticker"),
        (lambda d: str(d / "missing.png"), "no such file"),
        (lambda d: _copy(d, json_too=False), ".json"),
        (lambda d: _copy(d, rgb_only=True), "RGBA"),
        (lambda d: _copy(d, rects=[[0.0, 0.0, 0.1, 0.1]]), "outside the mask"),
        (lambda d: _copy(d, rects="x"), "no mask geometry"),
    ],
)
def test_bad_sticker_is_one_line_source_error(tmp_path: Path, make, needle: str) -> None:  # noqa: ANN001
    value = make(tmp_path)
    with pytest.raises(SourceError) as exc:
        parse_synthetic(f"synthetic:stop-sign?sticker={value}")
    msg = str(exc.value)
    assert needle in msg and "\n" not in msg and msg.startswith("--source")


def _copy(d: Path, *, json_too: bool = True, rgb_only: bool = False, rects: object = None) -> str:
    png = d / "s.png"
    img = cv2.imread(str(SHIPPED), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(png), img[..., :3] if rgb_only else img)
    if json_too:
        meta = json.loads(SHIPPED.with_suffix(".json").read_text())
        if rects is not None:
            meta["mask"]["rects_xyxy_face_fraction"] = rects
        png.with_suffix(".json").write_text(json.dumps(meta))
    return str(png)
