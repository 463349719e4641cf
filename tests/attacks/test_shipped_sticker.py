"""The shipped RP2 sticker (``make sticker``): a black/white PNG inside RP2's bars on the stop sign's
face, with a JSON record naming the configuration, the seed and the fooled rate it was measured at."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

import edgeguard
from edgeguard.attacks import sticker as st

HERE = Path(edgeguard.__file__).parent / "models" / "stickers"


def test_shipped_sticker_is_inside_the_bars_and_black_white() -> None:
    meta = json.loads((HERE / "stop-bars.json").read_text())
    rgba = cv2.cvtColor(cv2.imread(str(HERE / "stop-bars.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    side = meta["face_px"]
    assert rgba.shape == (side, side, 4) and meta["mask"]["spec"] == "bars" and meta["seed"] == 0
    assert meta["config"] == {
        "model": "signs",
        "defenses": ["bits:bits=5", "median:kernel=3x3"],
        "stages": [],
    }
    on = rgba[..., 3] == 255
    bars = st.rasterise(st.MASKS["bars"], side, side)[0, 0].numpy() > 0
    assert not (on & ~bars).any() and on.sum() > 0.9 * bars.sum()
    assert set(np.unique(rgba[on][:, :3])) <= {0, 255}
    assert 0.0 <= meta["measured"]["fooled"] <= 1.0 and meta["measured"]["views"] == 200
