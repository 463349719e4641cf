"""The drive-by conditions of seed 004's table and the camera model that maps feet to pixels.

Eykholt et al. (RP2, CVPR'18; seed 004) photograph the stickered stop sign at 5′ 0°, 5′ 15°, 10′ 0°,
10′ 30° and 40′ 0°, then film a drive-by. The scenario takes the same five conditions, N frames each
with fresh nuisances (:mod:`edgeguard.eval.driveby`), plus the continuous ``approach`` of the camera
loop's synthetic drive-by (:class:`edgeguard.camera.synthetic.DriveBySequence`, 32 m → 5 m at 0°).

Camera model (the drive-by camera's, ``camera/synthetic.py``): a pinhole of focal length
f = 0.95 · W pixels (W = 640: f = 608 px, ~56° horizontal field of view) looking at a 30-inch stop sign
(0.76 m across; ``SIGN_R`` = 0.38 m half-width). At distance d feet (z = 0.3048 · d m) the sign is
f · 0.76 / z pixels wide, and the camera's region of interest (the sign's box × ``ROI_PAD`` = 1.4, as
the camera loop crops it) is that × 1.4: 5′ → 303 px sign / 424 px crop, 10′ → 152 / 212, 40′ → 38 / 53.
Crops are rendered at that size (capped at :data:`MAX_CROP` px: the 64 px engine input cannot tell a
larger crop from a 256 px one) and resized to the engine input by the pipeline's preprocess. The
perspective of a distance is z / 0.38 m sign half-widths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..camera.synthetic import ROI_PAD, SIGN_R
from ..errors import ConfigError
from ..eval.driveby import Geometry

FRAME_WIDTH = 640  # the drive-by camera's default frame width (camera.synthetic.DriveBy)
FOCAL = 0.95 * FRAME_WIDTH  # pixels (camera.synthetic.DriveBySequence.f)
FOOT = 0.3048  # metres
MAX_CROP = 256
APPROACH = "approach"


@dataclass(frozen=True)
class Condition:
    """One row of the table: the camera ``feet`` from the sign, the sign turned ``yaw`` degrees."""

    feet: float
    yaw: float

    @property
    def name(self) -> str:
        """``5ft-0deg`` (the key in records and on the command line)."""
        return f"{self.feet:g}ft-{self.yaw:g}deg"

    @property
    def label(self) -> str:
        """``5′ 0°`` as seed 004 writes it."""
        return f"{self.feet:g}′ {self.yaw:g}°"

    def sign_px(self, width: int = FRAME_WIDTH) -> float:
        """The sign's width in camera pixels at this distance (pinhole, f = 0.95 · width)."""
        return 0.95 * width * 2 * SIGN_R / (self.feet * FOOT)

    def geometry(self) -> Geometry:
        """The fixed geometry the frames of this condition are rendered at."""
        crop = int(round(self.sign_px() * ROI_PAD))
        return Geometry(
            yaw=self.yaw,
            perspective=self.feet * FOOT / SIGN_R,
            fill=1.0 / ROI_PAD,
            crop_px=max(16, min(crop, MAX_CROP)),
        )


CONDITIONS: tuple[Condition, ...] = (
    Condition(5, 0),
    Condition(5, 15),
    Condition(10, 0),
    Condition(10, 30),
    Condition(40, 0),
)


def parse(texts: list[str] | tuple[str, ...] | None) -> tuple[Condition, ...]:
    """The chosen conditions (all when ``texts`` is empty): ``5ft-0deg``, ``5:0``, ``5'0`` or ``5′ 0°``.

    Raises:
        ConfigError: a condition that is not in seed 004's table (one line naming the known ones).
    """
    if not texts:
        return CONDITIONS
    known = {(c.feet, c.yaw): c for c in CONDITIONS}
    out: list[Condition] = []
    for text in texts:
        nums = re.findall(r"\d+(?:\.\d+)?", str(text))
        key = (float(nums[0]), float(nums[1])) if len(nums) == 2 else None
        if key is None or key not in known:
            names = ", ".join(c.name for c in CONDITIONS)
            raise ConfigError(f"--condition {text!r}: unknown condition (seed 004's table: {names})")
        if known[key] not in out:
            out.append(known[key])
    return tuple(out)


def camera_model() -> dict[str, object]:
    """The camera model as stated in the report and results.json."""
    return {
        "frame_width_px": FRAME_WIDTH,
        "focal_px": FOCAL,
        "sign_width_m": 2 * SIGN_R,
        "roi_pad": ROI_PAD,
        "max_crop_px": MAX_CROP,
        "text": (
            f"pinhole, f = 0.95 × {FRAME_WIDTH} = {FOCAL:g} px; a {2 * SIGN_R:.2f} m (30-inch) stop sign at "
            f"d feet is {FOCAL * 2 * SIGN_R / FOOT:.0f}/d px wide; the crop is the sign's box × {ROI_PAD:g} "
            f"(rendered at up to {MAX_CROP} px, then resized to the engine input by the pipeline)"
        ),
        "conditions": {
            c.name: {"sign_px": round(c.sign_px(), 1), "crop_px": c.geometry().crop_px} for c in CONDITIONS
        },
    }


__all__ = ["APPROACH", "CONDITIONS", "Condition", "camera_model", "parse"]
