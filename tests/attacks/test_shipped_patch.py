"""The shipped person-hiding patch (``make patch``): a square PNG whose pixels are printable ink
mixes, with a JSON record naming the detector, the seeds, the placement and the measured recall."""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

from edgeguard.attacks import sticker as st
from edgeguard.eval.person_patch import PATCHES, load_patch


def test_shipped_patch_is_printable_and_its_record_is_complete() -> None:
    patch, meta = load_patch("person")
    assert patch.shape == (3, meta["patch_px"], meta["patch_px"]) and (PATCHES / "person.png").is_file()
    assert meta["config"] == {"model": "persons", "defenses": [], "stages": []} and meta["seed"] == 0
    assert meta["attack"].startswith("patch:") and meta["scale"] == 0.25
    # every pixel a convex mix of the inks, up to the PNG's 8-bit rounding
    a = np.vstack([st.PALETTE.T.double().numpy(), np.ones(len(st.PALETTE))]) * 100
    for px in patch.permute(1, 2, 0).reshape(-1, 3)[::5].double().numpy():
        w, res = nnls(a, np.append(px, 1.0) * 100)
        assert res / 100 < 2 * np.sqrt(3) / 255
    m = meta["measured"]
    for cond in ("clean", "random", "patch"):
        assert 0 <= m[cond]["recall"] <= 1 and m[cond]["people"] == meta["test"]["people"] > 100
    drop = meta["recall_drop_points"]
    assert np.isclose(drop["patch"], round(100 * (m["clean"]["recall"] - m["patch"]["recall"]), 1))
