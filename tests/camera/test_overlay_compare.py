"""The comparison panel (the demo's undefended reading): where it is drawn and how it marks a misreading."""

from __future__ import annotations

import numpy as np

from edgeguard.camera.overlay import RED, WHITE, draw_compare


def _frame() -> np.ndarray:
    return np.full((480, 640, 3), 200, np.uint8)


def _has(img: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((np.abs(img.astype(int) - np.array(colour)).sum(axis=2) < 30).any())


def test_panel_is_bottom_left_and_leaves_the_sign_side_alone() -> None:
    img = _frame()
    draw_compare(img, {"top": [{"label": "stop", "prob": 0.9}]}, "undefended: signs", "stop", "fooled 0 / 1")
    changed = (img != 200).any(axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() > 240 and xs.max() < 320  # bottom-left quadrant only
    assert not changed[:, 400:].any()  # the roadside sign's side of the frame is untouched
    assert _has(img, WHITE) and not _has(img, RED)  # read as the truth: white


def test_a_misreading_is_drawn_red() -> None:
    img = _frame()
    draw_compare(img, {"top": [{"label": "yield", "prob": 0.7}]}, "undefended: signs", "stop")
    assert _has(img, RED)
    unknown = _frame()
    draw_compare(unknown, {"top": [{"label": "yield", "prob": 0.7}]}, "undefended: signs", None)
    assert not _has(unknown, RED)  # no truth known: nothing is called wrong
